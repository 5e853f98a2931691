package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestOpsEndpoints(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	apify(t, base, up.URL+"/communes.csv")
	get(t, base+"/api/"+md5Hex(up.URL+"/communes.csv"))

	if r := get(t, base+"/health"); r.status != 200 || r.body["ok"] != true {
		t.Errorf("/health: %d %s", r.status, r.raw)
	}
	if r := get(t, base+"/ready"); r.status != 200 || r.body["ok"] != true {
		t.Errorf("/ready: %d %s", r.status, r.raw)
	}
	r := get(t, base+"/metrics")
	for _, want := range []string{
		`csvapi_http_request_duration_seconds_count{method="GET",route="/api/:id",status="200"} 1`,
		`csvapi_loads_duration_seconds_count{outcome="loaded"} 1`,
		"csvapi_cache_entries 1",
		"csvapi_cache_hits_total",
		"csvapi_cache_misses_total 1",
		"csvapi_downloaded_bytes_total 294",
		"csvapi_loaded_rows_total 5",
		"csvapi_load_queue_length 0",
		"csvapi_duckdb_memory_bytes",
	} {
		if !strings.Contains(string(r.raw), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	_, full := startService(t, "--allow-private", "--min-free-disk", "1PB")
	if r := get(t, full+"/ready"); r.status != 503 || r.body["checks"].(map[string]any)["disk"] == nil {
		t.Errorf("/ready with a full disk: %d %s, want 503 naming the disk", r.status, r.raw)
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, base := startService(t)
	for _, path := range []string{"/health", "/api/" + md5Hex("x"), "/nope"} {
		r := get(t, base+path)
		if got := r.header.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s: X-Content-Type-Options = %q, want nosniff", path, got)
		}
		if got := r.header.Get("Server"); got != "" {
			t.Errorf("%s: Server header %q, want none", path, got)
		}
		if r.header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no X-Request-Id", path)
		}
	}
	r := get(t, base+"/nope")
	if r.body["request_id"] != r.header.Get("X-Request-Id") {
		t.Errorf("error body request_id %v differs from the header %q", r.body["request_id"], r.header.Get("X-Request-Id"))
	}
}

func TestRateLimit(t *testing.T) {
	_, base := startService(t, "--rate-limit", "5")
	var last response
	for range 6 {
		last = get(t, base+"/api/"+md5Hex("x"))
	}
	if last.status != http.StatusTooManyRequests || last.body["code"] != "rate_limited" {
		t.Fatalf("6th request: %d %s, want 429 rate_limited", last.status, last.raw)
	}
	if last.header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	if r := get(t, base+"/health"); r.status != 200 {
		t.Errorf("/health is rate limited: %d", r.status)
	}
}

// TestFaultInjection: each hostile upstream gets a clear error, the server
// keeps serving, and nothing is left in the cache.
func TestFaultInjection(t *testing.T) {
	// 64 MB of zeros behind a CSV header, 64 KB on the wire: decompressed,
	// it passes --max-file-size below (which stops the decompression).
	bomb := bulk{head: []byte("a,b\n"), unit: bytes.Repeat([]byte("0"), 1<<20), n: 64}.gzip()
	var wide strings.Builder
	for i := range 10_000 {
		if i > 0 {
			wide.WriteByte(',')
		}
		fmt.Fprintf(&wide, "c%d", i)
	}
	wide.WriteString("\n")
	wide.WriteString(strings.Repeat("1,", 9_999) + "1\n")

	mux := http.NewServeMux()
	hijack := func(w http.ResponseWriter, raw string) {
		conn, buf, _ := w.(http.Hijacker).Hijack()
		buf.WriteString(raw)
		buf.Flush()
		conn.Close()
	}
	mux.HandleFunc("/cut.csv", func(w http.ResponseWriter, r *http.Request) {
		hijack(w, "HTTP/1.1 200 OK\r\nContent-Type: text/csv\r\nTransfer-Encoding: chunked\r\n\r\n10\r\na,b\n1,2\n3,4\n5,\r\n")
	})
	mux.HandleFunc("/short.csv", func(w http.ResponseWriter, r *http.Request) {
		hijack(w, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\na,b\n1,2\n")
	})
	mux.HandleFunc("/drip.csv", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("a,b\n"))
		for i := 0; i < 100; i++ {
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(100 * time.Millisecond):
			}
			w.Write([]byte("1,2\n"))
		}
	})
	mux.HandleFunc("/loop.csv", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/loop.csv?"+r.URL.RawQuery+"x", http.StatusFound)
	})
	mux.HandleFunc("/bomb.csv", func(w http.ResponseWriter, r *http.Request) { w.Write(bomb) })
	mux.HandleFunc("/wide.csv", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, wide.String()) })
	mux.HandleFunc("/longline.csv", func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,"+strings.Repeat("x", 10<<20)+"\n")
	})
	mux.HandleFunc("/binary.csv", func(w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 1<<16)
		for i := range b {
			b[i] = byte(i*7 + 3)
		}
		w.Write(b)
	})
	up := httptest.NewServer(mux)
	defer up.Close()

	dir := t.TempDir()
	_, base := startServiceIn(t, dir, "--allow-private", "--fetch-timeout", "1s", "--max-file-size", "8MB", "--max-columns", "2000")
	tests := []struct {
		path   string
		status int
		code   string
	}{
		{"/cut.csv", 502, "upstream_unreachable"},
		{"/short.csv", 502, "upstream_unreachable"},
		{"/drip.csv", 504, "upstream_timeout"},
		{"/loop.csv", 502, "upstream_unreachable"},
		{"/bomb.csv", 413, "too_large"},
		{"/wide.csv", 422, "too_many_columns"},
		{"/binary.csv", 415, "not_tabular"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := get(t, base+"/apify?url="+url.QueryEscape(up.URL+tt.path))
			if r.status != tt.status || r.body["code"] != tt.code {
				t.Errorf("status %d body %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
		})
	}
	if r := get(t, base+"/health"); r.status != 200 {
		t.Errorf("the server stopped serving: /health %d", r.status)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.duckdb*"))
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(files) != 0 || len(tmp) != 0 {
		t.Errorf("left in the cache: %v and %d temporary files", files, len(tmp))
	}

	// A 10 MB line is one bad line: it goes to the rejects, the rest loads.
	// Its own service: under -race on a loaded machine 10 MB can take more
	// than the 1 s --fetch-timeout the drip needs.
	_, base = startServiceIn(t, t.TempDir(), "--allow-private")
	ep := apify(t, base, up.URL+"/longline.csv")
	if r := get(t, ep); r.status != 200 || r.body["total"] != 0.0 {
		t.Errorf("file with a 10 MB line: %d %.300s, want an empty table", r.status, r.raw)
	}
	rej := get(t, ep+"/rejects?_shape=objects")
	rows, _ := rej.body["rows"].([]any)
	if rej.body["total"] != 1.0 || len(rows) != 1 || rows[0].(map[string]any)["line"] != 2.0 {
		t.Errorf("rejects of the 10 MB line: %.300s", rej.raw)
	}
}

// TestGracefulShutdown sends SIGTERM to a real process during a load: it
// exits cleanly, leaving no partial file.
func TestGracefulShutdown(t *testing.T) {
	up := newVersioned(t, "a,b\n"+strings.Repeat("1,2\n", 1000), "")
	gate := make(chan struct{})
	defer close(gate)
	up.set(func(v *versioned) { v.gate = gate })
	dir := t.TempDir()
	base, _, proc := startProcessWith(t, dir)
	fileURL := up.URL + "/x.csv"
	if r := get(t, base+"/apify?url="+url.QueryEscape(fileURL)); r.status != http.StatusAccepted {
		t.Fatalf("apify: %d %s", r.status, r.raw)
	}
	proc.Signal(syscall.SIGTERM)
	state, err := proc.Wait()
	if err != nil || !state.Success() {
		t.Errorf("after SIGTERM: %v, %v; want a clean exit", state, err)
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		t.Errorf("still accepting connections after SIGTERM")
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.duckdb*"))
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	if len(files) != 0 || len(tmp) != 0 {
		t.Errorf("left after shutdown: %v and %d temporary files", files, len(tmp))
	}
}

func TestConvertCommand(t *testing.T) {
	dir := t.TempDir()
	for _, out := range []string{"communes.csv", "communes.parquet", "communes.duckdb"} {
		var stdout, stderr bytes.Buffer
		dst := filepath.Join(dir, out)
		if err := run(t.Context(), []string{"convert", "../../testdata/cp1252.csv", dst}, &stdout, &stderr); err != nil {
			t.Fatalf("convert to %s: %v (%s)", out, err, stderr.String())
		}
		if !strings.Contains(stdout.String(), "2 rows, 3 columns, windows-1252") || !strings.Contains(stderr.String(), "2 rows loaded") {
			t.Errorf("convert to %s: stdout %q stderr %q", out, stdout.String(), stderr.String())
		}
		if st, err := os.Stat(dst); err != nil || st.Size() == 0 {
			t.Errorf("%s not written: %v", out, err)
		}
	}
	got, _ := os.ReadFile(filepath.Join(dir, "communes.csv"))
	if want := "produit,prix,remarque\nœufs,2.5,prix en €\nbœuf,12.9,« spécial »\n"; string(got) != want {
		t.Errorf("CSV output %q, want %q", got, want)
	}
	if err := run(t.Context(), []string{"convert", "../../testdata/cp1252.csv", filepath.Join(dir, "x.txt")}, io.Discard, io.Discard); err == nil {
		t.Errorf("convert to .txt succeeded, want an error")
	}
}

// TestCompression: large JSON answers are gzipped for clients that accept
// it (fresh and from the response cache alike); small ones are not.
func TestCompression(t *testing.T) {
	var sb strings.Builder
	sb.WriteString("id,text\n")
	for i := range 2000 {
		fmt.Fprintf(&sb, "%d,ligne numéro %d du fichier\n", i, i)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, sb.String()) }))
	defer up.Close()
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/big.csv")
	for _, tt := range []struct {
		query string
		gzip  bool
	}{{"?_size=1000", true}, {"?_size=1000", true}, {"?_size=2", false}} {
		req, _ := http.NewRequest(http.MethodGet, ep+tt.query, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Content-Encoding") == "gzip"; got != tt.gzip {
			t.Errorf("%s: gzipped %v, want %v", tt.query, got, tt.gzip)
		}
		if tt.gzip {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s: %v", tt.query, err)
			}
			if body, err = io.ReadAll(zr); err != nil {
				t.Fatal(err)
			}
		}
		var page struct{ Rows []any }
		if err := json.Unmarshal(body, &page); err != nil || len(page.Rows) == 0 {
			t.Errorf("%s: body is not the page: %v", tt.query, err)
		}
	}
}
