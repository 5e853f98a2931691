package main

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
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
	deadline := time.Now().Add(30 * time.Second)
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
