package cache

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/csvapi/csvapi/convert"
)

// State is the phase of a resource's load.
type State string

// Load states, in order; a load ends ready or failed.
const (
	StateQueued      State = "queued"
	StateDownloading State = "downloading"
	StateLoading     State = "loading"
	StateReady       State = "ready"
	StateFailed      State = "failed"
)

// errUnchanged ends a revalidation that found the upstream content unchanged.
var errUnchanged = errors.New("unchanged")

// source says where a load takes its bytes from: a URL, or an uploaded file
// that the load owns (and removes).
type source struct {
	url         string
	file        string
	filename    string
	size        int64
	hash        string // of an upload: the MD5 that is its id
	opts        Options
	conditional bool // a revalidation: conditional GET, keep the version if unchanged
	stored      bool // only take the version published in the shared store
}

// load is a conversion in progress. Its fields other than the atomics are
// written before done is closed and read after.
type load struct {
	id      string
	client  string // charged with the load (Options.Client), "" for none
	started time.Time
	cancel  context.CancelFunc
	done    chan struct{}
	err     error

	unchanged bool // a revalidation found the content unchanged

	state atomic.Value // State
	bytes atomic.Int64 // downloaded so far
	total atomic.Int64 // Content-Length, -1 when unknown
	rows  atomic.Int64
}

// startLoad registers and starts a load of rec from src. Called with c.mu held.
func (c *Cache) startLoad(rec *record, src source) *load {
	ctx, cancel := context.WithTimeout(c.base, positive(c.LoadTimeout, DefaultLoadTimeout))
	l := &load{id: rec.id, started: c.now(), cancel: cancel, done: make(chan struct{})}
	l.state.Store(StateQueued)
	l.total.Store(-1)
	rec.load = l
	c.pending++
	var prev *version
	if src.conditional {
		prev = rec.cur
	}
	cur := rec.cur
	c.loads.Add(1)
	go func() {
		defer c.loads.Done()
		defer cancel()
		v, err := c.runShared(ctx, rec, l, src, prev, cur)
		c.finish(rec, l, v, err)
	}()
	return l
}

// runQueued waits for a load slot, then runs the load.
func (c *Cache) runQueued(ctx context.Context, l *load, src source, prev *version) (*version, error) {
	if src.file != "" {
		defer os.Remove(src.file)
	}
	c.semOnce.Do(func() { c.sem = make(chan struct{}, c.maxLoads()) })
	c.stats.queued.Add(1)
	select {
	case c.sem <- struct{}{}:
		c.stats.queued.Add(-1)
		defer func() { <-c.sem }()
	case <-ctx.Done():
		c.stats.queued.Add(-1)
		return nil, ctx.Err()
	}
	return c.run(ctx, l, src, prev)
}

// finish records the outcome of l. A new version replaces the current one
// atomically for new requests; the old one is deleted when its last user
// releases it. A failed first load is remembered for FailureTTL; a failed
// reload keeps the current version and says why in Entry.Stale.
func (c *Cache) finish(rec *record, l *load, v *version, err error) {
	c.mu.Lock()
	now := c.now()
	purged := c.records[rec.id] != rec
	var ready *version // the version this load made the one served
	rec.load = nil
	c.pending--
	if l.client != "" {
		if c.byClient[l.client]--; c.byClient[l.client] <= 0 {
			delete(c.byClient, l.client)
		}
	}
	switch {
	case errors.Is(err, errUnchanged):
		err = nil
		l.unchanged = true
		rec.checkedAt, rec.staleErr = now, nil
	case err != nil && rec.cur != nil:
		// Retry after FailureTTL rather than a whole TTL.
		rec.checkedAt = now.Add(c.failureTTL() - c.TTL)
		rec.staleErr = err
	case err != nil:
		rec.fail = &failure{err: err, at: now}
	case purged:
		c.destroy(v)
	default:
		if rec.cur != nil {
			c.retire(rec.cur)
		}
		v.rec = rec
		rec.cur, rec.fail, rec.staleErr = v, nil, nil
		rec.checkedAt, rec.lastUsed, rec.readyAt, rec.pinned = now, now, now, false
		l.rows.Store(v.meta.Rows)
		ready = v
	}
	l.err = err
	if err != nil {
		l.state.Store(StateFailed)
	} else {
		l.state.Store(StateReady)
	}
	c.mu.Unlock()
	if err != nil && !errors.Is(err, context.Canceled) {
		c.Logger.Warn("load failed", "id", rec.id, "url", rec.url, "err", err, "duration", time.Since(l.started))
	}
	c.report(l, err)
	// Before waking the waiters, so that the bounds hold when they return.
	// The entry just loaded is spared: its waiters have not pinned it yet.
	c.evict(rec)
	close(l.done)
	if ready != nil && c.OnReady != nil {
		c.OnReady(rec.id, ready.ver())
	}
}

