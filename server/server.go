// Package server is csvapi's HTTP layer: routes, query-string parsing,
// error statuses, CORS and referrer filtering. It is the only package that
// imports fiber.
package server

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/cors"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/middleware/requestid"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// Defaults of Config's knobs.
const (
	DefaultQueryTimeout  = 10 * time.Second
	DefaultExportTimeout = 30 * time.Minute
	DefaultMaxPageSize   = 1000
	DefaultMaxUploadSize = 100 << 20
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
}

// Server serves the csvapi HTTP API.
type Server struct {
	cfg   Config
	cache *cache.Cache
	db    *sql.DB
	log   *slog.Logger
	app   *fiber.App
	infos infoCache
}

// New returns a Server with its routes set up.
func New(cfg Config, c *cache.Cache, db *sql.DB, logger *slog.Logger) *Server {
	if cfg.QueryTimeout <= 0 {
		cfg.QueryTimeout = DefaultQueryTimeout
	}
	if cfg.ExportTimeout <= 0 {
		cfg.ExportTimeout = DefaultExportTimeout
	}
	if cfg.MaxPageSize <= 0 {
		cfg.MaxPageSize = DefaultMaxPageSize
	}
	if cfg.MaxUploadSize <= 0 {
		cfg.MaxUploadSize = DefaultMaxUploadSize
	}
	if cfg.CORSOrigins == "" {
		cfg.CORSOrigins = "*"
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	s := &Server{cfg: cfg, cache: c, db: db, log: logger}
	s.app = fiber.New(fiber.Config{
		AppName:               "csvapi",
		DisableStartupMessage: true,
		ErrorHandler:          s.handleError,
		BodyLimit:             int(min(cfg.MaxUploadSize+1<<20, 1<<31-1)),
		ReadTimeout:           time.Minute,
		WriteTimeout:          cfg.ExportTimeout,
		IdleTimeout:           2 * time.Minute,
		JSONEncoder:           json.Marshal,
	})
	s.routes()
	return s
}

func (s *Server) routes() {
	a := s.app
	a.Use(recover.New())
	a.Use(requestid.New())
	a.Use(s.accessLog)
	a.Use(cors.New(cors.Config{AllowOrigins: s.cfg.CORSOrigins, AllowMethods: "GET,POST,HEAD,OPTIONS"}))
	if len(s.cfg.Referrers) > 0 {
		a.Use(s.checkReferrer)
	}
	a.Get("/apify", s.handleApify)
	a.Post("/upload", s.handleUpload)
	a.Get("/api/:id", s.handleData)
	a.Get("/api/:id/export", s.handleExport)
	a.Use(func(c *fiber.Ctx) error {
		return &apiError{Status: http.StatusNotFound, Code: "not_found", Message: "No such endpoint: " + c.Path()}
	})
}

// App returns the fiber app, for tests (app.Test) and for Listener.
func (s *Server) App() *fiber.App { return s.app }

// Serve serves HTTP on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(ln) }

// Shutdown stops accepting connections and waits for in-flight requests
// until ctx is done.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

func (s *Server) handleApify(c *fiber.Ctx) error {
	raw := strings.Clone(c.Query("url"))
	if raw == "" {
		return badRequest("missing_url", "Missing url query string variable.")
	}
	if err := validateURL(raw); err != nil {
		return err
	}
	opts := cache.Options{Encoding: strings.Clone(c.Query("encoding"))}
	if opts.Encoding != "" {
		if _, _, err := convert.LookupEncoding(opts.Encoding); err != nil {
			return err
		}
	}
	e, err := s.cache.Apify(c.UserContext(), raw, opts)
	if err != nil {
		return err
	}
	return s.sendEndpoint(c, e.ID)
}

func (s *Server) handleUpload(c *fiber.Ctx) error {
	fh, err := c.FormFile("file")
	if err != nil {
		fh, err = c.FormFile("filepond")
	}
	if err != nil {
		return badRequest("missing_file", "Send the file as multipart/form-data in a field named file.")
	}
	if fh.Size > s.cfg.MaxUploadSize {
		return &apiError{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "The upload is larger than the limit."}
	}
	f, err := fh.Open()
	if err != nil {
		return err
	}
	defer f.Close()
	opts := cache.Options{Encoding: strings.Clone(c.FormValue("encoding", c.Query("encoding")))}
	e, err := s.cache.Upload(c.UserContext(), f, fh.Filename, opts)
	if err != nil {
		return err
	}
	return s.sendEndpoint(c, e.ID)
}

func (s *Server) sendEndpoint(c *fiber.Ctx, id string) error {
	base := s.cfg.BaseURL
	if base == "" {
		base = c.Protocol() + "://" + string(c.Request().Host())
	}
	return c.JSON(fiber.Map{"ok": true, "endpoint": base + "/api/" + id})
}

func (s *Server) handleData(c *fiber.Ctx) error {
	start := time.Now()
	e, err := s.cache.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	p, err := parsePageParams(c, s.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	t := query.Table{Relation: e.Relation, Columns: e.Meta.Columns}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.QueryTimeout)
	defer cancel()
	page, err := query.Run(ctx, s.db, t, p.req)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	b := make([]byte, 0, 4096)
	b = append(b, `{"ok":true,"query_ms":`...)
	b = appendMillis(b, elapsed)
	b = append(b, `,"columns":`...)
	b = appendJSON(b, page.Columns)
	b = append(b, `,"rows":`...)
	b = page.AppendRowsJSON(b, p.objects)
	if page.Total >= 0 {
		b = append(b, `,"total":`...)
		b = appendJSON(b, page.Total)
	}
	b = append(b, s.infos.get(e)...)
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

func (s *Server) handleExport(c *fiber.Ctx) error {
	e, err := s.cache.Get(c.UserContext(), c.Params("id"))
	if err != nil {
		return err
	}
	p, err := parsePageParams(c, 0)
	if err != nil {
		return err
	}
	req := p.req
	req.Limit, req.Offset, req.HideTotal = -1, 0, true
	req.HideRowID = true
	t := query.Table{Relation: e.Relation, Columns: e.Meta.Columns}
	if err := req.Validate(t); err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+exportName(e)+`.csv"`)
	id, logger, timeout, db := e.ID, s.log, s.cfg.ExportTimeout, s.db
	// The stream writer runs after the handler returned, so it must not
	// touch c; the query runs on its own context bounded by the export timeout.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		n, err := query.Export(ctx, db, t, req, w)
		if err != nil {
			logger.Warn("export interrupted", "id", id, "rows", n, "err", err)
		}
	})
	return nil
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// exportName is the download's file name: the source file's base name when
// it is plain, else the resource id.
func exportName(e *cache.Entry) string {
	name := e.Meta.Filename
	if e.Meta.URL != "" {
		if u, err := url.Parse(e.Meta.URL); err == nil {
			name = path.Base(u.Path)
		}
	}
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), path.Ext(strings.TrimSuffix(name, ".gz")))
	if !safeName.MatchString(name) {
		return e.ID
	}
	return name
}

