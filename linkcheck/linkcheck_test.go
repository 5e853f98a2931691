package linkcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

func TestHashes(t *testing.T) {
	// Values computed with croquemort's hashlib.md5(value).hexdigest()[:8].
	if got, want := URLHash("http://example.org/data.csv"), "u:d3d28f4f"; got != want {
		t.Errorf("URLHash = %q, want %q", got, want)
	}
	if got, want := GroupHash("datasets"), "g:a6530558"; got != want {
		t.Errorf("GroupHash = %q, want %q", got, want)
	}
}

// upstream serves the cases of TestCheck.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv; charset=UTF-8")
		w.Header().Set("ETag", `"v1"`)
		w.Header().Set("Last-Modified", "Tue, 01 Dec 2026 10:00:00 GMT")
		w.Header().Set("Content-Disposition", `attachment; filename="a.csv"`)
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Content-Length", "4")
		if r.Method == http.MethodGet {
			io.WriteString(w, "a,b\n")
		}
	})
	mux.HandleFunc("/missing", http.NotFound)
	mux.HandleFunc("/r1", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/r2", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/r2", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/ok", http.StatusFound)
	})
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop", http.StatusFound)
	})
	mux.HandleFunc("/nohead", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusMethodNotAllowed)
			return
		}
		if r.Header.Get("Range") != "bytes=0-1023" {
			http.Error(w, "want a ranged GET", http.StatusTeapot)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Range", "bytes 0-1/5000")
		w.WriteHeader(http.StatusPartialContent)
		io.WriteString(w, "{}")
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			w.WriteHeader(http.StatusNotImplemented)
			return
		}
		if r.Header.Get("Range") != "" {
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		w.Header().Set("Content-Length", "0")
	})
	mux.HandleFunc("/away", func(w http.ResponseWriter, r *http.Request) {
		_, port, _ := strings.Cut(r.Host, ":")
		http.Redirect(w, r, "http://localhost:"+port+"/ok", http.StatusFound)
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers only when the client gives up
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func TestCheck(t *testing.T) {
	srv := upstream(t)
	open := &Checker{Fetcher: &convert.Fetcher{AllowPrivate: true}, Timeout: 500 * time.Millisecond}
	guarded := &Checker{Fetcher: &convert.Fetcher{AllowedPorts: []int{80, 443}}}
	// The guard is off but the allowlist holds: it must apply to every hop.
	allowlisted := &Checker{Fetcher: &convert.Fetcher{AllowPrivate: true, AllowedHosts: []string{"127.0.0.1"}}}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		checker *Checker
		url     string
		want    map[string]string
		absent  []string
	}{
		{"200", open, srv.URL + "/ok", map[string]string{"final-status-code": "200", "final-url": srv.URL + "/ok",
			"content-type": "text/csv", "charset": "utf-8", "etag": `"v1"`, "content-length": "4",
			"last-modified": "Tue, 01 Dec 2026 10:00:00 GMT", "content-disposition": `attachment; filename="a.csv"`,
			"cache-control": "max-age=60", "updated": "2026-12-01T12:00:00Z"}, []string{"redirect-url", "error"}},
		{"404", open, srv.URL + "/missing", map[string]string{"final-status-code": "404"}, []string{"error"}},
		{"redirect chain", open, srv.URL + "/r1", map[string]string{"final-status-code": "200", "final-url": srv.URL + "/ok",
			"redirect-url": srv.URL + "/r2", "redirect-status-code": "301", "etag": `"v1"`}, nil},
		{"redirect loop", open, srv.URL + "/loop", map[string]string{"error": "too_many_redirects", "final-status-code": "302"}, nil},
		{"HEAD refused", open, srv.URL + "/nohead", map[string]string{"final-status-code": "200", "content-type": "application/json", "content-length": "5000"}, nil},
		{"HEAD refused, empty file", open, srv.URL + "/empty", map[string]string{"final-status-code": "200", "content-length": "0"}, nil},
		{"redirect to a host not allowed", allowlisted, srv.URL + "/away", map[string]string{"error": "forbidden_address", "redirect-status-code": "302"}, []string{"final-status-code"}},
		{"slow", open, srv.URL + "/slow", map[string]string{"error": "timeout", "final-status-code": "503"}, nil},
		{"forbidden address", guarded, srv.URL + "/ok", map[string]string{"error": "forbidden_address"}, []string{"final-status-code"}},
		{"metadata address", guarded, "http://169.254.169.254/latest/meta-data/", map[string]string{"error": "forbidden_address"}, []string{"final-status-code"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.checker.Check(context.Background(), tt.url, now)
			if r["checked-url"] != tt.url || r["url-hash"] != URLHash(tt.url) {
				t.Errorf("checked-url, url-hash = %q, %q; want %q, %q", r["checked-url"], r["url-hash"], tt.url, URLHash(tt.url))
			}
			for k, want := range tt.want {
				if got := r[k]; got != want {
					t.Errorf("%s = %q, want %q (result %v)", k, got, want, r)
				}
			}
			for _, k := range tt.absent {
				if v, ok := r[k]; ok {
					t.Errorf("%s = %q, want no such key", k, v)
				}
			}
		})
	}
}

// testService starts a Service on dir with a settable clock.
func testService(t *testing.T, dir string, fetcher *convert.Fetcher) (*Service, *fakeClock) {
	t.Helper()
	store, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	s := NewService(&Checker{Fetcher: fetcher, Timeout: 2 * time.Second}, store, nil)
	s.Now = clock.Now
	s.HostDelay = time.Millisecond
	s.WebhookDelay = time.Millisecond
	s.Tick = time.Hour // the tests call Recheck themselves
	s.Start(context.Background())
	t.Cleanup(func() { s.Close(); store.Close() })
	return s, clock
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func wait(t *testing.T, s *Service) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("checks not done: %v", err)
	}
}

