package main

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/csvapi/csvapi/store/storetest"
)

// TestLinkChecks runs the link checker of --checks end to end: token,
// a check of a local file, its result after a restart, and no routes
// without the flag.
func TestLinkChecks(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	m, base := startServiceIn(t, dir, "--allow-private", "--checks", "--checks-token", "tok")
	fileURL := up.URL + "/communes.csv"
	post := func(token string) response {
		req, _ := http.NewRequest(http.MethodPost, base+"/check/one", strings.NewReader(`{"url": "`+fileURL+`"}`))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return do(t, req)
	}
	if r := post(""); r.status != http.StatusUnauthorized || r.body["code"] != "unauthorized" {
		t.Fatalf("POST /check/one without the token: %d %s, want 401 unauthorized", r.status, r.raw)
	}
	r := post("tok")
	hash, _ := r.body["url-hash"].(string)
	if r.status != 200 || !strings.HasPrefix(hash, "u:") {
		t.Fatalf("POST /check/one: %d %s, want a url-hash", r.status, r.raw)
	}
	resultURL := base + "/url?url=" + url.QueryEscape(fileURL)
	deadline := time.Now().Add(patience)
	for {
		r = get(t, resultURL, "Authorization", "Bearer tok")
		if r.body["final-status-code"] != nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if r.body["final-status-code"] != "200" || r.body["url-hash"] != hash {
		t.Fatalf("GET /url: %d %s, want final-status-code 200 and url-hash %s", r.status, r.raw, hash)
	}

	// The status of a table made from the URL shows the last check.
	ep := apify(t, base, fileURL)
	r = get(t, ep+"/status")
	if lc, _ := r.body["link_check"].(map[string]any); lc["final-status-code"] != "200" || lc["checked-url"] != fileURL {
		t.Errorf("GET /api/<id>/status: %s, want link_check with the 200 of %s", r.raw, fileURL)
	}

	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.Server, m.DB, m.Cache, m.checks = nil, nil, nil, nil // closed; the cleanup must not close them twice
	_, base2 := startServiceIn(t, dir, "--allow-private", "--checks", "--checks-token", "tok")
	r = get(t, base2+"/url/"+hash, "Authorization", "Bearer tok")
	if r.status != 200 || r.body["final-status-code"] != "200" {
		t.Errorf("after restart: %d %s, want the stored result", r.status, r.raw)
	}

	_, base3 := startService(t, "--allow-private")
	if r := get(t, base3+"/url/"+hash); r.status != http.StatusNotFound {
		t.Errorf("without --checks: GET /url/<hash> = %d, want 404", r.status)
	}
}

// TestReplicasShareLinkChecks runs two csvapi processes with --checks over
// one store: a URL requested on both while A checks it is checked once, B
// answers with A's result, a group created on A is read on B, and B's
// webhook is posted once (by A, which checked).
func TestReplicasShareLinkChecks(t *testing.T) {
	var heads atomic.Int32
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.Header().Set("Content-Type", "text/csv")
	}))
	defer up.Close()
	var hooks atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.Add(1) }))
	defer hook.Close()
	srv, bases, _ := startReplicas(t, 2, "--checks")
	fileURL := up.URL + "/data.csv"
	postJSON := func(base, path, body string) response {
		req, _ := http.NewRequest(http.MethodPost, base+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, req)
	}
	if r := postJSON(bases[0], "/check/many", `{"urls": ["`+fileURL+`"], "group": "portal"}`); r.status != 200 {
		t.Fatalf("POST /check/many on A: %d %s", r.status, r.raw)
	}
	eventually(t, "A's check to reach the upstream", func() bool { return heads.Load() == 1 })
	r := postJSON(bases[1], "/check/one", `{"url": "`+fileURL+`", "callback_url": "`+hook.URL+`/b"}`)
	hash, _ := r.body["url-hash"].(string)
	if r.status != 200 || len(hash) != 10 {
		t.Fatalf("POST /check/one on B: %d %s", r.status, r.raw)
	}
	// B registers its callback in the URL's shared entry before it finds
	// A's lease: once it is there, A's result answers B's request.
	entry := filepath.Join(srv.Dir, storetest.Bucket, "replicas", "checks", "url", hash[2:]+".json")
	eventually(t, "B's callback in the store", func() bool {
		b, _ := os.ReadFile(entry)
		return strings.Contains(string(b), hook.URL+"/b")
	})
	close(release)
	eventually(t, "B to answer with A's result", func() bool {
		return get(t, bases[1]+"/url/"+hash).body["final-status-code"] == "200"
	})
	eventually(t, "B's webhook", func() bool { return hooks.Load() == 1 })
	for _, base := range bases {
		eventually(t, "no check pending", func() bool {
			return strings.Contains(string(get(t, base+"/metrics").raw), "\ncsvapi_link_checks_pending 0\n")
		})
	}
	if n := heads.Load(); n != 1 {
		t.Errorf("the upstream got %d HEAD requests, want 1", n)
	}
	r = get(t, bases[1]+"/group?group=portal")
	if urls, _ := r.body["urls"].([]any); r.status != 200 || r.body["name"] != "portal" || len(urls) != 1 {
		t.Errorf("GET /group on B: %d %s, want the group A created with 1 URL", r.status, r.raw)
	}
	for _, base := range bases {
		if r := get(t, base+"/ready"); r.status != 200 || r.body["degraded"] != nil {
			t.Errorf("/ready: %d %s, want ok without degraded", r.status, r.raw)
		}
	}
	if n := hooks.Load(); n != 1 {
		t.Errorf("B's webhook was posted %d times, want 1", n)
	}
}

// TestReplicaTakesOverLinkCheck kills replica A in the middle of a check:
// B, whose request for the same URL waits on A's lease, takes the lease
// over once it expires (--store-lease 5s), checks, and posts its webhook.
func TestReplicaTakesOverLinkCheck(t *testing.T) {
	var heads atomic.Int32
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			heads.Add(1)
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer up.Close()
	var hooks atomic.Int32
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hooks.Add(1) }))
	defer hook.Close()
	srv, bases, kills := startReplicas(t, 2, "--checks")
	fileURL := up.URL + "/data.csv"
	post := func(base, body string) response {
		req, _ := http.NewRequest(http.MethodPost, base+"/check/one", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		return do(t, req)
	}
	if r := post(bases[0], `{"url": "`+fileURL+`"}`); r.status != 200 {
		t.Fatalf("POST /check/one on A: %d %s", r.status, r.raw)
	}
	eventually(t, "A's check to reach the upstream", func() bool { return heads.Load() == 1 })
	r := post(bases[1], `{"url": "`+fileURL+`", "callback_url": "`+hook.URL+`/b"}`)
	hash, _ := r.body["url-hash"].(string)
	if r.status != 200 || len(hash) != 10 {
		t.Fatalf("POST /check/one on B: %d %s", r.status, r.raw)
	}
	entry := filepath.Join(srv.Dir, storetest.Bucket, "replicas", "checks", "url", hash[2:]+".json")
	eventually(t, "B's callback in the store", func() bool {
		b, _ := os.ReadFile(entry)
		return strings.Contains(string(b), hook.URL+"/b")
	})
	kills[0]() // A dies holding the lease
	close(release)
	eventually(t, "B to take over and check", func() bool {
		return get(t, bases[1]+"/url/"+hash).body["final-status-code"] == "200"
	})
	eventually(t, "B's webhook", func() bool { return hooks.Load() == 1 })
	if n := heads.Load(); n != 2 {
		t.Errorf("the upstream got %d HEAD requests, want 2 (A's, cut, and B's)", n)
	}
}
