// Package cache maps resource ids to loaded, queryable DuckDB tables.
//
// Each resource version is one DuckDB database file <Dir>/<id>-<version>.duckdb
// built by convert.Load under a temporary name and renamed into place when
// complete, with a JSON sidecar <id>-<version>.json that lets a restart find
// every entry without opening the files. Versions are ATTACHed read-only to
// the process-wide DuckDB instance on first use, and detached again when the
// number of attached files passes MaxAttached.
//
// The cache is bounded (MaxBytes, MaxEntries: least recently used entries are
// evicted, never one in use), fresh (after TTL an access revalidates with the
// upstream by a conditional GET while the old version keeps being served),
// and safe under concurrency (one load per resource at a time, at most
// MaxLoads loads at once, each on its own context).
//
// With a Remote (remote.go), replicas share their versions through
// S3-compatible storage: a load publishes its file and then a manifest, a
// miss fetches the published file, and a lease makes one load per id run
// in the whole cluster.
package cache

import (
	"context"
	"crypto/md5"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// Defaults of the Cache knobs left at zero.
const (
	DefaultLoadTimeout = 30 * time.Minute
	DefaultTTL         = time.Hour
	DefaultFailureTTL  = time.Minute
	DefaultMaxAttached = 256
	DefaultMaxColumns  = 2000
	// DefaultMaxQueue is how many loads may wait for a slot; past it new
	// loads are refused with ErrBusy.
	DefaultMaxQueue = 100
	// DefaultMaxClientLoads is how many loads one client may have queued
	// or running; past it its new loads are refused with ErrClientBusy.
	DefaultMaxClientLoads = 4
)

// Errors returned by the cache; conversion errors come from convert.
var (
	// ErrNotFound is returned for an id that has no loaded resource.
	ErrNotFound = errors.New("resource not found")
	// ErrPending is wrapped by the *PendingError returned while a resource's
	// first load is still running (Acquire), or when Options.Wait elapsed
	// before it finished (Apify, Upload). Status tells its progress.
	ErrPending = errors.New("resource still loading")
	// ErrTooManyColumns is returned when a table has more than MaxColumns
	// columns. It is convert's error, so that both layers' checks agree.
	ErrTooManyColumns = convert.ErrTooManyColumns
	// ErrConflict is returned by Upload for content whose id is held by a
	// URL's resource (the content is that URL's text).
	ErrConflict = errors.New("resource id in use")
	// ErrBusy is returned by Apify and Upload when a new load would need
	// a place in the load queue and MaxQueue loads already wait.
	ErrBusy = errors.New("too many loads waiting")
	// ErrClientBusy is returned by Apify and Upload when a new load is
	// asked for by a client (Options.Client) that already has
	// MaxClientLoads loads queued or running.
	ErrClientBusy = errors.New("too many loads for this client")
	// ErrInsufficientStorage is returned by Apify and Upload when a new
	// load is asked for while the cache directory's disk has less than
	// MinFreeDisk bytes free.
	ErrInsufficientStorage = errors.New("not enough free disk space")
)

// PendingError is the error of a resource still loading; it wraps
// ErrPending and names the resource, which callers of Upload cannot compute.
type PendingError struct{ ID string }

func (e *PendingError) Error() string { return "resource " + e.ID + " still loading" }

// Unwrap returns ErrPending.
func (e *PendingError) Unwrap() error { return ErrPending }

// Options are per-request options: the conversion overrides of convert
// (encoding, delimiter, quote, header, skip, decimal), and how the request
// waits.
type Options struct {
	convert.Options
	Refresh bool          // reload from the upstream now, even if fresh
	Wait    time.Duration // how long Apify waits for a load; 0: until ctx is done
	Sheet   string        // spreadsheet sheet, by name or 1-based index
	File    string        // member of a zip archive
	// Client identifies who asks (the client's address), for the
	// per-client limit on loads; "" is not limited.
	Client string
}

// URLID returns the id Apify gives the resource of rawURL loaded with o:
// the MD5 of rawURL alone, as in csvapi, when o picks no sheet or archive
// member and forces no parsing option; otherwise the MD5 of rawURL followed
// by the sheet and member ("\x00sheet=S\x00file=F") and by the canonical
// overrides ("\x00" + convert.Options.Canonical). Another sheet, or other
// parsing options, make another table: a client's overrides never change
// the table other clients see. Pages use it to follow a load's progress
// before Apify returns.
func (o Options) URLID(rawURL string) string { return ID(rawURL + o.key()) }

// key is what, beside the URL or the uploaded content, makes a different
// resource.
func (o Options) key() string {
	k := ""
	if o.Sheet != "" || o.File != "" {
		k = "\x00sheet=" + o.Sheet + "\x00file=" + o.File
	}
	if c := o.Options.Canonical(); c != "" {
		k += "\x00" + c
	}
	return k
}

// uploadNamespace starts what an upload's id hashes: no URL starts with
// it (URLs start with http), so an upload's id is never a URL's.
const uploadNamespace = "csvapi-upload\x00"

// Cache holds the loaded resources. Set the exported fields before first
// use; zero values get the Default* constants, but TTL, which New sets to
// DefaultTTL and whose zero means never revalidate.
type Cache struct {
	Dir         string
	DB          *sql.DB
	Fetcher     *convert.Fetcher
	Logger      *slog.Logger
	MaxFileSize int64         // cap on uploads and decompressed content
	LoadTimeout time.Duration // one download plus conversion
	TTL         time.Duration // age after which an access revalidates; 0: never
	FailureTTL  time.Duration // how long a failed load is remembered
	MaxBytes    int64         // disk budget of the converted files; 0: unbounded
	MaxEntries  int           // most resources kept; 0: unbounded
	MaxAttached int           // most database files attached at once
	MaxLoads    int           // most conversions at once; default: number of cores
	MaxColumns  int           // most columns in a table
	// MaxQueue is how many loads may wait for a slot (DefaultMaxQueue when
	// zero); MaxClientLoads how many one client may have queued or running
	// (DefaultMaxClientLoads when zero).
	MaxQueue       int
	MaxClientLoads int
	// MinFreeDisk refuses new loads while the disk of Dir has less free
	// space, in bytes; 0: no check.
	MinFreeDisk int64
	// Converter runs the conversions: a *convert.Worker in the service, so
	// that hostile files are parsed in a child process; nil converts in
	// this process with DB.
	Converter convert.Converter
	// Reopen, when set, opens a fresh serving instance: Heal uses it to
	// replace one that DuckDB has invalidated.
	Reopen func() (*sql.DB, error)
	// OnHeal, when set, is called with the new instance after Heal (with
	// the cache locked: it must not call back into the cache).
	OnHeal func(db *sql.DB)
	// OnLoad, when set, is called after every load, for metrics.
	OnLoad func(LoadEvent)
	// OnReady, when set, is called with the id and version of each version
	// that a load (a conversion, a refresh, a fetch from the store) makes
	// the one served, without the cache locked: work worth doing once per
	// version (a profile) can be queued from it.
	OnReady func(id, version string)
	// OnRetire, when set, is called with the id and version of each served
	// version taken out of service (replaced, purged, evicted), with the
	// cache locked: it must not call back into the cache. What was kept in
	// memory for the version can be dropped.
	OnRetire func(id, version string)
	// Remote, when set, is the object store shared with other replicas
	// (remote.go): loads publish there, misses are served from there, one
	// load per id runs cluster-wide under a lease of LeaseTTL, and served
	// ids are re-checked every CheckInterval. Replica names this process
	// in leases and manifests.
	Remote        Remote
	Replica       string
	LeaseTTL      time.Duration
	CheckInterval time.Duration

	now      func() time.Time // for tests
	base     context.Context  // parent of every load; cancelled by Close
	stop     context.CancelFunc
	loads    sync.WaitGroup
	semOnce  sync.Once
	sem      chan struct{}
	mu       sync.Mutex
	records  map[string]*record
	attached map[*version]bool
	stats    counters
	remote   remoteState

	// Admission of new loads (admit).
	freeSpace func(dir string) (uint64, error) // for tests
	pending   int                              // loads started and not finished
	byClient  map[string]int                   // pending loads by Options.Client
}

// record is everything the cache knows about one resource id.
type record struct {
	id        string
	url       string    // "" for uploads, which are never revalidated
	cur       *version  // the version served; nil until the first load succeeds
	load      *load     // the load running for this id, if any
	fail      *failure  // the last failed first load, for the negative cache
	lastUsed  time.Time // last access, for LRU eviction
	readyAt   time.Time // when the current version became ready
	pinned    bool      // the current version was handed out since it became ready
	checkedAt time.Time // last load or successful revalidation
	staleErr  error     // why the last revalidation failed, nil if it did not
	remote    remoteRec // its state in the shared store (remote.go)
}

type failure struct {
	err error
	at  time.Time
}

// remembered returns the failure as answered from the negative cache, with
// when a new request loads again.
func (f *failure) remembered(ttl time.Duration) *RememberedError {
	return &RememberedError{Err: f.err, At: f.at, RetryAt: f.at.Add(ttl)}
}

// RememberedError is a failed load answered from the negative cache: the
// load that failed at At is not tried again before RetryAt (a request with
// Options.Refresh retries at once). Unwrap returns the load's error, so
// callers branch on it as on a fresh failure.
type RememberedError struct {
	Err     error
	At      time.Time
	RetryAt time.Time
}

func (e *RememberedError) Error() string {
	return e.Err.Error() + " (remembered failure from " + e.At.UTC().Format(time.RFC3339) +
		", retried after " + e.RetryAt.UTC().Format(time.RFC3339) + ")"
}

// Unwrap returns the load's error.
func (e *RememberedError) Unwrap() error { return e.Err }

// version is one loaded database file of a resource.
type version struct {
	rec      *record
	name     string // file name without extension: <id>-<version>
	meta     *convert.Meta
	hash     string  // of the downloaded bytes (xxhash64; MD5 for uploads), to spot unchanged content
	opts     Options // the options it was loaded with, for its reloads
	size     int64
	attached bool
	refs     int // Entries handed out and not released
	retired  bool
	used     time.Time // last Acquire, for the attached LRU
}

func (v *version) alias() string { return "r_" + v.name[:32] + "_" + v.ver() }

// ver is the version part of v's name (<id>-<version>).
func (v *version) ver() string { return v.name[33:] }

// Entry is a loaded resource pinned for the caller: its files are neither
// evicted nor detached until Release.
type Entry struct {
	ID        string
	Version   string
	Relation  string // SQL text naming its table, e.g. r_<id>_<version>.main.data
	Meta      *convert.Meta
	CheckedAt time.Time // last load or successful revalidation
	Stale     error     // set when the last revalidation failed: the data may be outdated

	c        *Cache
	v        *version
	released atomic.Bool
}

// Release unpins the entry. It is safe to call more than once.
func (e *Entry) Release() {
	if e == nil || e.released.Swap(true) {
		return
	}
	e.c.mu.Lock()
	defer e.c.mu.Unlock()
	e.v.refs--
	if e.v.retired && e.v.refs == 0 {
		e.c.destroy(e.v)
	}
}

// New opens the cache directory: it creates it if needed, removes the
// leftovers of loads that were interrupted (temporary downloads and
// half-built database files, which are never served) and indexes the
// complete entries, which are served from then on.
func New(dir string, db *sql.DB, fetcher *convert.Fetcher, logger *slog.Logger) (*Cache, error) {
	c := &Cache{
		Dir:         dir,
		DB:          db,
		Fetcher:     fetcher,
		Logger:      logger,
		MaxFileSize: fetcher.MaxSize,
		TTL:         DefaultTTL,
		now:         time.Now,
		freeSpace:   freeSpace,
		byClient:    map[string]int{},
		records:     map[string]*record{},
		attached:    map[*version]bool{},
	}
	c.base, c.stop = context.WithCancel(context.Background())
	if err := os.MkdirAll(c.tmpDir(), 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	if err := c.scan(); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	return c, nil
}

// Start applies the bounds to what New found on disk; call it once the
// knobs are set.
func (c *Cache) Start() {
	c.evict(nil)
	c.startRemote()
}

// Close cancels the running loads (their temporary files are removed),
// waits for them, and records the last-use times so that LRU order survives
// a restart. Attached files stay attached: closing the DuckDB instance
// detaches them.
func (c *Cache) Close() error {
	c.stop()
	c.loads.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rec := range c.records {
		if rec.cur != nil {
			os.Chtimes(c.file(rec.cur, ".json"), rec.lastUsed, rec.lastUsed)
		}
	}
	return nil
}

// ID returns the resource id of a URL: the hex MD5 of the exact string, as
// the Python csvapi computes it.
func ID(rawURL string) string {
	sum := md5.Sum([]byte(rawURL))
	return hex.EncodeToString(sum[:])
}

// ValidID reports whether id has the shape of a resource id (32 lowercase
// hex digits), so that nothing else ever reaches the file system or SQL.
func ValidID(id string) bool {
	if len(id) != 32 {
		return false
	}
	for _, r := range id {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

// Acquire returns the resource id pinned for the caller, who must Release
// it. An access to an entry older than TTL starts a revalidation in the
// background; the current version is served meanwhile.
//
// It returns ErrNotFound for an unknown id, ErrPending while its first load
// runs, and a *RememberedError wrapping the load's error while a failed
// load is remembered. With a Remote, an id unknown here is fetched from the
// store and waited for (ctx's error, admission errors, store.ErrChecksum or
// the store's error).
func (c *Cache) Acquire(ctx context.Context, id string) (*Entry, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	c.mu.Lock()
	rec := c.records[id]
	if rec == nil && c.Remote != nil {
		c.mu.Unlock()
		return c.acquireRemote(ctx, id) // another replica may have it
	}
	defer c.mu.Unlock()
	switch {
	case rec == nil:
		return nil, ErrNotFound
	case rec.cur != nil:
		return c.pin(ctx, rec)
	case rec.load != nil:
		return nil, &PendingError{ID: id}
	case rec.fail != nil && c.now().Sub(rec.fail.at) < c.failureTTL():
		return nil, rec.fail.remembered(c.failureTTL())
	}
	return nil, ErrNotFound
}

// Stamp names what an answer rendered from a resource depends on: its
// version, its last revalidation, and whether that revalidation failed.
// Answers with equal stamps are equal.
type Stamp struct {
	Version   string
	CheckedAt time.Time
	Stale     bool
}

// Peek returns the stamp of id's ready version, with the bookkeeping of an
// access (hit count, LRU order, a revalidation past TTL), but neither pins
// nor attaches the version: it is what a cache of rendered answers needs to
// find its key, at the cost of a map lookup. id is not retained. It
// returns false when id has no ready version in this process (unknown,
// loading, failed, or only in the shared store): Acquire tells why.
func (c *Cache) Peek(id string) (Stamp, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.records[id]
	if rec == nil || rec.cur == nil {
		return Stamp{}, false
	}
	c.stats.hits.Add(1)
	now := c.now()
	// rec.pinned stays as it is: a peek hands nothing out, so the waiters
	// of a load that just finished still need its grace against eviction.
	rec.cur.used = now
	rec.lastUsed = now
	c.maybeRevalidate(rec)
	return Stamp{Version: rec.cur.ver(), CheckedAt: rec.checkedAt, Stale: rec.staleErr != nil}, true
}

// Apify returns the resource for rawURL pinned for the caller, who must
// Release it. A resource not loaded yet (or with Options.Refresh) is
// downloaded and converted; concurrent calls for one URL share a single
// load, which runs on its own context: a caller that gives up gets ctx's
// error while the load goes on for the others. A failed load is remembered
// for FailureTTL and its error returned, as a *RememberedError, without
// downloading again (Options.Refresh retries at once). The id
// is opts.URLID(rawURL): csvapi's MD5 of the URL unless opts pick a sheet
// or member or force parsing options.
//
// Errors: ErrPending when Options.Wait elapsed first; ErrBusy,
// ErrClientBusy or ErrInsufficientStorage when a new load is refused (see
// admit); convert's errors (ErrInvalidURL, ErrForbiddenAddress,
// *FetchError, ErrTooLarge, ErrNotTabular, ErrUnreadable,
// ErrUnsupportedEncoding, *ChoiceError); ctx's error.
func (c *Cache) Apify(ctx context.Context, rawURL string, opts Options) (*Entry, error) {
	client := opts.Client
	opts.Client = "" // not an option of the load, which is shared
	id := opts.URLID(rawURL)
	c.mu.Lock()
	rec := c.records[id]
	if rec != nil && rec.url == "" {
		// An upload whose content is this URL's text has its id: the URL
		// wins, or anyone could squat a URL's id before its first /apify.
		c.drop(rec)
		rec = nil
	}
	if rec == nil {
		rec = &record{id: id, url: rawURL}
		c.records[id] = rec
	}
	if rec.cur != nil && !opts.Refresh {
		defer c.mu.Unlock()
		return c.pin(ctx, rec)
	}
	l := rec.load
	if l == nil {
		if f := rec.fail; f != nil && !opts.Refresh && c.now().Sub(f.at) < c.failureTTL() {
			c.mu.Unlock()
			return nil, f.remembered(c.failureTTL())
		}
		if err := c.admit(client); err != nil {
			if rec.cur == nil && rec.fail == nil {
				delete(c.records, id)
			}
			c.mu.Unlock()
			return nil, err
		}
		c.stats.misses.Add(1)
		src := source{url: rawURL, opts: opts}
		if rec.cur != nil {
			// refresh=yes: the version's own options (equal to opts, since
			// they are part of the id, but never a request's extras).
			src.opts = rec.cur.opts
		}
		l = c.startLoad(rec, src)
		c.count(l, client)
	}
	c.mu.Unlock()
	return c.await(ctx, l, opts.Wait)
}

// Upload converts the file read from r; its id is the MD5 of
// uploadNamespace, its content and opts' key (sheet, member, overrides):
// never the id of a URL.
// Like Apify, it returns the entry pinned (Release it) or ErrPending when
// opts.Wait elapsed first. It returns convert.ErrTooLarge when r holds more
// than MaxFileSize bytes, and the admission and conversion errors of Apify
// (the admission is checked before r is read, too).
func (c *Cache) Upload(ctx context.Context, r io.Reader, filename string, opts Options) (*Entry, error) {
	client := opts.Client
	opts.Client = ""
	c.mu.Lock()
	err := c.admit(client)
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	raw, err := os.CreateTemp(c.tmpDir(), "upload-*")
	if err != nil {
		return nil, err
	}
	keep := false
	defer func() {
		if !keep {
			os.Remove(raw.Name())
		}
	}()
	h := md5.New()
	h.Write([]byte(uploadNamespace))
	n, err := io.Copy(io.MultiWriter(raw, h), io.LimitReader(r, c.MaxFileSize+1))
	if cerr := raw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, fmt.Errorf("read upload: %w", err)
	}
	if n > c.MaxFileSize {
		return nil, fmt.Errorf("%w: the upload exceeds %d bytes", convert.ErrTooLarge, c.MaxFileSize)
	}
	h.Write([]byte(opts.key()))
	sum := hex.EncodeToString(h.Sum(nil))

	c.mu.Lock()
	rec := c.records[sum]
	if rec != nil && rec.url != "" {
		c.mu.Unlock()
		return nil, fmt.Errorf("%w: the content's MD5 is the id of a URL's resource", ErrConflict)
	}
	if rec == nil {
		rec = &record{id: sum}
		c.records[sum] = rec
	}
	if rec.cur != nil {
		defer c.mu.Unlock()
		return c.pin(ctx, rec)
	}
	l := rec.load
	if l == nil {
		if err := c.admit(client); err != nil {
			if rec.fail == nil {
				delete(c.records, sum)
			}
			c.mu.Unlock()
			return nil, err
		}
		keep = true // the load owns the file now
		c.stats.misses.Add(1)
		l = c.startLoad(rec, source{file: raw.Name(), filename: filepath.Base(filename), size: n, hash: sum, opts: opts})
		c.count(l, client)
	}
	c.mu.Unlock()
	return c.await(ctx, l, opts.Wait)
}

// admit decides whether a new load may start for client: it returns
// ErrInsufficientStorage while the disk has less than MinFreeDisk bytes
// free, ErrBusy when MaxQueue loads already wait for a slot, and
// ErrClientBusy when client already has MaxClientLoads loads queued or
// running. Requests that join a running load or find the resource loaded
// are never refused. Called with c.mu held.
func (c *Cache) admit(client string) error {
	if c.MinFreeDisk > 0 {
		if free, err := c.freeSpace(c.Dir); err == nil && free < uint64(c.MinFreeDisk) {
			return fmt.Errorf("%w: %d MB free, the minimum is %d MB", ErrInsufficientStorage, free>>20, c.MinFreeDisk>>20)
		}
	}
	if c.pending >= c.maxLoads()+orDefault(c.MaxQueue, DefaultMaxQueue) {
		return fmt.Errorf("%w: %d loads pending", ErrBusy, c.pending)
	}
	if client != "" && c.byClient[client] >= orDefault(c.MaxClientLoads, DefaultMaxClientLoads) {
		return fmt.Errorf("%w: %d loads pending", ErrClientBusy, c.byClient[client])
	}
	return nil
}

// count charges l to client until it finishes. Called with c.mu held.
func (c *Cache) count(l *load, client string) {
	if client != "" {
		l.client = client
		c.byClient[client]++
	}
}

// freeSpace returns the bytes available to unprivileged users on dir's
// file system.
func freeSpace(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

func orDefault(v, def int) int {
	if v <= 0 {
		return def
	}
	return v
}

// await waits for l, then pins the loaded entry.
func (c *Cache) await(ctx context.Context, l *load, wait time.Duration) (*Entry, error) {
	var timeout <-chan time.Time
	if wait > 0 {
		t := time.NewTimer(wait)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-l.done:
	case <-timeout:
		return nil, &PendingError{ID: l.id}
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if l.err != nil {
		if errors.Is(l.err, context.Canceled) && c.base.Err() == nil {
			return nil, ErrNotFound // purged while loading: the client did not cancel
		}
		return nil, l.err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.records[l.id]
	if rec == nil || rec.cur == nil {
		return nil, ErrNotFound // purged meanwhile
	}
	return c.pin(ctx, rec)
}

// pin attaches rec's current version if needed and hands out an Entry.
// Called with c.mu held.
func (c *Cache) pin(ctx context.Context, rec *record) (*Entry, error) {
	v := rec.cur
	if err := c.attach(ctx, v); err != nil {
		return nil, err
	}
	c.stats.hits.Add(1)
	now := c.now()
	rec.pinned = true
	v.used = now
	rec.lastUsed = now
	c.maybeRevalidate(rec)
	return c.entry(rec, v), nil
}

// entry hands out an Entry of rec's version v. Called with c.mu held.
func (c *Cache) entry(rec *record, v *version) *Entry {
	v.refs++
	return &Entry{
		ID:        rec.id,
		Version:   v.ver(),
		Relation:  v.alias() + ".main.data",
		Meta:      v.meta,
		CheckedAt: rec.checkedAt,
		Stale:     rec.staleErr,
		c:         c,
		v:         v,
	}
}

// AcquireVersion is Acquire for background work on one version: it pins
// id's version only while it is the one served, and counts no access (no
// hit, no LRU move, no revalidation), so that background work keeps no
// resource alive. It returns ErrNotFound when id is unknown or serves
// another version, and the error of attaching the file.
func (c *Cache) AcquireVersion(ctx context.Context, id, version string) (*Entry, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.records[id]
	if rec == nil || rec.cur == nil || rec.cur.ver() != version {
		return nil, ErrNotFound
	}
	if err := c.attach(ctx, rec.cur); err != nil {
		return nil, err
	}
	return c.entry(rec, rec.cur), nil
}

// Retain pins e's version once more, for work that outlives the caller's
// hold (a computation shared by several requests): the returned Entry is
// released on its own.
func (e *Entry) Retain() *Entry {
	e.c.mu.Lock()
	e.v.refs++
	e.c.mu.Unlock()
	return &Entry{ID: e.ID, Version: e.Version, Relation: e.Relation, Meta: e.Meta, CheckedAt: e.CheckedAt, Stale: e.Stale, c: e.c, v: e.v}
}

// Purge removes a resource: new requests get ErrNotFound at once, its
// running load is cancelled, and its files are deleted as soon as no request
// uses them. It returns ErrNotFound for an unknown id.
func (c *Cache) Purge(id string) error {
	shared := ErrNotFound
	if c.Remote != nil {
		shared = c.purgeRemote(id)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.records[id]
	if rec == nil || (rec.cur == nil && rec.load == nil) {
		if shared == nil {
			return nil
		}
		return ErrNotFound
	}
	c.drop(rec)
	c.Logger.Info("purged", "id", id, "url", rec.url)
	return nil
}

// drop removes rec: new requests no longer find it, its load is cancelled
// and its files go when no request uses them. Called with c.mu held.
func (c *Cache) drop(rec *record) {
	delete(c.records, rec.id)
	if rec.load != nil {
		rec.load.cancel()
	}
	if rec.cur != nil {
		c.retire(rec.cur)
	}
}

func (c *Cache) failureTTL() time.Duration { return positive(c.FailureTTL, DefaultFailureTTL) }

func positive(v, def time.Duration) time.Duration {
	if v <= 0 {
		return def
	}
	return v
}

func (c *Cache) maxLoads() int {
	if c.MaxLoads > 0 {
		return c.MaxLoads
	}
	return runtime.NumCPU()
}