func TestWebhookRetries(t *testing.T) {
	srv := upstream(t)
	var calls atomic.Int32
	var got struct{ Data Result }
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 2 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		json.NewDecoder(r.Body).Decode(&got)
	}))
	defer hook.Close()
	s, _ := testService(t, t.TempDir(), &convert.Fetcher{AllowPrivate: true})
	if err := s.Submit(Request{URLs: []string{srv.URL + "/ok"}, CallbackURL: hook.URL}); err != nil {
		t.Fatal(err)
	}
	wait(t, s)
	if n := calls.Load(); n != 3 {
		t.Errorf("webhook called %d times, want 3 (two failures, one success)", n)
	}
	if got.Data["checked-url"] != srv.URL+"/ok" || got.Data["final-status-code"] != "200" {
		t.Errorf("webhook got %v, want the result of %s/ok", got.Data, srv.URL)
	}
}

func TestWebhookGivesUp(t *testing.T) {
	srv := upstream(t)
	var calls atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer hook.Close()
	s, _ := testService(t, t.TempDir(), &convert.Fetcher{AllowPrivate: true})
	s.WebhookTries = 3
	if err := s.Submit(Request{URLs: []string{srv.URL + "/ok"}, CallbackURL: hook.URL}); err != nil {
		t.Fatal(err)
	}
	wait(t, s)
	if n := calls.Load(); n != 3 {
		t.Errorf("webhook called %d times, want WebhookTries = 3", n)
	}
}

func TestRecheckFrequency(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer srv.Close()
	s, clock := testService(t, t.TempDir(), &convert.Fetcher{AllowPrivate: true})
	if err := s.Submit(Request{URLs: []string{srv.URL + "/a"}, Group: "g", Frequency: "daily"}); err != nil {
		t.Fatal(err)
	}
	wait(t, s)
	steps := []struct {
		advance    time.Duration
		wantQueued int
		wantHits   int32
	}{
		{time.Hour, 0, 1},
		{23 * time.Hour, 1, 2},
		{time.Hour, 0, 2},
		{24 * time.Hour, 1, 3},
	}
	for i, st := range steps {
		clock.Add(st.advance)
		n, err := s.Recheck()
		if err != nil {
			t.Fatal(err)
		}
		wait(t, s)
		if n != st.wantQueued || hits.Load() != st.wantHits {
			t.Errorf("step %d: queued %d, upstream hits %d; want %d, %d", i, n, hits.Load(), st.wantQueued, st.wantHits)
		}
	}
	r, _ := s.URL(URLHash(srv.URL + "/a"))
	if want := clock.Now().UTC().Format(time.RFC3339); r["updated"] != want {
		t.Errorf("updated = %q, want %q (the injected clock)", r["updated"], want)
	}
}