// report counts a finished load.
func (c *Cache) report(l *load, err error) {
	ev := LoadEvent{Outcome: "loaded", Duration: c.now().Sub(l.started), Bytes: l.bytes.Load(), Rows: l.rows.Load()}
	switch {
	case errors.Is(err, context.Canceled):
		ev.Outcome = "canceled"
	case err != nil:
		ev.Outcome = "failed"
	case ev.Rows == 0 && l.unchanged:
		ev.Outcome = "unchanged"
	}
	c.stats.bytes.Add(ev.Bytes)
	c.stats.rows.Add(ev.Rows)
	if c.OnLoad != nil {
		c.OnLoad(ev)
	}
}

// run downloads the source (or takes the upload) and has the converter
// build one version from it: Prepare, checks and Load, in a worker process
// when the converter is a convert.Worker. errUnchanged: same content as prev.
func (c *Cache) run(ctx context.Context, l *load, src source, prev *version) (*version, error) {
	start := c.now()
	meta := &convert.Meta{ID: l.id, URL: src.url, Filename: src.filename, FetchedAt: start.UTC(), SourceSize: src.size}
	raw, sum := src.file, src.hash
	if src.url != "" {
		l.state.Store(StateDownloading)
		f, dl, err := c.download(ctx, l, src.url, prev)
		if err != nil {
			return nil, err
		}
		defer os.Remove(f)
		raw, sum = f, dl.hash
		meta.ETag, meta.LastModified, meta.SourceSize = dl.ETag, dl.LastModified, dl.Size
		if prev != nil && prev.hash == sum {
			c.updateValidators(prev, meta.ETag, meta.LastModified)
			return nil, errUnchanged
		}
	}

	l.state.Store(StateLoading)
	work, err := os.MkdirTemp(c.tmpDir(), l.id+"-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(work)
	v := &version{name: l.id + "-" + c.newVersion(), hash: sum, opts: src.opts}
	v.opts.Refresh, v.opts.Wait = false, 0
	meta.ContentHash = sum // in the file's metadata too: a rebuilt sidecar keeps it
	job := convert.Job{
		Source: raw, WorkDir: work, Out: c.file(v, ".duckdb"), MaxSize: c.MaxFileSize,
		Prepare: convert.PrepareOptions{Encoding: src.opts.Encoding, Sheet: src.opts.Sheet, File: src.opts.File},
		Options: src.opts.Options, Meta: *meta,
	}
	job.Options.MaxColumns = c.maxColumns()
	meta, err = c.converter().Convert(ctx, job)
	if err != nil {
		// A killed worker leaves its half-built file (<out>.tmp-…) behind.
		leftovers, _ := filepath.Glob(job.Out + ".tmp-*")
		for _, f := range leftovers {
			os.Remove(f)
		}
		return nil, err
	}
	v.meta = meta
	if err := c.writeSidecar(v, c.now()); err != nil {
		removeFiles(c.file(v, ".duckdb"))
		return nil, err
	}
	if st, err := os.Stat(c.file(v, ".duckdb")); err == nil {
		v.size = st.Size()
	}
	c.Logger.Info("loaded", "id", l.id, "url", src.url, "rows", meta.Rows, "bytes", meta.SourceSize, "duration", c.now().Sub(start))
	return v, nil
}

type downloaded struct {
	*convert.Download
	hash string // xxhash64 of the bytes, hex
}

// download fetches url into a temporary file, counting bytes for Status and
// hashing them to recognise unchanged content. With prev, the request is
// conditional and a 304 ends the load as unchanged.
func (c *Cache) download(ctx context.Context, l *load, url string, prev *version) (string, *downloaded, error) {
	f, err := os.CreateTemp(c.tmpDir(), "download-*")
	if err != nil {
		return "", nil, err
	}
	// A fast non-cryptographic hash is enough to spot unchanged content
	// (MD5 cost a tenth of the whole load on 1 M rows).
	h := xxhash.New()
	opts := convert.FetchOptions{OnResponse: func(n int64) { l.total.Store(n) }}
	if prev != nil {
		opts.ETag, opts.LastModified = prev.meta.ETag, prev.meta.LastModified
	}
	dl, err := c.Fetcher.FetchWith(ctx, url, io.MultiWriter(f, h, progress{&l.bytes}), opts)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		if errors.Is(err, convert.ErrNotModified) {
			return "", nil, errUnchanged
		}
		return "", nil, err
	}
	return f.Name(), &downloaded{Download: dl, hash: hex.EncodeToString(h.Sum(nil))}, nil
}

