package query

import (
	"context"
	"database/sql"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/csvapi/csvapi/convert"
)

// TestPageTotalMerged checks that a page counted in its own statement
// (pageTotalStmt, chosen through Hints) is the page and total of the two
// statements it replaces: filters, sorts with NULLs and ties, offsets
// inside and past the end, pages that hold every row, and cursor walks.
func TestPageTotalMerged(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i,
		CASE WHEN range % 11 = 0 THEN NULL ELSE (range * 7) % 13 END AS k,
		CASE WHEN range % 5 = 0 THEN NULL ELSE 'v' || (range % 4) END AS s,
		DATE '2024-01-01' + ((range * 3) % 10)::INTEGER AS d,
		((range * 37) % 17) / 4.0 AS x
		FROM range(600)`)
	plain := describe(t, db, "data")
	hinted := plain
	hinted.Rows, hinted.Hints, hinted.Busy = 1<<40, NewHints(), true // every count is "few"

	filters := [][]Filter{
		{{Column: "i", Op: OpGt, Value: "20"}},
		{{Column: "s", Op: OpExact, Value: "v1"}, {Column: "k", Op: OpLess, Value: "8"}},
		{{Column: "k", Op: OpIsNull}},
		{{Column: "s", Op: OpExact, Value: "none"}},
	}
	sorts := [][]Sort{
		{{Column: "k"}},
		{{Column: "k", Desc: true}},
		{{Column: "s"}, {Column: "k", Desc: true}},
		{{Column: "d", Desc: true}, {Column: "x"}},
		{{Column: "rowid", Desc: true}},
	}
	ctx := context.Background()
	for _, f := range filters {
		for _, sort := range sorts {
			for _, page := range []struct{ limit, offset int }{{7, 0}, {7, 14}, {1000, 0}, {5, 590}, {3, 10_000}} {
				r := Request{Filters: f, Sort: sort, Limit: page.limit, Offset: page.offset}
				name := fmt.Sprintf("%v %v %d+%d", f, sort, page.offset, page.limit)
				want, err := Run(ctx, db, plain, r)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				// The first run teaches the hints; the second must merge.
				if _, err := Run(ctx, db, hinted, r); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !merges(t, hinted, r) {
					t.Fatalf("%s: not counted in the page's statement", name)
				}
				got, err := Run(ctx, db, hinted, r)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s:\ngot  %+v\nwant %+v", name, got, want)
				}
			}
			// A walk by cursor: the first page merges, the next ones
			// (whose condition includes the cursor) count on their own.
			walk := func(tbl Table) []Page {
				var pages []Page
				r := Request{Filters: f, Sort: sort, Limit: 25}
				for range 100 {
					p, err := Run(ctx, db, tbl, r)
					if err != nil {
						t.Fatal(err)
					}
					pages = append(pages, *p)
					if p.Next == "" {
						return pages
					}
					r.After = p.Next
				}
				t.Fatal("more than 100 pages")
				return nil
			}
			if got, want := walk(hinted), walk(plain); !reflect.DeepEqual(got, want) {
				t.Errorf("%v %v: walk differs:\ngot  %+v\nwant %+v", f, sort, got, want)
			}
		}
	}
}

// merges reports whether Run would count r's rows in the page's statement.
func merges(t *testing.T, tbl Table, r Request) bool {
	t.Helper()
	p, err := compile(tbl, r)
	if err != nil {
		t.Fatal(err)
	}
	return tbl.Busy && p.mergeableTotal() && tbl.Hints.few(tbl.Hints.key(tbl, p), tbl.Rows)
}

func TestHints(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i, range % 10 AS g FROM range(1000)`)
	tbl := describe(t, db, "data")
	tbl.Rows, tbl.Hints, tbl.Busy = 1000, NewHints(), true
	ctx := context.Background()
	few := Request{Filters: []Filter{{Column: "g", Op: OpExact, Value: "3"}, {Column: "i", Op: OpGt, Value: "500"}}, Sort: []Sort{{Column: "i", Desc: true}}, Limit: 5}
	many := Request{Filters: []Filter{{Column: "i", Op: OpGt, Value: "100"}}, Sort: []Sort{{Column: "i", Desc: true}}, Limit: 5}
	for _, tc := range []struct {
		name string
		r    Request
		want bool
	}{
		{"few rows match", few, true},                            // 49 ≤ 1000/16
		{"many rows match", many, false},                         // 899 > 1000/16
		{"unfiltered", Request{Sort: few.Sort, Limit: 5}, false}, // counted from metadata
		{"file order", Request{Filters: few.Filters, Limit: 5}, false},
		{"total hidden", Request{Filters: few.Filters, Sort: few.Sort, Limit: 5, HideTotal: true}, false},
	} {
		if merges(t, tbl, tc.r) {
			t.Errorf("%s: merges before any query", tc.name)
		}
		if _, err := Run(ctx, db, tbl, tc.r); err != nil {
			t.Fatal(err)
		}
		if got := merges(t, tbl, tc.r); got != tc.want {
			t.Errorf("%s: merges %v after a query, want %v", tc.name, got, tc.want)
		}
	}
	// Another value of the same filters is the same shape.
	other := few
	other.Filters = []Filter{{Column: "g", Op: OpExact, Value: "7"}, {Column: "i", Op: OpGt, Value: "10"}}
	if !merges(t, tbl, other) {
		t.Error("same shape, other values: does not merge")
	}
	// Without Rows or Hints, or alone on the cores, never.
	for _, t2 := range []Table{
		{Relation: tbl.Relation, Columns: tbl.Columns, Hints: tbl.Hints, Busy: true},
		{Relation: tbl.Relation, Columns: tbl.Columns, Rows: 1000, Busy: true},
		{Relation: tbl.Relation, Columns: tbl.Columns, Rows: 1000, Hints: tbl.Hints},
	} {
		if merges(t, t2, few) {
			t.Errorf("Rows %d, Hints %v, Busy %v: merges", t2.Rows, t2.Hints != nil, t2.Busy)
		}
	}
}

