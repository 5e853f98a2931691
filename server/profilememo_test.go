package server

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
)

// profileEnv is a Server over a real cache in dir; close shuts both down
// (tests that restart call it before opening the directory again).
type profileEnv struct {
	s     *Server
	c     *cache.Cache
	close func()
}

func newProfileEnv(t *testing.T, dir string, cfg Config) *profileEnv {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.New(dir, db, &convert.Fetcher{AllowPrivate: true, MaxSize: 1 << 30}, logger)
	if err != nil {
		t.Fatal(err)
	}
	c.Start()
	s := New(cfg, c, db, logger)
	var once sync.Once
	env := &profileEnv{s: s, c: c, close: func() {
		once.Do(func() {
			s.Shutdown(context.Background())
			c.Close()
			c.ServingDB().Close()
		})
	}}
	t.Cleanup(env.close)
	return env
}

// profileCSV is a table of n rows with a column of each usual kind.
func profileCSV(n int) *bytes.Buffer {
	var b bytes.Buffer
	b.WriteString("id,commune,code,date,population,surface,active,note\n")
	for i := range n {
		fmt.Fprintf(&b, "%d,Saint-Martin-%d,%05d,2024-%02d-%02d,%d,%d.%02d,%t,\"a \"\"note\"\", number %d\"\n",
			i+1, i%97, i*7%100000, i%12+1, i%28+1, i*13, i%1000, i%100, i%2 == 0, i)
	}
	return &b
}

// upload loads a table of n rows and returns its id.
func (env *profileEnv) upload(t *testing.T, n int) *cache.Entry {
	t.Helper()
	e, err := env.c.Upload(context.Background(), profileCSV(n), "communes.csv", cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	return e
}

// profileAnswer is GET path's status and its "profile" member.
func (env *profileEnv) get(t *testing.T, path string) (int, json.RawMessage) {
	t.Helper()
	resp := serveTest(t, env.s, httptest.NewRequest(http.MethodGet, path, nil))
	defer resp.Body.Close()
	var body struct {
		Profile json.RawMessage `json:"profile"`
	}
	b, _ := io.ReadAll(resp.Body)
	json.Unmarshal(b, &body)
	return resp.StatusCode, body.Profile
}

// rowsOf returns the "rows" of a profile.
func rowsOf(t *testing.T, profile json.RawMessage) int64 {
	t.Helper()
	var p struct{ Rows int64 }
	if err := json.Unmarshal(profile, &p); err != nil {
		t.Fatalf("profile %s: %v", profile, err)
	}
	return p.Rows
}

// TestUnfilteredProfileComputedOnce: concurrent requests for the profile
// of one version share one computation, which analysis=yes and
// api-tabular's profile/ reuse; a filtered profile is computed for its
// request and not kept.
func TestUnfilteredProfileComputedOnce(t *testing.T) {
	env := newProfileEnv(t, t.TempDir(), Config{})
	e := env.upload(t, 1000)

	status, filtered := env.get(t, "/api/"+e.ID+"/profile?id__exact=7")
	if status != http.StatusOK || rowsOf(t, filtered) != 1 {
		t.Fatalf("filtered profile: %d %s", status, filtered)
	}
	if n := env.s.profiles.computed.Load(); n != 0 {
		t.Errorf("a filtered profile went through the memo: %d computed", n)
	}

	const clients = 8
	answers := make([]json.RawMessage, clients)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Go(func() {
			status, p := env.get(t, "/api/"+e.ID+"/profile")
			if status != http.StatusOK {
				t.Errorf("client %d: status %d", i, status)
			}
			answers[i] = p
		})
	}
	wg.Wait()
	if n := env.s.profiles.computed.Load(); n != 1 {
		t.Errorf("%d concurrent requests computed %d profiles, want 1", clients, n)
	}
	if rowsOf(t, answers[0]) != 1000 {
		t.Errorf("unfiltered profile after a filtered one: %s", answers[0])
	}
	for i, a := range answers {
		if !bytes.Equal(a, answers[0]) {
			t.Errorf("client %d got another profile", i)
		}
	}

	for _, path := range []string{"/api/resources/" + e.ID + "/profile/", "/api/" + e.ID + "?_size=1"} {
		if status, _ := env.get(t, path); status != http.StatusOK {
			t.Errorf("%s: status %d", path, status)
		}
	}
	resp := serveTest(t, env.s, httptest.NewRequest(http.MethodGet, "/api/"+e.ID+"?_size=1", nil))
	b, _ := io.ReadAll(resp.Body)
	if !bytes.Contains(b, []byte(`"profile":{"name":"population"`)) {
		t.Errorf("columns_infos lacks the profiles after api-tabular's profile/: %.300s", b)
	}
	if n := env.s.profiles.computed.Load(); n != 1 {
		t.Errorf("analysis and api-tabular's profile computed again: %d computed, want 1", n)
	}
}