// progress counts the bytes written through it.
type progress struct{ n *atomic.Int64 }

func (p progress) Write(b []byte) (int, error) {
	p.n.Add(int64(len(b)))
	return len(b), nil
}

// maybeRevalidate starts a conditional reload of rec when it is older than
// TTL. Called with c.mu held.
func (c *Cache) maybeRevalidate(rec *record) {
	if rec.url == "" || rec.load != nil || c.TTL <= 0 || c.now().Sub(rec.checkedAt) < c.TTL {
		return
	}
	if c.admit("") != nil {
		return // no room now: a later access tries again
	}
	c.stats.revalidations.Add(1)
	// The options the resource was loaded with (sheet, file, encoding,
	// overrides) apply to its reloads too.
	c.startLoad(rec, source{url: rec.url, conditional: true, opts: rec.cur.opts})
}

// converter returns the Converter of loads: Converter, or in this process
// with the serving instance when none is set (tests, trusted input).
func (c *Cache) converter() convert.Converter {
	if c.Converter != nil {
		return c.Converter
	}
	return convert.InProcess{DB: c.ServingDB()}
}

func (c *Cache) maxColumns() int {
	if c.MaxColumns > 0 {
		return c.MaxColumns
	}
	return DefaultMaxColumns
}

// newVersion returns a version name that sorts after every earlier one.
func (c *Cache) newVersion() string {
	return fmt.Sprintf("%016s", strconv.FormatInt(c.now().UnixNano(), 16))
}

// Status is the progress of a resource's load, or its outcome.
type Status struct {
	ID              string
	URL             string
	State           State
	BytesDownloaded int64
	BytesTotal      int64 // -1 when the upstream did not say
	Rows            int64
	Elapsed         time.Duration
	Err             error  // of a failed load
	Refreshing      bool   // a ready resource being reloaded
	Replica         string // with a shared store: the replica whose load this one waits for
}

// Status reports where the load of id stands. It returns ErrNotFound for an
// id the cache knows nothing about.
func (c *Cache) Status(id string) (Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec := c.records[id]
	if rec == nil {
		return Status{}, ErrNotFound
	}
	s := Status{ID: id, URL: rec.url, BytesTotal: -1}
	switch {
	case rec.load != nil:
		l := rec.load
		s.State = l.state.Load().(State)
		s.BytesDownloaded, s.BytesTotal = l.bytes.Load(), l.total.Load()
		s.Elapsed = c.now().Sub(l.started)
		s.Replica = rec.remote.holder
		if rec.cur != nil {
			s.State, s.Refreshing = StateReady, true
			s.Rows = rec.cur.meta.Rows
		}
	case rec.cur != nil:
		s.State, s.Rows = StateReady, rec.cur.meta.Rows
		s.BytesDownloaded, s.BytesTotal = rec.cur.meta.SourceSize, rec.cur.meta.SourceSize
		s.Elapsed = rec.cur.meta.LoadTime
	case rec.fail != nil:
		s.State, s.Err = StateFailed, rec.fail.err
	default:
		return Status{}, ErrNotFound
	}
	return s, nil
}
