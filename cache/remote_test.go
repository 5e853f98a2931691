package cache

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/store"
	"github.com/csvapi/csvapi/store/storetest"
)

// newSharedCaches returns two caches (replicas A and B) sharing one bucket
// of a real S3-compatible server, and the store.
func newSharedCaches(t *testing.T) (*Cache, *Cache, *store.S3) {
	t.Helper()
	srv := storetest.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	st, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "cache", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	var caches []*Cache
	for _, name := range []string{"A", "B"} {
		c := newTestCache(t)
		c.Remote, c.Replica = st, name
		caches = append(caches, c)
	}
	return caches[0], caches[1], st
}

// TestRemoteManifestLayout checks what a load publishes: the file under a
// versioned key, then a manifest naming it with its checksum and metadata,
// and no lease left behind.
func TestRemoteManifestLayout(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,2\n3,4\n")
	}))
	defer up.Close()
	a, _, st := newSharedCaches(t)
	e, err := a.Apify(t.Context(), up.URL+"/x.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	ctx := context.Background()
	b, _, err := st.Get(ctx, e.ID+"/manifest.json", "")
	if err != nil {
		t.Fatalf("manifest: %v", err)
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m.Version != e.Version || m.Key != e.ID+"/"+e.Version+".duckdb" || len(m.SHA256) != 64 || m.Replica != "A" ||
		m.Sidecar.Meta == nil || m.Sidecar.Meta.Rows != 2 || m.Sidecar.Meta.URL != up.URL+"/x.csv" {
		t.Errorf("manifest = %s, want version %s of 2 rows published by A", b, e.Version)
	}
	if err := st.Download(ctx, m.Key, filepath.Join(t.TempDir(), "f.duckdb"), m.SHA256); err != nil {
		t.Errorf("the manifest's file: %v", err)
	}
	if _, _, err := st.Get(ctx, e.ID+"/lease.json", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("lease after the load: %v, want ErrNotFound (released)", err)
	}
}

// TestRemoteCorruptDownload: a file whose bytes do not match the manifest's
// checksum is not served and leaves nothing in the cache directory; once
// the manifest is right again, the other replica serves it.
func TestRemoteCorruptDownload(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer up.Close()
	a, b, st := newSharedCaches(t)
	e, err := a.Apify(t.Context(), up.URL+"/x.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	ctx := context.Background()
	key := e.ID + "/manifest.json"
	good, _, err := st.Get(ctx, key, "")
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	json.Unmarshal(good, &m)
	m.SHA256 = strings.Repeat("0", 64)
	bad, _ := json.Marshal(m)
	if _, err := st.Put(ctx, key, bad); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(t.Context(), e.ID); !errors.Is(err, store.ErrChecksum) {
		t.Fatalf("Acquire with a corrupt file: %v, want ErrChecksum", err)
	}
	files, _ := os.ReadDir(b.Dir)
	for _, f := range files {
		if f.Name() != "tmp" {
			t.Errorf("left in the cache directory after a corrupt download: %s", f.Name())
		}
	}

	if _, err := st.Put(ctx, key, good); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	delete(b.records, e.ID) // forget the failure, as FailureTTL would
	b.mu.Unlock()
	got, err := b.Acquire(t.Context(), e.ID)
	if err != nil {
		t.Fatalf("Acquire with the manifest repaired: %v", err)
	}
	defer got.Release()
	if got.Version != e.Version || got.Meta.Rows != 1 {
		t.Errorf("B serves version %s of %d rows, want A's %s of 1 row", got.Version, got.Meta.Rows, e.Version)
	}
}

// TestRemotePublishAfterRestart: a version loaded while the store is down
// is published when it returns, even if the replica restarted meanwhile.
func TestRemotePublishAfterRestart(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer up.Close()
	srv := storetest.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	st, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "restart", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	dir := t.TempDir()
	open := func() *Cache {
		c, err := New(dir, db, &convert.Fetcher{AllowPrivate: true, MaxSize: 1 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
		if err != nil {
			t.Fatal(err)
		}
		c.Remote, c.CheckInterval = st, 50*time.Millisecond
		return c
	}

	srv.Stop()
	a := open()
	e, err := a.Apify(t.Context(), up.URL+"/x.csv", Options{})
	if err != nil {
		t.Fatalf("Apify with the store down: %v, want a local load", err)
	}
	id := e.ID
	e.Release()
	if a.StoreErr() == nil {
		t.Errorf("StoreErr() = nil with the store down")
	}
	a.Close()
	// Detach what the first cache attached: the second attaches it again.
	db.Exec("DETACH DATABASE IF EXISTS " + e.v.alias())

	b := open()
	b.Start()
	t.Cleanup(func() { b.Close() })
	srv.Restart()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, _, err := st.Get(context.Background(), id+"/manifest.json", ""); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the version loaded while the store was down was never published")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*"+unpublishedExt)); len(left) != 0 {
		t.Errorf("markers left after publishing: %v", left)
	}
}
