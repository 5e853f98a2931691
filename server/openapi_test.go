package server

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/csvapi/csvapi/convert"
)

// TestOpenAPI checks that /openapi.json is a valid OpenAPI 3.1 document
// that documents every route the app registers, with its method.
func TestOpenAPI(t *testing.T) {
	// With the link checker on, so that its routes are listed too.
	s, _, _ := checkServer(t, ChecksConfig{}, &convert.Fetcher{})
	resp := serveTest(t, s, httptest.NewRequest("GET", "/openapi.json", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("GET /openapi.json: %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("loading the document: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi = %q, want 3.1.x", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("invalid OpenAPI document: %v", err)
	}
	param := regexp.MustCompile(`:([A-Za-z_]+)`)
	n := 0
	for _, r := range s.App().GetRoutes(true) {
		if r.Method == "HEAD" || r.Method == "USE" || r.Path == "/" {
			continue // HEAD mirrors GET; middleware is not a route
		}
		n++
		path := strings.Replace(param.ReplaceAllString(r.Path, "{$1}"), "*", "{file}", 1)
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("route %s %s is not documented as %s", r.Method, r.Path, path)
		}
	}
	if n < 10 {
		t.Errorf("only %d routes checked; the route listing is broken", n)
	}
}

func TestDocsPageIsSelfContained(t *testing.T) {
	s := New(Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	resp := serveTest(t, s, httptest.NewRequest("GET", "/docs", nil))
	if resp.StatusCode != 200 {
		t.Fatalf("GET /docs: %d", resp.StatusCode)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "openapi.json") {
		t.Error("/docs does not load openapi.json")
	}
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*["']?(https?:)?//`).Find(body); m != nil {
		t.Errorf("/docs loads an external asset: %s", m)
	}
	// The Content-Security-Policy allows same-origin scripts and styles only.
	if m := regexp.MustCompile(`(?i)<script>|<style|\son[a-z]+=|style=`).Find(body); m != nil {
		t.Errorf("/docs has inline script or style, which the CSP blocks: %s", m)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("/docs Content-Security-Policy = %q", csp)
	}
	for _, f := range []string{"/static/docs.js", "/static/docs.css"} {
		if resp := serveTest(t, s, httptest.NewRequest("GET", f, nil)); resp.StatusCode != 200 {
			t.Errorf("GET %s: %d, want 200", f, resp.StatusCode)
		}
	}
	resp = serveTest(t, s, httptest.NewRequest("GET", "/static/../openapi.go", nil))
	if resp.StatusCode != 404 {
		t.Errorf("GET /static/../openapi.go: %d, want 404", resp.StatusCode)
	}
}
