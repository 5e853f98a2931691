package server

import (
	"context"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/query"
)

// Bounds of the profiles kept for unfiltered requests.
const (
	// maxProfileBytes bounds the memory of the profiles kept in memory
	// (their JSON, counted twice for the decoded copy beside it); past it
	// others are dropped, and read again from their sidecar when asked for.
	maxProfileBytes = 64 << 20
	// maxQueuedProfiles bounds the versions waiting for their background
	// profile; past it new ones are not queued (their first request
	// computes the profile).
	maxQueuedProfiles = 1000
	// idlePoll is how often a background profile looks for an idle
	// server.
	idlePoll = 100 * time.Millisecond
)

// profileMemo keeps the profile of all the rows of each resource version
// (a version never changes): /profile without filters, /apify's
// analysis=yes and api-tabular's profile/ answer from it. Each is
// computed once however many requests ask at once (profileCall), and
// forgotten when its version is retired.
type profileMemo struct {
	mu    sync.Mutex
	calls map[string]*profileCall // by infoKey
	bytes int                     // of the finished calls, see size
	// computed counts the profiles computed with query.Profile (not read
	// from a sidecar), for tests.
	computed atomic.Int64
}

// profileCall is one version's profile: being computed until done is
// closed, then its outcome.
type profileCall struct {
	done chan struct{}
	// urgent is closed when a request waits for the profile: a background
	// computation stops waiting for an idle server and takes a query slot
	// as requests do.
	urgent     chan struct{}
	urgentOnce sync.Once

	// Set before done is closed.
	tp   *query.TableProfile
	json []byte // tp marshalled
	err  error
}

func newProfileMemo() *profileMemo {
	return &profileMemo{calls: map[string]*profileCall{}}
}

// size is what a finished call costs in memory, roughly.
func (pc *profileCall) size() int { return 2 * len(pc.json) }

// hurry tells a background computation that a request waits.
func (pc *profileCall) hurry() { pc.urgentOnce.Do(func() { close(pc.urgent) }) }

