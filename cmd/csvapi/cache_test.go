package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the test binary act as the csvapi binary for tests that
// need a real process to kill (CSVAPI_TEST_MAIN=1).
func TestMain(m *testing.M) {
	if os.Getenv("CSVAPI_TEST_MAIN") == "1" {
		main()
		return
	}
	// Services started in this process run conversions in child processes
	// of this binary (convert.Worker): make those act as csvapi too.
	os.Setenv("CSVAPI_TEST_MAIN", "1")
	os.Exit(m.Run())
}

// patience bounds every wait of these tests for something that should
// happen soon. It catches a hang, it does not judge speed: under -race with
// GOMAXPROCS=1 on a loaded 2-core machine a step that takes a second when
// idle has taken over 20 (a replica's store write, a browser's redraw).
const patience = 90 * time.Second

// eventually polls cond until it holds, failing the test after patience.
// Tests never assert durations; this only bounds a wait. The pause between
// polls grows from 10 ms to 200 ms, so that a condition that
// makes requests stays far below the default rate limit (1,200 requests a
// minute per address: polling every 10 ms would hit it after ~12 s).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	pause := 10 * time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(pause)
		pause = min(2*pause, 200*time.Millisecond)
	}
}

// versioned is an upstream whose content, ETag and availability the test
// changes, and which counts full and conditional answers.
type versioned struct {
	*httptest.Server
	mu       sync.Mutex
	body     string
	etag     string
	down     bool
	gate     chan struct{} // when set, the body waits for it to close
	full     atomic.Int64
	notMod   atomic.Int64
	requests atomic.Int64
}

func newVersioned(t *testing.T, body, etag string) *versioned {
	v := &versioned{body: body, etag: etag}
	v.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v.requests.Add(1)
		v.mu.Lock()
		body, etag, down, gate := v.body, v.etag, v.down, v.gate
		v.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		if etag != "" && r.Header.Get("If-None-Match") == etag {
			v.notMod.Add(1)
			w.WriteHeader(http.StatusNotModified)
			return
		}
		v.full.Add(1)
		if etag != "" {
			w.Header().Set("ETag", etag)
		}
		if gate != nil {
			w.Write([]byte(body[:len(body)/2]))
			w.(http.Flusher).Flush()
			select {
			case <-gate:
			case <-r.Context().Done():
				return
			}
			w.Write([]byte(body[len(body)/2:]))
			return
		}
		w.Write([]byte(body))
	}))
	t.Cleanup(v.Close)
	return v
}

func (v *versioned) set(f func(v *versioned)) {
	v.mu.Lock()
	defer v.mu.Unlock()
	f(v)
}

func TestConcurrentApifyDownloadsOnce(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n3,4\n", "")
	gate := make(chan struct{})
	up.set(func(v *versioned) { v.gate = gate })
	_, base := startService(t, "--allow-private")

	const n = 50
	var wg sync.WaitGroup
	var written atomic.Int64 // requests sent whole: the server has them
	trace := &httptrace.ClientTrace{WroteRequest: func(httptrace.WroteRequestInfo) { written.Add(1) }}
	statuses := make(chan int, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(t.Context(), trace), http.MethodGet,
				base+"/apify?url="+url.QueryEscape(up.URL+"/x.csv"), nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	eventually(t, "the download to start", func() bool { return up.requests.Load() > 0 })
	// Every request is on the server's side while the download hangs. A
	// late one would still be right (served from the finished load without
	// a download), only a weaker test.
	eventually(t, "every request to be sent", func() bool { return written.Load() == n })
	close(gate)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("an /apify answered %d, want 200", s)
		}
	}
	if got := up.requests.Load(); got != 1 {
		t.Errorf("%d upstream requests for %d concurrent /apify, want 1", got, n)
	}
}

