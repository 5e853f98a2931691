package linkcheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// Defaults of the Service's knobs.
const (
	DefaultWorkers        = 4
	DefaultPerHost        = 2
	DefaultHostDelay      = time.Second
	DefaultQueueSize      = 10000
	DefaultWebhookTries   = 5
	DefaultWebhookDelay   = 10 * time.Second
	DefaultWebhookBackoff = 2
	DefaultWebhookTimeout = 10 * time.Second
	DefaultTick           = time.Minute
)

// Frequencies are the re-check periods a group may ask for.
var Frequencies = map[string]time.Duration{
	"hourly":  time.Hour,
	"daily":   24 * time.Hour,
	"monthly": 30 * 24 * time.Hour,
}

// Errors returned by Service.Submit.
var (
	// ErrInvalidRequest: a URL or callback URL is not an absolute http(s)
	// URL, or the frequency is not one of Frequencies.
	ErrInvalidRequest = errors.New("invalid check request")
	// ErrQueueFull: more checks are waiting than QueueSize.
	ErrQueueFull = errors.New("too many checks waiting")
	// ErrForbidden: a URL or callback URL points to an address or port the
	// guard refuses.
	ErrForbidden = errors.New("forbidden address")
)

// Service runs checks in the background with bounded workers and per-host
// politeness, keeps their results in a Store, re-checks groups at their
// frequency and posts results to webhooks. Set the knobs before Start; a
// zero knob means its Default* value.
type Service struct {
	Checker *Checker
	Store   *Store
	Log     *slog.Logger
	// Now is the clock (time.Now when nil); tests inject theirs.
	Now func() time.Time

	Workers   int           // checks at once
	PerHost   int           // checks at once per host
	HostDelay time.Duration // pause between two checks of a host
	QueueSize int           // checks waiting at most
	Tick      time.Duration // how often frequencies are looked at

	WebhookTries   int           // attempts per webhook
	WebhookDelay   time.Duration // wait before the second attempt
	WebhookBackoff float64       // factor applied to the wait after each attempt
	WebhookTimeout time.Duration // per attempt

	// Remote, when set, is the store shared with other replicas (--store):
	// one replica checks each URL (under a lease in the store), results
	// and groups are written there for every replica to answer with, and
	// a due re-check is done by the replica that stamps its group first.
	Remote       Remote
	Replica      string        // this replica's name in leases
	LeaseTTL     time.Duration // lifetime of a check's lease, renewed by its holder
	SyncInterval time.Duration // how often the store's changes are read here
	ReadInterval time.Duration // how often URL and Group read one URL or group from the store at most

	queue    chan string // URLs
	mu       sync.Mutex
	pending  map[string]*job // URLs queued or being checked
	hosts    map[string]*hostSlot
	wg       sync.WaitGroup
	inflight sync.WaitGroup // checks and webhooks not finished, for Wait
	stop     context.CancelFunc
	ctx      context.Context
	shared   sharedState
	// pullParallel is how many shared objects a sync reads at once
	// (defaultPullParallel when zero); benchmarks compare.
	pullParallel int
}

// job is a URL queued or being checked.
type job struct {
	// want: with a shared store, a result written after this sequence
	// number of the URL's shared entry answers the request.
	want int64
	// register: callbacks to merge into the shared entry before deciding.
	register bool
}

// hostSlot is the politeness state of one host.
type hostSlot struct {
	sem  chan struct{}
	next time.Time // earliest start of the next check
}

// NewService returns a Service over checker and store; call Start.
func NewService(checker *Checker, store *Store, logger *slog.Logger) *Service {
	return &Service{Checker: checker, Store: store, Log: logger}
}

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// Start launches the workers and the frequency scheduler; they stop when
// ctx is cancelled or Close is called.
func (s *Service) Start(ctx context.Context) {
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.ctx, s.stop = context.WithCancel(ctx)
	s.queue = make(chan string, positiveInt(s.QueueSize, DefaultQueueSize))
	s.pending = map[string]*job{}
	s.hosts = map[string]*hostSlot{}
	s.shared.tags, s.shared.dirty, s.shared.read = map[string]string{}, map[string]bool{}, map[string]time.Time{}
	s.shared.unshared = map[string][]string{}
	for range positiveInt(s.Workers, DefaultWorkers) {
		s.wg.Add(1)
		go s.work()
	}
	s.wg.Add(1)
	go s.every(positive(s.Tick, DefaultTick), s.recheckOnce)
	if s.Remote != nil {
		s.wg.Add(1)
		go s.every(positive(s.SyncInterval, DefaultSyncInterval), s.syncOnce)
	}
}

