package cache

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// versionFile matches the name of a complete version's database file.
var versionFile = regexp.MustCompile(`^([0-9a-f]{32})-([0-9a-f]{16})\.duckdb$`)

// sidecar is the JSON file beside each version: what a restart needs to
// know without opening the database.
type sidecar struct {
	Options     *Options      `json:"options,omitempty"` // the options of the load, for reloads
	Meta        *convert.Meta `json:"meta"`
	ContentHash string        `json:"content_hash"`
	CheckedAt   time.Time     `json:"checked_at"`
}

func (c *Cache) tmpDir() string { return filepath.Join(c.Dir, "tmp") }

func (c *Cache) file(v *version, ext string) string { return filepath.Join(c.Dir, v.name+ext) }

// scan indexes the cache directory at start. Temporary files are leftovers
// of interrupted loads: removed. For each id the newest complete version
// wins and older ones are removed. A version without a readable sidecar is
// opened to rebuild it, and removed if that fails.
func (c *Cache) scan() error {
	if err := removeAllIn(c.tmpDir()); err != nil {
		return err
	}
	files, err := os.ReadDir(c.Dir)
	if err != nil {
		return err
	}
	newest := map[string]string{} // id → version name
	for _, f := range files {
		name := f.Name()
		switch m := versionFile.FindStringSubmatch(name); {
		case m != nil:
			base := strings.TrimSuffix(name, ".duckdb")
			if old, ok := newest[m[1]]; !ok || base > old {
				newest[m[1]] = base
			}
		case strings.Contains(name, ".duckdb.tmp-") || strings.HasSuffix(name, ".wal") || strings.HasSuffix(name, ".json.tmp"):
			c.Logger.Info("removing leftover of an interrupted load", "file", name)
			if err := os.Remove(filepath.Join(c.Dir, name)); err != nil {
				return err
			}
		}
	}
	for _, f := range files {
		name := f.Name()
		if m := versionFile.FindStringSubmatch(name); m != nil && strings.TrimSuffix(name, ".duckdb") != newest[m[1]] {
			removeFiles(filepath.Join(c.Dir, name))
		}
		if base, ok := strings.CutSuffix(name, ".json"); ok && len(base) == 49 && newest[base[:32]] != base {
			os.Remove(filepath.Join(c.Dir, name))
		}
		if base, ok := strings.CutSuffix(name, profileExt); ok && len(base) == 49 && newest[base[:32]] != base {
			os.Remove(filepath.Join(c.Dir, name))
		}
	}
	for id, name := range newest {
		if err := c.index(id, name); err != nil {
			c.Logger.Warn("removing unreadable cache entry", "id", id, "err", err)
			removeFiles(filepath.Join(c.Dir, name+".duckdb"))
			os.Remove(filepath.Join(c.Dir, name+profileExt))
		}
	}
	c.Logger.Info("cache indexed", "entries", len(c.records))
	return nil
}

// index adds the version name of id found on disk.
func (c *Cache) index(id, name string) error {
	v := &version{name: name}
	st, err := os.Stat(c.file(v, ".duckdb"))
	if err != nil {
		return err
	}
	v.size = st.Size()
	sc, lastUsed, err := c.readSidecar(v)
	if err != nil {
		if sc, err = c.rebuildSidecar(v); err != nil {
			return err
		}
		lastUsed = time.Now()
	}
	v.meta, v.hash = sc.Meta, sc.ContentHash
	if sc.Options != nil {
		v.opts = *sc.Options
	}
	rec := &record{id: id, url: sc.Meta.URL, cur: v, lastUsed: lastUsed, checkedAt: sc.CheckedAt}
	v.rec = rec
	c.records[id] = rec
	return nil
}

func (c *Cache) readSidecar(v *version) (*sidecar, time.Time, error) {
	path := c.file(v, ".json")
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	var sc sidecar
	if err := json.Unmarshal(b, &sc); err != nil || sc.Meta == nil {
		return nil, time.Time{}, fmt.Errorf("sidecar %s: invalid", path)
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, time.Time{}, err
	}
	return &sc, st.ModTime(), nil
}