func TestApifyAnswers202WhileLoading(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n3,4\n", "")
	gate := make(chan struct{})
	up.set(func(v *versioned) { v.gate = gate })
	_, base := startService(t, "--allow-private", "--apify-wait", "50ms")
	fileURL := up.URL + "/slow.csv"
	id := md5Hex(fileURL)

	r := get(t, base+"/apify?url="+url.QueryEscape(fileURL))
	if r.status != http.StatusAccepted || r.body["status"] == nil {
		t.Fatalf("apify of a slow file: status %d body %s, want 202 with a status", r.status, r.raw)
	}
	if want := base + "/api/" + id + "/status"; r.body["status_url"] != want || r.body["endpoint"] != base+"/api/"+id {
		t.Errorf("status_url %v endpoint %v, want %s", r.body["status_url"], r.body["endpoint"], want)
	}
	// The load may still be queued or just connecting when /apify gives up
	// waiting: poll until the first half of the body has arrived (the
	// upstream holds the rest until the gate opens).
	var st response
	eventually(t, "the status to say downloading with bytes", func() bool {
		st = get(t, base+"/api/"+id+"/status")
		n, _ := st.body["bytes_downloaded"].(float64)
		return st.status == 200 && st.body["status"] == "downloading" && n > 0
	})
	if r := get(t, base+"/api/"+id); r.status != http.StatusAccepted || r.body["status"] != "downloading" {
		t.Errorf("GET /api/<id> while loading: %d %s, want 202", r.status, r.raw)
	}
	close(gate)
	eventually(t, "the load to finish", func() bool {
		return get(t, base+"/api/"+id+"/status").body["status"] == "ready"
	})
	st = get(t, base+"/api/"+id+"/status")
	if st.body["rows"] != 2.0 {
		t.Errorf("status when ready: %s, want 2 rows", st.raw)
	}
	if r := get(t, base+"/api/"+id); r.status != 200 || r.body["total"] != 2.0 {
		t.Errorf("GET /api/<id> when ready: %d %s", r.status, r.raw)
	}
	if r := get(t, base+"/api/"+md5Hex("unknown")+"/status"); r.status != 404 {
		t.Errorf("status of an unknown id: %d, want 404", r.status)
	}
}

// TestFailedLoadIsRememberedThenRetried: within --failure-ttl, a failed
// load is answered from memory without a new download; past it, the URL is
// tried again. Two services, so that neither assertion depends on how fast
// the machine runs: one remembers failures for an hour, the other for 1 ms.
func TestFailedLoadIsRememberedThenRetried(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", "")
	up.set(func(v *versioned) { v.down = true })
	fileURL := up.URL + "/flaky.csv"

	_, base := startService(t, "--allow-private", "--failure-ttl", "1h")
	apifyURL := base + "/apify?url=" + url.QueryEscape(fileURL)
	if r := get(t, apifyURL); r.status != http.StatusBadGateway {
		t.Fatalf("first apify: %d %s, want 502", r.status, r.raw)
	}
	up.set(func(v *versioned) { v.down = false })
	if r := get(t, apifyURL); r.status != http.StatusBadGateway {
		t.Errorf("apify within the failure TTL: %d, want the remembered 502", r.status)
	}
	if got := up.requests.Load(); got != 1 {
		t.Errorf("%d upstream requests, want 1: the failure must be remembered", got)
	}
	st := get(t, base+"/api/"+md5Hex(fileURL)+"/status")
	if code, _ := st.body["error"].(map[string]any); st.body["status"] != "failed" || code["code"] != "upstream_status" {
		t.Errorf("status of a failed load: %s", st.raw)
	}
	files, _ := os.ReadDir(filepath.Join(startedCacheDir(t, base), "tmp"))
	if len(files) != 0 {
		t.Errorf("%d temporary files left after a failed load", len(files))
	}

	up.set(func(v *versioned) { v.down = true })
	_, short := startService(t, "--allow-private", "--failure-ttl", "1ms")
	shortURL := short + "/apify?url=" + url.QueryEscape(fileURL)
	if r := get(t, shortURL); r.status != http.StatusBadGateway {
		t.Fatalf("first apify (1 ms failure TTL): %d %s, want 502", r.status, r.raw)
	}
	up.set(func(v *versioned) { v.down = false })
	before := up.requests.Load()
	eventually(t, "the failure to be forgotten", func() bool { return get(t, shortURL).status == http.StatusOK })
	if got := up.requests.Load() - before; got != 1 {
		t.Errorf("%d upstream requests after the failure expired, want 1 (the retry)", got)
	}
}

