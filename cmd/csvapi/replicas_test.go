package main

import (
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/csvapi/csvapi/store/storetest"
)

// Scenario tests of replicas sharing one bucket of a real S3-compatible
// server (versitygw, see storetest), each replica a csvapi process.

// startReplicas starts a store and n csvapi processes named A, B, C…
// sharing it; extra flags apply to all.
func startReplicas(t *testing.T, n int, extra ...string) (*storetest.Server, []string, []func()) {
	t.Helper()
	srv := storetest.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	var bases []string
	var kills []func()
	for i := range n {
		name := string(rune('A' + i))
		args := append([]string{
			"--store", "s3://" + storetest.Bucket + "/replicas", "--store-endpoint", srv.Endpoint,
			"--store-path-style", "--store-replica", name,
			"--store-check", "200ms", "--store-lease", "5s", "--admin-token", "secret",
		}, extra...)
		base, kill, _ := startProcessArgs(t, t.TempDir(), args...)
		bases = append(bases, base)
		kills = append(kills, kill)
	}
	return srv, bases, kills
}

// TestReplicasLoadOnce sends 50 concurrent /apify of one URL spread over
// three replicas: the upstream is downloaded once, and every replica then
// serves the table (B and C from the store, without converting).
func TestReplicasLoadOnce(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n3,4\n", "")
	gate := make(chan struct{})
	up.set(func(v *versioned) { v.gate = gate })
	_, bases, _ := startReplicas(t, 3, "--apify-wait", "60s")
	fileURL := up.URL + "/x.csv"

	const n = 50
	var wg sync.WaitGroup
	statuses := make(chan int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(bases[i%len(bases)] + "/apify?url=" + url.QueryEscape(fileURL))
			if err != nil {
				statuses <- 0
				return
			}
			resp.Body.Close()
			statuses <- resp.StatusCode
		}()
	}
	eventually(t, "the download to start", func() bool { return up.requests.Load() > 0 })
	time.Sleep(100 * time.Millisecond) // let the other requests arrive while the download hangs
	close(gate)
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusOK {
			t.Errorf("an /apify answered %d, want 200", s)
		}
	}
	if got := up.requests.Load(); got != 1 {
		t.Errorf("%d upstream requests for %d concurrent /apify on 3 replicas, want 1", got, n)
	}
	id := md5Hex(fileURL)
	for i, base := range bases {
		if r := get(t, base+"/api/"+id); r.status != 200 || r.body["total"] != 2.0 {
			t.Errorf("replica %c: GET /api/<id> %d %s, want 2 rows", 'A'+i, r.status, r.raw)
		}
	}
}

// TestReplicaServesWhatAnotherConverted converts on A, then reads on B and
// C, which never saw the URL: they fetch the published file.
func TestReplicaServesWhatAnotherConverted(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n3,4\n5,6\n", "")
	_, bases, _ := startReplicas(t, 3)
	fileURL := up.URL + "/x.csv"
	apifyReady(t, bases[0], fileURL)
	id := md5Hex(fileURL)
	for _, base := range bases[1:] {
		if r := get(t, base+"/api/"+id+"?_size=1"); r.status != 200 || r.body["total"] != 3.0 {
			t.Errorf("GET /api/<id> on another replica: %d %s, want 3 rows", r.status, r.raw)
		}
	}
	if got := up.requests.Load(); got != 1 {
		t.Errorf("%d upstream requests, want 1 (B and C read the store)", got)
	}
}

// apifyReady converts fileURL on base and waits until it is ready.
func apifyReady(t *testing.T, base, fileURL string) {
	t.Helper()
	r := get(t, base+"/apify?url="+url.QueryEscape(fileURL))
	if r.status != 200 && r.status != 202 {
		t.Fatalf("apify: %d %s", r.status, r.raw)
	}
	id := md5Hex(fileURL)
	eventually(t, "the load to be ready", func() bool { return get(t, base+"/api/"+id+"/status").body["status"] == "ready" })
}

