package cache

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
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

	"github.com/csvapi/csvapi/convert"
)

func newTestCache(t testing.TB) *Cache {
	t.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := New(t.TempDir(), db, &convert.Fetcher{AllowPrivate: true, MaxSize: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() }) // before the directory is removed
	return c
}

// TestApifySingleFlight: a burst of requests for a new URL triggers one
// download, and a waiter that gives up does not cancel the load for others.
func TestApifySingleFlight(t *testing.T) {
	var hits atomic.Int64
	release := make(chan struct{})
	started := make(chan struct{}, 100)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		started <- struct{}{}
		<-release
		io.WriteString(w, "a,b\n1,2\n3,4\n")
	}))
	defer up.Close()
	c := newTestCache(t)

	impatient, cancel := context.WithCancel(t.Context())
	impatientErr := make(chan error, 1)
	go func() {
		_, err := c.Apify(impatient, up.URL+"/x.csv", Options{})
		impatientErr <- err
	}()

	const n = 10
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e, err := c.Apify(t.Context(), up.URL+"/x.csv", Options{})
			if err == nil && e.Meta.Rows != 2 {
				err = errors.New("wrong row count")
			}
			errs <- err
		}()
	}
	<-started
	cancel()
	if err := <-impatientErr; !errors.Is(err, context.Canceled) {
		t.Errorf("impatient caller: err = %v, want context.Canceled", err)
	}
	close(release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("Apify: %v", err)
		}
	}
	if got := hits.Load(); got != 1 {
		t.Errorf("%d downloads, want 1", got)
	}
}

func TestGet(t *testing.T) {
	c := newTestCache(t)
	for _, id := range []string{"", "../../etc/passwd", strings.Repeat("A", 32), strings.Repeat("0", 31), ID("never loaded")} {
		if _, err := c.Acquire(t.Context(), id); !errors.Is(err, ErrNotFound) {
			t.Errorf("Get(%q): err = %v, want ErrNotFound", id, err)
		}
	}
}

func TestUploadAndLeftovers(t *testing.T) {
	c := newTestCache(t)
	e, err := c.Upload(t.Context(), strings.NewReader("x;y\n1;2,5\n"), "file.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	sum := md5.Sum([]byte("csvapi-upload\x00x;y\n1;2,5\n"))
	if want := hex.EncodeToString(sum[:]); e.ID != want {
		t.Errorf("id %q, want the MD5 of the namespace and the content %q", e.ID, want)
	}
	if e.Meta.Rows != 1 || e.Meta.Filename != "file.csv" {
		t.Errorf("meta = %+v, want 1 row from file.csv", e.Meta)
	}
	if _, err := c.Upload(t.Context(), strings.NewReader(strings.Repeat("a,b\n", 1<<19)), "big.csv", Options{}); !errors.Is(err, convert.ErrTooLarge) {
		t.Errorf("upload over the cap: err = %v, want ErrTooLarge", err)
	}
	tmp, _ := os.ReadDir(filepath.Join(c.Dir, "tmp"))
	if len(tmp) != 0 {
		t.Errorf("%d temporary files left after uploads", len(tmp))
	}
}

// upload loads content as an upload and returns its entry, released.
func upload(t *testing.T, c *Cache, content string) *Entry {
	t.Helper()
	e, err := c.Upload(t.Context(), strings.NewReader(content), "f.csv", Options{})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	e.Release()
	return e
}

func duckdbFiles(t *testing.T, c *Cache) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(c.Dir, "*.duckdb"))
	return files
}