// startedCacheDir finds the cache directory of the service at base.
var cacheDirs sync.Map // base URL → dir

func startedCacheDir(t *testing.T, base string) string {
	t.Helper()
	dir, ok := cacheDirs.Load(base)
	if !ok {
		t.Fatalf("no cache dir recorded for %s", base)
	}
	return dir.(string)
}

func TestRevalidation(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", `"v1"`)
	_, base := startService(t, "--allow-private", "--ttl", "100ms", "--failure-ttl", "100ms")
	ep := apify(t, base, up.URL+"/data.csv")

	// Past the TTL, an access revalidates; the upstream answers 304 and the
	// entry is kept without a new download.
	time.Sleep(150 * time.Millisecond)
	if r := get(t, ep); r.status != 200 || r.body["total"] != 1.0 {
		t.Fatalf("stale access: %d %s, want the old data served", r.status, r.raw)
	}
	eventually(t, "a 304 revalidation", func() bool { return up.notMod.Load() >= 1 })
	if got := up.full.Load(); got != 1 {
		t.Errorf("%d full downloads after a 304, want 1", got)
	}

	// New content: the next revalidation loads it while the old one is
	// served, then requests switch to it.
	up.set(func(v *versioned) { v.body, v.etag = "a,b\n1,2\n3,4\n5,6\n", `"v2"` })
	eventually(t, "the new version", func() bool { return get(t, ep).body["total"] == 3.0 })

	// Same content under a new ETag: kept without re-parsing (same version).
	before := get(t, ep).body["general_infos"].(map[string]any)["load_ms"]
	up.set(func(v *versioned) { v.etag = `"v3"` })
	full := up.full.Load()
	eventually(t, "a full download of identical content", func() bool { get(t, ep); return up.full.Load() > full })
	// The revalidation that downloaded is in flight until it has decided
	// whether to reload: wait for it to end rather than for a fixed time, so
	// that a slow wrongful reload is seen too. (The status route does not
	// start revalidations.)
	eventually(t, "the revalidation to end", func() bool {
		return get(t, ep+"/status").body["refreshing"] == nil
	})
	if after := get(t, ep).body["general_infos"].(map[string]any)["load_ms"]; after != before {
		t.Errorf("identical content was loaded again (load_ms %v → %v)", before, after)
	}

	// Upstream down: the old data stays, flagged stale.
	up.set(func(v *versioned) { v.down = true })
	eventually(t, "the stale flag", func() bool {
		gi, _ := get(t, ep).body["general_infos"].(map[string]any)
		return gi["stale"] == true
	})
	r := get(t, ep)
	if r.body["total"] != 3.0 || !strings.Contains(fmt.Sprint(r.body["general_infos"].(map[string]any)["stale_reason"]), "503") {
		t.Errorf("while the upstream is down: %s, want the old data with a stale reason", r.raw)
	}
}

func TestRefresh(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", "")
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/data.csv")
	up.set(func(v *versioned) { v.body = "a,b\n1,2\n3,4\n" })
	apify(t, base, up.URL+"/data.csv")
	if r := get(t, ep); r.body["total"] != 1.0 {
		t.Errorf("without refresh: total %v, want the cached 1", r.body["total"])
	}
	r := get(t, base+"/apify?refresh=yes&url="+url.QueryEscape(up.URL+"/data.csv"))
	if r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	if r := get(t, ep); r.body["total"] != 2.0 {
		t.Errorf("after refresh=yes: total %v, want 2", r.body["total"])
	}
	if r := get(t, base+"/apify?refresh=maybe&url="+url.QueryEscape(up.URL+"/data.csv")); r.status != 400 {
		t.Errorf("refresh=maybe: %d, want 400", r.status)
	}
}

