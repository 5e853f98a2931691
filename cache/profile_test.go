package cache

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestProfileSidecar: a profile saved for a version is read back for it;
// at start, the profile sidecars of versions that are gone, and
// half-written ones, are removed while the current version's stays.
func TestProfileSidecar(t *testing.T) {
	c := newTestCache(t)
	e := upload(t, c, "a,b\n1,2\n")
	held, err := c.Acquire(t.Context(), e.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.ReadProfile(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("before any save: %v, want fs.ErrNotExist", err)
	}
	if err := held.SaveProfile([]byte(`{"rows":1}`)); err != nil {
		t.Fatal(err)
	}
	if b, err := held.ReadProfile(); err != nil || string(b) != `{"rows":1}` {
		t.Errorf("read back %s, %v", b, err)
	}
	held.Release()
	c.Close()

	stale := filepath.Join(c.Dir, e.ID+"-"+strings.Repeat("0", 16)+profileExt)
	half := filepath.Join(c.Dir, e.ID+"-"+e.Version+profileExt+".tmp")
	for _, f := range []string{stale, half} {
		if err := os.WriteFile(f, []byte("{"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c2, err := New(c.Dir, c.DB, c.Fetcher, c.Logger)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	for _, f := range []string{stale, half} {
		if _, err := os.Stat(f); !os.IsNotExist(err) {
			t.Errorf("%s left at start: %v", filepath.Base(f), err)
		}
	}
	again, err := c2.AcquireVersion(context.Background(), e.ID, e.Version)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Release()
	if b, err := again.ReadProfile(); err != nil || string(b) != `{"rows":1}` {
		t.Errorf("after a restart: %s, %v", b, err)
	}
	if _, err := c2.AcquireVersion(context.Background(), e.ID, strings.Repeat("0", 16)); !errors.Is(err, ErrNotFound) {
		t.Errorf("AcquireVersion of another version: %v, want ErrNotFound", err)
	}
}