func TestEvictionByBytes(t *testing.T) {
	probe := newTestCache(t)
	upload(t, probe, "z\n0\n")
	st, err := os.Stat(duckdbFiles(t, probe)[0])
	if err != nil {
		t.Fatal(err)
	}

	c := newTestCache(t)
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { // every call is a second later: a strict LRU order
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	c.MaxBytes = st.Size()*2 + st.Size()/2 // room for two files
	a := upload(t, c, "a\n1\n")
	b := upload(t, c, "b\n2\n")
	if e, err := c.Acquire(t.Context(), a.ID); err == nil { // a is now more recent than b
		e.Release()
	}
	upload(t, c, "c\n3\n")
	if _, err := c.Acquire(t.Context(), b.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("least recently used entry: err = %v, want ErrNotFound (evicted)", err)
	}
	if e, err := c.Acquire(t.Context(), a.ID); err != nil {
		t.Errorf("recently used entry evicted: %v", err)
	} else {
		e.Release()
	}
	if n := len(duckdbFiles(t, c)); n != 2 {
		t.Errorf("%d database files on disk, want 2", n)
	}
}

func TestPinnedEntryIsNotEvicted(t *testing.T) {
	c := newTestCache(t)
	c.MaxEntries = 1
	a := upload(t, c, "a\n1\n")
	pinned, err := c.Acquire(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	upload(t, c, "b\n2\n")
	var n int64
	if err := c.DB.QueryRow("SELECT count(*) FROM " + pinned.Relation).Scan(&n); err != nil || n != 1 {
		t.Errorf("query on a pinned entry while over budget: n=%d err=%v", n, err)
	}
	pinned.Release()
	pinned.Release() // harmless
	upload(t, c, "c\n3\n")
	if _, err := c.Acquire(t.Context(), a.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("released LRU entry: err = %v, want ErrNotFound", err)
	}
}

func TestNewVersionWaitsForReaders(t *testing.T) {
	body := "a,b\n1,2\n"
	var mu sync.Mutex
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, body)
	}))
	defer up.Close()
	c := newTestCache(t)
	old, err := c.Apify(t.Context(), up.URL+"/x.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	oldFile := filepath.Join(c.Dir, old.ID+"-"+old.Version+".duckdb")

	mu.Lock()
	body = "a,b\n1,2\n3,4\n"
	mu.Unlock()
	fresh, err := c.Apify(t.Context(), up.URL+"/x.csv", Options{Refresh: true})
	if err != nil {
		t.Fatal(err)
	}
	defer fresh.Release()
	if fresh.Version == old.Version || fresh.Meta.Rows != 2 {
		t.Fatalf("refresh: version %s rows %d, want a new version with 2 rows", fresh.Version, fresh.Meta.Rows)
	}
	var n int64
	if err := c.DB.QueryRow("SELECT count(*) FROM " + old.Relation).Scan(&n); err != nil || n != 1 {
		t.Errorf("the old version must stay readable while pinned: n=%d err=%v", n, err)
	}
	if _, err := os.Stat(oldFile); err != nil {
		t.Errorf("old file removed while in use: %v", err)
	}
	old.Release()
	if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
		t.Errorf("old file still there after its last reader left: %v", err)
	}
}

func TestRestartIndexesEntries(t *testing.T) {
	c := newTestCache(t)
	a := upload(t, c, "a;b\n1;2,5\n")
	b := upload(t, c, "x\ny\n")
	c.Close()
	// A lost sidecar is rebuilt from the database file; a corrupt database
	// file is dropped; leftovers are removed.
	os.Remove(filepath.Join(c.Dir, b.ID+"-"+b.Version+".json"))
	corrupt := filepath.Join(c.Dir, strings.Repeat("c", 32)+"-0000000000000001.duckdb")
	os.WriteFile(corrupt, []byte("not a database"), 0o644)
	leftover := filepath.Join(c.Dir, "tmp", "download-123")
	os.WriteFile(leftover, []byte("half"), 0o644)

	c2, err := New(c.Dir, c.DB, c.Fetcher, c.Logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []*Entry{a, b} {
		got, err := c2.Acquire(t.Context(), e.ID)
		if err != nil {
			t.Errorf("after restart, Acquire(%s): %v", e.ID, err)
			continue
		}
		if got.Meta.Rows != 1 || len(got.Meta.Columns) != len(e.Meta.Columns) {
			t.Errorf("after restart, meta = %+v, want %+v", got.Meta, e.Meta)
		}
		got.Release()
	}
	for _, f := range []string{corrupt, leftover} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s survived the restart", f)
		}
	}
}

func TestMaxAttached(t *testing.T) {
	c := newTestCache(t)
	c.MaxAttached = 1
	a := upload(t, c, "a\n1\n")
	b := upload(t, c, "b\n2\n")
	for _, id := range []string{a.ID, b.ID, a.ID} {
		e, err := c.Acquire(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		e.Release()
		var n int
		c.DB.QueryRow("SELECT count(*) FROM duckdb_databases() WHERE database_name LIKE 'r\\_%' ESCAPE '\\'").Scan(&n)
		if n != 1 {
			t.Errorf("%d resource files attached, want at most 1", n)
		}
	}
}

func TestLoadQueue(t *testing.T) {
	gate := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n")
		w.(http.Flusher).Flush()
		<-gate
		io.WriteString(w, "1,2\n")
	}))
	defer up.Close()
	defer close(gate)
	c := newTestCache(t)
	c.MaxLoads = 1
	wait := Options{Wait: time.Millisecond}
	for _, u := range []string{up.URL + "/first.csv", up.URL + "/second.csv"} {
		if _, err := c.Apify(t.Context(), u, wait); !errors.Is(err, ErrPending) {
			t.Fatalf("Apify(%s): err = %v, want ErrPending", u, err)
		}
	}
	var first, second Status
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		first, _ = c.Status(ID(up.URL + "/first.csv"))
		second, _ = c.Status(ID(up.URL + "/second.csv"))
		if first.BytesDownloaded > 0 || second.BytesDownloaded > 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	// Either load may take the one slot first.
	if first.State == StateQueued {
		first, second = second, first
	}
	if first.State != StateDownloading || second.State != StateQueued {
		t.Errorf("with MaxLoads=1: states %s and %s, want one downloading and one queued", first.State, second.State)
	}
}