func TestEvictionIsLeastRecentlyUsed(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--max-entries", "2")
	a := apify(t, base, up.URL+"/communes.csv")
	b := apify(t, base, up.URL+"/bom.csv")
	get(t, a) // a is now more recent than b
	c := apify(t, base, up.URL+"/types.csv")
	for ep, want := range map[string]int{a: 200, b: 404, c: 200} {
		if r := get(t, ep); r.status != want {
			t.Errorf("GET %s: %d, want %d", ep, r.status, want)
		}
	}
}

func TestAdminRoutes(t *testing.T) {
	up := newUpstream(t)
	_, open := startService(t, "--allow-private")
	if r := get(t, open+"/cache"); r.status != 404 {
		t.Errorf("/cache without --admin-token: %d, want 404", r.status)
	}
	_, base := startService(t, "--allow-private", "--admin-token", "s3cret")
	ep := apify(t, base, up.URL+"/communes.csv")
	if r := get(t, base+"/cache"); r.status != 401 {
		t.Errorf("/cache without the token: %d, want 401", r.status)
	}
	if r := get(t, base+"/api/cache", "Authorization", "Bearer nope"); r.status != 401 {
		t.Errorf("/api/cache with a wrong token: %d, want 401", r.status)
	}
	r := get(t, base+"/cache", "Authorization", "Bearer s3cret")
	entries, _ := r.body["entries"].([]any)
	if r.status != 200 || len(entries) != 1 {
		t.Fatalf("/cache: %d %s, want one entry", r.status, r.raw)
	}
	e := entries[0].(map[string]any)
	if e["url"] != up.URL+"/communes.csv" || e["rows"] != 5.0 || e["bytes"].(float64) <= 0 || e["state"] != "ready" {
		t.Errorf("entry = %v", e)
	}
	del, _ := http.NewRequest(http.MethodDelete, ep, nil)
	if r := do(t, del); r.status != 401 {
		t.Errorf("DELETE without the token: %d, want 401", r.status)
	}
	del.Header.Set("Authorization", "Bearer s3cret")
	if r := do(t, del); r.status != 200 {
		t.Errorf("DELETE: %d %s", r.status, r.raw)
	}
	if r := get(t, ep); r.status != 404 {
		t.Errorf("GET after DELETE: %d, want 404", r.status)
	}
	if r := do(t, del); r.status != 404 {
		t.Errorf("second DELETE: %d, want 404", r.status)
	}
	dir := startedCacheDir(t, base)
	if files, _ := filepath.Glob(filepath.Join(dir, "*.duckdb")); len(files) != 0 {
		t.Errorf("files left after DELETE: %v", files)
	}
}

// TestKillDuringLoad kills a real csvapi process with SIGKILL while it
// downloads, restarts it on the same cache directory, and checks that
// nothing of the interrupted load is served or left behind.
func TestKillDuringLoad(t *testing.T) {
	up := newVersioned(t, "a,b\n"+strings.Repeat("1,2\n", 50_000), "")
	gate := make(chan struct{})
	up.set(func(v *versioned) { v.gate = gate })
	defer close(gate)
	dir := t.TempDir()
	fileURL := up.URL + "/big.csv"
	id := md5Hex(fileURL)

	base, kill := startProcess(t, dir)
	r := get(t, base+"/apify?url="+url.QueryEscape(fileURL))
	if r.status != http.StatusAccepted {
		t.Fatalf("apify: %d %s, want 202 (the upstream hangs)", r.status, r.raw)
	}
	eventually(t, "the download to be under way", func() bool {
		st := get(t, base+"/api/"+id+"/status")
		n, _ := st.body["bytes_downloaded"].(float64)
		return n > 0
	})
	kill()
	if files, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(files) == 0 {
		t.Errorf("no temporary file while downloading: the kill did not happen mid-load")
	}

	up.set(func(v *versioned) { v.gate = nil })
	base, _ = startProcess(t, dir)
	if r := get(t, base+"/api/"+id); r.status != 404 {
		t.Errorf("after the restart: GET /api/<id> %d %s, want 404", r.status, r.raw)
	}
	if files, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(files) != 0 {
		t.Errorf("%d leftovers in tmp after the restart", len(files))
	}
	if r := get(t, base+"/apify?url="+url.QueryEscape(fileURL)); r.status != 200 && r.status != 202 {
		t.Fatalf("apify after the restart: %d %s", r.status, r.raw)
	}
	eventually(t, "the new load", func() bool { return get(t, base+"/api/"+id+"/status").body["status"] == "ready" })
	if r := get(t, base+"/api/"+id+"?_size=1"); r.body["total"] != 50_000.0 {
		t.Errorf("after a new apify: %s, want 50000 rows", r.raw)
	}
}