// wait returns the call's outcome, or ctx's error first.
func (pc *profileCall) wait(ctx context.Context) (*profileCall, error) {
	select {
	case <-pc.done:
		return pc, pc.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// join returns key's call, and whether the caller must compute it (the
// call is new).
func (m *profileMemo) join(key string) (*profileCall, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pc := m.calls[key]; pc != nil {
		return pc, false
	}
	pc := &profileCall{done: make(chan struct{}), urgent: make(chan struct{})}
	m.calls[key] = pc
	return pc, true
}

// finish records pc's outcome and wakes its waiters. A failed call is
// forgotten, so that the next request tries again; a successful one is
// kept (unless its version was retired meanwhile) and other profiles are
// dropped while the kept ones pass maxProfileBytes.
func (m *profileMemo) finish(key string, pc *profileCall, tp *query.TableProfile, b []byte, err error) {
	m.mu.Lock()
	pc.tp, pc.json, pc.err = tp, b, err
	if m.calls[key] == pc {
		if err != nil {
			delete(m.calls, key)
		} else {
			m.bytes += pc.size()
			m.shrink(pc)
		}
	}
	m.mu.Unlock()
	close(pc.done)
}

// shrink drops finished profiles other than keep until the memo fits
// maxProfileBytes: any of them, as they come (each is on disk). Called
// with m.mu held.
func (m *profileMemo) shrink(keep *profileCall) {
	for key, pc := range m.calls {
		if m.bytes <= maxProfileBytes {
			return
		}
		if pc == keep || pc.json == nil {
			continue
		}
		delete(m.calls, key)
		m.bytes -= pc.size()
	}
}

// forget drops key's profile; a computation running for it finishes for
// its waiters but is not kept.
func (m *profileMemo) forget(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if pc := m.calls[key]; pc != nil {
		delete(m.calls, key)
		m.bytes -= pc.size()
	}
}

// unfiltered reports whether r profiles every row and every column: the
// profile that is computed once per version.
func unfiltered(r query.Request) bool {
	return len(r.Filters) == 0 && len(r.Where) == 0 && r.Search == "" && len(r.Columns) == 0 && len(r.Omit) == 0
}

// fullProfile returns the profile of every row of e's version, with its
// JSON: kept in memory, else read from the version's sidecar, else
// computed once however many requests ask at once. The computation runs
// on the server's context with the query timeout, not on ctx, so that a
// client that hangs up does not cancel it for the others; a failed one is
// not kept, and the next request tries again. ctx bounds the wait. The
// errors are those of query.Profile and of the query slots (busy).
func (s *Server) fullProfile(ctx context.Context, e *cache.Entry) (*profileCall, error) {
	for {
		pc, compute := s.profiles.join(infoKey(e))
		if compute {
			go s.computeProfile(e.Retain(), pc, nil, false)
		}
		pc.hurry()
		done, err := pc.wait(ctx)
		if !errors.Is(err, errPreempted) && !errors.Is(err, errStopped) {
			return done, err
		}
		// A background computation gave its slot up, or was stopped, as
		// this request joined it: compute it for the request, which holds
		// its version.
	}
}

// Errors that end a background profile: errPreempted when it gave its
// query slot to a request (requests waiting for it compute it themselves;
// it is queued again), errStopped when its resource was purged or its
// version retired.
var (
	errPreempted = errors.New("background profile preempted")
	errStopped   = errors.New("background profile stopped")
)

// computeProfile finds the profile of pc's version and records it; it
// releases e. slot is the release of the query slot the caller holds for
// it, nil when it is to take one. A background computation gives its
// slot up when a request needs one (errPreempted).
func (s *Server) computeProfile(e *cache.Entry, pc *profileCall, slot func(), background bool) (err error) {
	var tp *query.TableProfile
	var b []byte
	key := infoKey(e)
	// The waiters are woken once e is released: a purge that follows
	// deletes the files at once.
	defer func() { s.profiles.finish(key, pc, tp, b, err) }()
	defer e.Release()
	if saved, j, ok := s.savedProfile(e); ok {
		if slot != nil {
			slot()
		}
		tp, b = saved, j
		return nil
	}
	// The query timeout counts from here, as an idle wait is not the
	// query's.
	ctx, cancel := context.WithTimeout(s.base, s.cfg.QueryTimeout)
	defer cancel()
	release := slot
	if release == nil {
		if release, err = s.querySlot(ctx); err != nil {
			return err
		}
	}
	start := time.Now()
	t := s.table(e)
	t.Busy = len(s.queries) > 1 // this profile holds one of the slots
	if background {
		var done func() error
		ctx, done = s.background.start(ctx)
		defer func() {
			if stopped := done(); stopped != nil && err != nil {
				err = stopped
			}
		}()
		if s.backgroundHook != nil {
			s.backgroundHook(ctx)
		}
	}
	tp, err = query.Profile(ctx, s.database(), t, query.Request{})
	release()
	if err != nil {
		tp = nil
		return err
	}
	took := time.Since(start)
	trigger := "request"
	if background {
		trigger = "background"
	}
	s.metrics.profiles.WithLabelValues(trigger).Observe(took.Seconds())
	b = appendJSON(nil, tp)
	s.log.Info("profiled", "id", e.ID, "version", e.Version, "rows", tp.Rows, "columns", len(tp.Columns),
		"duration", took, "trigger", trigger)
	if err := e.SaveProfile(b); err != nil {
		s.log.Warn("profile not saved", "id", e.ID, "err", err)
	}
	s.profiles.computed.Add(1) // last: a test that sees it sees the sidecar and the metric
	return nil
}

// savedProfile reads the profile kept beside e's version. A sidecar that
// cannot be read, or is not a profile of this table, is ignored (the
// profile is computed again and saved over it).
func (s *Server) savedProfile(e *cache.Entry) (*query.TableProfile, []byte, bool) {
	b, err := e.ReadProfile()
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			s.log.Warn("profile sidecar ignored", "id", e.ID, "err", err)
		}
		return nil, nil, false
	}
	tp, err := query.DecodeProfile(b, s.table(e))
	if err != nil || !sameColumns(tp, e) {
		s.log.Warn("profile sidecar ignored", "id", e.ID, "err", "not a profile of this table")
		return nil, nil, false
	}
	return tp, b, true
}

// sameColumns reports whether tp profiles the columns of e, in order.
func sameColumns(tp *query.TableProfile, e *cache.Entry) bool {
	if len(tp.Columns) != len(e.Meta.Columns) {
		return false
	}
	for i, c := range e.Meta.Columns {
		if tp.Columns[i].Name != c.Name {
			return false
		}
	}
	return true
}

// idleSlot waits until no query runs, then takes a query slot, so that a
// background profile never makes a request wait for a slot. It returns a
// nil release when a request starts waiting for the profile first (the
// caller then takes a slot as requests do), and the server's context
// error at shutdown.
func (s *Server) idleSlot(pc *profileCall) (func(), error) {
	t := time.NewTicker(idlePoll)
	defer t.Stop()
	for {
		if len(s.queries) == 0 {
			select {
			case s.queries <- struct{}{}:
				return func() { <-s.queries }, nil
			default:
			}
		}
		select {
		case <-s.base.Done():
			return nil, s.base.Err()
		case <-pc.urgent:
			return nil, nil
		case <-t.C:
		}
	}
}

// profileQueue holds the versions whose profile is to be computed in the
// background, in load order.
type profileQueue struct {
	mu    sync.Mutex
	items []queuedProfile
	wake  chan struct{} // a token when items were added
}

type queuedProfile struct{ id, version string }

func newProfileQueue() *profileQueue { return &profileQueue{wake: make(chan struct{}, 1)} }

