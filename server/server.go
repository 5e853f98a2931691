// Package server is csvapi's HTTP layer: routes, query-string parsing,
// error statuses, CORS and referrer filtering. It is the only package that
// imports fiber.
package server

import (
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/valyala/fasthttp"

	"github.com/csvapi/csvapi/assistant"
	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// Defaults of Config's knobs.
const (
	DefaultQueryTimeout  = 10 * time.Second
	DefaultExportTimeout = 30 * time.Minute
	DefaultMaxPageSize   = 1000
	DefaultMaxUploadSize = 100 << 20
	DefaultApifyWait     = 30 * time.Second
	DefaultMaxQueries    = 8
	DefaultRateLimit     = 1200
	// DefaultCORSOrigins lets any origin read the answers: the data is
	// public, and widgets embed it anywhere.
	DefaultCORSOrigins   = "*"
	DefaultMaxHeaderSize = 16 << 10
	DefaultReadTimeout   = 30 * time.Second
	DefaultIdleTimeout   = 2 * time.Minute
	DefaultMinFreeDisk   = 1 << 30
	DefaultMaxGroups     = 10_000
	// DefaultMaxBodySize is the largest request body of every route but
	// POST /upload: none of them takes more than a few parameters.
	DefaultMaxBodySize = 64 << 10
	// DefaultExportStallTimeout is how long an export waits for its
	// client to take more bytes before it gives its slot up.
	DefaultExportStallTimeout = time.Minute
)

// Config holds the server's knobs. Zero values get the Default* constants.
type Config struct {
	BaseURL       string        // public scheme://host used in endpoints; empty: from the request
	CORSOrigins   string        // comma-separated, "*" by default
	Referrers     []string      // when set, only requests whose Referer host is one of these (or a subdomain) pass
	QueryTimeout  time.Duration // per query; DuckDB is interrupted past it
	ExportTimeout time.Duration // per export
	MaxPageSize   int           // largest _size
	MaxUploadSize int64         // largest POST /upload body
	ApifyWait     time.Duration // how long /apify waits for a load before answering 202
	AdminToken    string        // bearer token of the admin routes; empty: no admin routes
	MaxQueries    int           // queries and exports at once
	RateLimit     int           // requests a minute per client address; 0: no limit
	ProxyHeader   string        // header with the client address behind a reverse proxy
	Checks        ChecksConfig  // link checker routes; off when Checks.Service is nil
	MaxHeaderSize int           // largest request header block
	ReadTimeout   time.Duration
	WriteTimeout  time.Duration
	IdleTimeout   time.Duration
	MinFreeDisk   int64  // /ready fails below this much free space
	CacheDir      string // checked by /ready
	// ResponseCacheSize bounds the memory of rendered answers kept for
	// repeated queries; 0 turns the response cache off.
	ResponseCacheSize int
	Version           string // shown by /health
	MaxGroups         int    // most groups an aggregate may produce
	ExportDir         string // temporary files of exports (Parquet); os.TempDir() when empty

	// ExportStallTimeout cuts an export whose client has not taken any
	// bytes for that long, so that a reader that stops reading frees its
	// export slot.
	ExportStallTimeout time.Duration
	// MaxBodySize is the largest request body of the routes other than
	// POST /upload.
	MaxBodySize int64
	// ProfileAfterLoad computes the profile of every row of each version
	// a load makes ready, in the background (one at a time, only when no
	// query runs), so that its first /profile is served from memory;
	// false: the first request computes it.
	ProfileAfterLoad bool
	// ResourceURLTemplate turns a portal resource id (a UUID) in the
	// api-tabular routes into the URL to convert, its "{id}" replaced, e.g.
	// https://www.data.gouv.fr/fr/datasets/r/{id}; empty: csvapi ids only.
	ResourceURLTemplate string
}

// Server serves the csvapi HTTP API.
type Server struct {
	cfg     Config
	cache   *cache.Cache
	db      *sql.DB
	log     *slog.Logger
	app     *fiber.App
	infos   versionInfos
	queries chan struct{} // query slots
	exports chan struct{} // export slots
	metrics *metrics
	// responses keeps rendered answers; nil when turned off.
	responses *responseCache
	// search holds the folded shadows that make q fast on large tables.
	search *query.SearchIndex
	// hints says which filters matched few rows, to count them with the page.
	hints *query.Hints
	// started is when New ran, for /health/'s uptime.
	started time.Time
	// access writes the access lines (accesslog.go).
	access *accessLines
	// limiter counts the requests of each client; nil without a rate limit.
	limiter *rateLimiter
	// mcp holds the MCP tools served at /mcp (see mcp.go).
	mcp        *assistant.Service
	mcpHandler fiber.Handler
	// profiles keeps the profile of all the rows of each version
	// (profilememo.go); profileQueue holds those to compute after loads.
	profiles     *profileMemo
	profileQueue *profileQueue
	background   backgroundProfile // the one running, to preempt
	// backgroundHook, set by tests, runs as a background profile starts
	// its statements, with their context.
	backgroundHook func(ctx context.Context)
	// base is the context of background work, cancelled by Shutdown;
	// workerDone is closed when the profile worker has stopped (nil
	// without one).
	base       context.Context
	stopBase   context.CancelFunc
	workerDone chan struct{}
}

// New returns a Server with its routes set up.
func New(cfg Config, c *cache.Cache, db *sql.DB, logger *slog.Logger) *Server {
	// The web assets are prepared on first use so that the conversion
	// worker never pays for them; a server prepares them now, beside its
	// start, so that its first page is not the one that waits.
	go webAssets()
	orDefault(&cfg.QueryTimeout, DefaultQueryTimeout)
	orDefault(&cfg.ExportTimeout, DefaultExportTimeout)
	orDefault(&cfg.MaxPageSize, DefaultMaxPageSize)
	orDefault(&cfg.MaxUploadSize, DefaultMaxUploadSize)
	orDefault(&cfg.MaxBodySize, DefaultMaxBodySize)
	orDefault(&cfg.ExportStallTimeout, DefaultExportStallTimeout)
	orDefault(&cfg.MaxQueries, DefaultMaxQueries)
	orDefault(&cfg.MaxHeaderSize, DefaultMaxHeaderSize)
	orDefault(&cfg.ReadTimeout, DefaultReadTimeout)
	orDefault(&cfg.WriteTimeout, cfg.ExportTimeout)
	orDefault(&cfg.IdleTimeout, DefaultIdleTimeout)
	orDefault(&cfg.ApifyWait, DefaultApifyWait)
	orDefault(&cfg.MaxGroups, DefaultMaxGroups)
	if cfg.CORSOrigins == "" {
		cfg.CORSOrigins = DefaultCORSOrigins
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{cfg: cfg, cache: c, db: db, log: logger, search: query.NewSearchIndex(db), hints: query.NewHints(),
		queries: make(chan struct{}, cfg.MaxQueries), exports: make(chan struct{}, cfg.MaxQueries),
		metrics: newMetrics(c), started: time.Now(), access: newAccessLines(logger.Handler()),
		profiles: newProfileMemo(), profileQueue: newProfileQueue()}
	s.base, s.stopBase = context.WithCancel(context.Background())
	if c != nil {
		// A fresh instance has none of the old one's search shadows.
		c.OnHeal = s.search.Reset
		c.OnRetire = s.forgetVersion
		if cfg.ProfileAfterLoad {
			c.OnReady = s.profileQueue.add
			s.workerDone = make(chan struct{})
			go s.profileWorker()
		}
	}
	s.search.OnError = func(relation string, err error) {
		logger.Warn("search index build failed", "relation", relation, "err", err)
	}
	if cfg.ResponseCacheSize > 0 {
		s.responses = newResponseCache(cfg.ResponseCacheSize)
	}
	if cfg.RateLimit > 0 {
		s.limiter = newRateLimiter(cfg.RateLimit, time.Minute)
	}
	s.app = fiber.New(fiber.Config{
		AppName:               "csvapi",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		BodyLimit:             int(cfg.MaxBodySize), // uploads: see bodyLimits
		ReadTimeout:           cfg.ReadTimeout,
		WriteTimeout:          cfg.WriteTimeout,
		IdleTimeout:           cfg.IdleTimeout,
		ReadBufferSize:        cfg.MaxHeaderSize,
		ProxyHeader:           cfg.ProxyHeader,
		JSONEncoder:           json.Marshal,
	})
	s.app.Server().HeaderReceived = s.bodyLimits
	s.mountMCP()
	s.routes()
	return s
}

// bodyLimits gives POST /upload a body limit of MaxUploadSize (plus room
// for the multipart framing); every other request keeps MaxBodySize. The
// upload limit is only given to multipart bodies of announced length,
// which fasthttp streams to temporary files past 16 MB instead of reading
// them into memory. Bodies over the limit are refused from their
// Content-Length, before any byte is read (413 too_large).
func (s *Server) bodyLimits(h *fasthttp.RequestHeader) fasthttp.RequestConfig {
	if !h.IsPost() || h.ContentLength() <= 0 || len(h.MultipartFormBoundary()) == 0 {
		return fasthttp.RequestConfig{}
	}
	var u fasthttp.URI
	if err := u.Parse(nil, h.RequestURI()); err != nil {
		return fasthttp.RequestConfig{}
	}
	// Routing ignores case and a trailing slash.
	if !strings.EqualFold(strings.TrimSuffix(string(u.Path()), "/"), "/upload") {
		return fasthttp.RequestConfig{}
	}
	return fasthttp.RequestConfig{MaxRequestBodySize: int(min(s.cfg.MaxUploadSize+1<<20, 1<<31-1))}
}

func (s *Server) routes() {
	a := s.app
	a.Use(s.frame) // request id, errors, shared headers, metrics, access line; cached pages (frame.go)
	a.Use(cors.New(cors.Config{AllowOrigins: s.cfg.CORSOrigins, AllowMethods: "GET,POST,HEAD,DELETE,OPTIONS"}))
	a.Get("/health", s.handleHealth)
	a.Get("/ready", s.handleReady)
	a.Get("/metrics", s.metrics.handler)
	if s.limiter != nil {
		a.Use(s.rateLimit)
	}
	a.Post("/mcp", s.handleMCP).Get("/mcp", s.handleMCP) // MCP clients send no Referer: before checkReferrer
	if len(s.cfg.Referrers) > 0 {
		a.Use(s.checkReferrer)
	}
	s.tabularRoutes()
	a.Get("/apify", s.handleApify)
	a.Post("/upload", s.handleUpload)
	a.Get("/cache", s.requireAdmin, s.handleCacheList)
	a.Get("/api/cache", s.requireAdmin, s.handleCacheList)
	a.Delete("/api/:id", s.requireAdmin, s.handlePurge)
	a.Get("/api/:id/status", s.handleStatus)
	a.Get(rowsRoute, s.cached, s.handleRows) // cached pages are answered by the frame (serveRows)
	a.Get("/api/:id/export", s.handleExport)
	a.Get("/api/:id/export.:format", s.handleExport)
	a.Get("/api/:id/data", s.cached, s.handleTabularData)
	a.Get("/api/:id/aggregate", s.cached, s.handleAggregate)
	a.Get("/api/:id/profile", s.cached, s.handleProfile)
	a.Get("/openapi.json", s.handleOpenAPI)
	a.Get("/docs", s.handleDocs)
	a.Get("/static/*", s.handleStatic)
	a.Get("/api/:id/rejects", s.cached, s.handleRejects)
	a.Get("/", s.handleHome)
	a.Get("/explore", s.handleExplore)
	a.Get("/explore/:id", s.handleExplore)
	a.Get("/embed/:id", s.handleEmbed)
	if s.cfg.Checks.Service != nil {
		s.checkRoutes(a) // croquemort-compatible link checker, off by default
	}
	a.Use(func(c *fiber.Ctx) error {
		return &problem.Problem{Status: http.StatusNotFound, Code: problem.CodeNotFound, Message: "No such endpoint: " + c.Path()}
	})
}

// orDefault sets *v to def when it is zero or negative: Config's zero
// values mean "the default".
func orDefault[T int | int64 | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// database returns the DuckDB instance serving queries now: the cache's,
// which Heal may replace.
func (s *Server) database() *sql.DB {
	if s.cache != nil {
		return s.cache.ServingDB()
	}
	return s.db
}

// App returns the fiber app, for tests (app.Test) and for Listener.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx is done, stops the background profiles (interrupting the one
// running), writes the access lines queued, then drops the search shadows.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.app.ShutdownWithContext(ctx)
	s.stopBase()
	if s.workerDone != nil {
		select {
		case <-s.workerDone:
		case <-ctx.Done():
		}
	}
	s.access.flush(ctx)
	if serr := s.search.Close(); err == nil {
		err = serr
	}
	return err
}

// checkReferrer implements csvapi's REFERRERS_FILTER: the Referer's host
// must equal one of the configured hosts or be a subdomain of one.
func (s *Server) checkReferrer(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodOptions || passed(c) {
		return c.Next()
	}
	if !s.referrerAllowed(c) {
		return forbiddenReferrer()
	}
	return c.Next()
}

// referrerAllowed reports whether c's Referer host is one of the
// configured hosts or a subdomain of one.
func (s *Server) referrerAllowed(c *fiber.Ctx) bool {
	ref, err := url.Parse(c.Get(fiber.HeaderReferer))
	if err != nil {
		return false
	}
	host := strings.ToLower(ref.Hostname())
	for _, allowed := range s.cfg.Referrers {
		if host != "" && (host == allowed || strings.HasSuffix(host, "."+allowed)) {
			return true
		}
	}
	return false
}

// forbiddenReferrer is the answer to a request the referrer filter refuses.
func forbiddenReferrer() *problem.Problem {
	return &problem.Problem{Status: http.StatusForbidden, Code: problem.CodeForbiddenReferrer,
		Message: "This service only answers requests from its allowed referrers."}
}

func (s *Server) handleError(c *fiber.Ctx, err error) error {
	tabular := strings.HasPrefix(c.Path(), tabularPrefix)
	if id, ok := pendingID(err); ok && !tabular {
		// Not an error for the client: the resource is on its way.
		if serr := s.sendStatus(c, id, http.StatusAccepted); serr == nil {
			return nil
		}
	}
	if s.cache != nil && s.cache.Heal(c.UserContext(), err) {
		s.log.Warn("DuckDB was invalidated by a query and has been replaced", "path", c.Path())
	}
	ae := classify(err)
	if tabular {
		s.logFailure(c, ae, err)
		c.Response().ResetBody()
		c.Context().SetBodyStream(nil, 0)
		return tabularError(c, ae)
	}
	rid := s.logFailure(c, ae, err)
	body := map[string]any{"ok": false, "error": ae.Message, "code": ae.Code, "request_id": rid}
	if ae.Details != nil {
		body["details"] = ae.Details
	}
	c.Response().ResetBody()
	c.Context().SetBodyStream(nil, 0)
	if ae.RetryAfter > 0 {
		setRetryAfter(c, ae.RetryAfter)
	}
	return c.Status(ae.Status).JSON(body)
}

// logFailure logs errors that are ours (500) or upstream's (other 5xx),
// and returns the request id.
func (s *Server) logFailure(c *fiber.Ctx, ae *problem.Problem, err error) string {
	rid := string(requestID(c))
	switch {
	case ae.Status == http.StatusInternalServerError:
		s.log.Error("request failed", "request_id", rid, "method", c.Method(), "path", c.Path(), "err", err)
	case ae.Status >= 500: // upstream trouble, not ours
		s.log.Warn("request failed", "request_id", rid, "method", c.Method(), "path", c.Path(), "err", err)
	}
	return rid
}
