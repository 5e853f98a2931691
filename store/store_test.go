package store_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/csvapi/csvapi/store"
	"github.com/csvapi/csvapi/store/storetest"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		in, bucket, prefix string
		bad                bool
	}{
		{in: "s3://b", bucket: "b"},
		{in: "s3://b/", bucket: "b"},
		{in: "s3://b/p/q/", bucket: "b", prefix: "p/q"},
		{in: "http://b/p", bad: true},
		{in: "s3:///p", bad: true},
		{in: "s3://k:s@b/p", bad: true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			b, p, err := store.ParseURL(tc.in)
			if (err != nil) != tc.bad || b != tc.bucket || p != tc.prefix {
				t.Errorf("ParseURL(%q) = %q, %q, %v; want %q, %q, bad=%v", tc.in, b, p, err, tc.bucket, tc.prefix, tc.bad)
			}
		})
	}
}

func newStore(t *testing.T) *store.S3 {
	srv := storetest.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := cutEq(kv)
		t.Setenv(k, v)
	}
	s, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "test", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cutEq(kv string) (string, string, bool) {
	for i := range kv {
		if kv[i] == '=' {
			return kv[:i], kv[i+1:], true
		}
	}
	return kv, "", false
}

// TestConditionalWrites checks the operations the lease and the manifest
// rely on against a real S3-compatible server.
func TestConditionalWrites(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	if err := s.Check(ctx); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if _, _, err := s.Get(ctx, "x/lease", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	etag, err := s.Create(ctx, "x/lease", []byte(`{"holder":"a"}`))
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	if _, err := s.Create(ctx, "x/lease", []byte(`{"holder":"b"}`)); !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("second Create: %v, want ErrPrecondition", err)
	}
	b, got, err := s.Get(ctx, "x/lease", "")
	if err != nil || string(b) != `{"holder":"a"}` || got != etag {
		t.Fatalf("Get = %q, %q, %v; want holder a with ETag %q", b, got, err, etag)
	}
	if _, _, err := s.Get(ctx, "x/lease", etag); !errors.Is(err, store.ErrNotModified) {
		t.Fatalf("Get with the current ETag: %v, want ErrNotModified", err)
	}
	etag2, err := s.Replace(ctx, "x/lease", []byte(`{"holder":"a","n":2}`), etag)
	if err != nil {
		t.Fatalf("Replace with the current ETag: %v", err)
	}
	if _, err := s.Replace(ctx, "x/lease", []byte(`{"holder":"c"}`), etag); !errors.Is(err, store.ErrPrecondition) {
		t.Fatalf("Replace with a stale ETag: %v, want ErrPrecondition", err)
	}
	if _, _, err := s.Get(ctx, "x/lease", etag); err != nil {
		t.Fatalf("Get with an old ETag (now %s): %v, want the object", etag2, err)
	}
	if err := s.Delete(ctx, "x/lease"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := s.Delete(ctx, "x/lease"); err != nil {
		t.Fatalf("Delete of a missing key: %v, want nil", err)
	}
	if _, err := s.Create(ctx, "x/lease", []byte(`{}`)); err != nil {
		t.Fatalf("Create after Delete: %v", err)
	}
}

func TestUploadDownload(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	dir := t.TempDir()
	src := filepath.Join(dir, "src.duckdb")
	data := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
	if err := os.WriteFile(src, data, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, err := s.Upload(ctx, "x/v1.duckdb", src)
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	dest := filepath.Join(dir, "got.duckdb")
	if err := s.Download(ctx, "x/v1.duckdb", dest, sum); err != nil {
		t.Fatalf("Download: %v", err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatalf("downloaded %d bytes, want the %d uploaded", len(got), len(data))
	}
	bad := filepath.Join(dir, "bad.duckdb")
	if err := s.Download(ctx, "x/v1.duckdb", bad, "00"+sum[2:]); !errors.Is(err, store.ErrChecksum) {
		t.Fatalf("Download with a wrong sum: %v, want ErrChecksum", err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "bad*")); len(left) != 0 {
		t.Errorf("a failed download left %v", left)
	}
	if err := s.Download(ctx, "x/none.duckdb", bad, sum); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Download of a missing key: %v, want ErrNotFound", err)
	}
}

// TestList checks that List finds the objects under a prefix, with the
// ETags Get gives, keys relative to the store's prefix.
func TestList(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	tags := map[string]string{}
	for _, k := range []string{"l/b.json", "l/a.json", "other/c.json"} {
		tag, err := s.Put(ctx, k, []byte(`{"k":"`+k+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		tags[k] = tag
	}
	got, err := s.List(ctx, "l/")
	if err != nil {
		t.Fatalf("List: %v", err)
	}
	want := []store.Object{{Key: "l/a.json", ETag: tags["l/a.json"]}, {Key: "l/b.json", ETag: tags["l/b.json"]}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("List(l/) = %v, want %v", got, want)
	}
	if got, err := s.List(ctx, "none/"); err != nil || len(got) != 0 {
		t.Errorf("List(none/) = %v, %v; want nothing", got, err)
	}
}
