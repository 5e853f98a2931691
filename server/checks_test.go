package server

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/linkcheck"
	"github.com/csvapi/csvapi/store"
)

// checkServer returns a Server with the link checker on, its service, and
// a local upstream with /ok (200) and /missing (404).
func checkServer(t *testing.T, cfg ChecksConfig, fetcher *convert.Fetcher) (*Server, *linkcheck.Service, string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ok" {
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(up.Close)
	store, err := linkcheck.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := linkcheck.NewService(&linkcheck.Checker{Fetcher: fetcher, Timeout: 5 * time.Second}, store, nil)
	svc.HostDelay = time.Millisecond
	svc.Start(context.Background())
	t.Cleanup(func() { svc.Close(); store.Close() })
	cfg.Service = svc
	s := New(Config{Checks: cfg}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	return s, svc, up.URL
}

// call makes a request and decodes the JSON answer into a map.
func call(t *testing.T, s *Server, method, path, body, token string) (int, map[string]any) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := s.App().Test(req, -1)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s %s: answer is not a JSON object: %s", method, path, raw)
	}
	return resp.StatusCode, out
}

func waitChecks(t *testing.T, svc *linkcheck.Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := svc.Wait(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestCheckRoutes(t *testing.T) {
	s, svc, up := checkServer(t, ChecksConfig{}, &convert.Fetcher{AllowPrivate: true})
	status, got := call(t, s, "POST", "/check/one", `{"url": "`+up+`/ok"}`, "")
	if status != 200 || got["url-hash"] != linkcheck.URLHash(up+"/ok") {
		t.Fatalf("POST /check/one: %d %v, want url-hash %s", status, got, linkcheck.URLHash(up+"/ok"))
	}
	status, got = call(t, s, "POST", "/check/many", `{"urls": ["`+up+`/ok", "`+up+`/missing"], "group": "mine", "frequency": "daily"}`, "")
	if status != 200 || got["group-hash"] != linkcheck.GroupHash("mine") {
		t.Fatalf("POST /check/many: %d %v, want group-hash %s", status, got, linkcheck.GroupHash("mine"))
	}
	waitChecks(t, svc)

	for _, path := range []string{"/url/" + linkcheck.URLHash(up+"/ok"), "/url?url=" + url.QueryEscape(up+"/ok")} {
		status, got = call(t, s, "GET", path, "", "")
		if status != 200 || got["final-status-code"] != "200" || got["checked-url"] != up+"/ok" {
			t.Errorf("GET %s: %d %v, want the 200 result of /ok", path, status, got)
		}
	}
	groups := []struct {
		query string
		want  []string
	}{
		{"", []string{up + "/missing", up + "/ok"}},
		{"&filter_final-status-code=404", []string{up + "/missing"}},
		{"&exclude_final-status-code=404", []string{up + "/ok"}},
		{"&filter_frequency=hourly", nil},
	}
	for _, g := range groups {
		path := "/group?group=mine" + g.query
		status, got = call(t, s, "GET", path, "", "")
		if status != 200 || got["name"] != "mine" {
			t.Fatalf("GET %s: %d %v", path, status, got)
		}
		var urls []string
		for _, r := range got["urls"].([]any) {
			urls = append(urls, r.(map[string]any)["checked-url"].(string))
		}
		if strings.Join(urls, " ") != strings.Join(g.want, " ") {
			t.Errorf("GET %s: urls %v, want %v", path, urls, g.want)
		}
	}
	status, got = call(t, s, "GET", "/group/"+linkcheck.GroupHash("mine"), "", "")
	if status != 200 || len(got["urls"].([]any)) != 2 {
		t.Errorf("GET /group/<hash>: %d %v, want 2 urls", status, got)
	}

	for _, tc := range []struct {
		method, path, body, code string
		status                   int
	}{
		{"GET", "/url/u:00000000", "", "not_found", 404},
		{"GET", "/group?group=nope", "", "not_found", 404},
		{"GET", "/url", "", "missing_parameter", 400},
		{"POST", "/check/one", `{}`, "missing_parameter", 400},
		{"POST", "/check/one", `not json`, "invalid_parameter", 400},
		{"POST", "/check/one", `{"url": "ftp://example.org/a"}`, "invalid_parameter", 400},
		{"POST", "/check/many", `{"urls": ["http://example.org/a"]}`, "missing_parameter", 400},
		{"POST", "/check/many", `{"urls": ["http://example.org/a"], "group": "g", "frequency": "weekly"}`, "invalid_parameter", 400},
	} {
		status, got = call(t, s, tc.method, tc.path, tc.body, "")
		if status != tc.status || got["code"] != tc.code || got["ok"] != false {
			t.Errorf("%s %s %s: %d %v, want %d %s", tc.method, tc.path, tc.body, status, got, tc.status, tc.code)
		}
	}
}

func TestCheckRoutesOffByDefault(t *testing.T) {
	s := New(Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	status, got := call(t, s, "POST", "/check/one", `{"url": "http://example.org/a"}`, "")
	if status != 404 || got["code"] != "not_found" {
		t.Errorf("POST /check/one without --checks: %d %v, want 404 not_found", status, got)
	}
}

func TestCheckRoutesToken(t *testing.T) {
	s, _, _ := checkServer(t, ChecksConfig{Token: "s3cret"}, &convert.Fetcher{AllowPrivate: true})
	for _, tc := range []struct {
		token  string
		status int
	}{{"", 401}, {"wrong", 401}, {"s3cret", 404}} {
		status, _ := call(t, s, "GET", "/url/u:00000000", "", tc.token)
		if status != tc.status {
			t.Errorf("token %q: status %d, want %d", tc.token, status, tc.status)
		}
	}
}

func TestCheckRoutesCaps(t *testing.T) {
	s, _, up := checkServer(t, ChecksConfig{Rate: 4, MaxURLsPerRequest: 2, MaxURLsPerClient: 3}, &convert.Fetcher{AllowPrivate: true})
	// Local URLs only: the checks queued here do run.
	many := func(paths ...string) string {
		var urls []string
		for _, p := range paths {
			urls = append(urls, up+p)
		}
		b, _ := json.Marshal(map[string]any{"urls": urls, "group": "g"})
		return string(b)
	}
	steps := []struct {
		body   string
		status int
		code   string
	}{
		{many("/1", "/2", "/3"), 413, "too_many_urls"},
		{many("/1", "/2"), 200, ""},
		{many("/3", "/4"), 429, "too_many_urls"}, // 4 > 3 an hour
		{many("/3"), 200, ""},
		{many("/5"), 429, "rate_limited"}, // the 5th request this minute
	}
	for i, st := range steps {
		status, got := call(t, s, "POST", "/check/many", st.body, "")
		if status != st.status || (st.code != "" && got["code"] != st.code) {
			t.Errorf("step %d: %d %v, want %d %s", i, status, got, st.status, st.code)
		}
	}
}

func TestCheckRoutesGuardCallback(t *testing.T) {
	s, _, _ := checkServer(t, ChecksConfig{}, &convert.Fetcher{})
	status, got := call(t, s, "POST", "/check/one", `{"url": "http://example.org/a", "callback_url": "http://169.254.169.254/hook"}`, "")
	if status != 403 || got["code"] != "forbidden_address" {
		t.Errorf("callback to the metadata address: %d %v, want 403 forbidden_address", status, got)
	}
}

func TestChecksDashboard(t *testing.T) {
	s, svc, up := checkServer(t, ChecksConfig{}, &convert.Fetcher{AllowPrivate: true})
	if status, got := call(t, s, "POST", "/check/many", `{"urls": ["`+up+`/ok", "`+up+`/missing"], "group": "g"}`, ""); status != 200 {
		t.Fatalf("POST /check/many: %d %v", status, got)
	}
	waitChecks(t, svc)
	fetch := func(path string) (*http.Response, string) {
		t.Helper()
		resp, err := s.App().Test(httptest.NewRequest("GET", path, nil), -1)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := fetch("/checks?status=client&lang=en")
	if resp.StatusCode != 200 || !strings.Contains(page, up+"/missing") || strings.Contains(page, ">"+up+"/ok<") {
		t.Errorf("GET /checks?status=client: %d, want /missing and not /ok in\n%s", resp.StatusCode, page)
	}
	if !strings.Contains(page, `href="/checks.csv?status=client"`) {
		t.Errorf("GET /checks?status=client: no CSV link of the same view in\n%s", page)
	}
	if m := regexp.MustCompile(`<script>|<style|\sstyle=|\son[a-z]+=`).FindString(page); m != "" {
		t.Errorf("GET /checks: %q would be blocked by the CSP", m)
	}
	resp, body := fetch("/checks.csv?status=ok&scheme=http")
	lines := strings.Split(strings.TrimSpace(body), "\n")
	if resp.StatusCode != 200 || len(lines) != 2 || !strings.HasPrefix(lines[1], up+"/ok,200,") {
		t.Errorf("GET /checks.csv?status=ok: %d %q, want the header and the /ok row", resp.StatusCode, body)
	}
	if resp, _ := fetch("/checks?stale=soon"); resp.StatusCode != 400 {
		t.Errorf("GET /checks?stale=soon: %d, want 400", resp.StatusCode)
	}
}

// downRemote is a shared store that cannot be reached.
type downRemote struct{}

var errStoreDown = errors.New("dial tcp 127.0.0.1:9: connection refused")

func (downRemote) Get(context.Context, string, string) ([]byte, string, error) {
	return nil, "", errStoreDown
}
func (downRemote) Create(context.Context, string, []byte) (string, error) { return "", errStoreDown }
func (downRemote) Replace(context.Context, string, []byte, string) (string, error) {
	return "", errStoreDown
}
func (downRemote) Delete(context.Context, string) error { return errStoreDown }
func (downRemote) List(context.Context, string) ([]store.Object, error) {
	return nil, errStoreDown
}
func (downRemote) Check(context.Context) error { return errStoreDown }

// TestChecksStoreDown: with the shared store unreachable, a check runs
// here alone, its result is served, and /ready's degraded entries say so.
func TestChecksStoreDown(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	st, err := linkcheck.OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	svc := linkcheck.NewService(&linkcheck.Checker{Fetcher: &convert.Fetcher{AllowPrivate: true}, Timeout: 5 * time.Second}, st, nil)
	svc.Remote, svc.HostDelay = downRemote{}, time.Millisecond
	svc.Start(context.Background())
	t.Cleanup(func() { svc.Close(); st.Close() })
	s := New(Config{Checks: ChecksConfig{Service: svc}}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if d := s.checksDegraded(); len(d) != 0 {
		t.Errorf("degraded before any use of the store: %v", d)
	}
	if status, body := call(t, s, http.MethodPost, "/check/one", `{"url": "`+up.URL+`/a"}`, ""); status != 200 {
		t.Fatalf("POST /check/one: %d %v", status, body)
	}
	waitChecks(t, svc)
	if status, body := call(t, s, http.MethodGet, "/url?url="+url.QueryEscape(up.URL+"/a"), "", ""); status != 200 || body["final-status-code"] != "200" {
		t.Errorf("GET /url: %d %v, want the local result 200", status, body)
	}
	if d := s.checksDegraded(); d["checks"] == "" {
		t.Errorf("degraded = %v, want a checks entry", d)
	}
}
