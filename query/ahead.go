package query

// This file holds countAhead, the count of a page's total run beside the
// page's own statement.

import (
	"context"
	"database/sql"
)

// countAhead is the count statement of a page's total running on a
// connection of its own while the page's statement runs. Alone on the
// cores, a page leaves one of them idle part of the time (its pipelines
// end one thread at a time, rows come back to Go one by one), and the
// count fills it: the page and its total then take about the time of the
// longer of the two rather than their sum. With other queries running,
// the cores are already busy and a second statement only competes with
// them, so Run does not count ahead then (Table.Busy).
type countAhead struct {
	cancel context.CancelFunc
	done   chan struct{} // closed when the count has returned
	total  int64
	err    error
	used   bool // wait returned the count (not stop alone), for tests
	waited bool // stop has returned once
}

// testHookCountAhead, when set by a test, sees every countAhead once Run
// is done with it (its goroutine has returned).
var testHookCountAhead func(a *countAhead)

// countAhead starts counting p's total beside its page when the total
// will be needed, the count may be dear and the cores are free; nil
// otherwise, and Run counts after the page if the page does not say the
// total itself. Not counted ahead: a hidden total; a total the page's
// statement counts (p.withTotal); an unfiltered one, which DuckDB answers
// from its metadata; and one that Hints says the page itself will give
// (the last query of this shape matched no more rows than the page reads).
// The caller must stop the returned countAhead (stop accepts nil).
func (p *plan) countAhead(ctx context.Context, db *sql.DB, t Table, hint uint64) *countAhead {
	if t.Busy || p.hideTotal || p.withTotal || p.where == "" || p.limit < 0 ||
		(p.after < 0 && t.Hints.atMost(hint, int64(p.offset+p.limit))) {
		return nil
	}
	ctx, cancel := context.WithCancel(ctx)
	a := &countAhead{cancel: cancel, done: make(chan struct{})}
	c := p.countStmt() // built here: the page's statement may change p meanwhile
	go func() {
		defer close(a.done)
		a.total, a.err = countRows(ctx, db, c)
	}()
	return a
}

// wait returns the count once it has run.
func (a *countAhead) wait() (int64, error) {
	<-a.done
	a.used = true
	a.stop()
	return a.total, a.err
}

// stop cancels the count if it still runs and waits until it has
// returned, so that no statement outlives the query slot of its request.
// It may be called several times, and on nil.
func (a *countAhead) stop() {
	if a == nil || a.waited {
		return
	}
	a.cancel()
	<-a.done
	a.waited = true
	if hook := testHookCountAhead; hook != nil {
		hook(a)
	}
}
