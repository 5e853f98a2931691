package server

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gofiber/fiber/v2"
)

// TestCachedPageAnswersAsTheRoutes: the frame answers a cached page
// without fiber's routing (serveRows), and that answer is the one the
// routes give: the same status, body and headers (but for the request
// id, the date and what the rate limit counts), under each setting its
// shortcut reimplements (CORS origins, rate limit, referrer filter). The
// request is counted once by the cache, the rate limit and the metrics,
// and has its access line.
func TestCachedPageAnswersAsTheRoutes(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"defaults", Config{RateLimit: 100}},
		{"no rate limit", Config{}},
		{"origins and referrers", Config{RateLimit: 100, CORSOrigins: "https://a.example", Referrers: []string{"toto.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var logs lockedBuffer
			tc.cfg.ResponseCacheSize = DefaultResponseCacheSize
			s, id := pageServer(t, tc.cfg, slog.New(slog.NewJSONHandler(&logs, nil)))
			get := func(path string, header ...string) *http.Response {
				req := httptest.NewRequest("GET", path, nil)
				req.Header.Set("Referer", "https://www.toto.com/page")
				for i := 0; i < len(header); i += 2 {
					req.Header.Set(header[i], header[i+1])
				}
				return serveTest(t, s, req)
			}
			page := "/api/" + id + "?_size=3"
			hits := s.cache.Stats().Hits
			routed := get(page) // the first one renders the page
			cached := get(page)
			// The first request counts its look-up of the stamp and its
			// Acquire of the table, as it did through the routes alone.
			if got := s.cache.Stats().Hits - hits; got != 3 {
				t.Errorf("the cache counted %d hits for the 2 requests, want 3", got)
			}
			want, got := answer(t, routed), answer(t, cached)
			if want.status != 200 || got.status != want.status || !bytes.Equal(got.body, want.body) {
				t.Fatalf("cached page: %d %s, want %d %s", got.status, got.body, want.status, want.body)
			}
			if !slices.Equal(got.headers, want.headers) {
				t.Errorf("cached page headers:\n%s\nwant those of the routed one:\n%s",
					strings.Join(got.headers, "\n"), strings.Join(want.headers, "\n"))
			}
			rid := cached.Header.Get("X-Request-Id")
			if rid == "" || rid == routed.Header.Get("X-Request-Id") {
				t.Errorf("request ids %q then %q, want two different ones", routed.Header.Get("X-Request-Id"), rid)
			}
			if tc.cfg.RateLimit > 0 {
				if r, c := routed.Header.Get("X-Ratelimit-Remaining"), cached.Header.Get("X-Ratelimit-Remaining"); r != "99" || c != "98" {
					t.Errorf("X-RateLimit-Remaining %q then %q, want 99 then 98", r, c)
				}
			}
			if r := get(page, "X-Request-Id", "from-the-proxy"); r.StatusCode != 200 || r.Header.Get("X-Request-Id") != "from-the-proxy" {
				t.Errorf("a client's X-Request-Id: %d, answered %q; want 200, the same id", r.StatusCode, r.Header.Get("X-Request-Id"))
			}
			if r := get(page, "If-None-Match", cached.Header.Get("ETag")); r.StatusCode != http.StatusNotModified {
				t.Errorf("If-None-Match with the page's ETag: %d, want 304", r.StatusCode)
			}
			if r := get(page, "Origin", "https://a.example"); r.StatusCode != 200 || r.Header.Get("Access-Control-Allow-Origin") == "" {
				t.Errorf("with Origin: %d, Access-Control-Allow-Origin %q; want 200 and the header", r.StatusCode, r.Header.Get("Access-Control-Allow-Origin"))
			}
			if len(tc.cfg.Referrers) > 0 {
				if r := get(page, "Referer", "https://evil.example/"); r.StatusCode != http.StatusForbidden || errorCode(t, r) != "forbidden_referrer" {
					t.Errorf("another Referer: %d, want 403 forbidden_referrer", r.StatusCode)
				}
			}

			if err := s.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			var lines int
			for line := range bytes.SplitSeq(bytes.TrimSpace(logs.Bytes()), []byte("\n")) {
				var l map[string]any
				if json.Unmarshal(line, &l) == nil && l["msg"] == "request" && l["path"] == "/api/"+id {
					lines++
					if lines == 2 && l["request_id"] != rid {
						t.Errorf("access line of the cached page: %s, want request_id %s", line, rid)
					}
				}
			}
			if min := 5; lines < min {
				t.Errorf("%d access lines of the page, want at least %d:\n%s", lines, min, logs.Bytes())
			}
			if n := requestCount(t, s, rowsRoute, 200); n != 4 {
				t.Errorf("%d requests of %s with status 200 in the metrics, want 4", n, rowsRoute)
			}
		})
	}
}

