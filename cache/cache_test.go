package cache

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
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

	"github.com/csvapi/csvapi/convert"
)

func newTestCache(t *testing.T) *Cache {
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
	sum := md5.Sum([]byte("x;y\n1;2,5\n"))
	if want := hex.EncodeToString(sum[:]); e.ID != want {
		t.Errorf("id %q, want the MD5 of the content %q", e.ID, want)
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