// Close stops the workers and the scheduler and waits for them. Webhooks
// being retried are abandoned.
func (s *Service) Close() {
	s.stop()
	s.wg.Wait()
}

// Wait blocks until every queued check and its webhooks are done, or ctx
// ends. For tests and graceful shutdowns.
func (s *Service) Wait(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.inflight.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Pending returns how many URLs are queued or being checked here,
// including those waiting for another replica's check.
func (s *Service) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.pending)
}

// Request is what POST /check/one and /check/many ask for.
type Request struct {
	URLs        []string
	Group       string
	Frequency   string
	CallbackURL string
}

// Submit validates req, records its URLs (in its group, with its frequency
// and callback) and queues their checks. A URL already queued is not queued
// twice, but its callback is recorded. It returns an error wrapping
// ErrInvalidRequest, ErrForbidden or ErrQueueFull, or a store error.
func (s *Service) Submit(req Request) error {
	if err := s.validate(req); err != nil {
		return err
	}
	for _, u := range req.URLs {
		h, err := s.Store.addURL(u, req.CallbackURL)
		if err != nil {
			return err
		}
		s.addUnshared(remoteKey(h), req.CallbackURL)
	}
	if req.Group != "" {
		h, err := s.Store.addToGroup(req.Group, req.Frequency, req.URLs, s.now())
		if err != nil {
			return err
		}
		if local, _ := s.Store.group(h); s.sharing() {
			err = s.shareGroup(s.ctx, h, local)
		}
		if s.Remote != nil && (err != nil || !s.sharing()) {
			s.markDirty(remoteKey(h)) // written to the store when it answers
		}
	}
	for _, u := range req.URLs {
		if err := s.enqueue(u); err != nil {
			return err
		}
	}
	return nil
}

func (s *Service) validate(req Request) error {
	if len(req.URLs) == 0 {
		return fmt.Errorf("%w: no URL", ErrInvalidRequest)
	}
	for _, raw := range req.URLs {
		u, err := url.Parse(raw)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
			return fmt.Errorf("%w: %q is not an absolute http(s) URL without credentials", ErrInvalidRequest, raw)
		}
		// Literal addresses and ports are refused now rather than recorded
		// as failed checks; names are judged when connecting.
		if err := s.Checker.Fetcher.CheckURL(u); errors.Is(err, convert.ErrForbiddenAddress) {
			return fmt.Errorf("%w: %v", ErrForbidden, err)
		}
	}
	if req.Frequency != "" {
		if _, ok := Frequencies[req.Frequency]; !ok {
			return fmt.Errorf("%w: frequency must be hourly, daily or monthly", ErrInvalidRequest)
		}
		if req.Group == "" {
			return fmt.Errorf("%w: a frequency needs a group", ErrInvalidRequest)
		}
	}
	if req.CallbackURL != "" {
		u, err := url.Parse(req.CallbackURL)
		if err != nil {
			return fmt.Errorf("%w: callback_url is not a URL", ErrInvalidRequest)
		}
		if err := s.Checker.Fetcher.CheckURL(u); err != nil {
			if errors.Is(err, convert.ErrForbiddenAddress) {
				return fmt.Errorf("%w: %v", ErrForbidden, err)
			}
			return fmt.Errorf("%w: callback_url: %v", ErrInvalidRequest, err)
		}
	}
	return nil
}

// enqueue queues a check of rawURL unless one is pending (whose shared
// entry then gets the callbacks registered since).
func (s *Service) enqueue(rawURL string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if j := s.pending[rawURL]; j != nil {
		j.register = true
		return nil
	}
	s.inflight.Add(1)
	select {
	case s.queue <- rawURL:
		s.pending[rawURL] = &job{want: -1, register: true}
		return nil
	default:
		s.inflight.Done()
		return ErrQueueFull
	}
}

func (s *Service) work() {
	defer s.wg.Done()
	for {
		select {
		case <-s.ctx.Done():
			return
		case raw := <-s.queue:
			s.checkOne(raw)
		}
	}
}

