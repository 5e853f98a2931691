package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
)

func newTestServer(cfg Config) *Server {
	return New(cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// withCtx runs f on a fiber context of a request to host with headers.
func withCtx(s *Server, host string, header map[string]string, f func(c *fiber.Ctx)) *fasthttp.Response {
	var fctx fasthttp.RequestCtx
	fctx.Request.Header.SetHost(host)
	for k, v := range header {
		fctx.Request.Header.Set(k, v)
	}
	c := s.app.AcquireCtx(&fctx)
	defer s.app.ReleaseCtx(c)
	f(c)
	return &fctx.Response
}

func TestSanitize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"The file could not be read as a table: Invalid Input Error: No magic bytes found at end of file '/srv/csvapi/data/tmp/abc-123/x.parquet'",
			"The file could not be read as a table: Invalid Input Error: No magic bytes found at end of file '<file>'"},
		{"The file could not be read as a table: Binder Error: bad parquet\n\nLINE 1: DESCRIBE SELECT * FROM read_parquet(?)\n                               ^",
			"The file could not be read as a table: Binder Error: bad parquet"},
		{"The file could not be read as a table: INTERNAL Error: nested too deep\n\nStack Trace:\n\n0   /usr/local/bin/csvapi(+0x1234) [0x5555]\n1  duckdb::Foo",
			"The file could not be read as a table: INTERNAL Error: nested too deep"},
		{"Error in file (/tmp/a/b.csv): line 3", "Error in file (<file>): line 3"},
		{"Cannot open file \"/home/x/y.duckdb\": no such file", "Cannot open file \"<file>\": no such file"},
		{"1/2 of the rows and/or columns are bad.", "1/2 of the rows and/or columns are bad."},
		{"The csv file is empty.", "The csv file is empty."},
	} {
		if got := convert.PublicMessage(tc.in); got != tc.want {
			t.Errorf("PublicMessage(%q)\n = %q\nwant %q", tc.in, got, tc.want)
		}
	}
}

// TestClassifyHardening: the statuses, codes and messages of the errors
// added against hostile clients and upstreams.
func TestClassifyHardening(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
		retry  bool
	}{
		{fmt.Errorf("%w: %s", convert.ErrUnreadable, "Invalid Input Error: x\nLINE 1: SELECT * FROM read_parquet('/tmp/x')"), 422, "unreadable", false},
		{&convert.FetchError{URL: "u", Err: fmt.Errorf("%w: 160 B in 30s", convert.ErrTooSlow)}, 504, "upstream_too_slow", false},
		{fmt.Errorf("load: %w", cache.ErrBusy), 503, "busy", true},
		{cache.ErrClientBusy, 429, "too_many_loads", true},
		{cache.ErrInsufficientStorage, 507, "insufficient_storage", true},
		{fiber.ErrRequestEntityTooLarge, 413, "too_large", false},
	} {
		ae := classify(tc.err)
		if ae.Status != tc.status || ae.Code != tc.code || (ae.RetryAfter > 0) != tc.retry {
			t.Errorf("classify(%v) = %d %s retry %v, want %d %s retry %v", tc.err, ae.Status, ae.Code, ae.RetryAfter, tc.status, tc.code, tc.retry)
		}
		for _, leak := range []string{"LINE 1", "SELECT", "read_parquet(", "/tmp/"} {
			if strings.Contains(ae.Message, leak) {
				t.Errorf("classify(%v): message %q carries %q", tc.err, ae.Message, leak)
			}
		}
	}
	s := newTestServer(Config{})
	resp := withCtx(s, "example.org", nil, func(c *fiber.Ctx) { s.handleError(c, cache.ErrBusy) })
	if resp.StatusCode() != 503 || string(resp.Header.Peek("Retry-After")) != "10" {
		t.Errorf("busy answer: %d, Retry-After %q, want 503 and 10", resp.StatusCode(), resp.Header.Peek("Retry-After"))
	}
}

func TestBaseURLForwardedHeaders(t *testing.T) {
	evil := map[string]string{"X-Forwarded-Proto": "https://evil.example/#", "X-Forwarded-Host": "evil.example/#"}
	for _, tc := range []struct {
		name   string
		cfg    Config
		host   string
		header map[string]string
		want   string
	}{
		{"plain", Config{}, "csvapi.local:8001", nil, "http://csvapi.local:8001"},
		{"forwarded ignored without proxy", Config{}, "csvapi.local", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}, "http://csvapi.local"},
		{"hostile without proxy", Config{}, "csvapi.local", evil, "http://csvapi.local"},
		{"hostile behind proxy", Config{ProxyHeader: "X-Forwarded-For"}, "csvapi.local", evil, "http://csvapi.local"},
		{"proxy", Config{ProxyHeader: "X-Forwarded-For"}, "internal:8001", map[string]string{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "csvapi.example.org"}, "https://csvapi.example.org"},
		{"base url wins", Config{BaseURL: "https://a.example/", ProxyHeader: "X-Forwarded-For"}, "b", map[string]string{"X-Forwarded-Host": "c"}, "https://a.example"},
		{"bad host", Config{}, "evil.example/#", nil, "http://0.0.0.0:0"},
	} {
		s := newTestServer(tc.cfg)
		var got string
		withCtx(s, tc.host, tc.header, func(c *fiber.Ctx) { got = s.baseURL(c) })
		if got != tc.want {
			t.Errorf("%s: baseURL = %q, want %q", tc.name, got, tc.want)
		}
	}
}

