package server

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestPageLang(t *testing.T) {
	for _, tc := range []struct{ explicit, accept, want string }{
		{"", "", "en"},
		{"", "fr-FR,fr;q=0.9,en;q=0.8", "fr"},
		{"", "en-GB,fr;q=0.5", "en"},
		{"", "de-DE,fr;q=0.7,en;q=0.3", "fr"},
		{"", "en;q=0.2,fr;q=0.9", "fr"},
		{"", "fr;q=0", "en"},
		{"en", "fr", "en"},
		{"xx", "fr", "fr"},
	} {
		if got := pageLang(tc.explicit, tc.accept); got != tc.want {
			t.Errorf("pageLang(%q, %q) = %q, want %q", tc.explicit, tc.accept, got, tc.want)
		}
	}
}

// TestPagesFollowTheCSP checks what the Content-Security-Policy would
// block in a browser: inline scripts, style attributes, on* handlers.
func TestPagesFollowTheCSP(t *testing.T) {
	s := New(Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	inline := regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)
	for _, path := range []string{"/", "/?lang=fr", "/explore/0123456789abcdef0123456789abcdef", "/embed/0123456789abcdef0123456789abcdef",
		"/explore?url=https%3A%2F%2Fexample.org%2Fa.csv&sheet=2"} {
		resp, err := s.App().Test(httptest.NewRequest("GET", path, nil))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %v, %v", path, resp, err)
		}
		body, _ := io.ReadAll(resp.Body)
		if m := inline.Find(body); m != nil {
			t.Errorf("GET %s: %q would be blocked by the CSP", path, m)
		}
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("GET %s: CSP = %q", path, csp)
		}
	}
}

// TestPageWeight keeps the explore page's HTML, JS and CSS (charts
// included) under 150 KB uncompressed.
func TestPageWeight(t *testing.T) {
	total := 0
	for _, dir := range []fs.FS{pageFiles, staticFiles} {
		fs.WalkDir(dir, ".", func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.Contains(path, "docs.") {
				return err
			}
			b, _ := fs.ReadFile(dir, path)
			total += len(b)
			return nil
		})
	}
	t.Logf("pages weigh %d bytes (HTML+JS+CSS, uncompressed)", total)
	if total >= 150_000 {
		t.Errorf("pages weigh %d bytes, over the 150 KB budget", total)
	}
}

// TestStaticAssets: pages link content-hashed names, served gzipped with a
// year of caching; plain names stay for other sites, cached briefly.
func TestStaticAssets(t *testing.T) {
	s := New(Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	get := func(path string, hdr ...string) (*http.Response, []byte) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		resp, err := s.App().Test(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		body, _ := io.ReadAll(resp.Body)
		return resp, body
	}
	_, page := get("/explore/0123456789abcdef0123456789abcdef")
	links := regexp.MustCompile(`(?:src|href)="(/static/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	if len(links) != 3 {
		t.Fatalf("explore page links %d static files, want 3: %s", len(links), page)
	}
	hashed := regexp.MustCompile(`^/static/[a-z-]+\.[0-9a-f]{10}\.(js|css)$`)
	for _, l := range links {
		path := l[1]
		if !hashed.MatchString(path) {
			t.Errorf("page links %s, want a content-hashed name", path)
			continue
		}
		resp, gz := get(path, "Accept-Encoding", "gzip, br")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Cache-Control") != hashedCacheControl {
			t.Errorf("GET %s: status %d, Content-Encoding %q, Cache-Control %q", path, resp.StatusCode, resp.Header.Get("Content-Encoding"), resp.Header.Get("Cache-Control"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(gz))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		unzipped, _ := io.ReadAll(zr)
		plainPath := regexp.MustCompile(`\.[0-9a-f]{10}\.`).ReplaceAllString(path, ".")
		presp, plain := get(plainPath)
		if !bytes.Equal(unzipped, plain) || presp.Header.Get("Content-Encoding") != "" || presp.Header.Get("Cache-Control") != plainCacheControl {
			t.Errorf("GET %s: %d bytes unzipped, %s: %d bytes, Content-Encoding %q, Cache-Control %q", path, len(unzipped), plainPath, len(plain),
				presp.Header.Get("Content-Encoding"), presp.Header.Get("Cache-Control"))
		}
		if len(gz) >= len(plain) {
			t.Errorf("%s: gzipped %d bytes, plain %d", path, len(gz), len(plain))
		}
		if resp, _ := get(path, "If-None-Match", resp.Header.Get("ETag")); resp.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s with its ETag: status %d, want 304", path, resp.StatusCode)
		}
	}
	// The component links the hashed stylesheet into its shadow root.
	_, js := get(assetPath("csvapi-preview.js"))
	if css := assetPath("csvapi.css"); !bytes.Contains(js, []byte("'"+css+"'")) {
		t.Errorf("csvapi-preview.js does not link %s", css)
	}
	if resp, _ := get("/static/csvapi.0000000000.css"); resp.StatusCode != 404 {
		t.Errorf("unknown hash: status %d, want 404", resp.StatusCode)
	}
}

func TestExploreRejectsBadInput(t *testing.T) {
	s := New(Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for path, want := range map[string]int{
		"/explore":                          302,
		"/explore?url=ftp%3A%2F%2Fx%2Fa":    400,
		"/explore/not-an-id":                404,
		"/embed/0123456789ABCDEF0123456789": 404,
	} {
		resp, err := s.App().Test(httptest.NewRequest("GET", path, nil))
		if err != nil || resp.StatusCode != want {
			t.Errorf("GET %s: status %v (%v), want %d", path, resp.StatusCode, err, want)
		}
	}
}
