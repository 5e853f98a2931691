package cache

import (
	"context"
	"database/sql"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// ServingDB returns the DuckDB instance that serves queries now. It
// changes when Heal replaces an unusable instance: fetch it per request.
func (c *Cache) ServingDB() *sql.DB {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.DB
}

// Heal replaces the serving DuckDB instance when err shows it unusable
// (convert.Unusable: a FATAL error invalidates a DuckDB database until it
// is reopened) and a probe confirms it: a fresh instance is opened with
// Reopen, every version is marked detached so that the next Acquire
// re-attaches it, and OnHeal is told. The old instance is closed once its
// running queries end. It reports whether the instance was replaced.
func (c *Cache) Heal(ctx context.Context, err error) bool {
	if !convert.Unusable(err) || c.Reopen == nil {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.healLocked(ctx)
}

// CheckDB probes the serving instance, replacing it when it is unusable.
// It returns the probe's error when the instance could not be healed.
func (c *Cache) CheckDB(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	err := probe(ctx, c.DB)
	if err == nil || !convert.Unusable(err) || c.Reopen == nil {
		return err
	}
	if c.healLocked(ctx) {
		return nil
	}
	return err
}

// healLocked replaces c.DB if a probe fails. Called with c.mu held, so
// that concurrent failures heal once.
func (c *Cache) healLocked(ctx context.Context) bool {
	if err := probe(ctx, c.DB); err == nil || !convert.Unusable(err) {
		return false // healed already, or a passing error
	}
	db, err := c.Reopen()
	if err != nil {
		c.Logger.Error("reopen duckdb", "err", err)
		return false
	}
	old := c.DB
	c.DB = db
	for v := range c.attached {
		v.attached = false
	}
	c.attached = map[*version]bool{}
	c.stats.heals.Add(1)
	c.Logger.Warn("the DuckDB instance was invalidated and has been replaced")
	if c.OnHeal != nil {
		c.OnHeal(db)
	}
	go old.Close() // waits for the queries still running on it
	return true
}

func probe(ctx context.Context, db *sql.DB) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}
