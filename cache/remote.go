package cache

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"time"

	"github.com/csvapi/csvapi/store"
)

// Defaults of the knobs of a cache shared through a Remote.
const (
	DefaultLeaseTTL      = 30 * time.Second
	DefaultCheckInterval = 10 * time.Second
	remoteTimeout        = 10 * time.Second // of one small request to the store
)

// Remote is the object store that replicas share (a *store.S3). Its
// methods return store.ErrNotFound, store.ErrPrecondition,
// store.ErrNotModified and store.ErrChecksum as documented there, and
// other errors when the store cannot be reached.
//
// Layout under the store's prefix, per resource id:
//
//	<id>/manifest.json       the published version: written last
//	<id>/lease.json          who loads <id> now, until when
//	<id>/<version>.duckdb    a version's database file
type Remote interface {
	Get(ctx context.Context, key, etag string) ([]byte, string, error)
	Put(ctx context.Context, key string, body []byte) (string, error)
	Create(ctx context.Context, key string, body []byte) (string, error)
	Replace(ctx context.Context, key string, body []byte, etag string) (string, error)
	Delete(ctx context.Context, key string) error
	Upload(ctx context.Context, key, file string) (string, error)
	Download(ctx context.Context, key, dest, sum string) error
	Check(ctx context.Context) error
}

var _ Remote = (*store.S3)(nil)

// manifest is <id>/manifest.json: the version every replica serves.
type manifest struct {
	Version     string    `json:"version"`
	Key         string    `json:"key"`    // of the database file
	SHA256      string    `json:"sha256"` // of the database file
	Size        int64     `json:"size"`
	Sidecar     sidecar   `json:"sidecar"` // metadata, options, content hash, checked_at
	Replica     string    `json:"replica"` // that published it
	PublishedAt time.Time `json:"published_at"`
}

// remoteRec is what a record knows of its id in the store. Guarded by c.mu.
type remoteRec struct {
	etag        string // of the manifest of the version served; "" if none seen
	unpublished bool   // the version served could not be published yet
	holder      string // replica whose lease a load of this id waits on
}

// remoteState is the cache's view of the store.
type remoteState struct {
	err atomic.Pointer[error] // last failure to reach the store; nil when it answers
}

func manifestKey(id string) string { return id + "/manifest.json" }
func leaseKey(id string) string    { return id + "/lease.json" }

// StoreErr returns why the shared store could not be reached the last
// time it was tried, or nil when it answers (or when there is none). The
// cache keeps serving its local copies meanwhile.
func (c *Cache) StoreErr() error {
	if p := c.remote.err.Load(); p != nil {
		return *p
	}
	return nil
}

// observe records whether err shows the store unreachable; it returns err.
func (c *Cache) observe(err error) error {
	switch {
	case err == nil, errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrPrecondition),
		errors.Is(err, store.ErrNotModified), errors.Is(err, store.ErrChecksum):
		if c.remote.err.Swap(nil) != nil {
			c.Logger.Info("the store answers again")
		}
	case errors.Is(err, context.Canceled):
	default:
		if c.remote.err.Swap(&err) == nil {
			c.Logger.Warn("the store is unreachable: serving local copies", "err", err)
		}
	}
	return err
}

func (c *Cache) leaseTTL() time.Duration      { return positive(c.LeaseTTL, DefaultLeaseTTL) }
func (c *Cache) checkInterval() time.Duration { return positive(c.CheckInterval, DefaultCheckInterval) }

func (c *Cache) replica() string {
	if c.Replica != "" {
		return c.Replica
	}
	h, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", h, os.Getpid())
}

// readManifest returns the manifest of id and its ETag; nil when there is
// none. Other errors mean the store is unreachable or the manifest broken.
func (c *Cache) readManifest(ctx context.Context, id, etag string) (*manifest, string, error) {
	ctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	defer cancel()
	b, tag, err := c.Remote.Get(ctx, manifestKey(id), etag)
	if errors.Is(c.observe(err), store.ErrNotFound) {
		return nil, "", nil
	}
	if err != nil {
		return nil, "", err
	}
	var m manifest
	if err := json.Unmarshal(b, &m); err != nil || m.Sidecar.Meta == nil || len(m.Version) != 16 {
		return nil, "", fmt.Errorf("manifest of %s: invalid", id)
	}
	return &m, tag, nil
}