// checkOne checks raw politely, stores the result and starts its webhooks;
// with a shared store, only if no other replica does.
func (s *Service) checkOne(raw string) {
	if s.sharing() && s.checkShared(raw) {
		return
	}
	defer s.finish(raw)
	r, checked, ok := s.checkPolitely(raw)
	if !ok {
		return
	}
	h := URLHash(raw)
	if err := s.Store.setResult(h, r, checked); err != nil {
		s.Log.Error("link check not stored", "url", raw, "error", err)
	}
	s.markDirty(remoteKey(h)) // with a store: it was unreachable
	e, _ := s.Store.url(h)
	s.notifyAll(h, e)
}

// checkPolitely checks raw when its host's turn comes; ok is false when the
// service stopped first.
func (s *Service) checkPolitely(raw string) (r Result, checked time.Time, ok bool) {
	release, err := s.acquireHost(hostOf(raw))
	if err != nil {
		return nil, time.Time{}, false
	}
	checked = s.now()
	r = s.Checker.Check(s.ctx, raw, checked)
	release()
	s.Log.Debug("link checked", "url", raw, "status", r["final-status-code"], "error", r["error"])
	return r, checked, true
}

// finish forgets the job of raw.
func (s *Service) finish(raw string) {
	s.mu.Lock()
	delete(s.pending, raw)
	s.mu.Unlock()
	s.inflight.Done()
}

// notifyAll posts the result of e to its callbacks.
func (s *Service) notifyAll(h string, e urlEntry) {
	for _, cb := range e.Callbacks {
		s.inflight.Add(1)
		go s.notify(cb, s.view(h, e))
	}
}

// checkShared runs the check of raw through the shared store. The replica
// that takes the URL's lease registers the request in the URL's shared
// entry, checks, writes the result and posts it to every callback
// registered on any replica. Another one registers the request and looks
// again later: a result written after its registration answers it (no
// second check, no second post); an expired lease is taken over. It
// returns false when the store turned out unreachable: the caller checks
// here alone.
func (s *Service) checkShared(raw string) bool {
	h := URLHash(raw)
	s.mu.Lock()
	j := s.pending[raw]
	first := j.want < 0
	s.mu.Unlock()
	if !first {
		// Looked at again: the holder of the lease may have answered it.
		if done, _, _, err := s.answered(h, raw, j, true); err != nil || done {
			return s.settle(raw, h, "", done, err)
		}
	}
	tag, holder, err := s.takeLease(s.ctx, h)
	if err != nil {
		return s.retryLater(raw, err)
	}
	// With the lease, this read is needed even without new callbacks: the
	// holder before may have answered between the look above and the lease.
	done, e, etag, err := s.answered(h, raw, j, tag != "")
	if err != nil || done {
		return s.settle(raw, h, tag, done, err)
	}
	if tag == "" {
		s.Log.Debug("link check: another replica checks it", "url", raw, "holder", holder)
		s.later(raw)
		return true
	}
	renewed, stop := make(chan string, 1), make(chan struct{})
	go s.renewLease(h, tag, stop, renewed)
	r, checked, ok := s.checkPolitely(raw)
	close(stop)
	tag = <-renewed
	if ok {
		s.shareResult(h, raw, r, checked, &e, etag)
	}
	s.releaseLease(context.WithoutCancel(s.ctx), h, tag)
	s.finish(raw)
	return true
}

// settle ends a look at raw's job that found it answered (done) or met a
// store error, giving up the lease of ETag tag if it was taken.
func (s *Service) settle(raw, h, tag string, done bool, err error) bool {
	if tag != "" {
		s.releaseLease(context.WithoutCancel(s.ctx), h, tag) // on shutdown too: the others need not wait for it to expire
	}
	if err != nil {
		return s.retryLater(raw, err)
	}
	if done {
		s.finish(raw)
	}
	return true
}

// shareResult writes r to the store (or here, when it cannot be reached)
// and posts it to the URL's callbacks. known is the shared entry as last
// read, with its ETag etag.
func (s *Service) shareResult(h, raw string, r Result, checked time.Time, known *sharedURL, etag string) {
	local, _ := s.Store.url(h)
	if local.URL == "" {
		local.URL = raw // a URL of a group read from the store
	}
	local.Result, local.Checked = r, checked
	e, err := s.writeResult(s.ctx, h, local, known, etag)
	if err != nil {
		// Keep it here; it is written to the store when it answers.
		s.Log.Warn("link check not shared: kept here", "url", raw, "error", err)
		if err := s.Store.setResult(h, r, checked); err != nil {
			s.Log.Error("link check not stored", "url", raw, "error", err)
		}
		s.markDirty(remoteKey(h))
		e.urlEntry, _ = s.Store.url(h)
		if e.URL == "" {
			e.URL = raw
		}
	}
	s.notifyAll(h, e.urlEntry)
}

