package linkcheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/store"
	"github.com/csvapi/csvapi/store/storetest"
)

// memRemote is an in-memory Remote with S3's conditional writes, for
// tests; down makes every call fail as an unreachable store does.
type memRemote struct {
	mu      sync.Mutex
	objs    map[string]memObject
	n       int
	creates map[string]int // Create calls per key
	down    atomic.Bool
}

type memObject struct {
	body []byte
	etag string
}

var _ Remote = (*memRemote)(nil)

var errDown = errors.New("connection refused")

func newMemRemote() *memRemote {
	return &memRemote{objs: map[string]memObject{}, creates: map[string]int{}}
}

func (m *memRemote) Get(_ context.Context, key, etag string) ([]byte, string, error) {
	if m.down.Load() {
		return nil, "", errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	switch {
	case !ok:
		return nil, "", store.ErrNotFound
	case etag != "" && o.etag == etag:
		return nil, "", store.ErrNotModified
	}
	return append([]byte(nil), o.body...), o.etag, nil
}

func (m *memRemote) put(key string, body []byte) string {
	m.n++
	tag := fmt.Sprintf("e%d", m.n)
	m.objs[key] = memObject{body: append([]byte(nil), body...), etag: tag}
	return tag
}

func (m *memRemote) Create(_ context.Context, key string, body []byte) (string, error) {
	if m.down.Load() {
		return "", errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creates[key]++
	if _, ok := m.objs[key]; ok {
		return "", store.ErrPrecondition
	}
	return m.put(key, body), nil
}

func (m *memRemote) Replace(_ context.Context, key string, body []byte, etag string) (string, error) {
	if m.down.Load() {
		return "", errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	switch {
	case !ok:
		return "", store.ErrNotFound
	case o.etag != etag:
		return "", store.ErrPrecondition
	}
	return m.put(key, body), nil
}

func (m *memRemote) Delete(_ context.Context, key string) error {
	if m.down.Load() {
		return errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objs, key)
	return nil
}

func (m *memRemote) List(_ context.Context, prefix string) ([]store.Object, error) {
	if m.down.Load() {
		return nil, errDown
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []store.Object
	for k, o := range m.objs {
		if strings.HasPrefix(k, prefix) {
			out = append(out, store.Object{Key: k, ETag: o.etag})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

func (m *memRemote) Check(context.Context) error {
	if m.down.Load() {
		return errDown
	}
	return nil
}

func (m *memRemote) object(key string) ([]byte, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	o, ok := m.objs[key]
	return o.body, ok
}

func (m *memRemote) createCalls(key string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.creates[key]
}

// replicas starts two Services named a and b sharing remote, each with its
// own directory, on one settable clock.
func replicas(t *testing.T, remote Remote) (a, b *Service, clock *fakeClock) {
	t.Helper()
	return replicasOn(t, remote, remote)
}

// replicasOn is replicas with a Remote each (the same store seen through
// different wrappers).
func replicasOn(t *testing.T, ra, rb Remote) (a, b *Service, clock *fakeClock) {
	t.Helper()
	clock = &fakeClock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}
	start := func(name string, remote Remote) *Service {
		st, err := OpenStore(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		s := NewService(&Checker{Fetcher: &convert.Fetcher{AllowPrivate: true}, Timeout: 5 * time.Second}, st, nil)
		s.Now = clock.Now
		s.HostDelay = time.Millisecond
		s.WebhookDelay = time.Millisecond
		s.Tick = time.Hour                                                   // the tests call Recheck themselves
		s.SyncInterval = time.Hour                                           // and sync
		s.Remote, s.Replica, s.LeaseTTL = remote, name, 400*time.Millisecond // looks again at a held lease every 200 ms
		s.Start(context.Background())
		t.Cleanup(func() { s.Close(); st.Close() })
		return s
	}
	return start("a", ra), start("b", rb), clock
}

// countingUpstream counts HEAD requests per path; HEADs of /slow wait for
// release to be closed.
type countingUpstream struct {
	*httptest.Server
	mu      sync.Mutex
	heads   map[string]int
	release chan struct{}
}

func newCountingUpstream(t *testing.T) *countingUpstream {
	u := &countingUpstream{heads: map[string]int{}, release: make(chan struct{})}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			u.mu.Lock()
			u.heads[r.URL.Path]++
			u.mu.Unlock()
		}
		if r.URL.Path == "/slow" {
			select {
			case <-u.release:
			case <-r.Context().Done():
			}
		}
		w.Header().Set("Content-Type", "text/csv")
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *countingUpstream) count(path string) int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.heads[path]
}

// webhooks counts the posts received per path.
type webhooks struct {
	*httptest.Server
	mu    sync.Mutex
	posts map[string]int
}

func newWebhooks(t *testing.T) *webhooks {
	h := &webhooks{posts: map[string]int{}}
	h.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.posts[r.URL.Path]++
		h.mu.Unlock()
	}))
	t.Cleanup(h.Close)
	return h
}

func (h *webhooks) count(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.posts[path]
}

// eventually polls cond every 10 ms for at most 20 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// registered reports whether s registered its request for rawURL in the
// shared store (its job waits for a result written after it).
func registered(s *Service, rawURL string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	j := s.pending[rawURL]
	return j != nil && j.want >= 0 && !j.register
}

// sharedEntry reads the URL's entry in remote.
func sharedEntry(t *testing.T, m *memRemote, rawURL string) sharedURL {
	t.Helper()
	var e sharedURL
	if b, ok := m.object(remoteKey(URLHash(rawURL))); ok {
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// requestWhileChecking asks a for a check of a slow URL with the webhook
// /a, waits for a's check to reach the upstream, then asks b for the same
// URL with the webhook /b.
func requestWhileChecking(t *testing.T, a, b *Service) (up *countingUpstream, hooks *webhooks, u string) {
	t.Helper()
	up, hooks = newCountingUpstream(t), newWebhooks(t)
	u = up.URL + "/slow"
	if err := a.Submit(Request{URLs: []string{u}, CallbackURL: hooks.URL + "/a"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's check to reach the upstream", func() bool { return up.count("/slow") == 1 })
	if err := b.Submit(Request{URLs: []string{u}, CallbackURL: hooks.URL + "/b"}); err != nil {
		t.Fatal(err)
	}
	return up, hooks, u
}

// TestSharedCheckOnce: a URL requested on two replicas while the first
// checks it is checked once, and the webhooks registered on both replicas
// are each posted once, by the replica that checked.
func TestSharedCheckOnce(t *testing.T) {
	remote := newMemRemote()
	a, b, _ := replicas(t, remote)
	up, hooks, u := requestWhileChecking(t, a, b)
	// b registers its callback in the shared entry, then finds a's lease.
	eventually(t, "b's callback in the store", func() bool { return len(sharedEntry(t, remote, u).Callbacks) == 2 })
	eventually(t, "b to find a's lease", func() bool { return remote.createCalls(leaseKey(URLHash(u))) >= 2 })
	close(up.release)
	wait(t, a)
	wait(t, b)
	if n := up.count("/slow"); n != 1 {
		t.Errorf("upstream got %d HEAD requests, want 1", n)
	}
	if na, nb := hooks.count("/a"), hooks.count("/b"); na != 1 || nb != 1 {
		t.Errorf("webhook posts: /a %d, /b %d; want 1 each", na, nb)
	}
	r, ok := b.URL(URLHash(u))
	if !ok || r["final-status-code"] != "200" || r["content-type"] != "text/csv" {
		t.Errorf("b answers %v, %v; want a's result (200, text/csv)", r, ok)
	}
	if e := sharedEntry(t, remote, u); e.Replica != "a" {
		t.Errorf("checked by %q, want a", e.Replica)
	}
	if _, ok := remote.object(leaseKey(URLHash(u))); ok {
		t.Error("the lease is still in the store after the check")
	}
	// A request after the check is a new one: checked again (by b now).
	if err := b.Submit(Request{URLs: []string{u}}); err != nil {
		t.Fatal(err)
	}
	wait(t, b)
	if n := up.count("/slow"); n != 2 {
		t.Errorf("after a new request: %d HEAD requests, want 2", n)
	}
}

// gatedRemote holds its first Create of a lease until gate is closed.
type gatedRemote struct {
	Remote
	gate    chan struct{}
	waiting chan struct{} // closed when the held Create starts waiting
	once    sync.Once
}

func (g *gatedRemote) Create(ctx context.Context, key string, body []byte) (string, error) {
	if strings.HasPrefix(key, leasePrefix) {
		held := false
		g.once.Do(func() { held = true })
		if held {
			close(g.waiting)
			<-g.gate
		}
	}
	return g.Remote.Create(ctx, key, body)
}

// TestSharedCallbackSurvivesSync: a sync that reads the shared entry
// between a request and its check's first look (the window widens on a
// loaded machine) does not lose the request's callback: the look still
// writes it to the store. It was lost before, and with it the webhook.
func TestSharedCallbackSurvivesSync(t *testing.T) {
	remote := newMemRemote()
	gb := &gatedRemote{Remote: remote, gate: make(chan struct{}), waiting: make(chan struct{})}
	a, b, _ := replicasOn(t, remote, gb)
	up, hooks, u := requestWhileChecking(t, a, b)
	<-gb.waiting // b's first look is taking the lease
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(gb.gate)
	eventually(t, "b's callback in the store", func() bool { return len(sharedEntry(t, remote, u).Callbacks) == 2 })
	close(up.release)
	wait(t, a)
	wait(t, b)
	if na, nb := hooks.count("/a"), hooks.count("/b"); na != 1 || nb != 1 {
		t.Errorf("webhook posts: /a %d, /b %d; want 1 each", na, nb)
	}
}

// TestSharedGroup: a group created on one replica is read on the other,
// with the results the first one had.
func TestSharedGroup(t *testing.T) {
	remote := newMemRemote()
	a, b, _ := replicas(t, remote)
	up := newCountingUpstream(t)
	urls := []string{up.URL + "/1", up.URL + "/2"}
	if err := a.Submit(Request{URLs: urls, Group: "datasets", Frequency: "daily"}); err != nil {
		t.Fatal(err)
	}
	wait(t, a)
	name, results, ok := b.Group(GroupHash("datasets"))
	if !ok || name != "datasets" || len(results) != 2 {
		t.Fatalf("b.Group = %q, %d results, %v; want datasets with 2", name, len(results), ok)
	}
	if results[0]["frequency"] != "daily" {
		t.Errorf("frequency %q, want daily", results[0]["frequency"])
	}
	// Results of the group's URLs reach b at its sync.
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, results, _ = b.Group(GroupHash("datasets"))
	for _, r := range results {
		if r["final-status-code"] != "200" {
			t.Errorf("%s on b: status %q, want 200", r["checked-url"], r["final-status-code"])
		}
	}
	if got := b.Results(View{}); len(got) != 2 {
		t.Errorf("b's dashboard has %d URLs, want 2", len(got))
	}
	// b adds a URL to the group: a sees both replicas' URLs.
	if err := b.Submit(Request{URLs: []string{up.URL + "/3"}, Group: "datasets"}); err != nil {
		t.Fatal(err)
	}
	wait(t, b)
	if _, results, _ := a.Group(GroupHash("datasets")); len(results) != 3 {
		t.Errorf("a.Group has %d URLs after b added one, want 3", len(results))
	}
	if n := up.count("/1") + up.count("/2") + up.count("/3"); n != 3 {
		t.Errorf("upstream got %d HEAD requests, want 3", n)
	}
}

// TestSharedRecheckOnce: a group's re-check that falls due is done by one
// replica, whichever looks first.
func TestSharedRecheckOnce(t *testing.T) {
	remote := newMemRemote()
	a, b, clock := replicas(t, remote)
	up := newCountingUpstream(t)
	u := up.URL + "/daily"
	if err := a.Submit(Request{URLs: []string{u}, Group: "g", Frequency: "daily"}); err != nil {
		t.Fatal(err)
	}
	wait(t, a)
	for step, want := range []struct {
		advance time.Duration
		heads   int
	}{{time.Hour, 1}, {24 * time.Hour, 2}, {time.Hour, 2}, {24 * time.Hour, 3}} {
		clock.Add(want.advance)
		var wg sync.WaitGroup
		var queued atomic.Int32
		for _, s := range []*Service{b, a} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := s.Recheck()
				if err != nil {
					t.Error(err)
				}
				queued.Add(int32(n))
			}()
		}
		wg.Wait()
		wait(t, a)
		wait(t, b)
		if n := up.count("/daily"); n != want.heads || int(queued.Load()) > 1 {
			t.Errorf("step %d: %d HEAD requests, %d queued; want %d, at most 1", step, n, queued.Load(), want.heads)
		}
	}
}

// TestSharedLeaseTakeover: a lease left by a replica that died is taken
// over once it expires, and not before.
func TestSharedLeaseTakeover(t *testing.T) {
	remote := newMemRemote()
	_, b, clock := replicas(t, remote)
	up := newCountingUpstream(t)
	u := up.URL + "/orphan"
	h := URLHash(u)
	dead, _ := json.Marshal(store.Lease{Holder: "dead", Expires: clock.Now().Add(time.Minute)})
	if _, err := remote.Create(context.Background(), leaseKey(h), dead); err != nil {
		t.Fatal(err)
	}
	if err := b.Submit(Request{URLs: []string{u}}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to try the lease twice", func() bool {
		return remote.createCalls(leaseKey(h)) >= 3 || up.count("/orphan") > 0
	})
	if n := up.count("/orphan"); n != 0 {
		t.Fatalf("checked %d times under a live lease of another replica, want 0", n)
	}
	clock.Add(time.Minute + time.Second)
	wait(t, b)
	if n := up.count("/orphan"); n != 1 {
		t.Errorf("after the lease expired: %d HEAD requests, want 1", n)
	}
	if e := sharedEntry(t, remote, u); e.Replica != "b" || e.Result["final-status-code"] != "200" {
		t.Errorf("shared entry %+v, want b's 200", e)
	}
}

// TestSharedStoreDown: with the store unreachable, checks run here alone
// and StoreErr says so; their results reach the store when it answers.
func TestSharedStoreDown(t *testing.T) {
	remote := newMemRemote()
	a, b, _ := replicas(t, remote)
	up := newCountingUpstream(t)
	remote.down.Store(true)
	if err := a.sync(context.Background()); err == nil {
		t.Fatal("sync with the store down: no error")
	}
	if a.StoreErr() == nil {
		t.Fatal("StoreErr is nil with the store down")
	}
	u := up.URL + "/alone"
	if err := a.Submit(Request{URLs: []string{u}, Group: "offline"}); err != nil {
		t.Fatal(err)
	}
	wait(t, a)
	if r, _ := a.URL(URLHash(u)); r["final-status-code"] != "200" {
		t.Fatalf("checked locally: %v, want 200", r)
	}
	remote.down.Store(false)
	if err := a.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if a.StoreErr() != nil {
		t.Errorf("StoreErr = %v after the store came back", a.StoreErr())
	}
	if r, ok := b.URL(URLHash(u)); !ok || r["final-status-code"] != "200" {
		t.Errorf("b reads %v, %v after a's push; want 200", r, ok)
	}
	if _, results, ok := b.Group(GroupHash("offline")); !ok || len(results) != 1 {
		t.Errorf("b reads the group created offline: %v, %d URLs; want 1", ok, len(results))
	}
}

// TestSharedVersitygw runs two replicas over a real S3-compatible server:
// one check for a URL requested on both, a group created on one read on
// the other.
func TestSharedVersitygw(t *testing.T) {
	srv := storetest.Start(t)
	for _, kv := range srv.Env() {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	st, err := store.New(store.Config{Bucket: storetest.Bucket, Prefix: "replicas", Endpoint: srv.Endpoint, PathStyle: true, Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	a, b, _ := replicas(t, st)
	up := newCountingUpstream(t)
	u := up.URL + "/slow"
	if err := a.Submit(Request{URLs: []string{u}, Group: "shared"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "a's check to reach the upstream", func() bool { return up.count("/slow") == 1 })
	if err := b.Submit(Request{URLs: []string{u}, Group: "shared"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b to register its request", func() bool { return registered(b, u) })
	close(up.release)
	wait(t, a)
	wait(t, b)
	if n := up.count("/slow"); n != 1 {
		t.Errorf("upstream got %d HEAD requests, want 1", n)
	}
	if r, ok := b.URL(URLHash(u)); !ok || r["final-status-code"] != "200" {
		t.Errorf("b answers %v, %v; want 200", r, ok)
	}
	if name, results, ok := b.Group(GroupHash("shared")); !ok || name != "shared" || len(results) != 1 {
		t.Errorf("b.Group = %q, %d, %v; want shared with 1 URL", name, len(results), ok)
	}
	if err := b.sync(context.Background()); err != nil || b.StoreErr() != nil {
		t.Errorf("sync: %v, StoreErr %v", err, b.StoreErr())
	}
}

// TestSharedReadKeepsNothingStale: a read of a shared entry that stores
// nothing here (a look at whether a request is answered) must not make the
// next read skip it as already known.
func TestSharedReadKeepsNothingStale(t *testing.T) {
	remote := newMemRemote()
	a, b, _ := replicas(t, remote)
	up := newCountingUpstream(t)
	u := up.URL + "/seen"
	if err := a.Submit(Request{URLs: []string{u}}); err != nil {
		t.Fatal(err)
	}
	wait(t, a)
	h := URLHash(u)
	if _, _, err := update(context.Background(), b, remoteKey(h), nil, "", func(*sharedURL) bool { return false }); err != nil {
		t.Fatal(err)
	}
	if r, ok := b.URL(h); !ok || r["final-status-code"] != "200" {
		t.Errorf("b.URL after a read-only look = %v, %v; want a's 200", r, ok)
	}
	if err := b.sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := b.Results(View{}); len(got) != 1 || got[0]["final-status-code"] != "200" {
		t.Errorf("b's dashboard after sync: %v, want a's 200", got)
	}
}