// runShared runs a load through the store: it serves a version another
// replica published, or takes id's lease so that only this replica
// converts, then publishes what it converted. Without a Remote it is
// runQueued. cur is the version served when the load started.
//
// When the store cannot be reached the load runs here without a lease,
// and its version is published once the store answers again (check loop).
func (c *Cache) runShared(ctx context.Context, rec *record, l *load, src source, prev, cur *version) (*version, error) {
	if c.Remote == nil {
		return c.runQueued(ctx, l, src, prev)
	}
	if src.file != "" {
		defer os.Remove(src.file) // when the store's version is taken instead
	}
	if c.StoreErr() != nil && !src.stored {
		// Known down: do not wait for its timeouts; the check loop
		// notices when it is back.
		return c.runLocal(ctx, rec, l, src, prev)
	}
	poll := min(max(c.leaseTTL()/8, 50*time.Millisecond), 2*time.Second)
	for {
		m, etag, err := c.readManifest(ctx, l.id, "")
		if err != nil && ctx.Err() == nil && !src.stored {
			return c.runLocal(ctx, rec, l, src, prev)
		}
		if err != nil {
			return nil, err
		}
		switch {
		case m != nil && (cur == nil || m.Version != cur.ver()):
			return c.fetch(ctx, rec, l, m, etag)
		case m != nil && src.conditional && c.now().Sub(m.Sidecar.CheckedAt) < c.TTL: // conditional loads only happen with TTL > 0
			// Another replica revalidated it a moment ago.
			c.mu.Lock()
			rec.remote.etag = etag
			c.mu.Unlock()
			return nil, errUnchanged
		case src.stored:
			return nil, ErrNotFound
		}
		tag, holder, err := c.takeLease(ctx, l.id)
		if err != nil && ctx.Err() == nil {
			return c.runLocal(ctx, rec, l, src, prev)
		}
		if err != nil {
			return nil, err
		}
		if tag != "" {
			// The previous holder may have published and let go between
			// the read above and the lease: decide again on what it did.
			if m2, _, err := c.readManifest(ctx, l.id, ""); err == nil && m2 != nil && (m == nil || m2.Version != m.Version) {
				c.releaseLease(ctx, l.id, tag)
				continue
			}
			return c.runLeased(ctx, rec, l, src, prev, tag)
		}
		c.mu.Lock()
		rec.remote.holder = holder
		c.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}

// runLocal runs a load while the store is unreachable; its version is
// published later by the check loop.
func (c *Cache) runLocal(ctx context.Context, rec *record, l *load, src source, prev *version) (*version, error) {
	v, err := c.runQueued(ctx, l, src, prev)
	if err == nil {
		c.unpublished(rec, v)
	}
	return v, err
}

// unpublishedExt is the extension of the marker of a version to publish.
const unpublishedExt = ".unpublished"

// unpublished records that v is to be published when the store answers,
// in memory and with a marker file beside it, so that a restart in the
// meantime does not forget it (startRemote reads the markers).
func (c *Cache) unpublished(rec *record, v *version) {
	if f, err := os.Create(c.file(v, unpublishedExt)); err == nil {
		f.Close()
	}
	c.mu.Lock()
	rec.remote.unpublished = true
	c.mu.Unlock()
}

// runLeased runs the load under the lease whose ETag is tag, renewing it
// until the load ends, then publishes the version and gives the lease up.
func (c *Cache) runLeased(ctx context.Context, rec *record, l *load, src source, prev *version, tag string) (*version, error) {
	c.mu.Lock()
	rec.remote.holder = ""
	c.mu.Unlock()
	renewed := make(chan string, 1)
	stop := make(chan struct{})
	go c.renewLease(l.id, tag, stop, renewed)
	v, err := c.runQueued(ctx, l, src, prev)
	close(stop)
	tag = <-renewed
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), positive(c.LoadTimeout, DefaultLoadTimeout))
	defer cancel()
	switch {
	case err == nil:
		if perr := c.publish(pctx, rec, v); perr != nil {
			c.Logger.Warn("publish failed: will retry", "id", l.id, "err", perr)
			c.unpublished(rec, v)
		}
	case errors.Is(err, errUnchanged) && prev != nil:
		c.touch(pctx, rec, prev)
	}
	c.releaseLease(pctx, l.id, tag)
	return v, err
}

// leases are the loads' leases in the store.
func (c *Cache) leases() *store.Leases {
	return &store.Leases{Objects: c.Remote, Holder: c.replica(), TTL: c.leaseTTL(), Timeout: remoteTimeout,
		Now: c.now, Observe: c.observe}
}

// takeLease creates id's lease, or takes over an expired one. It returns
// the lease's ETag when this replica holds it, else the holder's name.
func (c *Cache) takeLease(ctx context.Context, id string) (tag, holder string, err error) {
	t, err := c.leases().Take(ctx, leaseKey(id))
	if t.From != "" { // set only with Tag
		c.Logger.Info("took over an expired lease", "id", id, "holder", t.From)
	}
	return t.Tag, t.Holder, err
}

