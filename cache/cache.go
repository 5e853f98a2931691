// Package cache maps resource ids to loaded, queryable DuckDB tables.
//
// Each resource is one DuckDB database file <Dir>/<id>.duckdb, built by
// convert.Load under a temporary name and renamed into place when complete,
// then ATTACHed read-only to the process-wide DuckDB instance on first use.
// Concurrent requests for the same resource share one download and one load.
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
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"

	"github.com/csvapi/csvapi/convert"
)

// DefaultLoadTimeout bounds one download plus conversion.
const DefaultLoadTimeout = 30 * time.Minute

// ErrNotFound is returned for an id that has no loaded resource.
var ErrNotFound = errors.New("resource not found")

// Entry is a loaded resource, attached and ready to query.
type Entry struct {
	ID       string
	Relation string // SQL text naming its table, e.g. "r_<id>".main.data
	Meta     *convert.Meta
}

// Options are per-request conversion options: overrides of what convert
// detects (encoding, delimiter, quote, header, skip, decimal).
type Options = convert.Options

// Cache holds the loaded resources. Set the exported fields before first use.
type Cache struct {
	Dir         string
	DB          *sql.DB
	Fetcher     *convert.Fetcher
	MaxFileSize int64         // cap on uploads and decompressed content
	LoadTimeout time.Duration // DefaultLoadTimeout when zero
	Logger      *slog.Logger

	group    singleflight.Group
	mu       sync.Mutex
	attached map[string]*Entry
}

// New prepares the cache directory: it creates it if needed and removes the
// leftovers of loads that were interrupted (temporary downloads and
// half-built database files), which are never served.
func New(dir string, db *sql.DB, fetcher *convert.Fetcher, logger *slog.Logger) (*Cache, error) {
	c := &Cache{
		Dir:         dir,
		DB:          db,
		Fetcher:     fetcher,
		MaxFileSize: fetcher.MaxSize,
		Logger:      logger,
		attached:    map[string]*Entry{},
	}
	if err := os.MkdirAll(c.tmpDir(), 0o755); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	if err := c.removeLeftovers(); err != nil {
		return nil, fmt.Errorf("cache dir: %w", err)
	}
	return c, nil
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

// Get returns the loaded resource id, attaching its file on first use.
// It returns ErrNotFound when the resource has not been loaded.
func (c *Cache) Get(ctx context.Context, id string) (*Entry, error) {
	if !ValidID(id) {
		return nil, ErrNotFound
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.attached[id]; ok {
		return e, nil
	}
	path := c.path(id)
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return nil, ErrNotFound
	}
	alias := "r_" + id
	if _, err := c.DB.ExecContext(ctx, "ATTACH IF NOT EXISTS "+quoteLiteral(path)+" AS "+alias+" (READ_ONLY)"); err != nil {
		return nil, fmt.Errorf("attach %s: %w", id, err)
	}
	meta, err := convert.ReadMeta(ctx, c.DB, alias)
	if err != nil {
		return nil, err
	}
	e := &Entry{ID: id, Relation: alias + ".main.data", Meta: meta}
	c.attached[id] = e
	return e, nil
}

// Apify returns the resource for rawURL, downloading and converting it if
// it is not loaded yet. Concurrent calls for one URL share a single load,
// which runs on its own context: a caller that gives up (ctx done) gets
// ctx's error while the load goes on for the others.
//
// Errors come from convert (ErrInvalidURL, ErrForbiddenAddress, *FetchError,
// ErrTooLarge, ErrNotTabular, ErrUnsupportedEncoding) or from ctx.
func (c *Cache) Apify(ctx context.Context, rawURL string, opts Options) (*Entry, error) {
	id := ID(rawURL)
	if e, err := c.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		return e, err
	}
	return c.loadOnce(ctx, id, func(ctx context.Context) error {
		return c.fetchAndLoad(ctx, id, rawURL, opts)
	})
}