func TestRestartKeepsResults(t *testing.T) {
	srv := upstream(t)
	dir := t.TempDir()
	store, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := NewService(&Checker{Fetcher: &convert.Fetcher{AllowPrivate: true}}, store, nil)
	s.HostDelay = time.Millisecond
	s.Start(context.Background())
	urls := []string{srv.URL + "/ok", srv.URL + "/missing"}
	if err := s.Submit(Request{URLs: urls, Group: "datasets", Frequency: "monthly"}); err != nil {
		t.Fatal(err)
	}
	wait(t, s)
	s.Close()
	store.Close()

	s2, _ := testService(t, dir, &convert.Fetcher{AllowPrivate: true})
	name, results, ok := s2.Group(GroupHash("datasets"))
	if !ok || name != "datasets" || len(results) != 2 {
		t.Fatalf("after restart: group %q ok=%v with %d results, want datasets with 2", name, ok, len(results))
	}
	want := map[string]string{urls[0]: "200", urls[1]: "404"}
	for _, r := range results {
		if r["final-status-code"] != want[r["checked-url"]] || r["frequency"] != "monthly" || r["group"] != GroupHash("datasets") {
			t.Errorf("after restart: %v, want status %s, monthly, group %s", r, want[r["checked-url"]], GroupHash("datasets"))
		}
	}
}

func TestPerHostPoliteness(t *testing.T) {
	var cur, peak atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := cur.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // widen the window in which overlaps would show
		cur.Add(-1)
	}))
	defer srv.Close()
	s, _ := testService(t, t.TempDir(), &convert.Fetcher{AllowPrivate: true})
	s.PerHost = 1
	var urls []string
	for i := range 6 {
		urls = append(urls, fmt.Sprintf("%s/%d", srv.URL, i))
	}
	if err := s.Submit(Request{URLs: urls}); err != nil {
		t.Fatal(err)
	}
	wait(t, s)
	if p := peak.Load(); p != 1 {
		t.Errorf("peak concurrent requests to one host = %d, want PerHost = 1", p)
	}
}

func TestSubmitValidates(t *testing.T) {
	s, _ := testService(t, t.TempDir(), &convert.Fetcher{AllowPrivate: true})
	for _, req := range []Request{
		{},
		{URLs: []string{"ftp://example.org/a"}},
		{URLs: []string{"http://user:pw@example.org/a"}},
		{URLs: []string{"http://example.org/a"}, Group: "g", Frequency: "weekly"},
		{URLs: []string{"http://example.org/a"}, Frequency: "daily"},
	} {
		if err := s.Submit(req); !errorsIs(err, ErrInvalidRequest) {
			t.Errorf("Submit(%+v) = %v, want ErrInvalidRequest", req, err)
		}
	}
}

func TestFilter(t *testing.T) {
	rs := []Result{
		{"checked-url": "http://a.org/1", "final-status-code": "200", "content-type": "text/csv"},
		{"checked-url": "http://b.org/2", "final-status-code": "404"},
		{"checked-url": "http://a.org/3", "final-status-code": "404", "content-type": "text/html"},
	}
	tests := []struct {
		name              string
		filters, excludes map[string]string
		want              []string
	}{
		{"none", nil, nil, []string{"http://a.org/1", "http://b.org/2", "http://a.org/3"}},
		{"status", map[string]string{"final-status-code": "404"}, nil, []string{"http://b.org/2", "http://a.org/3"}},
		{"domain", map[string]string{"domain": "a.org"}, nil, []string{"http://a.org/1", "http://a.org/3"}},
		{"exclude", nil, map[string]string{"content-type": "text/html"}, []string{"http://a.org/1", "http://b.org/2"}},
		{"both", map[string]string{"final-status-code": "404"}, map[string]string{"domain": "b.org"}, []string{"http://a.org/3"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Filter(rs, tt.filters, tt.excludes)
			var urls []string
			for _, r := range got {
				urls = append(urls, r["checked-url"])
			}
			if fmt.Sprint(urls) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", urls, tt.want)
			}
		})
	}
}

func errorsIs(err, target error) bool { return errors.Is(err, target) }

func TestUnreachableSince(t *testing.T) {
	var status atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(int(status.Load()))
	}))
	defer srv.Close()
	s, clock := testService(t, t.TempDir(), &convert.Fetcher{AllowPrivate: true})
	start := clock.Now().UTC().Format(time.RFC3339)
	steps := []struct {
		status int32
		want   string // unreachable-since; "" for none
	}{
		{500, start},
		{404, start},
		{200, ""},
		{503, clock.Now().Add(3 * time.Hour).UTC().Format(time.RFC3339)},
	}
	for i, st := range steps {
		status.Store(st.status)
		if err := s.Submit(Request{URLs: []string{srv.URL}}); err != nil {
			t.Fatal(err)
		}
		wait(t, s)
		r, _ := s.URL(URLHash(srv.URL))
		if got := r["unreachable-since"]; got != st.want || r["final-status-code"] != fmt.Sprint(st.status) {
			t.Errorf("step %d (HTTP %d): unreachable-since %q, status %s; want %q, %d", i, st.status, got, r["final-status-code"], st.want, st.status)
		}
		clock.Add(time.Hour)
	}
}