// renewLease extends the lease every third of LeaseTTL until stop is
// closed, then sends its last ETag on renewed.
func (c *Cache) renewLease(id, tag string, stop <-chan struct{}, renewed chan<- string) {
	c.leases().Renew(context.Background(), leaseKey(id), tag, stop, renewed, func() {
		c.Logger.Warn("lease lost to another replica", "id", id)
	})
}

// releaseLease deletes the lease if it is still this replica's.
func (c *Cache) releaseLease(ctx context.Context, id, tag string) {
	c.leases().Release(ctx, leaseKey(id), tag)
}

// fetch downloads the version m describes into the cache directory.
func (c *Cache) fetch(ctx context.Context, rec *record, l *load, m *manifest, etag string) (*version, error) {
	l.state.Store(StateDownloading)
	l.total.Store(m.Size)
	v := &version{name: l.id + "-" + m.Version, meta: m.Sidecar.Meta, hash: m.Sidecar.ContentHash, size: m.Size}
	if m.Sidecar.Options != nil {
		v.opts = *m.Sidecar.Options
	}
	start := c.now()
	if err := c.observe(c.Remote.Download(ctx, m.Key, c.file(v, ".duckdb"), m.SHA256)); err != nil {
		return nil, fmt.Errorf("download %s from the store: %w", v.name, err)
	}
	if err := c.writeSidecar(v, m.Sidecar.CheckedAt); err != nil {
		removeFiles(c.file(v, ".duckdb"))
		return nil, err
	}
	l.bytes.Store(m.Size)
	c.mu.Lock()
	rec.remote = remoteRec{etag: etag}
	c.mu.Unlock()
	c.Logger.Info("fetched from the store", "id", l.id, "bytes", m.Size, "replica", m.Replica, "duration", c.now().Sub(start))
	return v, nil
}

// publish uploads v's database file under its versioned key, then writes
// the manifest: readers never see a version whose file is incomplete. The
// previous version's file is deleted from the store afterwards.
func (c *Cache) publish(ctx context.Context, rec *record, v *version) error {
	id, ver := v.name[:32], v.ver()
	key := id + "/" + ver + ".duckdb"
	sum, err := c.Remote.Upload(ctx, key, c.file(v, ".duckdb"))
	if c.observe(err) != nil {
		return err
	}
	old, _, _ := c.readManifest(ctx, id, "")
	tag, err := c.putManifest(ctx, v, key, sum, c.now())
	if err != nil {
		return err
	}
	c.mu.Lock()
	rec.remote = remoteRec{etag: tag}
	c.mu.Unlock()
	os.Remove(c.file(v, unpublishedExt))
	if old != nil && old.Key != key {
		c.observe(c.Remote.Delete(ctx, old.Key))
	}
	return nil
}

func (c *Cache) putManifest(ctx context.Context, v *version, key, sum string, checkedAt time.Time) (string, error) {
	m := manifest{
		Version: v.ver(), Key: key, SHA256: sum, Size: v.size,
		Sidecar: sidecar{Meta: v.meta, ContentHash: v.hash, Options: &v.opts, CheckedAt: checkedAt.UTC()},
		Replica: c.replica(), PublishedAt: c.now().UTC(),
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	tag, err := c.Remote.Put(ctx, manifestKey(v.name[:32]), b)
	return tag, c.observe(err)
}

// touch records in the manifest that a revalidation found v unchanged, so
// that the other replicas do not revalidate it again before TTL.
func (c *Cache) touch(ctx context.Context, rec *record, v *version) {
	m, _, err := c.readManifest(ctx, rec.id, "")
	if err != nil || m == nil || m.Version != v.ver() {
		return
	}
	m.Sidecar.CheckedAt, m.Sidecar.Meta = c.now().UTC(), v.meta
	b, _ := json.Marshal(m)
	tag, err := c.Remote.Put(ctx, manifestKey(rec.id), b)
	if c.observe(err) == nil {
		c.mu.Lock()
		rec.remote.etag = tag
		c.mu.Unlock()
	}
}

// acquireRemote serves an id this replica does not have from the store:
// it downloads the published version and pins it. It returns ErrNotFound
// when the store has none, and the admission errors of Apify (the
// download counts as a load).
func (c *Cache) acquireRemote(ctx context.Context, id string) (*Entry, error) {
	if c.StoreErr() != nil {
		return nil, ErrNotFound // known down: answer now rather than after its timeout
	}
	m, _, err := c.readManifest(ctx, id, "")
	if err != nil || m == nil {
		return nil, ErrNotFound
	}
	c.mu.Lock()
	rec := c.records[id]
	if rec == nil {
		rec = &record{id: id, url: m.Sidecar.Meta.URL}
		c.records[id] = rec
	}
	switch {
	case rec.cur != nil:
		defer c.mu.Unlock()
		return c.pin(ctx, rec)
	case rec.load == nil:
		if err := c.admit(""); err != nil {
			if rec.fail == nil {
				delete(c.records, id)
			}
			c.mu.Unlock()
			return nil, err
		}
		c.startLoad(rec, source{url: rec.url, stored: true})
	}
	l := rec.load
	c.mu.Unlock()
	return c.await(ctx, l, 0)
}

// purgeRemote deletes id's manifest, then its file: the other replicas
// drop their copies at their next check. It returns ErrNotFound when the
// store had no manifest.
func (c *Cache) purgeRemote(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*remoteTimeout)
	defer cancel()
	m, _, err := c.readManifest(ctx, id, "")
	if err != nil {
		return err
	}
	if m == nil {
		return ErrNotFound
	}
	if err := c.observe(c.Remote.Delete(ctx, manifestKey(id))); err != nil {
		return err
	}
	c.observe(c.Remote.Delete(ctx, m.Key))
	return nil
}

