package cache

import (
	"sync/atomic"
	"time"
)

// Stats are counters and gauges of the cache, for metrics.
type Stats struct {
	Entries         int   // resources ready to serve
	Bytes           int64 // size of their database files
	Attached        int   // database files attached
	Loading         int   // loads running or queued
	Queued          int   // loads waiting for a slot
	Hits            int64 // requests served by a ready entry
	Misses          int64 // requests that started a load
	Evictions       int64
	Revalidations   int64 // conditional reloads started
	BytesDownloaded int64
	RowsLoaded      int64
	DuckDBRestarts  int64 // serving instances replaced by Heal
}

// LoadEvent describes a finished load, for metrics.
type LoadEvent struct {
	Outcome  string // "loaded", "unchanged", "failed" or "canceled"
	Duration time.Duration
	Bytes    int64 // downloaded
	Rows     int64 // loaded
}

// counters are the monotonic parts of Stats.
type counters struct {
	hits, misses, evictions, revalidations, bytes, rows, queued, heals atomic.Int64
}

// Stats returns a snapshot of the cache's counters and gauges.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	s := Stats{Attached: len(c.attached)}
	for _, rec := range c.records {
		if rec.cur != nil {
			s.Entries++
			s.Bytes += rec.cur.size
		}
		if rec.load != nil {
			s.Loading++
		}
	}
	c.mu.Unlock()
	s.Queued = int(c.stats.queued.Load())
	s.Hits, s.Misses = c.stats.hits.Load(), c.stats.misses.Load()
	s.Evictions, s.Revalidations = c.stats.evictions.Load(), c.stats.revalidations.Load()
	s.BytesDownloaded, s.RowsLoaded = c.stats.bytes.Load(), c.stats.rows.Load()
	s.DuckDBRestarts = c.stats.heals.Load()
	return s
}
