// Package assistant is csvapi's MCP server: tools that let an AI assistant
// convert a file from the web and then ask precise questions about it
// (describe, query, aggregate, export_link), each table as an MCP resource,
// and a prompt that shows a good first sequence of calls.
//
// Tools take structured arguments (filters are lists of {column, op, value}
// objects mapped to query.Filter, not query strings) and return compact
// structured output: rows as arrays under one list of column names, numbers
// as JSON numbers, long texts cut with a marker. A failure is a tool error
// (IsError) whose text is a JSON object {"error","code","hint","details"}
// carrying the HTTP API's stable codes, never a transport error.
//
// The package runs on a cache.Cache and the query package; the HTTP layer
// (server) mounts Handler at /mcp, and `csvapi mcp` serves Server over stdio.
package assistant

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/query"
)

// Defaults of Config's knobs.
const (
	DefaultQueryTimeout = 10 * time.Second
	DefaultMaxPageSize  = 200
	DefaultPageSize     = 20
	DefaultConvertWait  = 20 * time.Second
	MaxConvertWait      = 60 * time.Second
	DefaultMaxText      = 200
	DefaultAggLimit     = 50
	DefaultTopValues    = 5
	DefaultPreviewRows  = 10
)

// BaseURLHeader is the request header through which the HTTP layer tells
// the tools the public base URL of the request (for export links). The
// HTTP layer always overwrites it, so a client cannot choose it.
const BaseURLHeader = "X-Csvapi-Base-Url"

// ClientHeader is the request header through which the HTTP layer tells
// the tools the client's address, so that conversions count against the
// same per-client limit as /apify's. The HTTP layer always overwrites it.
const ClientHeader = "X-Csvapi-Client"

// Config holds the tools' limits. Zero values get the Default* constants.
type Config struct {
	// BaseURL is the public scheme://host of the HTTP API, used in export
	// links when the request does not carry BaseURLHeader; empty: none, and
	// export_link answers no_base_url.
	BaseURL      string
	QueryTimeout time.Duration // per tool call that queries
	MaxPageSize  int           // largest page_size and aggregate limit
	MaxGroups    int           // most groups an aggregate may produce; query's default when 0
	ConvertWait  time.Duration // how long convert waits by default before answering "loading"
	MaxText      int           // longest text value returned whole, in characters
	Version      string        // reported to clients
}

// Service holds the tools' dependencies.
type Service struct {
	cfg   Config
	cache *cache.Cache
	// Limit runs f under the HTTP API's limits (a query slot and the query
	// timeout); its errors are returned as they are, so they should be
	// *Error or domain errors. The default only applies QueryTimeout.
	Limit func(ctx context.Context, f func(ctx context.Context) error) error
	// Searchable, when set, returns the table to run a full-text search on
	// (the HTTP layer's search index makes search fast on large tables);
	// by default the search folds every text column of every row.
	Searchable func(e *cache.Entry, t query.Table) query.Table
	// Logger gets the internal errors of tool calls; nil: not logged.
	Logger *slog.Logger
	server *mcp.Server
}

// New returns the tools on c, with cfg's limits.
func New(c *cache.Cache, cfg Config) *Service {
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.MaxPageSize <= 0 || cfg.MaxPageSize > DefaultMaxPageSize {
		cfg.MaxPageSize = DefaultMaxPageSize
	}
	if cfg.ConvertWait <= 0 {
		cfg.ConvertWait = DefaultConvertWait
	}
	if cfg.MaxText <= 0 {
		cfg.MaxText = DefaultMaxText
	}
	if cfg.Version == "" {
		cfg.Version = "dev"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Service{cfg: cfg, cache: c}
	s.Limit = func(ctx context.Context, f func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(ctx, s.cfg.QueryTimeout)
		defer cancel()
		return f(ctx)
	}
	s.server = s.newServer()
	return s
}

// Server returns the MCP server, to run on a transport (stdio).
func (s *Service) Server() *mcp.Server { return s.server }

// Handler returns the MCP Streamable HTTP handler: stateless (every request
// stands alone, so replicas behind a load balancer need no affinity) and
// answering plain JSON rather than event streams.
func (s *Service) Handler() http.Handler {
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return s.server },
		&mcp.StreamableHTTPOptions{
			Stateless:    true,
			JSONResponse: true,
			// The service answers the same data to anyone over plain GETs
			// with CORS *, and /apify already fetches URLs for anyone: the
			// DNS-rebinding guard would protect nothing, and it refuses
			// requests that a reverse proxy on localhost forwards.
			DisableLocalhostProtection: true,
		})
}

func (s *Service) newServer() *mcp.Server {
	srv := mcp.NewServer(&mcp.Implementation{Name: "csvapi", Title: "csvapi: tabular files from the web as queryable tables", Version: s.cfg.Version},
		&mcp.ServerOptions{Instructions: instructions})
	s.addTools(srv)
	s.addResources(srv)
	s.addPrompts(srv)
	return srv
}

// instructions is what clients may show the model once, at initialization.
const instructions = `csvapi turns a tabular file on the web (CSV, TSV, XLS/XLSX, ODS, JSON, Parquet, zipped or gzipped) into a table you can query precisely.
Typical sequence: convert(url) → describe(id) → aggregate(...) or query(...) with filters → export_link(...) when the user needs the full data.
Prefer aggregate over paging rows: a grouped answer costs a few hundred tokens, raw pages cost thousands.`

// SetBaseURL sets the public base URL used in export links when a request
// does not carry BaseURLHeader (the stdio transport). Call it before
// serving.
func (s *Service) SetBaseURL(u string) { s.cfg.BaseURL = strings.TrimRight(u, "/") }
