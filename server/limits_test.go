package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
)

// testServer returns a Server without cache nor DB: enough for the routes
// and limits that answer before touching either.
func testServer(cfg Config) *Server {
	return New(cfg, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// serveTest runs req through s's app without fiber's default 1 s timeout
// (a loaded 2-core machine running -race can be slower than that), and
// fails the test, rather than dereference a nil response, on error.
func serveTest(t *testing.T, s *Server, req *http.Request) *http.Response {
	t.Helper()
	resp, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	return resp
}

// listen serves s on a loopback port until the test ends and returns its
// base URL. Limits that fasthttp enforces while reading a request (header
// and body sizes) answer on a real connection only: App.Test returns them
// as errors.
func listen(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.App().Shutdown() })
	return "http://" + ln.Addr().String()
}

// send sends req, failing the test on a transport error.
func send(t *testing.T, req *http.Request) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// errorCode is the code of a JSON error answer, "" when there is none.
func errorCode(t *testing.T, resp *http.Response) string {
	t.Helper()
	var body struct {
		OK   *bool  `json:"ok"`
		Code string `json:"code"`
	}
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil || body.OK == nil || *body.OK {
		t.Errorf("answer %d %s is not a JSON error", resp.StatusCode, raw)
	}
	return body.Code
}

// TestQuerySlotBusy: with every query slot taken for longer than the
// query timeout, a query is refused with 503 busy; once a slot is free,
// the next one gets it.
func TestQuerySlotBusy(t *testing.T) {
	s := testServer(Config{MaxQueries: 1, QueryTimeout: time.Millisecond})
	release, err := s.querySlot(t.Context())
	if err != nil {
		t.Fatalf("first slot: %v", err)
	}
	// A route of its own that takes a slot as the data routes do, in an app
	// with the server's error handler (the server's own routes end with a
	// catch-all 404).
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	app.Get("/slot", func(c *fiber.Ctx) error {
		done, err := s.querySlot(c.UserContext())
		if err != nil {
			return err
		}
		done()
		return c.SendString("ran")
	})
	get := func() *http.Response {
		t.Helper()
		resp, err := app.Test(httptest.NewRequest("GET", "/slot", nil), -1)
		if err != nil {
			t.Fatalf("GET /slot: %v", err)
		}
		return resp
	}
	resp := get()
	if code := errorCode(t, resp); resp.StatusCode != http.StatusServiceUnavailable || code != "busy" {
		t.Errorf("query with no free slot: %d %q, want 503 busy", resp.StatusCode, code)
	}
	release()
	resp = get()
	if body, _ := io.ReadAll(resp.Body); resp.StatusCode != http.StatusOK || string(body) != "ran" {
		t.Errorf("query with a free slot: %d %s, want 200 ran", resp.StatusCode, body)
	}

	// A client that gives up while waiting gets its own error, not busy.
	release, _ = s.querySlot(t.Context())
	defer release()
	s.cfg.QueryTimeout = time.Hour
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.querySlot(ctx); !errors.Is(err, context.Canceled) {
		t.Errorf("waiting client gone: err = %v, want context.Canceled", err)
	}
}

// TestHeaderLimit: a request whose header block is larger than
// MaxHeaderSize is refused with 431, and one just under it is served.
func TestHeaderLimit(t *testing.T) {
	base := listen(t, testServer(Config{MaxHeaderSize: 4 << 10}))
	withHeader := func(size int) *http.Request {
		req, _ := http.NewRequest("GET", base+"/health", nil)
		req.Header.Set("X-Padding", strings.Repeat("x", size))
		return req
	}
	if resp := send(t, withHeader(2<<10)); resp.StatusCode != http.StatusOK {
		t.Errorf("2 KB header under a 4 KB limit: %d, want 200", resp.StatusCode)
	}
	if resp := send(t, withHeader(8<<10)); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Errorf("8 KB header over a 4 KB limit: %d, want 431", resp.StatusCode)
	}
}

// TestUploadLimit: an upload larger than MaxUploadSize is refused with
// 413 too_large before anything is stored, and a body past the transport
// limit (MaxUploadSize + 1 MB of form overhead) is refused with 413 too.
func TestUploadLimit(t *testing.T) {
	base := listen(t, testServer(Config{MaxUploadSize: 1 << 10}))
	upload := func(size int) *http.Request {
		var body bytes.Buffer
		mw := multipart.NewWriter(&body)
		fw, _ := mw.CreateFormFile("file", "big.csv")
		fw.Write([]byte("a,b\n"))
		fw.Write(bytes.Repeat([]byte("1,2\n"), size/4))
		mw.Close()
		req, _ := http.NewRequest("POST", base+"/upload", &body)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		return req
	}
	resp := send(t, upload(2<<10))
	if code := errorCode(t, resp); resp.StatusCode != http.StatusRequestEntityTooLarge || code != "too_large" {
		t.Errorf("2 KB upload over a 1 KB limit: %d %q, want 413 too_large", resp.StatusCode, code)
	}
	// Past the transport limit the server answers 413 and closes without
	// reading the rest: the client may see the answer, or a reset while it
	// is still writing. Either way nothing was accepted.
	resp, err := http.DefaultClient.Do(upload(2 << 20))
	switch {
	case err != nil && !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, syscall.EPIPE):
		t.Errorf("2 MB upload over a 1 KB limit: %v, want 413 or a reset", err)
	case err == nil:
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("2 MB upload over a 1 KB limit: %d, want 413", resp.StatusCode)
		}
	}
}