// checkLoop re-reads, every CheckInterval, the manifest of each id served
// here (a conditional GET: 304 when nothing changed): a purged id is
// dropped, a newer version fetched, and versions loaded while the store
// was unreachable are published.
func (c *Cache) checkLoop() {
	defer c.loads.Done()
	t := time.NewTicker(c.checkInterval())
	defer t.Stop()
	for {
		select {
		case <-c.base.Done():
			return
		case <-t.C:
		}
		c.checkAll(c.base)
	}
}

func (c *Cache) checkAll(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, remoteTimeout)
	err := c.observe(c.Remote.Check(cctx))
	cancel()
	if err != nil {
		return
	}
	c.mu.Lock()
	var recs []*record
	for _, rec := range c.records {
		if rec.cur != nil && rec.load == nil {
			recs = append(recs, rec)
		}
	}
	c.mu.Unlock()
	for _, rec := range recs {
		if ctx.Err() != nil {
			return
		}
		c.check(ctx, rec)
	}
}

// check compares rec with its manifest.
func (c *Cache) check(ctx context.Context, rec *record) {
	c.mu.Lock()
	cur, r := rec.cur, rec.remote
	c.mu.Unlock()
	if cur == nil {
		return
	}
	if r.unpublished {
		if err := c.publish(ctx, rec, cur); err != nil {
			c.Logger.Warn("publish failed: will retry", "id", rec.id, "err", err)
		} else {
			c.Logger.Info("published after the store came back", "id", rec.id)
		}
		return
	}
	m, tag, err := c.readManifest(ctx, rec.id, r.etag)
	switch {
	case errors.Is(err, store.ErrNotModified):
		return
	case err != nil:
		return
	case m == nil:
		// Purged on another replica (or never published: the store is
		// the truth once it is configured).
		c.mu.Lock()
		if c.records[rec.id] == rec && rec.load == nil {
			c.drop(rec)
			c.Logger.Info("purged in the store: dropped", "id", rec.id)
		}
		c.mu.Unlock()
	case m.Version != cur.ver():
		c.mu.Lock()
		if c.records[rec.id] == rec && rec.load == nil && c.admit("") == nil { // else at a later check
			c.startLoad(rec, source{url: rec.url, stored: true})
		}
		c.mu.Unlock()
	default:
		// Revalidated elsewhere: that counts here too.
		c.mu.Lock()
		rec.remote.etag = tag
		if m.Sidecar.CheckedAt.After(rec.checkedAt) {
			rec.checkedAt = m.Sidecar.CheckedAt
		}
		c.mu.Unlock()
	}
}

// startRemote starts the check loop when the cache shares a store.
func (c *Cache) startRemote() {
	if c.Remote == nil {
		return
	}
	c.readMarkers()
	c.loads.Add(1)
	go c.checkLoop()
}

// readMarkers flags the versions found on disk that were loaded while the
// store was unreachable and not published before a restart; markers of
// versions that are gone are removed.
func (c *Cache) readMarkers() {
	markers, _ := filepath.Glob(filepath.Join(c.Dir, "*"+unpublishedExt))
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range markers {
		name := strings.TrimSuffix(filepath.Base(m), unpublishedExt)
		rec := c.records[name[:min(32, len(name))]]
		if rec == nil || rec.cur == nil || rec.cur.name != name {
			os.Remove(m)
			continue
		}
		rec.remote.unpublished = true
	}
}
