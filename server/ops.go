package server

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/problem"
)

// contentSecurityPolicy is sent with every HTML page: same-origin scripts
// and styles only, nothing from the internet, no plugins.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors *"

// The security headers as bytes, their names in fasthttp's canonical form:
// set on every answer, they should cost no normalizing nor conversion.
var (
	headerXContentTypeOptions   = []byte(fiber.HeaderXContentTypeOptions)
	headerReferrerPolicy        = []byte(fiber.HeaderReferrerPolicy)
	headerContentSecurityPolicy = []byte(fiber.HeaderContentSecurityPolicy)
	nosniff                     = []byte("nosniff")
	noReferrer                  = []byte("no-referrer")
	contentSecurityPolicyValue  = []byte(contentSecurityPolicy)
	mimeHTML                    = []byte("text/html")
)

// setSecurityHeaders sets the headers every answer carries, and the CSP
// on HTML.
func setSecurityHeaders(c *fiber.Ctx) {
	h := &c.Response().Header
	h.SetCanonical(headerXContentTypeOptions, nosniff)
	h.SetCanonical(headerReferrerPolicy, noReferrer)
	if bytes.HasPrefix(h.ContentType(), mimeHTML) {
		h.SetCanonical(headerContentSecurityPolicy, contentSecurityPolicyValue)
	}
}

// clientAddr names the client for the per-client limits: its address, or
// behind a reverse proxy (--proxy-header) the last address of that header,
// the one the proxy appended (the earlier ones are the client's own text).
func (s *Server) clientAddr(c *fiber.Ctx) string {
	if s.cfg.ProxyHeader != "" {
		v := c.Get(s.cfg.ProxyHeader)
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			v = v[i+1:]
		}
		if v = strings.TrimSpace(v); v != "" {
			return strings.Clone(v)
		}
	}
	return c.Context().RemoteIP().String()
}

func isOpsRoute(path string) bool {
	return path == "/health" || path == "/ready" || path == "/metrics"
}

// querySlot waits for one of the MaxQueries slots, so that a burst of heavy
// queries queues instead of thrashing DuckDB. A background profile holding
// a slot gives it up rather than make the query wait (profilememo.go). The
// caller must call the returned function when its query is done.
func (s *Server) querySlot(ctx context.Context) (func(), error) {
	select {
	case s.queries <- struct{}{}:
		return func() { <-s.queries }, nil
	default:
	}
	s.background.preempt()
	return s.slot(ctx, s.queries)
}

// exportSlot is querySlot for exports, which have slots of their own: an
// export lasts as long as its client reads, and slow readers must not take
// the slots of page queries.
func (s *Server) exportSlot(ctx context.Context) (func(), error) {
	return s.slot(ctx, s.exports)
}

func (s *Server) slot(ctx context.Context, slots chan struct{}) (func(), error) {
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	default:
	}
	t := time.NewTimer(s.cfg.QueryTimeout)
	defer t.Stop()
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, nil
	case <-t.C:
		return nil, &problem.Problem{Status: http.StatusServiceUnavailable, Code: problem.CodeBusy, RetryAfter: time.Second,
			Message: "The server is busy with other queries. Retry in a moment."}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// handleHealth answers /health with csvapi's keys, and /health/ (the
// same route for fiber) with api-tabular's.
func (s *Server) handleHealth(c *fiber.Ctx) error {
	if strings.HasSuffix(c.Path(), "/") {
		return s.handleTabularHealth(c)
	}
	body := fiber.Map{"ok": true, "version": s.cfg.Version}
	if s.cache != nil {
		body["duckdb_restarts"] = s.cache.Stats().DuckDBRestarts
	}
	return c.JSON(body)
}

// checkDB probes the serving DuckDB instance, replacing it when DuckDB has
// invalidated it.
func (s *Server) checkDB(ctx context.Context) error {
	if s.cache != nil {
		return s.cache.CheckDB(ctx)
	}
	var one int
	return s.db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// handleReady checks what serving needs: DuckDB answers, the cache
// directory is writable and its disk has room.
func (s *Server) handleReady(c *fiber.Ctx) error {
	checks := map[string]string{}
	ctx, cancel := context.WithTimeout(c.UserContext(), 2*time.Second)
	defer cancel()
	if err := s.checkDB(ctx); err != nil {
		checks["duckdb"] = "DuckDB does not answer"
	}
	if s.cfg.CacheDir != "" {
		if err := writable(s.cfg.CacheDir); err != nil {
			checks["cache_dir"] = "the cache directory is not writable"
		}
		if free, err := freeSpace(s.cfg.CacheDir); err == nil && free < uint64(s.cfg.MinFreeDisk) {
			checks["disk"] = "free disk space is " + strconv.FormatUint(free>>20, 10) + " MB, below --min-free-disk"
		}
	}
	if len(checks) > 0 {
		return c.Status(http.StatusServiceUnavailable).JSON(fiber.Map{"ok": false, "code": "not_ready", "checks": checks,
			"error": "The service is not ready."})
	}
	degraded := s.checksDegraded()
	if s.cache != nil && s.cache.StoreErr() != nil {
		// Still ready: local copies are served and loads run here; taking
		// every replica out of rotation when the store is down would be worse.
		degraded["store"] = "the shared store is unreachable: local copies are served, loads are published when it returns"
	}
	if len(degraded) > 0 {
		return c.JSON(fiber.Map{"ok": true, "degraded": degraded})
	}
	return c.JSON(fiber.Map{"ok": true})
}

func writable(dir string) error {
	f, err := os.CreateTemp(filepath.Join(dir, "tmp"), "ready-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(f.Name())
}

func freeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}