// add queues a version; it is dropped when the queue is full.
func (q *profileQueue) add(id, version string) {
	q.mu.Lock()
	if len(q.items) < maxQueuedProfiles {
		q.items = append(q.items, queuedProfile{id, version})
	}
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// next waits for a queued version; false when ctx is done.
func (q *profileQueue) next(ctx context.Context) (queuedProfile, bool) {
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			it := q.items[0]
			q.items = q.items[1:]
			q.mu.Unlock()
			return it, true
		}
		q.mu.Unlock()
		select {
		case <-q.wake:
		case <-ctx.Done():
			return queuedProfile{}, false
		}
	}
}

// profileWorker computes the queued profiles, one at a time, until the
// server shuts down.
func (s *Server) profileWorker() {
	defer close(s.workerDone)
	for {
		it, ok := s.profileQueue.next(s.base)
		if !ok {
			return
		}
		pc, compute := s.profiles.join(versionKey(it.id, it.version))
		if !compute {
			pc.wait(s.base) // a request computes it: wait, to stay one at a time
			continue
		}
		if errors.Is(s.profileInBackground(it, pc), errPreempted) {
			s.profileQueue.add(it.id, it.version) // later, when the server is idle again
		}
	}
}

// profileInBackground computes the profile of it, once the server is idle
// (idleSlot). The version is pinned only then, so that the wait keeps no
// file from deletion. It returns computeProfile's error, or ErrNotFound
// when the version is no longer served.
func (s *Server) profileInBackground(it queuedProfile, pc *profileCall) error {
	key := versionKey(it.id, it.version)
	slot, err := s.idleSlot(pc)
	if err != nil {
		s.profiles.finish(key, pc, nil, nil, err)
		return err
	}
	e, err := s.cache.AcquireVersion(s.base, it.id, it.version)
	if err != nil {
		if slot != nil {
			slot()
		}
		s.profiles.finish(key, pc, nil, nil, err)
		return err
	}
	defer s.background.run(it.id, pc)()
	return s.computeProfile(e, pc, slot, true)
}

// backgroundProfile is the background profile running, if any, so that a
// request needing its query slot, or the purge of its resource, can stop
// it.
type backgroundProfile struct {
	mu       sync.Mutex
	id       string        // of the resource profiled, "" when none runs
	pc       *profileCall  // its call
	released chan struct{} // closed once it ended and released its entry
	cancel   context.CancelFunc
	stopped  error // why it was stopped (errPreempted, errStopped): cancelled, or to be as its statements start
	// count counts the preemptions by requests, for tests.
	count atomic.Int64
}

// run registers the background profile of id; call the returned function
// once it ended and released its entry.
func (bp *backgroundProfile) run(id string, pc *profileCall) func() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	released := make(chan struct{})
	bp.id, bp.pc, bp.released, bp.stopped = id, pc, released, nil
	return func() {
		bp.mu.Lock()
		defer bp.mu.Unlock()
		bp.id, bp.pc, bp.released, bp.cancel = "", nil, nil, nil
		close(released)
	}
}

// start gives the background profile's statements their context, ctx made
// cancellable by stop; the returned function, called when they end,
// returns why they were stopped, if they were.
func (bp *backgroundProfile) start(ctx context.Context) (context.Context, func() error) {
	ctx, cancel := context.WithCancel(ctx)
	bp.mu.Lock()
	bp.cancel = cancel
	if bp.stopped != nil {
		cancel()
	}
	bp.mu.Unlock()
	return ctx, func() error {
		bp.mu.Lock()
		defer bp.mu.Unlock()
		bp.cancel = nil
		cancel()
		return bp.stopped
	}
}

// preempt stops the background profile running, unless a request waits
// for it (it is then that request's query).
func (bp *backgroundProfile) preempt() {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if bp.id == "" || bp.stopped != nil {
		return
	}
	select {
	case <-bp.pc.urgent:
		return
	default:
	}
	bp.count.Add(1)
	bp.stopLocked(errPreempted)
}

// stop stops the background profile of id, if it runs, and returns a
// channel closed once it has released its entry (nil when none runs).
func (bp *backgroundProfile) stop(id string) <-chan struct{} {
	bp.mu.Lock()
	defer bp.mu.Unlock()
	if bp.id != id {
		return nil
	}
	bp.stopLocked(errStopped)
	return bp.released
}

func (bp *backgroundProfile) stopLocked(why error) {
	if bp.stopped == nil {
		bp.stopped = why
	}
	if bp.cancel != nil {
		bp.cancel()
	}
}

// stopBackground stops the background profile of id and waits (at most
// the query timeout) until it has released its version, so that a purge
// deletes the files at once.
func (s *Server) stopBackground(id string) {
	if released := s.background.stop(id); released != nil {
		select {
		case <-released:
		case <-time.After(s.cfg.QueryTimeout):
		}
	}
}

// forgetVersion drops what is kept in memory for a retired version: its
// profile and its rendered infos. Called by the cache with its lock held.
func (s *Server) forgetVersion(id, version string) {
	key := versionKey(id, version)
	s.profiles.forget(key)
	s.infos.forget(key)
	s.background.stop(id) // no use any more; its file goes when it ends
}
