package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestExportStalledReaderLosesItsSlot: a client that starts an export and
// stops reading holds the only export slot for --export-stall-timeout, not
// for --write-timeout: the next export gets the slot.
func TestExportStalledReaderLosesItsSlot(t *testing.T) {
	var csv bytes.Buffer
	csv.WriteString("id,text\n")
	for i := 0; csv.Len() < 20<<20; i++ { // well past the socket buffers
		fmt.Fprintf(&csv, "%d,%s\n", i, strings.Repeat("abcdefghij", 7))
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(csv.Bytes()) }))
	defer up.Close()
	_, base := startService(t, "--allow-private", "--max-queries", "1", "--export-stall-timeout", "2s", "--query-timeout", "1m")
	ep := apify(t, base, up.URL+"/big.csv")
	u, _ := url.Parse(ep + "/export")

	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.(*net.TCPConn).SetReadBuffer(4096)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", u.Path, u.Host)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("stalled export: %v, %v", resp, err)
	}
	// From here on, nothing is read from conn.

	r := get(t, ep+"/export")
	if r.status != 200 {
		t.Fatalf("export while another client stalls: status %d body %.300s, want 200", r.status, r.raw)
	}
	if lines := bytes.Count(r.raw, []byte("\n")); lines != bytes.Count(csv.Bytes(), []byte("\n")) {
		t.Errorf("export: %d lines, want %d", lines, bytes.Count(csv.Bytes(), []byte("\n")))
	}
}

// TestUploadBodyLimits: uploads larger than the small body limit of the
// other routes still work; a large body elsewhere is a 413.
func TestUploadBodyLimits(t *testing.T) {
	_, base := startService(t)
	var content bytes.Buffer
	content.WriteString("n;label\n")
	for i := 0; content.Len() < 200<<10; i++ {
		fmt.Fprintf(&content, "%d;row %d\n", i, i)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, _ := mw.CreateFormFile("file", "big.csv")
	fw.Write(content.Bytes())
	mw.Close()
	req, _ := http.NewRequest(http.MethodPost, base+"/upload", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	if r := do(t, req); r.status != 200 {
		t.Fatalf("upload of %d bytes: status %d body %s", content.Len(), r.status, r.raw)
	}
	// The refusal comes from the announced length, before the body is
	// read: the headers are enough (an HTTP client that keeps writing the
	// body may see the connection reset instead of the answer).
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /apify?url=x HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 413 || !bytes.Contains(raw, []byte(`"code":"too_large"`)) {
		t.Errorf("1 MB body to /apify: status %d body %s, want 413 too_large", resp.StatusCode, raw)
	}
}

// TestMinFreeDiskRefusesLoads: below --min-free-disk a new load is a 507;
// the service says why.
func TestMinFreeDiskRefusesLoads(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--min-free-disk", "1PB")
	r := get(t, base+"/apify?url="+url.QueryEscape(up.URL+"/communes.csv"))
	if r.status != http.StatusInsufficientStorage || r.body["code"] != "insufficient_storage" || r.header.Get("Retry-After") == "" {
		t.Errorf("load on a full disk: status %d, Retry-After %q, body %s; want 507 insufficient_storage", r.status, r.header.Get("Retry-After"), r.raw)
	}
	if up.hits.Load() != 0 {
		t.Errorf("the upstream was called %d times, want 0", up.hits.Load())
	}
}

// TestAdminTokenSources: the token comes from the flag, CSVAPI_ADMIN_TOKEN
// or --admin-token-file; only "Bearer <token>" is accepted.
func TestAdminTokenSources(t *testing.T) {
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		env   map[string]string
		token string
	}{
		{"file", []string{"--admin-token-file", file}, nil, "from-file"},
		{"env", nil, map[string]string{"CSVAPI_ADMIN_TOKEN": "from-env"}, "from-env"},
		{"env file", nil, map[string]string{"CSVAPI_ADMIN_TOKEN_FILE": file}, "from-file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := NewMain()
			getenv := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			if err := m.ParseFlags(tc.args, getenv, io.Discard); err != nil {
				t.Fatal(err)
			}
			if m.Config.AdminToken != tc.token {
				t.Errorf("token %q, want %q", m.Config.AdminToken, tc.token)
			}
		})
	}
	m := NewMain()
	noEnv := func(string) (string, bool) { return "", false }
	if err := m.ParseFlags([]string{"--admin-token", "x", "--admin-token-file", file}, noEnv, io.Discard); err == nil {
		t.Error("--admin-token with --admin-token-file: no error")
	}
	if err := NewMain().ParseFlags([]string{"--admin-token-file", filepath.Join(t.TempDir(), "missing")}, noEnv, io.Discard); err == nil {
		t.Error("missing --admin-token-file: no error")
	}

	_, base := startService(t, "--admin-token-file", file)
	for _, tc := range []struct {
		auth   string
		status int
	}{
		{"Bearer from-file", 200},
		{"from-file", 401},
		{"Bearer  from-file", 401},
	} {
		if r := get(t, base+"/cache", "Authorization", tc.auth); r.status != tc.status {
			t.Errorf("Authorization %q: status %d, want %d", tc.auth, r.status, tc.status)
		}
	}
}

// TestLoadAdmission: per-client limits (by address, or by the proxy's
// header with --proxy-header) and the bounded queue, through HTTP.
func TestLoadAdmission(t *testing.T) {
	gate := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n")
		w.(http.Flusher).Flush()
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		io.WriteString(w, "1,2\n")
	}))
	defer up.Close()
	defer close(gate) // before up.Close: the handlers return
	_, base := startService(t, "--allow-private", "--apify-wait", "1ms", "--max-loads", "1",
		"--max-queued-loads", "2", "--max-client-loads", "1", "--proxy-header", "X-Forwarded-For")
	apifyAs := func(path, client string) response {
		return get(t, base+"/apify?url="+url.QueryEscape(up.URL+path), "X-Forwarded-For", "203.0.113.99, "+client)
	}
	if r := apifyAs("/1.csv", "192.0.2.1"); r.status != http.StatusAccepted {
		t.Fatalf("first load: status %d body %s, want 202", r.status, r.raw)
	}
	r := apifyAs("/2.csv", "192.0.2.1")
	if r.status != http.StatusTooManyRequests || r.body["code"] != "too_many_loads" || r.header.Get("Retry-After") == "" {
		t.Errorf("second load of one client: status %d, Retry-After %q, body %s; want 429 too_many_loads", r.status, r.header.Get("Retry-After"), r.raw)
	}
	// The first address of X-Forwarded-For is the client's own text: only
	// the last one, which the proxy appended, names the client.
	for _, client := range []string{"192.0.2.2", "192.0.2.3"} {
		if r := apifyAs("/"+client+".csv", client); r.status != http.StatusAccepted {
			t.Errorf("load of client %s: status %d body %s, want 202", client, r.status, r.raw)
		}
	}
	r = apifyAs("/4.csv", "192.0.2.4")
	if r.status != http.StatusServiceUnavailable || r.body["code"] != "busy" || r.header.Get("Retry-After") == "" {
		t.Errorf("load with a full queue: status %d, Retry-After %q, body %s; want 503 busy", r.status, r.header.Get("Retry-After"), r.raw)
	}
	// Waiting for a load in progress is never refused.
	if r := apifyAs("/1.csv", "192.0.2.1"); r.status != http.StatusAccepted {
		t.Errorf("joining a load: status %d body %s, want 202", r.status, r.raw)
	}
}