// startProcess runs the test binary as csvapi (see TestMain) and returns
// its base URL and a function that kills it with SIGKILL.
func startProcess(t *testing.T, dir string) (string, func()) {
	t.Helper()
	base, kill, _ := startProcessWith(t, dir)
	return base, kill
}

// startProcessWith is startProcess that also returns the process.
func startProcessWith(t *testing.T, dir string) (string, func(), *os.Process) {
	t.Helper()
	return startProcessArgs(t, dir, "--apify-wait", "50ms")
}

// startProcessArgs is startProcessWith with more flags.
func startProcessArgs(t *testing.T, dir string, args ...string) (string, func(), *os.Process) {
	t.Helper()
	args = append([]string{"serve", "--addr", "127.0.0.1:0", "--cache-dir", dir, "--allow-private", "--log-format", "json"}, args...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(os.Environ(), "CSVAPI_TEST_MAIN=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() {
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
	}
	t.Cleanup(kill)
	log := &tailLog{}
	t.Cleanup(func() { // runs before kill: the log is still being read
		if t.Failed() {
			t.Logf("last lines of the csvapi process on %s:\n%s", dir, log)
		}
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			log.add(sc.Text())
			var line struct{ Msg, Addr string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
				addr <- line.Addr
			}
		}
	}()
	select {
	case a := <-addr:
		return "http://" + a, kill, cmd.Process
	case <-time.After(60 * time.Second):
		t.Fatal("the csvapi process did not start")
		return "", nil, nil
	}
}

// tailLog keeps the last lines a csvapi process logged, shown when its
// test fails.
type tailLog struct {
	mu    sync.Mutex
	lines []string
}

func (l *tailLog) add(line string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.lines) == 200 {
		l.lines = l.lines[1:]
	}
	l.lines = append(l.lines, line)
}

func (l *tailLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// TestResponseCacheETag: a page answer carries an ETag; a client that
// sends it back gets 304 without a body; another query, or the same query
// on a new version of the resource, has another ETag.
func TestResponseCacheETag(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n3,4\n", "")
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/data.csv")

	first := get(t, ep+"?_size=1")
	etag := first.header.Get("ETag")
	if first.status != 200 || etag == "" {
		t.Fatalf("first page: %d, ETag %q; want 200 with an ETag", first.status, etag)
	}
	again := get(t, ep+"?_size=1", "If-None-Match", etag)
	if again.status != http.StatusNotModified || len(again.raw) != 0 {
		t.Errorf("same page with If-None-Match: %d %q, want 304 without a body", again.status, again.raw)
	}
	if r := get(t, ep+"?_size=1", "If-None-Match", `"other"`); r.status != 200 || r.header.Get("ETag") != etag || r.body["total"] != 2.0 {
		t.Errorf("same page with another ETag: %d, ETag %q, %s; want 200, %s and the page", r.status, r.header.Get("ETag"), r.raw, etag)
	}
	if other := get(t, ep+"?_size=2").header.Get("ETag"); other == "" || other == etag {
		t.Errorf("another query: ETag %q, want one of its own (not %q)", other, etag)
	}

	up.set(func(v *versioned) { v.body = "a,b\n1,2\n3,4\n5,6\n" })
	if r := get(t, base+"/apify?refresh=yes&url="+url.QueryEscape(up.URL+"/data.csv")); r.status != 200 {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	r := get(t, ep+"?_size=1", "If-None-Match", etag)
	if r.status != 200 || r.body["total"] != 3.0 || r.header.Get("ETag") == etag {
		t.Errorf("new version with the old ETag: %d, ETag %q, %s; want 200, a new ETag and 3 rows", r.status, r.header.Get("ETag"), r.raw)
	}
}