// TestKeysetBranches checks the conjunctions that let DuckDB filter a deep
// page in its scan (TestCursorWalk checks the rows).
func TestKeysetBranches(t *testing.T) {
	tbl := Table{Relation: "data", Columns: []convert.Column{{Name: "a", Type: "BIGINT"}, {Name: "b", Type: "VARCHAR"}}}
	v := func(s string) sql.NullString { return sql.NullString{String: s, Valid: true} }
	for _, tc := range []struct {
		sort []Sort
		vals []sql.NullString
		want []string
	}{
		{[]Sort{{Column: "a"}}, []sql.NullString{v("5"), v("9")}, []string{
			`t."a" > CAST(? AS BIGINT)`,
			`t."a" IS NULL`,
			`t."a" = CAST(? AS BIGINT) AND t.rowid > CAST(? AS BIGINT)`}},
		{[]Sort{{Column: "a", Desc: true}, {Column: "b"}}, []sql.NullString{v("5"), v("x"), v("9")}, []string{
			`t."a" < CAST(? AS BIGINT)`,
			`t."a" IS NULL`,
			`t."a" = CAST(? AS BIGINT) AND t."b" > CAST(? AS VARCHAR)`,
			`t."a" = CAST(? AS BIGINT) AND t."b" IS NULL`,
			`t."a" = CAST(? AS BIGINT) AND t."b" = CAST(? AS VARCHAR) AND t.rowid > CAST(? AS BIGINT)`}},
		{[]Sort{{Column: "b"}}, []sql.NullString{{}, v("9")}, []string{
			`t."b" IS NULL AND t.rowid > CAST(? AS BIGINT)`}},
		{[]Sort{{Column: "rowid", Desc: true}}, []sql.NullString{v("9")}, []string{
			`t.rowid < CAST(? AS BIGINT)`}},
	} {
		p, err := compile(tbl, Request{Sort: tc.sort, Limit: 10, Offset: 3})
		if err != nil {
			t.Fatal(err)
		}
		keys, err := p.compileOrder(tbl, tc.sort)
		if err != nil {
			t.Fatal(err)
		}
		p.keys, p.branches = keys, keysetBranches(keys, tc.vals)
		var got []string
		for _, br := range p.branches {
			got = append(got, br.sql)
			if n := strings.Count(br.sql, "?"); n != len(br.args) {
				t.Errorf("%v: branch %s has %d placeholders, arguments %v", tc.sort, br.sql, n, br.args)
			}
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%v: branches\n%s\nwant\n%s", tc.sort, strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
		}
		page := p.pageStmt()
		if strings.Count(page.sql, "?") != len(page.args) || strings.Count(page.sql, " UNION ALL ") != len(p.branches)-1 {
			t.Errorf("%v: page %s with arguments %v", tc.sort, page.sql, page.args)
		}
	}
}

// TestCursorWalkSearch walks pages by cursor with q, whose pages keep the
// single keyset condition (keysetCond) rather than the branches.
func TestCursorWalkSearch(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i,
		CASE WHEN range % 11 = 0 THEN NULL ELSE (range * 7) % 13 END AS k,
		CASE WHEN range % 5 = 0 THEN NULL ELSE 'v' || (range % 4) END AS s
		FROM range(300)`)
	tbl := describe(t, db, "data")
	for _, sort := range [][]Sort{{{Column: "k"}}, {{Column: "s", Desc: true}, {Column: "k"}}, {{Column: "rowid", Desc: true}}} {
		all := rowIDs(t, db, tbl, Request{Limit: -1, Sort: sort, Search: "v1"})
		if len(all) < 20 {
			t.Fatalf("%v: %d rows match, want a few pages", sort, len(all))
		}
		var walked []int64
		r := Request{Limit: 7, Sort: sort, Search: "v1"}
		for pages := 0; ; pages++ {
			if pages > 100 {
				t.Fatal("more than 100 pages")
			}
			p, err := Run(context.Background(), db, tbl, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, row := range p.Rows {
				walked = append(walked, row[0].(int64))
			}
			if p.Next == "" {
				break
			}
			r.After = p.Next
		}
		if !slices.Equal(walked, all) {
			t.Errorf("%v: walked %v\nwant   %v", sort, walked, all)
		}
	}
}