// TestReplicaTakesOverAfterCrash kills A with SIGKILL while it downloads:
// B, which waited on A's lease (its status names A), loads the file once
// the lease has expired.
func TestReplicaTakesOverAfterCrash(t *testing.T) {
	up := newVersioned(t, "a,b\n"+strings.Repeat("1,2\n", 50_000), "")
	gate := make(chan struct{})
	up.set(func(v *versioned) { v.gate = gate })
	defer close(gate)
	_, bases, kills := startReplicas(t, 2, "--apify-wait", "50ms")
	fileURL := up.URL + "/big.csv"
	id := md5Hex(fileURL)

	if r := get(t, bases[0]+"/apify?url="+url.QueryEscape(fileURL)); r.status != http.StatusAccepted {
		t.Fatalf("apify on A: %d %s, want 202 (the upstream hangs)", r.status, r.raw)
	}
	eventually(t, "A's download to be under way", func() bool {
		n, _ := get(t, bases[0]+"/api/"+id+"/status").body["bytes_downloaded"].(float64)
		return n > 0
	})
	if r := get(t, bases[1]+"/apify?url="+url.QueryEscape(fileURL)); r.status != http.StatusAccepted {
		t.Fatalf("apify on B: %d %s, want 202", r.status, r.raw)
	}
	eventually(t, "B's status to say that A loads", func() bool {
		return get(t, bases[1]+"/api/"+id+"/status").body["replica"] == "A"
	})
	kills[0]()
	up.set(func(v *versioned) { v.gate = nil })
	eventually(t, "B to take the load over", func() bool {
		return get(t, bases[1]+"/api/"+id+"/status").body["status"] == "ready"
	})
	if r := get(t, bases[1]+"/api/"+id+"?_size=1"); r.body["total"] != 50_000.0 {
		t.Errorf("on B after the takeover: %s, want 50000 rows", r.raw)
	}
	if got := up.full.Load(); got != 2 {
		t.Errorf("%d upstream downloads, want 2 (A's, killed, then B's)", got)
	}
}

// TestReplicaPurgeSeenByOthers purges on A: B, which served the table,
// answers 404 within its check interval.
func TestReplicaPurgeSeenByOthers(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", "")
	_, bases, _ := startReplicas(t, 2)
	fileURL := up.URL + "/x.csv"
	id := md5Hex(fileURL)
	apifyReady(t, bases[0], fileURL)
	if r := get(t, bases[1]+"/api/"+id); r.status != 200 {
		t.Fatalf("B before the purge: %d %s", r.status, r.raw)
	}
	req, _ := http.NewRequest(http.MethodDelete, bases[0]+"/api/"+id, nil)
	req.Header.Set("Authorization", "Bearer secret")
	if r := do(t, req); r.status != 200 && r.status != 204 {
		t.Fatalf("purge on A: %d %s", r.status, r.raw)
	}
	eventually(t, "B to drop the purged table", func() bool { return get(t, bases[1]+"/api/"+id).status == 404 })
}

// TestReplicasRevalidateOnce lets the TTL pass: the revalidation of A
// counts for B, which does not ask the upstream again.
func TestReplicasRevalidateOnce(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", `"v1"`)
	_, bases, _ := startReplicas(t, 2, "--ttl", "4s")
	fileURL := up.URL + "/x.csv"
	id := md5Hex(fileURL)
	apifyReady(t, bases[0], fileURL)
	if r := get(t, bases[1]+"/api/"+id); r.status != 200 {
		t.Fatalf("B: %d %s", r.status, r.raw)
	}
	// Let the TTL pass (what is tested is a count, not a duration); a TTL
	// of a few seconds leaves B time to see A's revalidation as fresh.
	time.Sleep(4100 * time.Millisecond)
	get(t, bases[0]+"/api/"+id)
	eventually(t, "A's revalidation", func() bool { return up.notMod.Load() == 1 })
	eventually(t, "A's revalidation to end", func() bool {
		return get(t, bases[0]+"/api/"+id+"/status").body["refreshing"] == nil
	})
	get(t, bases[1]+"/api/"+id)
	eventually(t, "B's revalidation to end", func() bool {
		return get(t, bases[1]+"/api/"+id+"/status").body["refreshing"] == nil
	})
	if full, notMod := up.full.Load(), up.notMod.Load(); full != 1 || notMod != 1 {
		t.Errorf("upstream answered %d full and %d not-modified requests, want 1 and 1", full, notMod)
	}
}

// TestReplicasRefreshOnce sends refresh=yes to A and B while A's reload
// hangs: B waits on A's lease and takes A's new version, so the upstream
// serves one download for the two refreshes.
func TestReplicasRefreshOnce(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", "")
	_, bases, _ := startReplicas(t, 2, "--apify-wait", "50ms")
	fileURL := up.URL + "/x.csv"
	id := md5Hex(fileURL)
	apifyReady(t, bases[0], fileURL)
	if r := get(t, bases[1]+"/api/"+id); r.status != 200 {
		t.Fatalf("B: %d %s", r.status, r.raw)
	}
	gate := make(chan struct{})
	up.set(func(v *versioned) { v.body, v.gate = "a,b\n1,2\n3,4\n", gate })
	refresh := "/apify?refresh=yes&url=" + url.QueryEscape(fileURL)
	get(t, bases[0]+refresh)
	eventually(t, "A's reload to download", func() bool { return up.full.Load() == 2 })
	get(t, bases[1]+refresh)
	eventually(t, "B's status to say that A reloads", func() bool {
		return get(t, bases[1]+"/api/"+id+"/status").body["replica"] == "A"
	})
	close(gate)
	for _, base := range bases {
		eventually(t, "the new version on every replica", func() bool {
			return get(t, base+"/api/"+id).body["total"] == 2.0
		})
	}
	if got := up.full.Load(); got != 2 {
		t.Errorf("%d upstream downloads, want 2 (the first load, one refresh for both replicas)", got)
	}
}