// rebuildSidecar reads the metadata stored inside the database file, which
// is the source of truth, and writes the sidecar again.
func (c *Cache) rebuildSidecar(v *version) (*sidecar, error) {
	ctx := context.Background()
	if err := c.attach(ctx, v); err != nil {
		return nil, err
	}
	meta, err := convert.ReadMeta(ctx, c.DB, v.alias())
	c.detach(v)
	if err != nil {
		return nil, err
	}
	v.meta, v.hash = meta, meta.ContentHash
	// The options are lost with the sidecar, except those the metadata
	// records.
	v.opts.Sheet, v.opts.File = meta.Sheet, meta.File
	if err := c.writeSidecar(v, meta.LoadedAt); err != nil {
		return nil, err
	}
	return &sidecar{Meta: meta, ContentHash: meta.ContentHash, Options: &v.opts, CheckedAt: meta.LoadedAt}, nil
}

// writeSidecar writes v's sidecar atomically.
func (c *Cache) writeSidecar(v *version, checkedAt time.Time) error {
	b, err := json.Marshal(sidecar{Meta: v.meta, ContentHash: v.hash, Options: &v.opts, CheckedAt: checkedAt})
	if err != nil {
		return err
	}
	path := c.file(v, ".json")
	if err := os.WriteFile(path+".tmp", b, 0o644); err != nil {
		return err
	}
	return os.Rename(path+".tmp", path)
}

// updateValidators keeps the new ETag and Last-Modified of unchanged content.
func (c *Cache) updateValidators(v *version, etag, lastModified string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if v.retired { // purged or replaced meanwhile: its files are gone
		return
	}
	m := *v.meta
	m.ETag, m.LastModified = etag, lastModified
	v.meta = &m
	if err := c.writeSidecar(v, c.now()); err != nil {
		c.Logger.Warn("sidecar not updated", "file", v.name, "err", err)
	}
}

// attach makes v queryable, detaching the least recently used idle version
// when MaxAttached files are attached already. Called with c.mu held.
func (c *Cache) attach(ctx context.Context, v *version) error {
	if v.attached {
		return nil
	}
	max := c.MaxAttached
	if max <= 0 {
		max = DefaultMaxAttached
	}
	for len(c.attached) >= max {
		var lru *version
		for a := range c.attached {
			if a.refs == 0 && (lru == nil || a.used.Before(lru.used)) {
				lru = a
			}
		}
		if lru == nil {
			break // every attached file is in use: go over the bound for a while
		}
		c.detach(lru)
	}
	sql := "ATTACH IF NOT EXISTS " + convert.QuoteLiteral(c.file(v, ".duckdb")) + " AS " + v.alias() + " (READ_ONLY)"
	if _, err := c.DB.ExecContext(context.WithoutCancel(ctx), sql); err != nil {
		return fmt.Errorf("attach %s: %w", v.name, err)
	}
	v.attached = true
	c.attached[v] = true
	return nil
}

func (c *Cache) detach(v *version) {
	if !v.attached {
		return
	}
	if _, err := c.DB.Exec("DETACH DATABASE IF EXISTS " + v.alias()); err != nil {
		c.Logger.Warn("detach failed", "file", v.name, "err", err)
	}
	v.attached = false
	delete(c.attached, v)
}

// retire takes v out of service: deleted now if idle, else by the last
// Release. Called with c.mu held.
func (c *Cache) retire(v *version) {
	v.retired = true
	if c.OnRetire != nil {
		c.OnRetire(v.name[:32], v.ver())
	}
	if v.refs == 0 {
		c.destroy(v)
	}
}

// destroy detaches v and deletes its files. Called with c.mu held.
func (c *Cache) destroy(v *version) {
	c.detach(v)
	removeFiles(c.file(v, ".duckdb"))
	os.Remove(c.file(v, ".json"))
	os.Remove(c.file(v, profileExt))
	os.Remove(c.file(v, unpublishedExt)) // with a shared store (remote.go)
}