// TestUploadCannotSquatAURL: an upload whose content is a URL's text has
// that URL's id; the URL wins, and an upload over a URL's resource is refused.
func TestUploadCannotSquatAURL(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "x,y\n1,2\n")
	}))
	defer up.Close()
	c := newTestCache(t)
	u := up.URL + "/a.csv?x=1,2"
	squat, err := c.Upload(t.Context(), strings.NewReader(u), "u.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	squat.Release()
	if squat.ID == ID(u) {
		t.Fatalf("an upload of the URL's text got the URL's id %s", squat.ID)
	}
	e, err := c.Apify(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	if hits.Load() != 1 || e.Meta.URL != u || e.Meta.Rows != 1 || e.ID != ID(u) {
		t.Errorf("apify after the upload: %d upstream hits, id %s, meta %+v; want the URL's table", hits.Load(), e.ID, e.Meta)
	}
	if _, err := c.Acquire(t.Context(), squat.ID); err != nil {
		t.Errorf("the upload was dropped by the URL's load: %v", err)
	}
}

// TestOverridesMakeAnotherTable: a request that forces parsing options
// gets its own resource; the table of the plain URL, which other clients
// see, is neither reloaded nor changed, not even with refresh.
func TestOverridesMakeAnotherTable(t *testing.T) {
	var hits atomic.Int64
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, "title line\na;b\n1;2\n3;4\n")
	}))
	defer up.Close()
	c := newTestCache(t)
	u := up.URL + "/t.csv"
	plain, err := c.Apify(t.Context(), u, Options{})
	if err != nil {
		t.Fatal(err)
	}
	plain.Release()
	forced := Options{Options: convert.Options{Header: "none", Skip: 1, SkipSet: true, Encoding: "latin1"}, Refresh: true}
	e, err := c.Apify(t.Context(), u, forced)
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	if e.ID == plain.ID || plain.ID != ID(u) {
		t.Fatalf("ids: plain %s (want %s), forced %s: want them different", plain.ID, ID(u), e.ID)
	}
	if e.ID != forced.URLID(u) || e.Meta.Overrides["header"] != "none" {
		t.Errorf("forced: id %s (want %s), overrides %v", e.ID, forced.URLID(u), e.Meta.Overrides)
	}
	// The same overrides spelled another way name the same table.
	same := Options{Options: convert.Options{Encoding: "ISO-8859-1", Skip: 1, SkipSet: true, Header: "none"}}
	if same.URLID(u) != e.ID {
		t.Errorf("the same overrides with another encoding label: id %s, want %s", same.URLID(u), e.ID)
	}
	again, err := c.Acquire(t.Context(), plain.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if again.Version != plain.Version || again.Meta.Overrides != nil {
		t.Errorf("the plain table changed: version %s → %s, overrides %v", plain.Version, again.Version, again.Meta.Overrides)
	}
	if hits.Load() != 2 {
		t.Errorf("%d downloads, want 2 (one per table)", hits.Load())
	}
}

// TestReloadKeepsOptions: a revalidation that finds new content reloads it
// with the options of the first load.
func TestReloadKeepsOptions(t *testing.T) {
	var mu sync.Mutex
	body := "a,b\n1,2\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, body)
	}))
	defer up.Close()
	c := newTestCache(t)
	c.TTL = time.Millisecond
	opts := Options{}
	opts.Header = "none"
	e, err := c.Apify(t.Context(), up.URL+"/x.csv", opts)
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	if e.Meta.Rows != 2 || e.Meta.Columns[0].Name != "column1" {
		t.Fatalf("first load: %d rows, columns %v; want 2 rows, column1…", e.Meta.Rows, e.Meta.Columns)
	}
	mu.Lock()
	body = "a,b\n1,2\n3,4\n"
	mu.Unlock()
	time.Sleep(5 * time.Millisecond)
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		e, err := c.Acquire(t.Context(), e.ID) // past the TTL: starts the reload
		if err != nil {
			t.Fatal(err)
		}
		e.Release()
		if e.Meta.Rows == 3 {
			if e.Meta.Columns[0].Name != "column1" {
				t.Errorf("reload lost header=none: columns %v", e.Meta.Columns)
			}
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("the new content was never loaded")
}

// TestFailuresAreForgotten: failed loads leave no record once their
// failure has expired, however many URLs failed.
func TestFailuresAreForgotten(t *testing.T) {
	up := httptest.NewServer(http.NotFoundHandler())
	defer up.Close()
	c := newTestCache(t)
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	for i := range 30 {
		if _, err := c.Apify(t.Context(), fmt.Sprintf("%s/%d.csv", up.URL, i), Options{}); err == nil {
			t.Fatal("a 404 loaded")
		}
	}
	mu.Lock()
	clock = clock.Add(time.Hour)
	mu.Unlock()
	c.evict(nil)
	if n := len(c.List()); n != 0 {
		t.Errorf("%d records left after their failures expired, want 0", n)
	}
}