// Upload converts the file read from r; its id is the MD5 of its content.
// It returns convert.ErrTooLarge when r holds more than MaxFileSize bytes,
// and the conversion errors of Apify.
func (c *Cache) Upload(ctx context.Context, r io.Reader, filename string, opts Options) (*Entry, error) {
	raw, err := os.CreateTemp(c.tmpDir(), "upload-*")
	if err != nil {
		return nil, err
	}
	defer os.Remove(raw.Name())
	h := md5.New()
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
	id := hex.EncodeToString(h.Sum(nil))
	if e, err := c.Get(ctx, id); !errors.Is(err, ErrNotFound) {
		return e, err
	}
	return c.loadOnce(ctx, id, func(ctx context.Context) error {
		meta := &convert.Meta{ID: id, Filename: filepath.Base(filename), FetchedAt: time.Now().UTC(), SourceSize: n}
		return c.convert(ctx, id, raw.Name(), opts, meta)
	})
}

// loadOnce runs load for id unless a load of id is already running, then
// returns the attached entry.
func (c *Cache) loadOnce(ctx context.Context, id string, load func(context.Context) error) (*Entry, error) {
	ch := c.group.DoChan(id, func() (any, error) {
		timeout := c.LoadTimeout
		if timeout <= 0 {
			timeout = DefaultLoadTimeout
		}
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
		defer cancel()
		if _, err := c.Get(lctx, id); !errors.Is(err, ErrNotFound) {
			return nil, err // loaded by a call that finished just before this one started
		}
		return nil, load(lctx)
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err
		}
		return c.Get(ctx, id)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (c *Cache) fetchAndLoad(ctx context.Context, id, rawURL string, opts Options) error {
	start := time.Now()
	raw, err := os.CreateTemp(c.tmpDir(), "download-*")
	if err != nil {
		return err
	}
	defer os.Remove(raw.Name())
	dl, err := c.Fetcher.Fetch(ctx, rawURL, raw)
	if cerr := raw.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	c.Logger.Info("downloaded", "id", id, "url", rawURL, "bytes", dl.Size, "duration", time.Since(start))
	meta := &convert.Meta{
		ID: id, URL: rawURL, FetchedAt: time.Now().UTC(),
		ETag: dl.ETag, LastModified: dl.LastModified, SourceSize: dl.Size,
	}
	return c.convert(ctx, id, raw.Name(), opts, meta)
}

// convert normalizes and loads the raw file at src into the resource's
// database file. Intermediate files live in a directory of their own,
// removed whatever happens.
func (c *Cache) convert(ctx context.Context, id, src string, opts Options, meta *convert.Meta) error {
	start := time.Now()
	work, err := os.MkdirTemp(c.tmpDir(), id+"-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	n, err := convert.Normalize(src, work, opts.Encoding, c.MaxFileSize)
	if err != nil {
		return err
	}
	meta.Encoding, meta.Compression = n.Encoding, n.Compression
	if err := convert.Load(ctx, c.DB, n.Path, c.path(id), opts, meta); err != nil {
		return err
	}
	c.Logger.Info("loaded", "id", id, "url", meta.URL, "rows", meta.Rows, "bytes", n.Size, "duration", time.Since(start))
	return nil
}

func (c *Cache) path(id string) string { return filepath.Join(c.Dir, id+".duckdb") }
func (c *Cache) tmpDir() string        { return filepath.Join(c.Dir, "tmp") }

func (c *Cache) removeLeftovers() error {
	tmp, err := os.ReadDir(c.tmpDir())
	if err != nil {
		return err
	}
	for _, f := range tmp {
		if err := os.RemoveAll(filepath.Join(c.tmpDir(), f.Name())); err != nil {
			return err
		}
	}
	files, err := os.ReadDir(c.Dir)
	if err != nil {
		return err
	}
	for _, f := range files {
		name := f.Name()
		if strings.Contains(name, ".duckdb.tmp-") || strings.HasSuffix(name, ".duckdb.wal") {
			c.Logger.Info("removing leftover of an interrupted load", "file", name)
			if err := os.Remove(filepath.Join(c.Dir, name)); err != nil {
				return err
			}
		}
	}
	return nil
}

func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}