// answered reads the shared entry of the URL with hash h, first merging
// into it the callbacks registered here since the last look (all of them
// on the first look), and reports whether it holds a result written after
// the request of j was registered. The entry read is kept here. It also
// returns the entry and its ETag. With nothing to merge and force unset it
// reads nothing: done is false and the entry zero.
func (s *Service) answered(h, raw string, j *job, force bool) (done bool, e sharedURL, etag string, err error) {
	s.mu.Lock()
	want, merge := j.want, j.register
	j.register = false
	s.mu.Unlock()
	if !merge && !force {
		return false, e, "", nil
	}
	if merge {
		e, etag, err = s.registerURL(s.ctx, h, raw)
	} else {
		e, etag, err = update(s.ctx, s, remoteKey(h), nil, "", func(*sharedURL) bool { return false })
	}
	if err != nil {
		if merge {
			s.mu.Lock()
			j.register = true
			s.mu.Unlock()
		}
		return false, e, "", err
	}
	// A request registered just now cannot be answered yet (the next result
	// answers the older ones too).
	done = !merge && want >= 0 && e.ResultSeq > want
	s.mu.Lock()
	if merge {
		j.want = max(j.want, e.Seq)
	}
	s.mu.Unlock()
	if !merge && etag != "" { // registerURL kept what it wrote
		s.keepURL(h, e, etag) // the latest there is
	}
	return done, e, etag, nil
}

// retryLater handles a store error met by checkShared: unreachable, the
// check runs here (false); a conflict, the job is looked at again later.
func (s *Service) retryLater(raw string, err error) bool {
	if s.StoreErr() != nil || s.ctx.Err() != nil {
		return false
	}
	s.Log.Debug("link check: store conflict, retrying", "url", raw, "error", err)
	s.later(raw)
	return true
}

// later queues raw again after a while, keeping its job: the holder of
// its lease writes a result or lets its lease expire.
func (s *Service) later(raw string) {
	time.AfterFunc(s.poll(), func() {
		select {
		case s.queue <- raw:
		case <-s.ctx.Done():
			s.finish(raw)
		}
	})
}

// acquireHost waits for a slot of host and for HostDelay after the last
// check of it began. The returned function frees the slot.
func (s *Service) acquireHost(host string) (func(), error) {
	s.mu.Lock()
	slot := s.hosts[host]
	if slot == nil {
		if len(s.hosts) >= maxHosts {
			s.pruneHosts(time.Now())
		}
		slot = &hostSlot{sem: make(chan struct{}, positiveInt(s.PerHost, DefaultPerHost))}
		s.hosts[host] = slot
	}
	s.mu.Unlock()
	select {
	case slot.sem <- struct{}{}:
	case <-s.ctx.Done():
		return nil, s.ctx.Err()
	}
	s.mu.Lock()
	start := time.Now()
	if slot.next.After(start) {
		start = slot.next
	}
	slot.next = start.Add(positive(s.HostDelay, DefaultHostDelay))
	s.mu.Unlock()
	if wait := time.Until(start); wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-s.ctx.Done():
			<-slot.sem
			return nil, s.ctx.Err()
		}
	}
	return func() { <-slot.sem }, nil
}

// maxHosts bounds the politeness map: past it, idle hosts are forgotten.
const maxHosts = 10000

// pruneHosts forgets the hosts with no check running whose delay is over;
// the caller holds s.mu.
func (s *Service) pruneHosts(now time.Time) {
	for h, slot := range s.hosts {
		if len(slot.sem) == 0 && now.After(slot.next) {
			delete(s.hosts, h)
		}
	}
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.ToLower(u.Host)
}

