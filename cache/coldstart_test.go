package cache

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// manyEntries converts one small upload in dir and gives it n-1 siblings
// under other ids: hard links of its database file (the same bytes, no
// disk) and copies of its sidecar. It returns the ids.
func manyEntries(tb testing.TB, dir string, n int) []string {
	tb.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	c, err := New(dir, db, &convert.Fetcher{MaxSize: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	var csv strings.Builder
	csv.WriteString("id,commune,code\n")
	for i := range 100 {
		fmt.Fprintf(&csv, "%d,Saint-Martin-%d,%05d\n", i+1, i, i*7)
	}
	e, err := c.Upload(context.Background(), strings.NewReader(csv.String()), "x.csv", Options{})
	if err != nil {
		tb.Fatal(err)
	}
	first, version := e.ID, e.Version
	e.Release()
	c.Close()
	side, err := os.ReadFile(filepath.Join(dir, first+"-"+version+".json"))
	if err != nil {
		tb.Fatal(err)
	}
	ids := []string{first}
	for i := 1; i < n; i++ {
		id := ID(fmt.Sprintf("upload %d", i))
		name := filepath.Join(dir, id+"-"+version)
		if err := os.Link(filepath.Join(dir, first+"-"+version+".duckdb"), name+".duckdb"); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(name+".json", side, 0o644); err != nil {
			tb.Fatal(err)
		}
		ids = append(ids, id)
	}
	return ids
}

// attachedFiles counts the databases DuckDB has attached beside its own.
func attachedFiles(tb testing.TB, c *Cache) int {
	tb.Helper()
	var n int
	err := c.ServingDB().QueryRow("SELECT count(*) FROM duckdb_databases() WHERE NOT internal AND database_name LIKE 'r\\_%' ESCAPE '\\'").Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// TestStartAttachesNothing: a cache directory with many entries is
// indexed at start without attaching any database file (nor asking DuckDB
// anything): a file is attached by its first use, and only that one.
func TestStartAttachesNothing(t *testing.T) {
	dir := t.TempDir()
	ids := manyEntries(t, dir, 200)
	c := newCacheIn(t, dir)
	c.Start()
	if got := c.Stats().Entries; got != len(ids) {
		t.Fatalf("entries after start: got %d, want %d", got, len(ids))
	}
	if got, n := c.Stats().Attached, attachedFiles(t, c); got != 0 || n != 0 {
		t.Fatalf("after start: %d attached (DuckDB: %d), want none", got, n)
	}
	if st, ok := c.Peek(ids[7]); !ok || st.Version == "" {
		t.Fatalf("Peek(%s): %+v %v, want its stamp", ids[7], st, ok)
	}
	if n := attachedFiles(t, c); n != 0 {
		t.Fatalf("after Peek: DuckDB has %d attached, want none", n)
	}
	e, err := c.Acquire(context.Background(), ids[42])
	if err != nil {
		t.Fatal(err)
	}
	defer e.Release()
	var rows int
	if err := c.ServingDB().QueryRow("SELECT count(*) FROM " + e.Relation).Scan(&rows); err != nil || rows != 100 {
		t.Fatalf("rows of %s: got %d (%v), want 100", ids[42], rows, err)
	}
	if got, n := c.Stats().Attached, attachedFiles(t, c); got != 1 || n != 1 {
		t.Fatalf("after one Acquire: %d attached (DuckDB: %d), want 1", got, n)
	}
}

// newCacheIn opens the cache of dir with a fresh DuckDB instance.
func newCacheIn(tb testing.TB, dir string) *Cache {
	tb.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c, err := New(dir, db, &convert.Fetcher{MaxSize: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkColdStart measures a restart over a cache directory of 1,000
// resources: from opening the cache (DuckDB already open, as the service
// opens it first) to the first page of one resource read, and the heap
// the index of the 1,000 entries keeps.
//
//	go test -run '^$' -bench ColdStart -benchtime 20x ./cache/
//
// With CSVAPI_COLDSTART_DIR set, the 1,000 entries are written there and
// kept, for a measure of the whole service process (see the README).
func BenchmarkColdStart(b *testing.B) {
	dir := os.Getenv("CSVAPI_COLDSTART_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	ids := manyEntries(b, dir, 1000)
	b.Logf("%d entries in %s; one of them: %s", len(ids), dir, ids[1])
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	var heap uint64
	var times []time.Duration
	for i := 0; b.Loop(); i++ {
		before := heapInUse()
		start := time.Now()
		c, err := New(dir, db, &convert.Fetcher{MaxSize: 1 << 20}, logger)
		if err != nil {
			b.Fatal(err)
		}
		c.Start()
		e, err := c.Acquire(context.Background(), ids[i%len(ids)])
		if err != nil {
			b.Fatal(err)
		}
		rows, err := db.Query("SELECT * FROM " + e.Relation + " LIMIT 20")
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		if n != 20 {
			b.Fatalf("first page: %d rows, want 20", n)
		}
		times = append(times, time.Since(start))
		heap = heapInUse() - before
		e.Release()
		c.mu.Lock()
		for v := range c.attached {
			c.detach(v)
		}
		c.mu.Unlock()
		c.Close()
	}
	slices.Sort(times)
	b.Logf("start to first page, min/median/max: %v / %v / %v", times[0], times[len(times)/2], times[len(times)-1])
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "ms-to-first-page")
	b.ReportMetric(float64(heap)/(1<<20), "MB-index")
	b.ReportMetric(0, "ns/op")
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestPeekIsAnAccess: Peek counts as a use, as Acquire does, for the LRU
// order (the entry peeked at survives the eviction of the other) and for
// freshness (past TTL it starts a revalidation); its stamp is the
// version's, and unknown ids have none.
func TestPeekIsAnAccess(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer up.Close()
	c := newTestCache(t)
	var mu sync.Mutex
	clock := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { // every call is a second later: a strict LRU order
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	a, err := c.Apify(t.Context(), up.URL+"/a.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	a.Release()
	b := upload(t, c, "b\n2\n")
	if _, ok := c.Peek(ID("nothing")); ok {
		t.Error("Peek of an unknown id: ok")
	}
	st, ok := c.Peek(a.ID) // a is now more recent than b
	if !ok || st.Version != a.Version || !st.CheckedAt.Equal(a.CheckedAt) || st.Stale {
		t.Fatalf("Peek: %+v %v, want version %s checked at %v", st, ok, a.Version, a.CheckedAt)
	}
	c.MaxEntries = 1
	c.evict(nil)
	if _, ok := c.Peek(b.ID); ok {
		t.Error("the entry not peeked at survived the eviction")
	}
	mu.Lock()
	clock = clock.Add(1000 * time.Hour)
	mu.Unlock()
	if _, ok := c.Peek(a.ID); !ok {
		t.Fatal("the entry peeked at was evicted")
	}
	if got := c.Stats().Revalidations; got != 1 {
		t.Errorf("a peek past TTL: %d revalidations, want 1", got)
	}
}