// TestCachedPageRateLimited: the rate limit counts the pages the frame
// answers itself, and refuses them past the limit like any request.
func TestCachedPageRateLimited(t *testing.T) {
	s, id := pageServer(t, Config{RateLimit: 2, ResponseCacheSize: DefaultResponseCacheSize}, slog.New(slog.DiscardHandler))
	page := "/api/" + id
	for i := range 2 {
		if r := serveTest(t, s, httptest.NewRequest("GET", page, nil)); r.StatusCode != 200 {
			t.Fatalf("request %d: %d, want 200", i+1, r.StatusCode)
		}
	}
	r := serveTest(t, s, httptest.NewRequest("GET", page, nil))
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" || errorCode(t, r) != "rate_limited" {
		t.Errorf("3rd request: %d, Retry-After %q; want 429 rate_limited with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
}

// TestFramePanic: a handler's panic is a 500 with the request id, the
// headers every answer carries and its access line, and the server
// goes on serving.
func TestFramePanic(t *testing.T) {
	var logs lockedBuffer
	s := New(Config{}, nil, nil, slog.New(slog.NewJSONHandler(&logs, nil)))
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	app.Use(s.frame)
	app.Get("/boom", func(*fiber.Ctx) error { panic("boom") })
	app.Get("/fine", func(c *fiber.Ctx) error { return c.SendString("fine") })
	s.app = app
	r := serveTest(t, s, httptest.NewRequest("GET", "/boom", nil))
	var body struct {
		Code      string `json:"code"`
		RequestID string `json:"request_id"`
	}
	raw, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(raw, &body); err != nil || r.StatusCode != 500 || body.Code != "internal_error" ||
		body.RequestID == "" || body.RequestID != r.Header.Get("X-Request-Id") || r.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("panic: %d %s, headers %v; want 500 internal_error with the request id of X-Request-Id, and nosniff", r.StatusCode, raw, r.Header)
	}
	if strings.Contains(string(raw), "boom") {
		t.Errorf("the panic's text reached the client: %s", raw)
	}
	if r := serveTest(t, s, httptest.NewRequest("GET", "/fine", nil)); r.StatusCode != 200 {
		t.Errorf("after a panic: %d, want 200", r.StatusCode)
	}
	s.Shutdown(context.Background())
	if !bytes.Contains(logs.Bytes(), []byte(`"path":"/boom","status":500`)) {
		t.Errorf("no access line of the panic:\n%s", logs.Bytes())
	}
}

// TestRequestIDs: ids are UUID-shaped and never repeat within a process.
func TestRequestIDs(t *testing.T) {
	src := newIDSource()
	seen := map[string]bool{}
	var b [36]byte
	for range 100_000 {
		id := string(src.next(&b))
		if seen[id] || len(id) != 36 || id[14] != '4' || strings.Count(id, "-") != 4 {
			t.Fatalf("id %q: repeated or not a version 4 UUID", id)
		}
		seen[id] = true
	}
}

// answerOf is what TestCachedPageAnswersAsTheRoutes compares.
type answerOf struct {
	status  int
	body    []byte
	headers []string // "Name: value", sorted, without those that differ by request
}

func answer(t *testing.T, r *http.Response) answerOf {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := answerOf{status: r.StatusCode, body: body}
	for name, values := range r.Header {
		switch name {
		case "Date", "X-Request-Id", "X-Ratelimit-Remaining", "X-Ratelimit-Reset":
			continue
		}
		a.headers = append(a.headers, name+": "+strings.Join(values, ", "))
	}
	slices.Sort(a.headers)
	return a
}

// requestCount returns the count of csvapi_http_request_duration_seconds
// for GET route with status.
func requestCount(t *testing.T, s *Server, route string, status int) uint64 {
	t.Helper()
	families, err := s.metrics.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "csvapi_http_request_duration_seconds" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["route"] == route && labels["method"] == "GET" && labels["status"] == strconv.Itoa(status) {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// lockedBuffer is a bytes.Buffer that the access log's goroutine may
// write while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}
