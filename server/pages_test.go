package server

import (
	"io"
	"io/fs"
	"log/slog"
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
		resp := serveTest(t, s, httptest.NewRequest("GET", path, nil))
		if resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d, want 200", path, resp.StatusCode)
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

// TestPageWeight keeps the pages' HTML, JS and CSS under 100 KB.
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
	if total >= 100_000 {
		t.Errorf("pages weigh %d bytes, over the 100 KB budget", total)
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
		if resp := serveTest(t, s, httptest.NewRequest("GET", path, nil)); resp.StatusCode != want {
			t.Errorf("GET %s: status %d, want %d", path, resp.StatusCode, want)
		}
	}
}