// evict removes least recently used entries until the cache fits MaxBytes
// and MaxEntries. Entries in use or loading, and keep, are skipped.
func (c *Cache) evict(keep *record) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweepFailures()
	if c.MaxBytes <= 0 && c.MaxEntries <= 0 {
		return
	}
	now := c.now()
	var total int64
	var ready []*record
	for _, rec := range c.records {
		if rec.cur != nil {
			total += rec.cur.size
			ready = append(ready, rec)
		}
	}
	sort.Slice(ready, func(i, j int) bool { return ready[i].lastUsed.Before(ready[j].lastUsed) })
	count := len(ready)
	for _, rec := range ready {
		if (c.MaxBytes <= 0 || total <= c.MaxBytes) && (c.MaxEntries <= 0 || count <= c.MaxEntries) {
			return
		}
		// A version that became ready a moment ago and was not handed out
		// yet is spared: the waiters of its load are about to pin it (keep
		// only covers the load that called evict, not one finishing beside it).
		fresh := !rec.pinned && now.Sub(rec.readyAt) < readyGrace
		if rec.cur.refs > 0 || rec.load != nil || rec == keep || fresh {
			continue
		}
		c.Logger.Info("evicted", "id", rec.id, "url", rec.url, "bytes", rec.cur.size, "last_used", rec.lastUsed)
		total -= rec.cur.size
		count--
		c.stats.evictions.Add(1)
		c.retire(rec.cur)
		delete(c.records, rec.id)
	}
}

// readyGrace is how long a new version waits for its waiters before it may
// be evicted.
const readyGrace = 2 * time.Second

// maxFailures bounds the negative cache: past it, the oldest failures are
// forgotten first.
const maxFailures = 10_000

// sweepFailures forgets failed loads older than FailureTTL, and the oldest
// ones past maxFailures, so that a stream of broken URLs cannot grow the
// index without bound. Called with c.mu held.
func (c *Cache) sweepFailures() {
	now := c.now()
	var fails []*record
	for id, rec := range c.records {
		if rec.cur != nil || rec.load != nil {
			continue
		}
		if rec.fail == nil || now.Sub(rec.fail.at) >= c.failureTTL() {
			delete(c.records, id)
			continue
		}
		fails = append(fails, rec)
	}
	if len(fails) > maxFailures {
		sort.Slice(fails, func(i, j int) bool { return fails[i].fail.at.Before(fails[j].fail.at) })
		for _, rec := range fails[:len(fails)-maxFailures] {
			delete(c.records, rec.id)
		}
	}
}

// Info describes one cache entry, for operators.
type Info struct {
	ID            string    `json:"id"`
	URL           string    `json:"url,omitempty"`
	Filename      string    `json:"filename,omitempty"`
	State         State     `json:"state"`
	Bytes         int64     `json:"bytes"`
	Rows          int64     `json:"rows"`
	LoadedAt      time.Time `json:"loaded_at,omitzero"`
	LastUsed      time.Time `json:"last_used,omitzero"`
	RevalidatedAt time.Time `json:"revalidated_at,omitzero"`
	Error         string    `json:"error,omitempty"`
}

// List describes every entry, most recently used first.
func (c *Cache) List() []Info {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Info, 0, len(c.records))
	for _, rec := range c.records {
		i := Info{ID: rec.id, URL: rec.url, LastUsed: rec.lastUsed, RevalidatedAt: rec.checkedAt}
		switch {
		case rec.cur != nil:
			i.State, i.Bytes, i.Rows = StateReady, rec.cur.size, rec.cur.meta.Rows
			i.LoadedAt, i.Filename = rec.cur.meta.LoadedAt, rec.cur.meta.Filename
		case rec.load != nil:
			i.State = rec.load.state.Load().(State)
		case rec.fail != nil:
			i.State, i.Error = StateFailed, rec.fail.err.Error()
		default:
			continue
		}
		out = append(out, i)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LastUsed.After(out[j].LastUsed) })
	return out
}

func removeAllIn(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

func removeFiles(dbPath string) {
	os.Remove(dbPath)
	os.Remove(dbPath + ".wal")
}
