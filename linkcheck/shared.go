package linkcheck

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/csvapi/csvapi/store"
)

// Defaults of the knobs of a Service that shares a Remote.
const (
	DefaultLeaseTTL     = 30 * time.Second
	DefaultSyncInterval = 10 * time.Second
	DefaultReadInterval = time.Second
	remoteTimeout       = 10 * time.Second // of one small request to the store
	casTries            = 10               // conditional writes lost in a row before giving up
)

// Remote is the object store that replicas share (a *store.S3). Its
// methods return store.ErrNotFound, store.ErrPrecondition and
// store.ErrNotModified as documented there, and other errors when the
// store cannot be reached.
//
// Layout under the store's prefix, beside the cache's <id>/ folders:
//
//	checks/url/<8 hex>.json     a URL: its last result, its callbacks
//	checks/group/<8 hex>.json   a group: name, frequency, URLs, last queued
//	checks/lease/<8 hex>.json   who checks a URL now, until when
type Remote interface {
	Get(ctx context.Context, key, etag string) ([]byte, string, error)
	Create(ctx context.Context, key string, body []byte) (string, error)
	Replace(ctx context.Context, key string, body []byte, etag string) (string, error)
	Delete(ctx context.Context, key string) error
	List(ctx context.Context, prefix string) ([]store.Object, error)
	Check(ctx context.Context) error
}

var _ Remote = (*store.S3)(nil)

const (
	urlPrefix   = "checks/url/"
	groupPrefix = "checks/group/"
	leasePrefix = "checks/lease/"
)

// sharedURL is checks/url/<hash>.json. Seq counts its writes: a request
// registered at Seq n is answered by a result written after it
// (ResultSeq > n), whichever replica checked.
type sharedURL struct {
	urlEntry
	Seq       int64  `json:"seq"`
	ResultSeq int64  `json:"result_seq,omitempty"`
	Replica   string `json:"replica,omitempty"` // that checked it last
}

// sharedState is what a Service knows of the Remote.
type sharedState struct {
	err atomic.Pointer[error] // last failure to reach the store; nil when it answers

	mu   sync.Mutex
	tags map[string]string    // key → ETag of the copy in the local Store
	read map[string]time.Time // key → when refresh last read it
	// dirty holds the keys changed here while the store was unreachable,
	// to write to it when it answers again.
	dirty map[string]bool
	// unshared holds, by key, the callbacks Submit added here that no
	// write to the store has carried yet: a read of the store replacing
	// the local copy keeps them (a sync between a request and its check's
	// first look lost them before).
	unshared map[string][]string
}

var hashRE = regexp.MustCompile(`^[ug]:[0-9a-f]{8}$`)

// remoteKey returns the key of the object of hash h (u:… or g:…), or "" for
// a malformed hash (hashes come from request paths).
func remoteKey(h string) string {
	if !hashRE.MatchString(h) {
		return ""
	}
	if h[0] == 'u' {
		return urlPrefix + h[2:] + ".json"
	}
	return groupPrefix + h[2:] + ".json"
}

func leaseKey(h string) string { return leasePrefix + h[2:] + ".json" }

// hashOfKey is the inverse of remoteKey.
func hashOfKey(key string) string {
	name := strings.TrimSuffix(key[strings.LastIndexByte(key, '/')+1:], ".json")
	if strings.HasPrefix(key, groupPrefix) {
		return "g:" + name
	}
	return "u:" + name
}

// sharing reports whether checks go through the shared store now: there
// is one and it answered the last time it was tried.
func (s *Service) sharing() bool { return s.Remote != nil && s.StoreErr() == nil }

// StoreErr returns why the shared store could not be reached the last time
// it was tried, or nil when it answers (or when there is none). Checks run
// here alone meanwhile, and their results are written to the store when it
// answers again.
func (s *Service) StoreErr() error {
	if p := s.shared.err.Load(); p != nil {
		return *p
	}
	return nil
}