func TestAdminTokenBearerOnly(t *testing.T) {
	s := newTestServer(Config{AdminToken: "s3cret"})
	for _, auth := range []string{"s3cret", "bearer s3cret", "Bearer nope", "Basic s3cret", ""} {
		req := httptest.NewRequest(http.MethodGet, "/cache", nil)
		req.Header.Set("Authorization", auth)
		resp, err := s.App().Test(req, -1) // no 1 s timeout: a loaded machine can be slower
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", auth, resp.StatusCode)
		}
	}
}

// serve runs s on a loopback listener until the test ends.
func serve(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return ln.Addr().String()
}

// TestBodyLimit: a large body to a route other than /upload is refused
// from its Content-Length, without being read into memory; a chunked one
// after the small limit.
func TestBodyLimit(t *testing.T) {
	s := newTestServer(Config{MaxUploadSize: 1 << 30})
	addr := serve(t, s)
	const size = 10 << 20
	zeros := make([]byte, 64<<10)
	for _, tc := range []struct {
		name    string
		path    string
		chunked bool
	}{
		{"content-length", "/health", false},
		{"chunked", "/apify?url=http://x/", true},
		{"upload without multipart", "/upload", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			head := "POST " + tc.path + " HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
			if tc.chunked {
				head += "Transfer-Encoding: chunked\r\n\r\n"
			} else {
				head += fmt.Sprintf("Content-Length: %d\r\n\r\n", size)
			}
			go func() { // the server may stop reading at any point
				if _, err := io.WriteString(conn, head); err != nil {
					return
				}
				for sent := 0; sent < size; sent += len(zeros) {
					if tc.chunked {
						if _, err := fmt.Fprintf(conn, "%x\r\n", len(zeros)); err != nil {
							return
						}
					}
					if _, err := conn.Write(zeros); err != nil {
						return
					}
					if tc.chunked {
						if _, err := io.WriteString(conn, "\r\n"); err != nil {
							return
						}
					}
				}
			}()
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatal(err)
			}
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			resp.Body.Close()
			runtime.ReadMemStats(&after)
			if resp.StatusCode != 413 || body["code"] != "too_large" {
				t.Errorf("status %d body %v, want 413 too_large", resp.StatusCode, body)
			}
			grown := after.TotalAlloc - before.TotalAlloc
			t.Logf("allocations while refusing a %d-byte body: %d bytes", size, grown)
			if grown > 4<<20 {
				t.Errorf("the refused body cost %d bytes of allocations, want under 4 MB", grown)
			}
		})
	}
}

// TestBodyLimitsOfUpload: only a multipart POST to /upload of announced
// length gets the upload limit.
func TestBodyLimitsOfUpload(t *testing.T) {
	s := newTestServer(Config{MaxUploadSize: 1 << 30})
	for _, tc := range []struct {
		method, uri, contentType string
		length                   int
		large                    bool
	}{
		{"POST", "/upload", "multipart/form-data; boundary=xyz", 1 << 20, true},
		{"POST", "/Upload/?encoding=latin1", "multipart/form-data; boundary=xyz", 1 << 20, true},
		{"POST", "/upload", "application/octet-stream", 1 << 20, false},
		{"POST", "/upload", "multipart/form-data; boundary=xyz", -1, false},
		{"POST", "/apify", "multipart/form-data; boundary=xyz", 1 << 20, false},
		{"PUT", "/upload", "multipart/form-data; boundary=xyz", 1 << 20, false},
		{"POST", "/upload/../apify", "multipart/form-data; boundary=xyz", 1 << 20, false},
	} {
		var h fasthttp.RequestHeader
		h.SetMethod(tc.method)
		h.SetRequestURI(tc.uri)
		h.SetContentType(tc.contentType)
		h.SetContentLength(tc.length)
		got := s.bodyLimits(&h).MaxRequestBodySize > 0
		if got != tc.large {
			t.Errorf("%s %s (%s, %d): upload limit %v, want %v", tc.method, tc.uri, tc.contentType, tc.length, got, tc.large)
		}
	}
}
