package query

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"testing"
)

// watchCountAhead records the countAheads Run stops until the test ends.
func watchCountAhead(t *testing.T) *[]*countAhead {
	t.Helper()
	var seen []*countAhead
	testHookCountAhead = func(a *countAhead) {
		select {
		case <-a.done:
		default:
			t.Error("count ahead still running when Run is done with it")
		}
		seen = append(seen, a)
	}
	t.Cleanup(func() { testHookCountAhead = nil })
	return &seen
}

// TestCountAhead checks when Run counts a page's total beside the page's
// statement (alone on the cores, a filtered total the page does not say),
// that the count is waited for and used when the page does not say the
// total, stopped and ignored when it does, and that Hints skip it when the
// last query of the shape matched no more rows than a page.
func TestCountAhead(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i, range % 10 AS g FROM range(1000)`)
	alone := describe(t, db, "data")
	alone.Rows, alone.Hints = 1000, NewHints()
	busy := alone
	busy.Busy = true
	ctx := context.Background()
	many := Request{Filters: []Filter{{Column: "g", Op: OpExact, Value: "3"}}, Sort: []Sort{{Column: "i", Desc: true}}, Limit: 5}
	few := Request{Filters: []Filter{{Column: "i", Op: OpLt, Value: "3"}}, Sort: []Sort{{Column: "i", Desc: true}}, Limit: 5}
	first, err := Run(ctx, db, alone, many)
	if err != nil {
		t.Fatal(err)
	}
	after := many
	after.After = first.Next
	hidden := many
	hidden.HideTotal = true
	unfiltered := Request{Sort: many.Sort, Limit: 5}
	for _, c := range []struct {
		name        string
		t           Table
		r           Request
		total       int64
		ahead, used bool
	}{
		{"many rows match", alone, many, 100, true, true},
		{"after a cursor", alone, after, 100, true, true},
		{"the page holds every row, shape not seen", alone, few, 3, true, false},
		{"the page holds every row, as last time", alone, few, 3, false, false}, // Hints: 3 ≤ 5
		{"busy", busy, many, 100, false, false},
		{"total hidden", alone, hidden, -1, false, false},
		{"unfiltered", alone, unfiltered, 1000, false, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			seen := watchCountAhead(t)
			page, err := Run(ctx, db, c.t, c.r)
			if err != nil {
				t.Fatal(err)
			}
			if page.Total != c.total {
				t.Errorf("total %d, want %d", page.Total, c.total)
			}
			if got := len(*seen) == 1; got != c.ahead || len(*seen) > 1 {
				t.Fatalf("%d counts ahead, want ahead %v", len(*seen), c.ahead)
			}
			if c.ahead && (*seen)[0].used != c.used {
				t.Errorf("count ahead used %v, want %v", (*seen)[0].used, c.used)
			}
		})
	}
}

// TestCountAheadStops checks that a page that fails stops its count
// ahead before Run returns, and returns the page's error.
func TestCountAheadStops(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i, range % 10 AS g FROM range(1000)`)
	tbl := describe(t, db, "data")
	seen := watchCountAhead(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Run(ctx, db, tbl, Request{Filters: []Filter{{Column: "g", Op: OpExact, Value: "3"}}, Limit: 5})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if len(*seen) != 1 || (*seen)[0].used {
		t.Fatalf("%d counts ahead, want 1, stopped unused", len(*seen))
	}
}

// TestCountAheadSameResults checks that pages counted ahead are the pages
// counted after the page's statement (Busy, no Hints): filters, sorts with
// NULLs and ties, offsets inside and past the end, cursor walks, facets.
func TestCountAheadSameResults(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i,
		CASE WHEN range % 11 = 0 THEN NULL ELSE (range * 7) % 13 END AS k,
		CASE WHEN range % 5 = 0 THEN NULL ELSE 'v' || (range % 4) END AS s
		FROM range(500)`)
	alone := describe(t, db, "data")
	alone.Rows, alone.Hints = 500, NewHints()
	sequential := describe(t, db, "data")
	sequential.Busy = true
	ctx := context.Background()
	for _, f := range [][]Filter{
		{{Column: "i", Op: OpGt, Value: "20"}},
		{{Column: "s", Op: OpExact, Value: "v1"}, {Column: "k", Op: OpLess, Value: "8"}},
		{{Column: "k", Op: OpIsNull}},
		{{Column: "s", Op: OpExact, Value: "none"}},
	} {
		for _, sort := range [][]Sort{nil, {{Column: "k"}}, {{Column: "s"}, {Column: "k", Desc: true}}} {
			for _, pg := range []struct{ limit, offset int }{{7, 0}, {7, 14}, {1000, 0}, {3, 10_000}} {
				r := Request{Filters: f, Sort: sort, Limit: pg.limit, Offset: pg.offset, Facets: []string{"s"}}
				name := fmt.Sprintf("%v %v %d+%d", f, sort, pg.offset, pg.limit)
				for walked := 0; walked < 4; walked++ {
					want, err := Run(ctx, db, sequential, r)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					got, err := Run(ctx, db, alone, r)
					if err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if !reflect.DeepEqual(got, want) {
						t.Fatalf("%s, page %d:\n got %+v\nwant %+v", name, walked, got, want)
					}
					if want.Next == "" {
						break
					}
					r.After, r.Offset = want.Next, 0
				}
			}
		}
	}
}