// observe records whether err shows the store unreachable; it returns err.
func (s *Service) observe(err error) error {
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrPrecondition),
		errors.Is(err, store.ErrNotModified):
		if s.shared.err.Swap(nil) != nil {
			s.Log.Info("link checks: the store answers again")
		}
	case errors.Is(err, context.Canceled):
	default:
		if s.shared.err.Swap(&err) == nil {
			s.Log.Warn("link checks: the store is unreachable: checking here alone", "err", err)
		}
	}
	return err
}

func (s *Service) replica() string {
	if s.Replica != "" {
		return s.Replica
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

func (s *Service) leaseTTL() time.Duration { return positive(s.LeaseTTL, DefaultLeaseTTL) }

// poll is how long a check waits before looking again at a lease held by
// another replica. Nobody waits for the answer (the holder posts the
// webhooks and any replica reads its result), so it is long: half a lease,
// which keeps the store's load low when many URLs wait.
func (s *Service) poll() time.Duration {
	return max(s.leaseTTL()/2, 20*time.Millisecond)
}

// update applies change to the JSON object at key (zero when absent) and
// writes it back conditionally, again on a lost race; change reports
// whether it changed anything (nothing is written otherwise). When known is
// set, it is taken for the object (with ETag knownTag, "" for absent)
// instead of a first read: a stale one costs a lost write and a read. It
// returns the object as stored and its ETag, and the store's error.
func update[T any](ctx context.Context, s *Service, key string, known *T, knownTag string, change func(*T) bool) (T, string, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	var v T
	for range casTries {
		var tag string
		if known != nil {
			v, tag, known = *known, knownTag, nil
		} else {
			v = *new(T)
			var b []byte
			var err error
			b, tag, err = s.Remote.Get(ctx, key, "")
			switch {
			case errors.Is(s.observe(err), store.ErrNotFound):
				tag = ""
			case err != nil:
				return v, "", err
			default:
				if json.Unmarshal(b, &v) != nil {
					v = *new(T) // broken: replaced by the write below
				}
			}
		}
		if !change(&v) {
			return v, tag, nil
		}
		body, _ := json.Marshal(v)
		var err error
		if tag == "" {
			tag, err = s.Remote.Create(ctx, key, body)
		} else {
			tag, err = s.Remote.Replace(ctx, key, body, tag)
		}
		if errors.Is(s.observe(err), store.ErrPrecondition) || errors.Is(err, store.ErrNotFound) {
			continue // another replica wrote first: apply change to its version
		}
		return v, tag, err
	}
	return v, "", fmt.Errorf("%s: %w: %d conditional writes lost", key, store.ErrPrecondition, casTries)
}

// remember records that the local copy of key is the object with ETag tag
// (refresh and sync then skip it while it has that ETag).
func (s *Service) remember(key, tag string) {
	s.shared.mu.Lock()
	s.shared.tags[key] = tag
	s.shared.mu.Unlock()
}

// keepURL makes e, the shared entry of the URL with hash h with ETag tag,
// the local copy, unless the local copy has changes to write to the store.
func (s *Service) keepURL(h string, e sharedURL, tag string) {
	if s.isDirty(remoteKey(h)) {
		return
	}
	if cbs := s.unsharedCallbacks(remoteKey(h)); len(cbs) > 0 {
		e.Callbacks = slices.Clone(e.Callbacks) // not the caller's array
		e.addCallbacks(cbs)
	}
	if err := s.Store.setURL(h, e.urlEntry); err != nil {
		s.Log.Warn("link checks: shared entry not kept", "url_hash", h, "err", err)
		return
	}
	s.remember(remoteKey(h), tag)
}

// keepGroup makes g, the shared entry of the group with hash h with ETag
// tag, the local copy, unless the local copy has changes to write to the
// store.
func (s *Service) keepGroup(h string, g groupEntry, tag string) {
	if g.URLs == nil || s.isDirty(remoteKey(h)) {
		return // not in the store, or to be merged into it
	}
	if err := s.Store.setGroup(h, g); err != nil {
		s.Log.Warn("link checks: shared entry not kept", "group_hash", h, "err", err)
		return
	}
	s.remember(remoteKey(h), tag)
}

// addUnshared records callback, just added to the local copy of key, as
// not yet in the store.
func (s *Service) addUnshared(key, callback string) {
	if s.Remote == nil || key == "" || callback == "" {
		return
	}
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	if cbs := s.shared.unshared[key]; !contains(cbs, callback) {
		s.shared.unshared[key] = keepLatest(append(cbs, callback))
	}
}

// unsharedCallbacks returns the callbacks of key not yet in the store.
func (s *Service) unsharedCallbacks(key string) []string {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	return slices.Clone(s.shared.unshared[key])
}

// sharedCallbacks forgets, as unshared, the callbacks of key that a write to the
// store carried (others may have been added since it read them).
func (s *Service) sharedCallbacks(key string, written []string) {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	left := slices.DeleteFunc(s.shared.unshared[key], func(cb string) bool { return contains(written, cb) })
	if len(left) == 0 {
		delete(s.shared.unshared, key)
	} else {
		s.shared.unshared[key] = left
	}
}

func (s *Service) isDirty(key string) bool {
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	return s.shared.dirty[key]
}

// markDirty records that key changed here while the store was unreachable.
func (s *Service) markDirty(key string) {
	if s.Remote == nil || key == "" {
		return
	}
	s.shared.mu.Lock()
	s.shared.dirty[key] = true
	s.shared.mu.Unlock()
}

// registerURL merges the callbacks this replica knows for the URL with
// hash h into its shared entry (creating it) and returns the entry and its
// ETag.
func (s *Service) registerURL(ctx context.Context, h, raw string) (sharedURL, string, error) {
	local, _ := s.Store.url(h)
	e, tag, err := update(ctx, s, remoteKey(h), nil, "", func(e *sharedURL) bool {
		changed := e.Seq == 0
		if e.URL == "" {
			e.URL = raw
		}
		if e.addCallbacks(local.Callbacks) {
			changed = true
		}
		if changed {
			e.Seq++
		}
		return changed
	})
	if err == nil {
		s.sharedCallbacks(remoteKey(h), local.Callbacks)
		s.keepURL(h, e, tag)
	}
	return e, tag, err
}

// writeResult merges local, this replica's entry of the URL with hash h
// (its callbacks, and its result when it was checked after the shared
// one's), into the shared entry, and returns that entry (with every
// callback registered by any replica). known, when set, is the shared entry
// as last read, with its ETag tag.
func (s *Service) writeResult(ctx context.Context, h string, local urlEntry, known *sharedURL, tag string) (sharedURL, error) {
	e, tag, err := update(ctx, s, remoteKey(h), known, tag, func(e *sharedURL) bool {
		if e.URL == "" {
			e.URL = local.URL
		}
		e.addCallbacks(local.Callbacks)
		e.Seq++
		if local.Result != nil && local.Checked.After(e.Checked) {
			res := maps.Clone(local.Result)
			carrySince(e.Result, res)
			e.Result, e.Checked, e.ResultSeq, e.Replica = res, local.Checked, e.Seq, s.replica()
		}
		return true
	})
	if err == nil {
		s.sharedCallbacks(remoteKey(h), local.Callbacks)
		s.keepURL(h, e, tag)
	}
	return e, err
}

// shareGroup merges local, the local entry of the group with hash h, into
// the shared one (URLs, frequency, last queued) and keeps the merge here.
func (s *Service) shareGroup(ctx context.Context, h string, local groupEntry) error {
	g, tag, err := update(ctx, s, remoteKey(h), nil, "", func(g *groupEntry) bool {
		changed := g.URLs == nil
		if g.URLs == nil {
			g.Name, g.URLs = local.Name, map[string]string{}
		}
		for k, u := range local.URLs {
			if _, ok := g.URLs[k]; !ok {
				g.URLs[k] = u
				changed = true
			}
		}
		if local.Frequency != "" && local.Frequency != g.Frequency {
			g.Frequency, changed = local.Frequency, true
		}
		if local.Checked.After(g.Checked) {
			g.Checked, changed = local.Checked, true
		}
		return changed
	})
	if err == nil {
		s.keepGroup(h, g, tag)
	}
	return err
}

// claimRecheck stamps the shared group with hash h as queued at now if it
// is still due there, and reports whether this replica did: of replicas
// that find a group due, one wins the conditional write and re-checks it.
func (s *Service) claimRecheck(ctx context.Context, h string, now time.Time) (groupEntry, bool, error) {
	won := false
	g, tag, err := update(ctx, s, remoteKey(h), nil, "", func(g *groupEntry) bool {
		won = g.URLs != nil && g.isDue(now)
		if won {
			g.Checked = now
		}
		return won
	})
	if err == nil {
		s.keepGroup(h, g, tag)
	}
	return g, won && err == nil, err
}

// leases are the link checks' leases in the store.
func (s *Service) leases() *store.Leases {
	return &store.Leases{Objects: s.Remote, Holder: s.replica(), TTL: s.leaseTTL(), Timeout: remoteTimeout,
		Now: s.now, Observe: s.observe}
}

// takeLease creates the lease of the URL with hash h, or takes over an
// expired one. It returns the lease's ETag when this replica holds it, else
// the holder's name.
func (s *Service) takeLease(ctx context.Context, h string) (tag, holder string, err error) {
	t, err := s.leases().Take(ctx, leaseKey(h))
	if t.From != "" { // set only with Tag
		s.Log.Info("link check: took over an expired lease", "url_hash", h, "holder", t.From)
	}
	return t.Tag, t.Holder, err
}

// renewLease extends the lease every third of LeaseTTL until stop is
// closed, then sends its last ETag on renewed.
func (s *Service) renewLease(h, tag string, stop <-chan struct{}, renewed chan<- string) {
	s.leases().Renew(s.ctx, leaseKey(h), tag, stop, renewed, func() {
		s.Log.Warn("link check: lease lost to another replica", "url_hash", h)
	})
}

// releaseLease deletes the lease if it is still this replica's.
func (s *Service) releaseLease(ctx context.Context, h, tag string) {
	s.leases().Release(ctx, leaseKey(h), tag)
}

// refresh reads the shared object of hash h into the local Store when it
// changed (a conditional GET), at most once per ReadInterval (a status
// page polled by many clients costs the store little); local changes not
// yet written to the store are kept. Errors leave the local copy as it is.
func (s *Service) refresh(ctx context.Context, h string) {
	key := remoteKey(h)
	if !s.sharing() || key == "" || s.ctx == nil { // not started: local only
		return
	}
	s.shared.mu.Lock()
	tag, dirty, last := s.shared.tags[key], s.shared.dirty[key], s.shared.read[key]
	recent := time.Since(last) < positive(s.ReadInterval, DefaultReadInterval)
	if !dirty && !recent {
		s.shared.read[key] = time.Now()
	}
	s.shared.mu.Unlock()
	if dirty || recent {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	b, tag, err := s.Remote.Get(ctx, key, tag)
	if s.observe(err) != nil {
		return
	}
	s.keep(key, b, tag)
}

// keep stores b, the object at key with ETag tag, in the local Store.
func (s *Service) keep(key string, b []byte, tag string) {
	h := hashOfKey(key)
	if h[0] == 'u' {
		var e sharedURL
		if err := json.Unmarshal(b, &e); err == nil {
			s.keepURL(h, e, tag)
		}
		return
	}
	var g groupEntry
	if err := json.Unmarshal(b, &g); err == nil {
		s.keepGroup(h, g, tag)
	}
}

// sync writes to the store what changed here while it was unreachable,
// then reads every URL and group that changed in it into the local Store
// (a listing, and a GET per changed object). It returns the store's error.
func (s *Service) sync(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	err := s.observe(s.Remote.Check(cctx))
	cancel()
	if err != nil {
		return err
	}
	if err := s.pushDirty(ctx); err != nil {
		return err
	}
	for _, prefix := range []string{groupPrefix, urlPrefix} {
		if err := s.pull(ctx, prefix); err != nil {
			return err
		}
	}
	return nil
}

// pushDirty writes the local entries changed while the store was
// unreachable into the shared ones, merged.
func (s *Service) pushDirty(ctx context.Context) error {
	s.shared.mu.Lock()
	keys := sortedKeys(s.shared.dirty)
	s.shared.mu.Unlock()
	for _, key := range keys {
		// Read the local entry while it is dirty (not replaced by a read of
		// the store), then mark it clean so that the merge written is kept.
		h := hashOfKey(key)
		e, eok := s.Store.url(h)
		g, gok := s.Store.group(h)
		s.shared.mu.Lock()
		delete(s.shared.dirty, key)
		s.shared.mu.Unlock()
		var err error
		switch {
		case h[0] == 'u' && eok:
			_, err = s.writeResult(ctx, h, e, nil, "")
		case h[0] == 'g' && gok:
			err = s.shareGroup(ctx, h, g)
		}
		if err != nil {
			s.markDirty(key)
			return err
		}
	}
	return nil
}

// defaultPullParallel is how many objects pull reads at once.
const defaultPullParallel = 8

// pull reads the objects under prefix whose ETag differs from the local
// copy's, a few at once (after another replica checked a long list, most
// changed).
func (s *Service) pull(ctx context.Context, prefix string) error {
	lctx, cancel := context.WithTimeout(ctx, 3*remoteTimeout)
	objs, err := s.Remote.List(lctx, prefix)
	cancel()
	if s.observe(err) != nil {
		return err
	}
	var (
		wg    sync.WaitGroup
		sem   = make(chan struct{}, positiveInt(s.pullParallel, defaultPullParallel))
		mu    sync.Mutex
		first error
	)
	for _, o := range objs {
		if s.StoreErr() != nil || ctx.Err() != nil {
			break // down meanwhile: the next sync goes on
		}
		if !strings.HasSuffix(o.Key, ".json") || remoteKey(hashOfKey(o.Key)) != o.Key {
			continue
		}
		s.shared.mu.Lock()
		same := s.shared.tags[o.Key] == o.ETag || s.shared.dirty[o.Key]
		s.shared.mu.Unlock()
		if same {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func(key string) {
			defer func() { <-sem; wg.Done() }()
			gctx, cancel := context.WithTimeout(ctx, remoteTimeout)
			b, tag, err := s.Remote.Get(gctx, key, "")
			cancel()
			switch {
			case errors.Is(s.observe(err), store.ErrNotFound):
			case err != nil:
				mu.Lock()
				first = cmp.Or(first, err)
				mu.Unlock()
			default:
				s.keep(key, b, tag)
			}
		}(o.Key)
	}
	wg.Wait()
	return first
}

// syncOnce runs sync, logging its error, and forgets old read times.
func (s *Service) syncOnce() {
	if err := s.sync(s.ctx); err != nil && s.ctx.Err() == nil {
		s.Log.Debug("link checks: sync with the store", "err", err)
	}
	s.forgetReads()
}

// forgetReads drops the read times older than ReadInterval, which refresh
// no longer looks at: a GET of any well-formed hash adds one, so they
// would otherwise grow for the life of the process.
func (s *Service) forgetReads() {
	limit := positive(s.ReadInterval, DefaultReadInterval)
	s.shared.mu.Lock()
	defer s.shared.mu.Unlock()
	for key, at := range s.shared.read {
		if time.Since(at) >= limit {
			delete(s.shared.read, key)
		}
	}
}

// addCallbacks adds the callbacks of cbs that e lacks, keeping the latest
// MaxCallbacks, and reports whether it added any.
func (e *sharedURL) addCallbacks(cbs []string) bool {
	added := false
	for _, cb := range cbs {
		if !contains(e.Callbacks, cb) {
			e.Callbacks = keepLatest(append(e.Callbacks, cb))
			added = true
		}
	}
	return added
}

// keepLatest keeps the latest MaxCallbacks callbacks: anyone may add a
// callback to a URL, so one check must not fan out into many posts.
func keepLatest(cbs []string) []string {
	if len(cbs) > MaxCallbacks {
		return cbs[len(cbs)-MaxCallbacks:]
	}
	return cbs
}