// validateURL accepts absolute http(s) URLs with a host, as csvapi's
// validators.url does; the fetcher re-checks everything at connect time.
func validateURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Hostname() == "" {
		return badRequest("invalid_url", "Malformed url parameter: an absolute http or https URL is expected.")
	}
	return nil
}

// checkReferrer implements csvapi's REFERRERS_FILTER: the Referer's host
// must equal one of the configured hosts or be a subdomain of one.
func (s *Server) checkReferrer(c *fiber.Ctx) error {
	if c.Method() == fiber.MethodOptions {
		return c.Next()
	}
	ref, err := url.Parse(c.Get(fiber.HeaderReferer))
	if err == nil {
		host := strings.ToLower(ref.Hostname())
		for _, allowed := range s.cfg.Referrers {
			if host != "" && (host == allowed || strings.HasSuffix(host, "."+allowed)) {
				return c.Next()
			}
		}
	}
	return &apiError{Status: http.StatusForbidden, Code: "forbidden_referrer", Message: "This service only answers requests from its allowed referrers."}
}

func (s *Server) handleError(c *fiber.Ctx, err error) error {
	ae := classify(err)
	rid, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	switch {
	case ae.Status == http.StatusInternalServerError:
		s.log.Error("request failed", "request_id", rid, "method", c.Method(), "path", c.Path(), "err", err)
	case ae.Status >= 500: // upstream trouble, not ours
		s.log.Warn("request failed", "request_id", rid, "method", c.Method(), "path", c.Path(), "err", err)
	}
	body := map[string]any{"ok": false, "error": ae.Message, "code": ae.Code, "request_id": rid}
	if ae.Details != nil {
		body["details"] = ae.Details
	}
	c.Response().ResetBody()
	c.Context().SetBodyStream(nil, 0)
	return c.Status(ae.Status).JSON(body)
}

func (s *Server) accessLog(c *fiber.Ctx) error {
	start := time.Now()
	err := c.Next()
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			return herr
		}
	}
	rid, _ := c.Locals(requestid.ConfigDefault.ContextKey).(string)
	s.log.Info("request", "method", c.Method(), "path", c.Path(), "status", c.Response().StatusCode(),
		"duration", time.Since(start), "request_id", rid)
	return nil
}
