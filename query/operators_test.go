package query

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// oddFixture has columns with awkward names and text values with accents,
// commas, quotes, percent signs, an empty string and a NULL.
const oddFixture = `CREATE TABLE data AS SELECT * FROM (VALUES
	(1, 'Saint-Étienne', 10.5, DATE '2024-01-15', true),
	(2, 'a,b', 20.0, DATE '2024-02-01', false),
	(3, 'say "hi"', NULL, NULL, NULL),
	(4, '100%', -3.25, DATE '2023-12-31', true),
	(5, '', 0.0, DATE '2024-01-01', false),
	(6, NULL, 7.0, DATE '2024-03-10', true),
	(7, 'ÉTIENNE saint', 10.5, DATE '2024-01-15', false)
) v("n", "a b.c__d""e", "x.y", "le jour", "ok")`

func TestOperators(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	const text, num, day = `a b.c__d"e`, "x.y", "le jour"
	tests := []struct {
		col, op, value string
		want           []int64
		wantErr        string
	}{
		{text, "exact", "a,b", []int64{2}, ""},
		{text, "exact", "", []int64{5}, ""},
		{text, "not", "a,b", []int64{1, 3, 4, 5, 7}, ""},
		{text, "differs", "", []int64{1, 2, 3, 4, 6, 7}, ""}, // keeps NULL, as IS DISTINCT FROM
		{num, "differs", "10.5", []int64{2, 3, 4, 5, 6}, ""},
		{num, "not", "10.5", []int64{2, 4, 5, 6}, ""},
		{text, "contains", "%", []int64{4}, ""},
		{text, "contains", `"hi"`, []int64{3}, ""},
		{text, "notcontains", "e", []int64{2, 3, 4, 5}, ""},
		{text, "icontains", "etienne", []int64{1, 7}, ""},
		{text, "icontains", "ÉTIENNE", []int64{1, 7}, ""},
		{text, "contains", "étienne", []int64{1, 7}, ""}, // case-insensitive
		{text, "contains", "etienne", nil, ""},           // but accent-sensitive
		{text, "startswith", "saint", []int64{1}, ""},
		{text, "endswith", "SAINT", []int64{7}, ""},
		{text, "in", "a,b", nil, ""}, // "a" and "b": neither is a value
		{text, "in", `["a,b","100%"]`, []int64{2, 4}, ""},
		{text, "in", `["a,b",`, nil, "JSON array"},
		{text, "notin", `["a,b","100%"]`, []int64{1, 3, 5, 7}, ""},
		{text, "isnull", "", []int64{6}, ""},
		{text, "isnull", "1", []int64{6}, ""},
		{text, "isnull", "0", []int64{1, 2, 3, 4, 5, 7}, ""},
		{text, "isnull", "maybe", nil, "expects nothing"},
		{text, "notnull", "", []int64{1, 2, 3, 4, 5, 7}, ""},
		{text, "isnotnull", "", []int64{1, 2, 3, 4, 5, 7}, ""},
		{text, "isblank", "", []int64{5, 6}, ""},
		{text, "notblank", "", []int64{1, 2, 3, 4, 7}, ""},
		{text, "lt", "x", nil, "expects a number"},
		{text, "like", "x", nil, `unknown operator "like"`},

		{num, "exact", "10.5", []int64{1, 7}, ""},
		{num, "exact", "10,5", []int64{1, 7}, ""},
		{num, "not", "10.5", []int64{2, 4, 5, 6}, ""},
		{num, "lt", "0", []int64{4}, ""},
		{num, "strictly_less", "0", []int64{4}, ""},
		{num, "lte", "0", []int64{4, 5}, ""},
		{num, "less", "0", []int64{4, 5}, ""},
		{num, "gt", "10.5", []int64{2}, ""},
		{num, "strictly_greater", "10.5", []int64{2}, ""},
		{num, "gte", "10.5", []int64{1, 2, 7}, ""},
		{num, "greater", "10.5", []int64{1, 2, 7}, ""},
		{num, "between", "0,10.5", []int64{1, 5, 6, 7}, ""},
		{num, "between", `["-5","0"]`, []int64{4, 5}, ""},
		{num, "between", "1,2,3", nil, "two values"},
		{num, "in", "7,20", []int64{2, 6}, ""},
		{num, "notin", "7,20", []int64{1, 4, 5, 7}, ""},
		{num, "in", "7,x", nil, "expects a number"},
		{num, "isnull", "", []int64{3}, ""},
		{num, "isblank", "", []int64{3}, ""},
		{num, "contains", "10", []int64{1, 7}, ""},
		{num, "gt", "abc", nil, "expects a number"},

		{day, "exact", "15/01/2024", []int64{1, 7}, ""},
		{day, "lt", "2024-01-01", []int64{4}, ""},
		{day, "gte", "2024-02-01", []int64{2, 6}, ""},
		{day, "between", "2024-01-01,2024-01-31", []int64{1, 5, 7}, ""},
		{day, "in", "2024-01-01,2023-12-31", []int64{4, 5}, ""},
		{day, "notnull", "", []int64{1, 2, 4, 5, 6, 7}, ""},
		{day, "gt", "tomorrow", nil, "expects a date"},
		{day, "startswith", "2024-01", []int64{1, 5, 7}, ""},

		{"ok", "exact", "true", []int64{1, 4, 6}, ""},
		{"ok", "not", "true", []int64{2, 5, 7}, ""},
		{"ok", "in", "oui,non", []int64{1, 2, 4, 5, 6, 7}, ""},
		{"ok", "gt", "true", nil, "cannot compare a boolean"},

		{"n", "in", "1,3", []int64{1, 3}, ""},
		{"n", "in", "1.5", nil, ""}, // no integer equals 1.5
		{"n", "between", "6,100", []int64{6, 7}, ""},
		{"rowid", "gt", "5", []int64{6, 7}, ""},
	}
	for _, tt := range tests {
		param := tt.col + "__" + tt.op
		t.Run(param+"="+tt.value, func(t *testing.T) {
			r := Request{Limit: 100, Filters: []Filter{{Column: tt.col, Op: Op(tt.op), Value: tt.value}}}
			p, err := Run(context.Background(), db, tbl, r)
			if tt.wantErr != "" {
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Param != param || !strings.Contains(ie.Message, tt.wantErr) {
					t.Fatalf("error = %v, want an InvalidError on %s containing %q", err, param, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got := []int64{}
			for _, row := range p.Rows {
				got = append(got, row[1].(int64))
			}
			want := tt.want
			if want == nil {
				want = []int64{}
			}
			if !slices.Equal(got, want) {
				t.Errorf("n = %v, want %v", got, want)
			}
			if p.Total != int64(len(want)) {
				t.Errorf("total = %d, want %d", p.Total, len(want))
			}
		})
	}
}

func TestConds(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	f := func(col, op, v string) Cond { return Cond{Filter: &Filter{Column: col, Op: Op(op), Value: v}} }
	tests := []struct {
		name string
		r    Request
		want []int64
	}{
		{"or", Request{Where: []Cond{{Or: true, Conds: []Cond{f("n", "exact", "1"), f("x.y", "gt", "15")}}}}, []int64{1, 2}},
		{"or and", Request{Where: []Cond{{Or: true, Conds: []Cond{
			f("n", "exact", "1"),
			{Conds: []Cond{f("ok", "exact", "true"), f("x.y", "lt", "8")}},
		}}}}, []int64{1, 4, 6}},
		{"or with filter", Request{Filters: []Filter{{Column: "ok", Op: OpExact, Value: "false"}},
			Where: []Cond{{Or: true, Conds: []Cond{f("n", "exact", "2"), f("n", "exact", "7"), f("n", "exact", "1")}}}}, []int64{2, 7}},
		{"empty or", Request{Where: []Cond{{Or: true}}}, []int64{}},
		{"search", Request{Search: "étienne SAINT"}, []int64{1, 7}},
		{"search two columns", Request{Search: "etienne 10,5"}, []int64{}}, // numbers are not searched: there are text columns
		{"search none", Request{Search: "zzz"}, []int64{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.r.Limit = 100
			if got := rowIDs(t, db, tbl, tt.r); !slices.Equal(got, tt.want) {
				t.Errorf("rowids = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSearchIndex checks that the folded shadow answers as direct folding
// does.
func TestSearchIndex(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	x := NewSearchIndex(db)
	x.MinRows = 0
	defer x.Close()
	var indexed Table
	for deadline := time.Now().Add(10 * time.Second); indexed.SearchRelation == "" && time.Now().Before(deadline); {
		indexed = x.Prepare(tbl, "v1", 7)
		time.Sleep(10 * time.Millisecond)
	}
	if indexed.SearchRelation == "" {
		t.Fatal("search shadow not ready after 10 s")
	}
	for _, q := range []string{"etienne", "ÉTIENNE saint", "%", `"hi"`, "a,b", "nothing", "100"} {
		r := Request{Limit: 100, Search: q}
		want := rowIDs(t, db, tbl, r)
		if got := rowIDs(t, db, indexed, r); !slices.Equal(got, want) {
			t.Errorf("q=%q: with the shadow %v, directly %v", q, got, want)
		}
	}
}

func TestColumnsSelection(t *testing.T) {
	db, tbl := fixtureTable(t)
	tests := []struct {
		r       Request
		want    []string
		wantErr string
	}{
		{Request{Columns: []string{"name", "id"}}, []string{"rowid", "name", "id"}, ""},
		{Request{Columns: []string{"name", "rowid", "name"}, HideRowID: true}, []string{"name"}, ""},
		{Request{Omit: []string{"rowid", "price", "amount", "ok", "day", "ts", "hour"}}, []string{"id", "name", "code"}, ""},
		{Request{Columns: []string{"name", "id"}, Omit: []string{"id"}}, []string{"rowid", "name"}, ""},
		{Request{Columns: []string{"nope"}}, nil, "_col"},
		{Request{Omit: []string{"nope"}}, nil, "_nocol"},
	}
	for _, tt := range tests {
		tt.r.Limit = 1
		p, err := Run(context.Background(), db, tbl, tt.r)
		if tt.wantErr != "" {
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Param != tt.wantErr {
				t.Errorf("%+v: error = %v, want an InvalidError on %s", tt.r, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(p.Columns, tt.want) || len(p.Rows[0]) != len(tt.want) || len(p.Kinds) != len(tt.want) {
			t.Errorf("%+v: columns %v (row %v), want %v", tt.r, p.Columns, p.Rows[0], tt.want)
		}
	}
}

func TestFacets(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	p, err := Run(context.Background(), db, tbl, Request{Limit: 0, Facets: []string{"ok", "x.y"}, FacetSize: 2,
		Filters: []Filter{{Column: "n", Op: OpNot, Value: "4"}}})
	if err != nil {
		t.Fatal(err)
	}
	got := fmt.Sprint(p.Facets)
	want := "[{ok [{false 3} {true 2}] true} {x.y [{10.5 2} {0 1}] true}]" // by count, then value
	if got != want {
		t.Errorf("facets = %s, want %s", got, want)
	}
	if _, err := Run(context.Background(), db, tbl, Request{Facets: []string{"nope"}}); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown facet column: error = %v, want ErrInvalid", err)
	}
}

// TestCursorWalk checks that following Next from the first page visits
// every row exactly once, in the order of a single unpaged query, for
// every kind of sort, with NULLs and ties.
func TestCursorWalk(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT range AS i,
		CASE WHEN range % 11 = 0 THEN NULL ELSE (range * 7) % 13 END AS k,
		CASE WHEN range % 5 = 0 THEN NULL ELSE 'v' || (range % 4) END AS s,
		DATE '2024-01-01' + ((range * 3) % 10)::INTEGER AS d,
		range % 3 = 0 AS b,
		((range * 37) % 17) / 4.0 AS x
		FROM range(230)`)
	tbl := describe(t, db, "data")
	sorts := [][]Sort{
		nil,
		{{Column: "k"}},
		{{Column: "k", Desc: true}},
		{{Column: "s"}, {Column: "k", Desc: true}},
		{{Column: "b", Desc: true}, {Column: "d"}, {Column: "x", Desc: true}},
		{{Column: "rowid", Desc: true}},
		{{Column: "x"}, {Column: "rowid", Desc: true}},
	}
	filters := []Filter{{Column: "i", Op: OpGt, Value: "20"}}
	for _, sort := range sorts {
		t.Run(fmt.Sprint(sort), func(t *testing.T) {
			all := rowIDs(t, db, tbl, Request{Limit: -1, Sort: sort, Filters: filters})
			var walked []int64
			r := Request{Limit: 17, Sort: sort, Filters: filters}
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
				if p.Total != int64(len(all)) {
					t.Fatalf("page %d: total %d, want %d", pages, p.Total, len(all))
				}
				if p.Next == "" {
					break
				}
				r.After = p.Next
			}
			if !slices.Equal(walked, all) {
				t.Errorf("walked %v\nwant   %v", walked, all)
			}
		})
	}
}

func TestCursorTampering(t *testing.T) {
	db, tbl := fixtureTable(t)
	p, err := Run(context.Background(), db, tbl, Request{Limit: 2, Sort: []Sort{{Column: "price"}}})
	if err != nil || p.Next == "" {
		t.Fatalf("first page: %v, next %q", err, p.Next)
	}
	for _, token := range []string{"x", "!!!", "'; DROP TABLE data; --", p.Next + "A", "MTIz", "LTEuYWJj"} {
		_, err := Run(context.Background(), db, tbl, Request{Limit: 2, Sort: []Sort{{Column: "price"}}, After: token})
		var ie *InvalidError
		if !errors.As(err, &ie) || ie.Param != "_next" {
			t.Errorf("token %q: error = %v, want an InvalidError on _next", token, err)
		}
	}
	// A token of another order is refused rather than misread.
	if _, err := Run(context.Background(), db, tbl, Request{Limit: 2, After: p.Next}); !errors.Is(err, ErrInvalid) {
		t.Errorf("token of another sort: error = %v, want ErrInvalid", err)
	}
	// A well-formed token for a row that does not exist is an empty page.
	forged := encodeCursor(mustCompile(t, tbl, Request{Sort: []Sort{{Column: "price"}}}).sortSig, 1<<40)
	p, err = Run(context.Background(), db, tbl, Request{Limit: 2, Sort: []Sort{{Column: "price"}}, After: forged})
	if err != nil || len(p.Rows) != 0 || p.Next != "" {
		t.Errorf("forged token: %v, %d rows, next %q; want an empty last page", err, len(p.Rows), p.Next)
	}
}

func mustCompile(t *testing.T, tbl Table, r Request) *plan {
	t.Helper()
	p, err := compile(tbl, r)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestFiltersProperty runs random combinations of filters and OR groups
// and compares the rows with a naive Go evaluation over the same data.
func TestFiltersProperty(t *testing.T) {
	type rec struct {
		n   int64
		x   *float64
		s   *string
		day *time.Time
	}
	rng := rand.New(rand.NewPCG(1, 2))
	words := []string{"alpha", "Beta", "gamma,delta", "50%", `q"t`, "", "beta"}
	var data []rec
	var values []string
	for i := range 120 {
		r := rec{n: int64(rng.IntN(20) - 5)}
		if rng.IntN(6) > 0 {
			x := float64(rng.IntN(40)) / 4
			r.x = &x
		}
		if rng.IntN(6) > 0 {
			s := words[rng.IntN(len(words))]
			r.s = &s
		}
		if rng.IntN(6) > 0 {
			d := time.Date(2024, 1, 1+rng.IntN(20), 0, 0, 0, 0, time.UTC)
			r.day = &d
		}
		data = append(data, r)
		values = append(values, fmt.Sprintf("(%d, %d, %s, %s, %s)", i, r.n, sqlOr(r.x, func(x float64) string { return fmt.Sprint(x) }),
			sqlOr(r.s, func(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }),
			sqlOr(r.day, func(d time.Time) string { return "DATE '" + d.Format(time.DateOnly) + "'" })))
	}
	db := openDB(t, "CREATE TABLE data AS SELECT * FROM (VALUES "+strings.Join(values, ",")+") v(i, n, x, s, day) ORDER BY i")
	tbl := describe(t, db, "data")
	tbl.Columns = tbl.Columns[1:] // i is only there to keep the order

	type gen struct {
		f    Filter
		eval func(rec) bool
	}
	cmpF := func(a *float64, op string, b float64) bool {
		if a == nil {
			return false
		}
		switch op {
		case "lt":
			return *a < b
		case "lte":
			return *a <= b
		case "gt":
			return *a > b
		case "gte":
			return *a >= b
		case "exact":
			return *a == b
		case "not":
			return *a != b
		}
		panic(op)
	}
	randFilter := func() gen {
		switch rng.IntN(7) {
		case 0:
			op := []string{"lt", "lte", "gt", "gte", "exact", "not"}[rng.IntN(6)]
			v := int64(rng.IntN(20) - 5)
			return gen{Filter{"n", Op(op), fmt.Sprint(v)}, func(r rec) bool { x := float64(r.n); return cmpF(&x, op, float64(v)) }}
		case 1:
			op := []string{"lt", "lte", "gt", "gte", "exact", "not"}[rng.IntN(6)]
			v := float64(rng.IntN(40)) / 4
			return gen{Filter{"x", Op(op), strings.Replace(fmt.Sprint(v), ".", ",", 1)}, func(r rec) bool { return cmpF(r.x, op, v) }}
		case 2:
			w := words[rng.IntN(len(words))]
			return gen{Filter{"s", OpExact, w}, func(r rec) bool { return r.s != nil && *r.s == w }}
		case 3:
			w := strings.ToUpper(words[rng.IntN(len(words))])
			if len(w) > 2 {
				w = w[1:3]
			}
			neg := rng.IntN(2) == 0
			op := OpContains
			if neg {
				op = OpNotContains
			}
			return gen{Filter{"s", op, w}, func(r rec) bool {
				return r.s != nil && strings.Contains(strings.ToLower(*r.s), strings.ToLower(w)) != neg
			}}
		case 4:
			a, b := rng.IntN(20)+1, rng.IntN(20)+1
			lo, hi := time.Date(2024, 1, min(a, b), 0, 0, 0, 0, time.UTC), time.Date(2024, 1, max(a, b), 0, 0, 0, 0, time.UTC)
			return gen{Filter{"day", OpBetween, lo.Format("02/01/2006") + "," + hi.Format(time.DateOnly)}, func(r rec) bool {
				return r.day != nil && !r.day.Before(lo) && !r.day.After(hi)
			}}
		case 5:
			vs := []int64{int64(rng.IntN(20) - 5), int64(rng.IntN(20) - 5)}
			neg := rng.IntN(2) == 0
			op := OpIn
			if neg {
				op = OpNotIn
			}
			return gen{Filter{"n", op, fmt.Sprintf("%d,%d", vs[0], vs[1])}, func(r rec) bool { return slices.Contains(vs, r.n) != neg }}
		default:
			col := []string{"x", "s", "day"}[rng.IntN(3)]
			op := []Op{OpIsNull, OpNotNull, OpIsBlank, OpNotBlank}[rng.IntN(4)]
			return gen{Filter{col, op, ""}, func(r rec) bool {
				null := map[string]bool{"x": r.x == nil, "s": r.s == nil, "day": r.day == nil}[col]
				blank := null || (col == "s" && *r.s == "")
				switch op {
				case OpIsNull:
					return null
				case OpNotNull:
					return !null
				case OpIsBlank:
					return blank
				}
				return !blank
			}}
		}
	}
	for iter := range 300 {
		var r Request
		var evals []func(rec) bool
		for range rng.IntN(3) {
			g := randFilter()
			r.Filters = append(r.Filters, g.f)
			evals = append(evals, g.eval)
		}
		if rng.IntN(2) == 0 {
			a, b, c := randFilter(), randFilter(), randFilter()
			r.Where = append(r.Where, Cond{Or: true, Conds: []Cond{{Filter: &a.f}, {Conds: []Cond{{Filter: &b.f}, {Filter: &c.f}}}}})
			evals = append(evals, func(x rec) bool { return a.eval(x) || (b.eval(x) && c.eval(x)) })
		}
		want := []int64{}
		for i, d := range data {
			ok := true
			for _, e := range evals {
				ok = ok && e(d)
			}
			if ok {
				want = append(want, int64(i+1))
			}
		}
		r.Limit = -1
		if got := rowIDs(t, db, tbl, r); !slices.Equal(got, want) {
			t.Fatalf("iteration %d: %+v %+v\ngot  %v\nwant %v", iter, r.Filters, r.Where, got, want)
		}
	}
}

func sqlOr[T any](p *T, f func(T) string) string {
	if p == nil {
		return "NULL"
	}
	return f(*p)
}
