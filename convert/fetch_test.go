package convert_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// safety bounds how long a test handler waits for a client that should have
// gone away, so a broken Fetch fails the test instead of hanging it.
const safety = 10 * time.Second

func newServer(t *testing.T, h http.HandlerFunc) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// stall sends the headers and some bytes, then waits for the client to leave.
func stall(w http.ResponseWriter, r *http.Request) {
	w.WriteHeader(http.StatusOK)
	w.Write(bytes.Repeat([]byte("x"), 1000))
	w.(http.Flusher).Flush()
	select {
	case <-r.Context().Done():
	case <-time.After(safety):
	}
}

func TestFetchForbiddenAddress(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "a,b\n1,2\n")
	})
	port := srv.Listener.Addr().(*net.TCPAddr).Port

	tests := []struct {
		name, target string
	}{
		{"loopback", srv.URL + "/data.csv"},
		{"mapped", fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/data.csv", port)},
		{"decimal", fmt.Sprintf("http://2130706433:%d/data.csv", port)},
		{"octal", fmt.Sprintf("http://0177.0.0.1:%d/data.csv", port)},
		{"hex", fmt.Sprintf("http://0x7f.1:%d/data.csv", port)},
		// A name is resolved, then its address checked at connect time.
		{"name", fmt.Sprintf("http://localhost:%d/data.csv", port)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "name" {
				if _, err := net.LookupHost("localhost"); err != nil {
					t.Skip("localhost does not resolve here")
				}
			}
			// The test server's port is allowed, so that the address is
			// what gets refused.
			f := convert.Fetcher{AllowedPorts: []int{port}}
			var dst bytes.Buffer
			d, err := f.Fetch(context.Background(), tt.target, &dst)
			if !errors.Is(err, convert.ErrForbiddenAddress) {
				t.Fatalf("Fetch(%s) = %v, %v; want ErrForbiddenAddress", tt.target, d, err)
			}
			var fe *convert.FetchError
			if tt.name == "name" && (!errors.As(err, &fe) || fe.Status != 0 || fe.URL != tt.target) {
				// Refused at connect time, after resolution.
				t.Errorf("Fetch(%s) error = %#v, want a *FetchError with Status 0 and URL %s", tt.target, err, tt.target)
			}
			if dst.Len() != 0 {
				t.Errorf("Fetch(%s) wrote %d bytes, want 0", tt.target, dst.Len())
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestFetch(t *testing.T) {
	const body = "code;nom\n01001;L'Abergement-Clémenciat\n"
	var gotUA, gotAE atomic.Value
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		gotUA.Store(r.Header.Get("User-Agent"))
		gotAE.Store(r.Header.Get("Accept-Encoding"))
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		io.WriteString(w, body)
	})

	tests := []struct {
		name      string
		userAgent string
		wantUA    string
	}{
		{"default user agent", "", convert.DefaultUserAgent},
		{"custom user agent", "test/1.0", "test/1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var progress int64
			f := convert.Fetcher{
				AllowPrivate: true,
				UserAgent:    tt.userAgent,
				Progress:     func(n int64) { progress = n },
			}
			target := srv.URL + "/communes.csv?x=1"
			var dst bytes.Buffer
			got, err := f.Fetch(context.Background(), target, &dst)
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			want := convert.Download{
				URL:          target,
				FinalURL:     target,
				Size:         int64(len(body)),
				ETag:         `"v1"`,
				LastModified: "Mon, 02 Jan 2006 15:04:05 GMT",
				ContentType:  "text/csv; charset=utf-8",
				Status:       http.StatusOK,
			}
			if *got != want {
				t.Errorf("Fetch = %+v, want %+v", *got, want)
			}
			if dst.String() != body {
				t.Errorf("body = %q, want %q", dst.String(), body)
			}
			if progress != int64(len(body)) {
				t.Errorf("last progress = %d, want %d", progress, len(body))
			}
			if ua := gotUA.Load(); ua != tt.wantUA {
				t.Errorf("User-Agent = %q, want %q", ua, tt.wantUA)
			}
			// We store the exact bytes: no transparent decompression.
			if ae := gotAE.Load(); ae != "" {
				t.Errorf("Accept-Encoding = %q, want none", ae)
			}
		})
	}
}

// A gzipped answer is stored as it came.
func TestFetchKeepsCompressedBytes(t *testing.T) {
	gz := []byte{0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x01, 0x00, 0x00, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	})
	f := convert.Fetcher{AllowPrivate: true}
	var dst bytes.Buffer
	if _, err := f.Fetch(context.Background(), srv.URL, &dst); err != nil {
		t.Fatalf("Fetch: %v", err)
	}
	if !bytes.Equal(dst.Bytes(), gz) {
		t.Errorf("body = %x, want %x", dst.Bytes(), gz)
	}
}