// TestProfileFailureNotKept: a computation that fails (here past the
// query timeout) is not kept: the next request computes again. A client
// that gives up does not cancel it for the others.
func TestProfileFailureNotKept(t *testing.T) {
	env := newProfileEnv(t, t.TempDir(), Config{QueryTimeout: time.Nanosecond})
	e := env.upload(t, 1000)
	if status, _ := env.get(t, "/api/"+e.ID+"/profile"); status == http.StatusOK {
		t.Fatal("a profile within a nanosecond: the failure is not tested")
	}
	env.s.cfg.QueryTimeout = time.Minute

	held, err := env.c.Acquire(context.Background(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := env.s.fullProfile(gone, held); err == nil {
		t.Error("a cancelled wait returned no error")
	}
	status, p := env.get(t, "/api/"+e.ID+"/profile")
	if status != http.StatusOK || rowsOf(t, p) != 1000 {
		t.Fatalf("after a failure and a cancelled client: %d %s", status, p)
	}
	if n := env.s.profiles.computed.Load(); n != 1 {
		t.Errorf("%d profiles computed, want 1 (the cancelled client's, shared)", n)
	}
}

// TestProfileMemoDroppedOnNewVersion: a refresh that brings other content
// makes another version, whose profile is computed; the old one is no
// longer kept.
func TestProfileMemoDroppedOnNewVersion(t *testing.T) {
	var rows atomic.Int64
	rows.Store(100)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(profileCSV(int(rows.Load())).Bytes())
	}))
	defer up.Close()
	env := newProfileEnv(t, t.TempDir(), Config{})
	e, err := env.c.Apify(context.Background(), up.URL+"/data.csv", cache.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	if _, p := env.get(t, "/api/"+e.ID+"/profile"); rowsOf(t, p) != 100 {
		t.Fatalf("first version: %s", p)
	}
	rows.Store(150)
	e2, err := env.c.Apify(context.Background(), up.URL+"/data.csv", cache.Options{Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	e2.Release()
	if e2.Version == e.Version {
		t.Fatal("the refresh kept the version")
	}
	if _, p := env.get(t, "/api/"+e.ID+"/profile"); rowsOf(t, p) != 150 {
		t.Errorf("after a refresh with more rows: %s", p)
	}
	env.s.profiles.mu.Lock()
	_, old := env.s.profiles.calls[infoKey(e)]
	env.s.profiles.mu.Unlock()
	if old {
		t.Error("the replaced version's profile is still kept")
	}
	if n := env.s.profiles.computed.Load(); n != 2 {
		t.Errorf("%d profiles computed, want 2", n)
	}
}

// waitFor polls cond for up to a minute (a loaded machine under -race is
// slow).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("waited a minute for %s", what)
}

// TestProfileAfterLoad: with ProfileAfterLoad, a load is profiled in the
// background without any request, and saved beside the table; without
// it, nothing is computed until asked.
func TestProfileAfterLoad(t *testing.T) {
	t.Run("on", func(t *testing.T) {
		dir := t.TempDir()
		env := newProfileEnv(t, dir, Config{ProfileAfterLoad: true})
		e := env.upload(t, 1000)
		waitFor(t, "the background profile", func() bool { return env.s.profiles.computed.Load() == 1 })
		if _, err := os.Stat(filepath.Join(dir, e.ID+"-"+e.Version+".profile.json")); err != nil {
			t.Errorf("no profile sidecar: %v", err)
		}
		if status, p := env.get(t, "/api/"+e.ID+"/profile"); status != http.StatusOK || rowsOf(t, p) != 1000 {
			t.Errorf("profile: %d %s", status, p)
		}
		if n := env.s.profiles.computed.Load(); n != 1 {
			t.Errorf("the request computed again: %d computed", n)
		}
		resp := serveTest(t, env.s, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		b, _ := io.ReadAll(resp.Body)
		if want := `csvapi_profile_duration_seconds_count{trigger="background"} 1`; !bytes.Contains(b, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	})
	t.Run("waits for an idle server", func(t *testing.T) {
		env := newProfileEnv(t, t.TempDir(), Config{ProfileAfterLoad: true, MaxQueries: 2})
		env.s.queries <- struct{}{} // a request's query runs
		e := env.upload(t, 1000)
		time.Sleep(500 * time.Millisecond)
		if n := env.s.profiles.computed.Load(); n != 0 {
			t.Fatalf("%d profiles computed while a query ran", n)
		}
		// A request for the profile does not wait for the idle server: it
		// takes the free slot.
		if status, p := env.get(t, "/api/"+e.ID+"/profile"); status != http.StatusOK || rowsOf(t, p) != 1000 {
			t.Errorf("profile: %d %s", status, p)
		}
		<-env.s.queries
		if n := env.s.profiles.computed.Load(); n != 1 {
			t.Errorf("%d profiles computed, want 1", n)
		}
	})
	t.Run("gives its slot to a request", func(t *testing.T) {
		env := newProfileEnv(t, t.TempDir(), Config{ProfileAfterLoad: true, MaxQueries: 1, QueryTimeout: 5 * time.Second})
		started := make(chan struct{}, 1)
		var first atomic.Bool
		first.Store(true)
		env.s.backgroundHook = func(ctx context.Context) {
			if first.Swap(false) { // the first attempt runs until preempted
				started <- struct{}{}
				<-ctx.Done()
			}
		}
		e := env.upload(t, 1000)
		<-started
		if status, _ := env.get(t, "/api/"+e.ID+"?_size=1"); status != http.StatusOK {
			t.Fatalf("a page while the background profile held the only slot: %d", status)
		}
		if n := env.s.background.count.Load(); n != 1 {
			t.Errorf("%d preemptions, want 1", n)
		}
		// Tried again once the server is idle.
		waitFor(t, "the background profile, again", func() bool { return env.s.profiles.computed.Load() == 1 })
	})
	t.Run("stopped by a purge", func(t *testing.T) {
		dir := t.TempDir()
		env := newProfileEnv(t, dir, Config{ProfileAfterLoad: true, AdminToken: "s3cret"})
		started := make(chan struct{}, 1)
		env.s.backgroundHook = func(ctx context.Context) {
			started <- struct{}{}
			<-ctx.Done()
		}
		e := env.upload(t, 1000)
		<-started
		req := httptest.NewRequest(http.MethodDelete, "/api/"+e.ID, nil)
		req.Header.Set("Authorization", "Bearer s3cret")
		if resp := serveTest(t, env.s, req); resp.StatusCode != http.StatusOK {
			t.Fatalf("DELETE: %d", resp.StatusCode)
		}
		if files, _ := filepath.Glob(filepath.Join(dir, "*.duckdb")); len(files) != 0 {
			t.Errorf("files left once the purge answered: %v", files)
		}
	})
	t.Run("off", func(t *testing.T) {
		dir := t.TempDir()
		env := newProfileEnv(t, dir, Config{})
		e := env.upload(t, 1000)
		time.Sleep(500 * time.Millisecond) // time enough for the 1,000 rows when it is on
		if n := env.s.profiles.computed.Load(); n != 0 {
			t.Errorf("%d profiles computed with ProfileAfterLoad off", n)
		}
		if _, err := os.Stat(filepath.Join(dir, e.ID+"-"+e.Version+".profile.json")); err == nil {
			t.Error("a profile sidecar with ProfileAfterLoad off")
		}
	})
}

// TestProfileSidecarAfterRestart: a server started again on the cache
// directory answers the profile from its sidecar, identical, without
// computing; a corrupt or another version's sidecar is ignored, computed
// again and replaced.
func TestProfileSidecarAfterRestart(t *testing.T) {
	dir := t.TempDir()
	env := newProfileEnv(t, dir, Config{})
	e := env.upload(t, 1000)
	_, first := env.get(t, "/api/"+e.ID+"/profile")
	env.close()
	sidecar := filepath.Join(dir, e.ID+"-"+e.Version+".profile.json")
	saved, err := os.ReadFile(sidecar)
	if err != nil {
		t.Fatal(err)
	}

	env = newProfileEnv(t, dir, Config{})
	status, again := env.get(t, "/api/"+e.ID+"/profile")
	if status != http.StatusOK || !bytes.Equal(again, first) {
		t.Errorf("after a restart: %d\n%s\nwant\n%s", status, again, first)
	}
	if n := env.s.profiles.computed.Load(); n != 0 {
		t.Errorf("the restarted server computed %d profiles, want 0 (the sidecar's)", n)
	}
	env.close()

	for name, content := range map[string][]byte{
		"corrupt":       saved[:len(saved)/2],
		"other version": bytes.Replace(saved, []byte(e.Version), []byte(strings.Repeat("0", len(e.Version))), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if err := os.WriteFile(sidecar, content, 0o644); err != nil {
				t.Fatal(err)
			}
			env := newProfileEnv(t, dir, Config{})
			defer env.close()
			status, p := env.get(t, "/api/"+e.ID+"/profile")
			if status != http.StatusOK || !bytes.Equal(p, first) {
				t.Errorf("with a %s sidecar: %d %s", name, status, p)
			}
			if n := env.s.profiles.computed.Load(); n != 1 {
				t.Errorf("with a %s sidecar: %d computed, want 1", name, n)
			}
			if b, _ := os.ReadFile(sidecar); !bytes.Equal(b, saved) {
				t.Errorf("the %s sidecar was not replaced", name)
			}
		})
	}
}

// TestProfileSidecarRemovedWithEntry: purging a resource deletes its
// profile sidecar with its other files.
func TestProfileSidecarRemovedWithEntry(t *testing.T) {
	dir := t.TempDir()
	env := newProfileEnv(t, dir, Config{})
	e := env.upload(t, 100)
	env.get(t, "/api/"+e.ID+"/profile")
	sidecar := filepath.Join(dir, e.ID+"-"+e.Version+".profile.json")
	if _, err := os.Stat(sidecar); err != nil {
		t.Fatal(err)
	}
	if err := env.c.Purge(e.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sidecar); !os.IsNotExist(err) {
		t.Errorf("profile sidecar left after a purge: %v", err)
	}
	env.s.profiles.mu.Lock()
	n := len(env.s.profiles.calls)
	env.s.profiles.mu.Unlock()
	if n != 0 {
		t.Errorf("%d profiles kept after the purge", n)
	}
}
