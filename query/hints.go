package query

// This file holds Hints, what Run learns from the totals of past queries.

import (
	"hash/maphash"
	"sync"
)

// Hints remembers, for each table and shape of filters (the WHERE clause
// with its placeholders, not the values), how many rows the last query
// matched. Run uses it to choose how to count a filtered, sorted page:
// in the page's own statement when few rows matched last time (one scan of
// the filter columns instead of two) and other queries share the cores
// (Table.Busy), in a count statement of its own otherwise (counting many rows in the page's statement costs more than a
// second scan). Results never depend on Hints, only their cost. A Hints is
// safe for concurrent use; the zero value is not usable, call NewHints.
type Hints struct {
	seed   maphash.Seed
	mu     sync.Mutex
	totals map[uint64]int64 // by hash of the shape: a long IN list costs 8 bytes
}

// maxHintShapes bounds the shapes a Hints remembers: past it, it forgets
// them all and learns again.
const maxHintShapes = 10_000

// fewRowsDivisor says how few rows "few" is: at most the table's rows
// divided by it. On 1 M rows (one numeric filter, sorted page of 20) the
// merged statement was cheaper up to about 5–10 % of the rows matching
// and dearer beyond, so 1/16 leaves a margin.
const fewRowsDivisor = 16

// NewHints returns an empty Hints.
func NewHints() *Hints {
	return &Hints{seed: maphash.MakeSeed(), totals: map[uint64]int64{}}
}

// key returns the key of the shape of p's filters on t, a hash (two
// shapes that collide only share a hint, never results); 0 when h is nil
// or there are no filters.
func (h *Hints) key(t Table, p *plan) uint64 {
	if h == nil || p.where == "" {
		return 0
	}
	return maphash.String(h.seed, t.Relation+"\x00"+p.where) | 1
}

// few reports whether the last query of the shape key matched few rows of
// a table of rows rows; false when unknown.
func (h *Hints) few(key uint64, rows int64) bool {
	if h == nil || key == 0 || rows <= 0 {
		return false
	}
	h.mu.Lock()
	total, ok := h.totals[key]
	h.mu.Unlock()
	return ok && total <= rows/fewRowsDivisor
}

// atMost reports whether the last query of the shape key matched at most
// n rows; false when unknown.
func (h *Hints) atMost(key uint64, n int64) bool {
	if h == nil || key == 0 {
		return false
	}
	h.mu.Lock()
	total, ok := h.totals[key]
	h.mu.Unlock()
	return ok && total <= n
}

// record remembers total as the last number of rows matched by the shape
// key.
func (h *Hints) record(key uint64, total int64) {
	if h == nil || key == 0 || total < 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.totals) >= maxHintShapes {
		clear(h.totals)
	}
	h.totals[key] = total
}