func TestFetchRedirects(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/hop/"))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if n > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", n-1), http.StatusFound)
			return
		}
		io.WriteString(w, "done")
	})

	tests := []struct {
		name         string
		maxRedirects int
		hops         int
		ok           bool
	}{
		{"no redirect", 0, 0, true},
		{"default, 5 hops", 0, 5, true},
		{"default, 6 hops", 0, 6, false},
		{"max 2, 2 hops", 2, 2, true},
		{"max 2, 3 hops", 2, 3, false},
		{"none, 0 hops", -1, 0, true},
		{"none, 1 hop", -1, 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := convert.Fetcher{AllowPrivate: true, MaxRedirects: tt.maxRedirects}
			target := fmt.Sprintf("%s/hop/%d", srv.URL, tt.hops)
			var dst bytes.Buffer
			got, err := f.Fetch(context.Background(), target, &dst)
			if !tt.ok {
				var fe *convert.FetchError
				if !errors.As(err, &fe) || fe.Status != 0 {
					t.Fatalf("Fetch(%s) = %v, %v; want a *FetchError with Status 0", target, got, err)
				}
				if dst.Len() != 0 {
					t.Errorf("Fetch(%s) wrote %q, want nothing", target, dst.String())
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch(%s): %v", target, err)
			}
			if want := srv.URL + "/hop/0"; got.FinalURL != want || got.URL != target {
				t.Errorf("Fetch(%s) URL, FinalURL = %s, %s; want %s, %s", target, got.URL, got.FinalURL, target, want)
			}
			if dst.String() != "done" {
				t.Errorf("body = %q, want %q", dst.String(), "done")
			}
		})
	}
}

func TestFetchRedirectToBadURL(t *testing.T) {
	var secret atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/secret" {
			secret.Add(1)
			return
		}
		w.Header().Set("Location", r.URL.Query().Get("to"))
		w.WriteHeader(http.StatusFound)
	})
	host := srv.Listener.Addr().String()

	for _, to := range []string{
		"ftp://" + host + "/x",
		"file:///etc/passwd",
		"gopher://" + host + "/",
		"javascript:alert(1)",
		"http://user:pass@" + host + "/secret",
	} {
		t.Run(to, func(t *testing.T) {
			f := convert.Fetcher{AllowPrivate: true}
			target := srv.URL + "/?to=" + url.QueryEscape(to)
			got, err := f.Fetch(context.Background(), target, io.Discard)
			var fe *convert.FetchError
			if !errors.As(err, &fe) || fe.Status != 0 {
				t.Fatalf("Fetch(redirect to %s) = %v, %v; want a *FetchError with Status 0", to, got, err)
			}
			// The caller's URL was valid: this must not read as a 400.
			if errors.Is(err, convert.ErrInvalidURL) {
				t.Errorf("Fetch(redirect to %s) = %v, want an error that is not ErrInvalidURL", to, err)
			}
		})
	}
	if n := secret.Load(); n != 0 {
		t.Errorf("redirect target with credentials got %d requests, want 0", n)
	}
}

func TestFetchStatus(t *testing.T) {
	for _, status := range []int{http.StatusNotFound, http.StatusForbidden, http.StatusInternalServerError, http.StatusBadGateway} {
		t.Run(strconv.Itoa(status), func(t *testing.T) {
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				http.Error(w, "nope", status)
			})
			f := convert.Fetcher{AllowPrivate: true}
			var dst bytes.Buffer
			got, err := f.Fetch(context.Background(), srv.URL, &dst)
			var fe *convert.FetchError
			if !errors.As(err, &fe) {
				t.Fatalf("Fetch = %v, %v; want a *FetchError", got, err)
			}
			if fe.Status != status || fe.URL != srv.URL {
				t.Errorf("FetchError{URL: %q, Status: %d}, want {URL: %q, Status: %d}", fe.URL, fe.Status, srv.URL, status)
			}
			if dst.Len() != 0 {
				t.Errorf("Fetch wrote %q, want nothing", dst.String())
			}
		})
	}
}

// An endless body is cut once it passes MaxSize, not read to the end.
func TestFetchTooLargeStream(t *testing.T) {
	const (
		maxSize = 100_000
		// Far more than any socket buffers can absorb after the client
		// stops reading.
		serverCap = 256 << 20
	)
	var written atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := bytes.Repeat([]byte("0123456789abcdef"), 256)
		for written.Load() < serverCap {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
			w.(http.Flusher).Flush()
		}
	}))
	defer srv.Close()

	f := convert.Fetcher{AllowPrivate: true, MaxSize: maxSize}
	var dst bytes.Buffer
	got, err := f.Fetch(context.Background(), srv.URL, &dst)
	if !errors.Is(err, convert.ErrTooLarge) {
		t.Fatalf("Fetch = %v, %v; want ErrTooLarge", got, err)
	}
	if dst.Len() > maxSize {
		t.Errorf("Fetch wrote %d bytes, want at most %d", dst.Len(), maxSize)
	}
	srv.Close() // waits for the handler
	if n := written.Load(); n >= serverCap {
		t.Errorf("server wrote %d bytes, the whole body: the client did not stop", n)
	}
}

