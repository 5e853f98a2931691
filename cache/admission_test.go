package cache

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedUpstream answers every URL with a CSV header, then waits for the
// returned release function before sending the rest.
func gatedUpstream(t *testing.T) (*httptest.Server, func()) {
	gate := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n")
		w.(http.Flusher).Flush()
		select {
		case <-gate:
		case <-r.Context().Done():
		}
		io.WriteString(w, "1,2\n")
	}))
	var once sync.Once
	release := func() { once.Do(func() { close(gate) }) }
	t.Cleanup(up.Close)
	t.Cleanup(release) // runs first: the handlers return, then up closes
	return up, release
}

func TestLoadQueueBound(t *testing.T) {
	up, release := gatedUpstream(t)
	c := newTestCache(t)
	c.MaxLoads, c.MaxQueue = 1, 1
	wait := func(client string) Options { return Options{Wait: time.Millisecond, Client: client} }
	for i, u := range []string{"/1.csv", "/2.csv"} {
		if _, err := c.Apify(t.Context(), up.URL+u, wait(string(rune('a'+i)))); !errors.Is(err, ErrPending) {
			t.Fatalf("Apify(%s): err = %v, want ErrPending", u, err)
		}
	}
	if _, err := c.Apify(t.Context(), up.URL+"/3.csv", wait("c")); !errors.Is(err, ErrBusy) {
		t.Errorf("third load with one running and one queued: err = %v, want ErrBusy", err)
	}
	if _, err := c.Status(ID(up.URL + "/3.csv")); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused load left a record: Status err = %v, want ErrNotFound", err)
	}
	if _, err := c.Upload(t.Context(), strings.NewReader("x,y\n1,2\n"), "u.csv", wait("d")); !errors.Is(err, ErrBusy) {
		t.Errorf("upload with a full queue: err = %v, want ErrBusy", err)
	}
	// Joining a load needs no room.
	if _, err := c.Apify(t.Context(), up.URL+"/2.csv", wait("e")); !errors.Is(err, ErrPending) {
		t.Errorf("joining a queued load: err = %v, want ErrPending", err)
	}
	release()
	waitReady(t, c, up.URL+"/1.csv", up.URL+"/2.csv")
	e, err := c.Apify(t.Context(), up.URL+"/3.csv", Options{Client: "c"})
	if err != nil {
		t.Fatalf("once the queue drained: %v", err)
	}
	e.Release()
}

func TestLoadsPerClient(t *testing.T) {
	up, release := gatedUpstream(t)
	c := newTestCache(t)
	c.MaxLoads, c.MaxClientLoads = 1, 2
	wait := func(client string) Options { return Options{Wait: time.Millisecond, Client: client} }
	for _, u := range []string{"/1.csv", "/2.csv"} {
		if _, err := c.Apify(t.Context(), up.URL+u, wait("10.0.0.1")); !errors.Is(err, ErrPending) {
			t.Fatalf("Apify(%s): err = %v, want ErrPending", u, err)
		}
	}
	if _, err := c.Apify(t.Context(), up.URL+"/3.csv", wait("10.0.0.1")); !errors.Is(err, ErrClientBusy) {
		t.Errorf("third load of one client: err = %v, want ErrClientBusy", err)
	}
	if _, err := c.Apify(t.Context(), up.URL+"/3.csv", wait("10.0.0.2")); !errors.Is(err, ErrPending) {
		t.Errorf("another client: err = %v, want ErrPending", err)
	}
	release()
	waitReady(t, c, up.URL+"/1.csv", up.URL+"/2.csv", up.URL+"/3.csv")
	e, err := c.Apify(t.Context(), up.URL+"/4.csv", Options{Client: "10.0.0.1"})
	if err != nil {
		t.Fatalf("once its loads are done, the client loads again: %v", err)
	}
	e.Release()
}

func TestMinFreeDisk(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer up.Close()
	c := newTestCache(t)
	var free atomic.Uint64
	free.Store(10 << 30)
	c.MinFreeDisk = 1 << 30
	c.freeSpace = func(string) (uint64, error) { return free.Load(), nil }
	e, err := c.Apify(t.Context(), up.URL+"/loaded.csv", Options{})
	if err != nil {
		t.Fatal(err)
	}
	e.Release()
	free.Store(100 << 20)
	if _, err := c.Apify(t.Context(), up.URL+"/new.csv", Options{}); !errors.Is(err, ErrInsufficientStorage) {
		t.Errorf("new load on a full disk: err = %v, want ErrInsufficientStorage", err)
	}
	if _, err := c.Upload(t.Context(), strings.NewReader("x,y\n1,2\n"), "u.csv", Options{}); !errors.Is(err, ErrInsufficientStorage) {
		t.Errorf("upload on a full disk: err = %v, want ErrInsufficientStorage", err)
	}
	if e, err := c.Apify(t.Context(), up.URL+"/loaded.csv", Options{}); err != nil {
		t.Errorf("a loaded table on a full disk: %v", err)
	} else {
		e.Release()
	}
}

// waitReady polls until every URL's load is done, for at most a while.
func waitReady(t *testing.T, c *Cache, urls ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for _, u := range urls {
		for {
			st, err := c.Status(ID(u))
			if err == nil && st.State == StateReady {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still %s (%v)", u, st.State, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}