func TestViewMatch(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	ok := Result{"checked-url": "https://a.org/1", "final-status-code": "200", "content-type": "text/csv", "updated": now.Format(time.RFC3339)}
	moved := Result{"checked-url": "http://b.org/2", "final-status-code": "200", "redirect-url": "https://b.org/2", "updated": now.Add(-72 * time.Hour).Format(time.RFC3339)}
	gone := Result{"checked-url": "http://a.org/3", "final-status-code": "404", "updated": now.Format(time.RFC3339)}
	down := Result{"checked-url": "https://c.org/4", "final-status-code": "503", "error": "timeout", "updated": now.Format(time.RFC3339)}
	fresh := Result{"checked-url": "https://c.org/5"}
	all := []Result{ok, moved, gone, down, fresh}
	tests := []struct {
		view View
		want []Result
	}{
		{View{}, all},
		{View{Status: StatusOK}, []Result{ok, moved}},
		{View{Status: StatusRedirected}, []Result{moved}},
		{View{Status: StatusClientError}, []Result{gone}},
		{View{Status: StatusServerError}, nil},
		{View{Status: StatusUnreachable}, []Result{down}},
		{View{Status: StatusUnchecked}, []Result{fresh}},
		{View{Status: "404"}, []Result{gone}},
		{View{Scheme: "http"}, []Result{moved, gone}},
		{View{Domain: "A.org"}, []Result{ok, gone}},
		{View{ContentType: "text/csv"}, []Result{ok}},
		{View{CheckedBefore: now.Add(-24 * time.Hour)}, []Result{moved, fresh}},
	}
	for _, tt := range tests {
		var got []Result
		for _, r := range all {
			if tt.view.Match(r) {
				got = append(got, r)
			}
		}
		if fmt.Sprint(got) != fmt.Sprint(tt.want) {
			t.Errorf("%+v: got %v, want %v", tt.view, got, tt.want)
		}
	}
}

func TestStoreCompacts(t *testing.T) {
	dir := t.TempDir()
	store, err := OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := store.addURL("http://example.org/a", "")
	for i := range 3000 {
		if err := store.setResult(h, Result{"checked-url": "http://example.org/a", "final-status-code": fmt.Sprint(200 + i%2)}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()
	b, _ := os.ReadFile(filepath.Join(dir, StoreFile))
	if n := bytes.Count(b, []byte("\n")); n > 1010 {
		t.Errorf("store file has %d lines for one URL, want it compacted", n)
	}
	store, err = OpenStore(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if e, _ := store.url(h); e.Result["final-status-code"] != "201" {
		t.Errorf("after reopening: %v, want the last result (201)", e.Result)
	}
}

func TestSubmitForbidden(t *testing.T) {
	s, _ := testService(t, t.TempDir(), &convert.Fetcher{})
	for _, req := range []Request{
		{URLs: []string{"http://169.254.169.254/latest/meta-data/"}},
		{URLs: []string{"http://0x7f.1/"}},
		{URLs: []string{"http://example.org:22/"}},
		{URLs: []string{"http://example.org/a.csv"}, CallbackURL: "http://127.0.0.1/hook"},
	} {
		if err := s.Submit(req); !errorsIs(err, ErrForbidden) {
			t.Errorf("Submit(%+v) = %v, want ErrForbidden", req, err)
		}
	}
}

func TestCallbacksCapped(t *testing.T) {
	store, err := OpenStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var h string
	for i := range MaxCallbacks + 3 {
		h, _ = store.addURL("http://example.org/a", fmt.Sprintf("http://example.org/hook%d", i))
	}
	e, _ := store.url(h)
	if len(e.Callbacks) != MaxCallbacks || e.Callbacks[MaxCallbacks-1] != fmt.Sprintf("http://example.org/hook%d", MaxCallbacks+2) {
		t.Errorf("callbacks %v, want the latest %d", e.Callbacks, MaxCallbacks)
	}
}