// TestReplicasStoreDown stops the store: the replicas keep serving their
// copies, /ready says degraded, a new load runs locally and is published
// when the store is back.
func TestReplicasStoreDown(t *testing.T) {
	up := newVersioned(t, "a,b\n1,2\n", "")
	srv, bases, _ := startReplicas(t, 2)
	first, second := up.URL+"/first.csv", up.URL+"/second.csv"
	apifyReady(t, bases[0], first)
	if r := get(t, bases[1]+"/api/"+md5Hex(first)); r.status != 200 {
		t.Fatalf("B: %d %s", r.status, r.raw)
	}

	srv.Stop()
	for _, base := range bases {
		eventually(t, "/ready to say degraded", func() bool {
			r := get(t, base+"/ready")
			return r.status == 200 && r.body["degraded"] != nil
		})
		if r := get(t, base+"/api/"+md5Hex(first)); r.status != 200 {
			t.Errorf("with the store down: %d %s, want the local copy", r.status, r.raw)
		}
	}
	apifyReady(t, bases[0], second)

	srv.Restart()
	for _, base := range bases {
		eventually(t, "/ready to recover", func() bool {
			r := get(t, base+"/ready")
			return r.status == 200 && r.body["degraded"] == nil
		})
	}
	eventually(t, "B to serve what A loaded while the store was down", func() bool {
		return get(t, bases[1]+"/api/"+md5Hex(second)).status == 200
	})
}

// TestNginxReplicasConfig checks the documented nginx configuration with
// nginx -t, when nginx is installed (optional locally; CI installs it).
func TestNginxReplicasConfig(t *testing.T) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		bin, err = exec.LookPath("/usr/sbin/nginx") // Debian's, off a user's PATH
	}
	if err != nil && os.Getenv("CI") == "true" {
		t.Fatal("nginx is not installed: .ci/run installs it, and CI must check the example configuration")
	}
	if err != nil {
		t.Skip("nginx not installed: the example configuration is not checked")
	}
	b, err := os.ReadFile("../../deploy/replicas/nginx.conf")
	if err != nil {
		t.Fatal(err)
	}
	// The compose service names do not resolve here.
	conf := strings.NewReplacer("csvapi-a:8001", "127.0.0.1:1", "csvapi-b:8001", "127.0.0.1:2").Replace(string(b))
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "-t", "-p", dir, "-c", path, "-g", "pid "+filepath.Join(dir, "nginx.pid")+"; error_log stderr;").CombinedOutput()
	if err != nil {
		t.Errorf("nginx -t: %v\n%s", err, out)
	}
}

// TestReplicasInProcess runs two replicas inside the test process, so that
// the race detector sees the shared-store paths: publish, fetch on a miss,
// the check loop, a purge seen by the other replica.
func TestReplicasInProcess(t *testing.T) {
	srv := storetest.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	up := newVersioned(t, "a,b\n1,2\n3,4\n", "")
	var bases []string
	for _, name := range []string{"A", "B"} {
		_, base := startService(t, "--allow-private", "--admin-token", "secret",
			"--store", "s3://"+storetest.Bucket+"/inproc", "--store-endpoint", srv.Endpoint,
			"--store-path-style", "--store-replica", name, "--store-check", "100ms", "--store-lease", "5s")
		bases = append(bases, base)
	}
	fileURL := up.URL + "/x.csv"
	id := md5Hex(fileURL)
	apify(t, bases[0], fileURL)
	if r := get(t, bases[1]+"/api/"+id); r.status != 200 || r.body["total"] != 2.0 {
		t.Fatalf("B: %d %s, want the 2 rows converted on A", r.status, r.raw)
	}
	if got := up.requests.Load(); got != 1 {
		t.Errorf("%d upstream requests, want 1", got)
	}
	req, _ := http.NewRequest(http.MethodDelete, bases[0]+"/api/"+id, nil)
	req.Header.Set("Authorization", "Bearer secret")
	if r := do(t, req); r.status != 200 && r.status != 204 {
		t.Fatalf("purge on A: %d %s", r.status, r.raw)
	}
	eventually(t, "B to drop the purged table", func() bool { return get(t, bases[1]+"/api/"+id).status == 404 })
}