func TestFetchTooLargeBoundary(t *testing.T) {
	const maxSize = 1000
	tests := []struct {
		name    string
		size    int
		chunked bool // no Content-Length: the cap is found while streaming
		ok      bool
	}{
		{"length, under", maxSize - 1, false, true},
		{"length, at", maxSize, false, true},
		{"length, over", maxSize + 1, false, false},
		{"chunked, under", maxSize - 1, true, true},
		{"chunked, at", maxSize, true, true},
		{"chunked, over", maxSize + 1, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := bytes.Repeat([]byte("a"), tt.size)
			srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
				if tt.chunked {
					w.(http.Flusher).Flush()
				} else {
					w.Header().Set("Content-Length", strconv.Itoa(len(body)))
				}
				w.Write(body)
			})
			f := convert.Fetcher{AllowPrivate: true, MaxSize: maxSize}
			var dst bytes.Buffer
			got, err := f.Fetch(context.Background(), srv.URL, &dst)
			if !tt.ok {
				if !errors.Is(err, convert.ErrTooLarge) {
					t.Fatalf("Fetch = %v, %v; want ErrTooLarge", got, err)
				}
				if dst.Len() > maxSize {
					t.Errorf("Fetch wrote %d bytes, want at most %d", dst.Len(), maxSize)
				}
				return
			}
			if err != nil {
				t.Fatalf("Fetch: %v", err)
			}
			if got.Size != int64(tt.size) || dst.Len() != tt.size {
				t.Errorf("Size = %d, wrote %d bytes; want %d", got.Size, dst.Len(), tt.size)
			}
		})
	}
}

// A Content-Length over the cap is refused before any of the body is read.
func TestFetchTooLargeContentLength(t *testing.T) {
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000000")
		stall(w, r)
	})
	progressed := false
	f := convert.Fetcher{AllowPrivate: true, MaxSize: 100_000, Progress: func(int64) { progressed = true }}
	var dst bytes.Buffer
	got, err := f.Fetch(context.Background(), srv.URL, &dst)
	if !errors.Is(err, convert.ErrTooLarge) {
		t.Fatalf("Fetch = %v, %v; want ErrTooLarge", got, err)
	}
	if dst.Len() != 0 || progressed {
		t.Errorf("Fetch wrote %d bytes (progress called: %v), want 0 bytes read", dst.Len(), progressed)
	}
}

func TestFetchInvalidURL(t *testing.T) {
	var hits atomic.Int32
	srv := newServer(t, func(w http.ResponseWriter, r *http.Request) { hits.Add(1) })
	host := srv.Listener.Addr().String()

	for _, target := range []string{
		"",
		"ftp://x/y",
		"file:///etc/passwd",
		"/relative",
		"data.csv",
		"http://",
		"https://:443/",
		"http:opaque",
		"http://[::1",
		"http://user:pass@" + host + "/",
		"http://user@" + host + "/",
		"javascript:alert(1)",
	} {
		t.Run(target, func(t *testing.T) {
			// AllowPrivate: these must be refused for their form alone.
			f := convert.Fetcher{AllowPrivate: true}
			got, err := f.Fetch(context.Background(), target, io.Discard)
			if !errors.Is(err, convert.ErrInvalidURL) {
				t.Fatalf("Fetch(%q) = %v, %v; want ErrInvalidURL", target, got, err)
			}
			if strings.Contains(err.Error(), "pass") {
				t.Errorf("Fetch(%q) error %q shows the password", target, err)
			}
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("server got %d requests, want 0", n)
	}
}

func TestFetchCancel(t *testing.T) {
	srv := newServer(t, stall)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Cancel once the body has started, so the body read is what is
	// interrupted.
	f := convert.Fetcher{AllowPrivate: true, Progress: func(int64) { cancel() }}
	got, err := f.Fetch(ctx, srv.URL, io.Discard)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Fetch = %v, %v; want context.Canceled", got, err)
	}
	var fe *convert.FetchError
	if !errors.As(err, &fe) {
		t.Errorf("Fetch error = %T, want a *FetchError", err)
	}
}

func TestFetchTimeout(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"during body", stall},
		{"before headers", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(safety):
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newServer(t, tt.handler)
			f := convert.Fetcher{AllowPrivate: true, Timeout: 100 * time.Millisecond}
			got, err := f.Fetch(context.Background(), srv.URL, io.Discard)
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Fetch = %v, %v; want context.DeadlineExceeded", got, err)
			}
		})
	}
}

func ExampleFetcher_Fetch() {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv")
		io.WriteString(w, "code;nom\n01001;L'Abergement-Clémenciat\n")
	}))
	defer srv.Close()

	// AllowPrivate only because the example server is on loopback.
	f := convert.Fetcher{AllowPrivate: true, MaxSize: 1 << 20}
	var buf bytes.Buffer
	d, err := f.Fetch(context.Background(), srv.URL+"/communes.csv", &buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Status, d.Size, d.ContentType)
	fmt.Print(buf.String())
	// Output:
	// 200 40 text/csv
	// code;nom
	// 01001;L'Abergement-Clémenciat
}