// notify posts r to callback as croquemort did ({"data": result}), trying
// WebhookTries times with a growing wait. Each attempt goes through the
// checker's guarded transport; redirects are not followed.
func (s *Service) notify(callback string, r Result) {
	defer s.inflight.Done()
	body, _ := json.Marshal(map[string]any{"data": r})
	delay := positive(s.WebhookDelay, DefaultWebhookDelay)
	backoff := s.WebhookBackoff
	if backoff <= 0 {
		backoff = DefaultWebhookBackoff
	}
	tries := positiveInt(s.WebhookTries, DefaultWebhookTries)
	var err error
	for attempt := 1; attempt <= tries; attempt++ {
		if err = s.post(callback, body); err == nil {
			return
		}
		if attempt == tries {
			break
		}
		t := time.NewTimer(delay)
		select {
		case <-t.C:
		case <-s.ctx.Done():
			t.Stop()
			return
		}
		delay = time.Duration(float64(delay) * backoff)
	}
	s.Log.Warn("webhook unreachable", "url", callback, "checked_url", r["checked-url"], "tries", tries, "error", err)
}

func (s *Service) post(callback string, body []byte) error {
	u, err := url.Parse(callback)
	if err != nil {
		return err
	}
	if err := s.Checker.Fetcher.CheckURL(u); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(s.ctx, positive(s.WebhookTimeout, DefaultWebhookTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, callback, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.Checker.Fetcher.Transport().RoundTrip(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// every runs fn every interval until the service stops.
func (s *Service) every(interval time.Duration, fn func()) {
	defer s.wg.Done()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-s.ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// recheckOnce runs Recheck, logging its error.
func (s *Service) recheckOnce() {
	if n, err := s.Recheck(); err != nil {
		s.Log.Error("link re-check", "queued", n, "error", err)
	}
}

// Recheck queues the URLs of every group whose frequency is due at the
// Service's clock and returns how many were queued. It returns a store
// error or ErrQueueFull.
func (s *Service) Recheck() (int, error) {
	if s.sharing() {
		return s.recheckShared()
	}
	groups, err := s.Store.due(s.now())
	for _, g := range groups {
		s.markDirty(remoteKey(GroupHash(g.Name)))
	}
	n := 0
	for _, g := range groups {
		for _, u := range sortedValues(g.URLs) {
			if qerr := s.enqueue(u); qerr != nil {
				return n, qerr
			}
			n++
		}
	}
	return n, err
}

// recheckShared queues the URLs of the groups due whose shared entry this
// replica stamps first; it reads the store's groups first.
func (s *Service) recheckShared() (int, error) {
	if err := s.pull(s.ctx, groupPrefix); err != nil {
		return 0, err
	}
	now := s.now()
	due := s.Store.dueGroups(now)
	n := 0
	for _, h := range sortedKeys(due) {
		g, won, err := s.claimRecheck(s.ctx, h, now)
		if err != nil {
			return n, err
		}
		if !won {
			continue // another replica re-checks it
		}
		for _, u := range sortedValues(g.URLs) {
			if qerr := s.enqueue(u); qerr != nil {
				return n, qerr
			}
			n++
		}
	}
	return n, nil
}

// URL returns the last result of the URL with hash h, with its group and
// frequency; ok is false for an unknown hash. A URL not checked yet has
// only checked-url and url-hash. With a shared store, the store's entry is
// read first (a conditional GET, at most once per ReadInterval).
func (s *Service) URL(h string) (Result, bool) {
	s.refresh(s.ctx, h)
	e, ok := s.Store.url(h)
	if !ok {
		return nil, false
	}
	return s.view(h, e), true
}

func (s *Service) view(h string, e urlEntry) Result {
	r := Result{}
	for k, v := range e.Result {
		r[k] = v
	}
	r["checked-url"] = e.URL
	r["url-hash"] = h
	return r
}

// Group returns the name of the group with hash h and the results of its
// URLs (sorted by URL); ok is false for an unknown hash.
//
// With a shared store, the group's entry is read from it first; the results
// of its URLs are those read from it at the last sync (SyncInterval).
func (s *Service) Group(h string) (name string, results []Result, ok bool) {
	s.refresh(s.ctx, h)
	g, ok := s.Store.group(h)
	if !ok {
		return "", nil, false
	}
	for _, u := range sortedValues(g.URLs) {
		uh := URLHash(u)
		e, _ := s.Store.url(uh)
		if e.URL == "" {
			e.URL = u
		}
		r := s.view(uh, e)
		r["group"] = h
		if g.Frequency != "" {
			r["frequency"] = g.Frequency
		}
		results = append(results, r)
	}
	return g.Name, results, true
}

// sortedValues returns the values of m, sorted.
func sortedValues(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	sort.Strings(out)
	return out
}

func positiveInt(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}
