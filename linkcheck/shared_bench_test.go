package linkcheck

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/store"
	"github.com/csvapi/csvapi/store/storetest"
)

// countingRemote counts the requests made to a Remote.
type countingRemote struct {
	Remote
	n atomic.Int64
}

func (c *countingRemote) Get(ctx context.Context, key, etag string) ([]byte, string, error) {
	c.n.Add(1)
	return c.Remote.Get(ctx, key, etag)
}
func (c *countingRemote) Create(ctx context.Context, key string, body []byte) (string, error) {
	c.n.Add(1)
	return c.Remote.Create(ctx, key, body)
}
func (c *countingRemote) Replace(ctx context.Context, key string, body []byte, etag string) (string, error) {
	c.n.Add(1)
	return c.Remote.Replace(ctx, key, body, etag)
}
func (c *countingRemote) Delete(ctx context.Context, key string) error {
	c.n.Add(1)
	return c.Remote.Delete(ctx, key)
}

// BenchmarkChecks checks 50 new URLs of a loopback upstream per op, alone
// (local) and through a versitygw store on loopback (shared), alternated
// with -count; it reports the store's requests per check. Politeness is
// off so that the figure is the checker's and the store's cost.
//
//	go test -run '^$' -bench Checks -count 5 ./linkcheck/
func BenchmarkChecks(b *testing.B) {
	srv := storetest.Start(b)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	st, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "bench", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	const urls = 50
	run := func(b *testing.B, remote *countingRemote) {
		local, err := OpenStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer local.Close()
		s := NewService(&Checker{Fetcher: &convert.Fetcher{AllowPrivate: true}}, local, nil)
		s.PerHost, s.HostDelay, s.SyncInterval = urls, time.Nanosecond, time.Hour
		if remote != nil {
			s.Remote = remote
		}
		s.Start(context.Background())
		defer s.Close()
		runID := time.Now().UnixNano() // new URLs in every run, the store outlives runs
		b.ResetTimer()
		for i := range b.N {
			batch := make([]string, urls)
			for j := range batch {
				batch[j] = fmt.Sprintf("%s/%d/%d/%d", up.URL, runID, i, j)
			}
			if err := s.Submit(Request{URLs: batch}); err != nil {
				b.Fatal(err)
			}
			if err := s.Wait(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		if remote != nil {
			b.ReportMetric(float64(remote.n.Load())/float64(b.N*urls), "requests/check")
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*urls), "µs/check")
	}
	b.Run("local", func(b *testing.B) { run(b, nil) })
	b.Run("shared", func(b *testing.B) { run(b, &countingRemote{Remote: st}) })
}

// BenchmarkURLRead reads the result of a checked URL as GET /url/<hash>
// does, alone (local) and with a versitygw store on loopback: every read
// a conditional GET answered 304 (shared-every), or at most one a second
// (shared, the default ReadInterval).
//
//	go test -run '^$' -bench URLRead ./linkcheck/
func BenchmarkURLRead(b *testing.B) {
	srv := storetest.Start(b)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	st, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "bench", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer up.Close()
	run := func(b *testing.B, remote Remote, every time.Duration) {
		local, err := OpenStore(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer local.Close()
		s := NewService(&Checker{Fetcher: &convert.Fetcher{AllowPrivate: true}}, local, nil)
		s.Remote, s.SyncInterval, s.ReadInterval = remote, time.Hour, every
		s.Start(context.Background())
		defer s.Close()
		u := up.URL + "/read"
		if err := s.Submit(Request{URLs: []string{u}}); err != nil {
			b.Fatal(err)
		}
		if err := s.Wait(context.Background()); err != nil {
			b.Fatal(err)
		}
		h := URLHash(u)
		b.ResetTimer()
		for range b.N {
			if r, ok := s.URL(h); !ok || r["final-status-code"] != "200" {
				b.Fatalf("URL = %v, %v", r, ok)
			}
		}
	}
	b.Run("local", func(b *testing.B) { run(b, nil, 0) })
	b.Run("shared", func(b *testing.B) { run(b, st, 0) })
	b.Run("shared-every", func(b *testing.B) { run(b, st, time.Nanosecond) })
}

// BenchmarkSync reads 200 URL entries changed by another replica from a
// versitygw store on loopback, one at a time (1) or 8 at once (8); the
// "remote" variants add 10 ms to each read, as a store across a network.
//
//	go test -run '^$' -bench Sync ./linkcheck/
func BenchmarkSync(b *testing.B) {
	srv := storetest.Start(b)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		b.Setenv(k, v)
	}
	st, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "bench", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		b.Fatal(err)
	}
	const urls = 200
	for i := range urls {
		raw := fmt.Sprintf("http://example.org/%d", i)
		body := fmt.Sprintf(`{"url":%q,"result":{"final-status-code":"200"},"seq":2,"result_seq":2}`, raw)
		if _, err := st.Put(context.Background(), remoteKey(URLHash(raw)), []byte(body)); err != nil {
			b.Fatal(err)
		}
	}
	for _, bc := range []struct {
		name     string
		parallel int
		remote   Remote
	}{
		{"1", 1, st}, {"8", 8, st},
		{"1-remote", 1, slowRemote{st, 10 * time.Millisecond}}, {"8-remote", 8, slowRemote{st, 10 * time.Millisecond}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				local, err := OpenStore(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				s := NewService(&Checker{Fetcher: &convert.Fetcher{}}, local, nil)
				s.Remote, s.SyncInterval, s.pullParallel = bc.remote, time.Hour, bc.parallel
				s.Start(context.Background())
				b.StartTimer()
				if err := s.sync(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				if n := len(s.Results(View{})); n != urls {
					b.Fatalf("%d URLs after sync, want %d", n, urls)
				}
				s.Close()
				local.Close()
			}
		})
	}
}

// slowRemote adds a delay to every Get, as a store across a network.
type slowRemote struct {
	Remote
	delay time.Duration
}

func (r slowRemote) Get(ctx context.Context, key, etag string) ([]byte, string, error) {
	time.Sleep(r.delay)
	return r.Remote.Get(ctx, key, etag)
}
