package query

import (
	"context"
	"fmt"
	"reflect"
	"testing"
	"time"
)

// searchFixture has accents, case, NULLs, punctuation and numbers in text,
// and rows with no text at all, over 3,000 rows (several row groups of
// rowids in the bitmaps, pages past the first).
const searchFixture = `CREATE TABLE data AS SELECT
	i AS n,
	CASE WHEN i % 11 = 0 THEN NULL ELSE (['Saint-Étienne','PARIS','Lyon','Évry-Courcouronnes','Orléans','l''Île-d''Yeu','Œuvre','Straße'])[i % 8 + 1] || ' ' || (i % 97)::VARCHAR END AS nom,
	CASE WHEN i % 7 = 0 THEN NULL ELSE printf('%05d', (i * 37) % 3000) END AS code,
	CASE WHEN i % 13 = 0 THEN NULL WHEN i % 2 = 0 THEN 'Île-de-France' ELSE 'Auvergne-Rhône-Alpes' END AS region,
	i * 1.5 AS x
FROM range(3000) r(i)`

// indexedTable returns t with its search shadow and token index, built by
// x; it fails the test when they are not ready within a minute.
func indexedTable(tb testing.TB, x *SearchIndex, t Table, rows int64) Table {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		indexed := x.Prepare(t, "v1", rows)
		if indexed.tokens != nil {
			return indexed
		}
		if time.Now().After(deadline) {
			tb.Fatal("search token index not ready after a minute")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSearchTokenIndex checks that pages answered from the token index
// (rows, totals, cursors) equal those of the SQL paths: folding on the fly,
// and the shadow table.
func TestSearchTokenIndex(t *testing.T) {
	db := openDB(t, searchFixture)
	plain := describe(t, db, "data")
	x := NewSearchIndex(db)
	x.MinRows = 0
	defer x.Close()
	indexed := indexedTable(t, x, plain, 3000)
	shadowOnly := indexed
	shadowOnly.tokens = nil
	ctx := context.Background()
	queries := []string{
		"etienne", "ÉTIENNE saint", "saint-etienne", "SAINT etienne 12", "12", "1", "e", "zzz", "ile de",
		"île-de-france", "œuvre", "OEUVRE", "strasse", "straße", "yeu l", "00012", "rhone 5", "   ", "\u0301", "paris zzz",
		"1,5", "%", "´", "ÉVRY courcouronnes 9", "d'yeu", "-de-", "l'île-d'yeu 5", "rhone-alpes", "e-c", "ile-de-FRANCE 00",
		"s-e", "étienne-", "-", "alpes\x1fi",
	}
	// Words with punctuation are answered by the index too, from its texts.
	if _, ok := indexed.tokens.match([]string{"saint-etienne", "d'yeu"}); !ok {
		t.Error("the token index does not answer saint-etienne")
	}
	for _, q := range queries {
		for _, r := range []Request{
			{Search: q, Limit: 20},
			{Search: q, Limit: 7, Offset: 5},
			{Search: q, Limit: 0},
			{Search: q, Limit: 1000, HideTotal: true},
			{Search: q, Limit: 3, Columns: []string{"nom"}, HideRowID: true},
		} {
			name := fmt.Sprintf("q=%q limit=%d offset=%d", q, r.Limit, r.Offset)
			want, err := Run(ctx, db, plain, r)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for _, tbl := range []Table{shadowOnly, indexed} {
				got, err := Run(ctx, db, tbl, r)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s (index %v): got total %d, %d rows, next %q; want total %d, %d rows, next %q\ngot  %.300v\nwant %.300v",
						name, tbl.tokens != nil, got.Total, len(got.Rows), got.Next, want.Total, len(want.Rows), want.Next, got.Rows, want.Rows)
				}
			}
		}
		// Follow the cursors to the end, every way: the shadow's semi-join
		// once returned rows out of file order, and pages skipped rows.
		r := Request{Search: q, Limit: 150}
		for pages := 0; pages < 100; pages++ {
			want, err := Run(ctx, db, plain, r)
			if err != nil {
				t.Fatal(err)
			}
			for _, tbl := range []Table{shadowOnly, indexed} {
				got, err := Run(ctx, db, tbl, r)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("q=%q page %d by cursor (index %v): got %d rows, next %q; want %d rows, next %q",
						q, pages, tbl.tokens != nil, len(got.Rows), got.Next, len(want.Rows), want.Next)
				}
			}
			if want.Next == "" {
				break
			}
			r.After = want.Next
		}
	}
}

// TestSearchTokenIndexErrors: the index path refuses what Run refuses.
func TestSearchTokenIndexErrors(t *testing.T) {
	db := openDB(t, searchFixture)
	plain := describe(t, db, "data")
	x := NewSearchIndex(db)
	x.MinRows = 0
	defer x.Close()
	indexed := indexedTable(t, x, plain, 3000)
	for _, r := range []Request{
		{Search: "a b c d e f g h i j k l m n o p q r s t u", Limit: 20},
		{Search: "paris", Limit: 20, After: "bogus"},
		{Search: "paris", Limit: 20, Offset: -1},
		{Search: "paris", Limit: 20, Columns: []string{"nope"}},
	} {
		_, want := Run(context.Background(), db, plain, r)
		_, got := Run(context.Background(), db, indexed, r)
		if want == nil || got == nil || got.Error() != want.Error() {
			t.Errorf("%+v: error %v, want %v", r, got, want)
		}
	}
}

// TestSearchTokenBudget: a table whose index would not fit MaxTokenBytes
// is still searched, through its shadow.
func TestSearchTokenBudget(t *testing.T) {
	db := openDB(t, searchFixture)
	plain := describe(t, db, "data")
	x := NewSearchIndex(db)
	x.MinRows, x.MaxTokenBytes = 0, 1000
	defer x.Close()
	var indexed Table
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		indexed = x.Prepare(plain, "v1", 3000)
		x.mu.Lock()
		building := x.building
		x.mu.Unlock()
		if indexed.SearchRelation != "" && building == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("search shadow not ready after a minute")
		}
	}
	indexed = x.Prepare(plain, "v1", 3000)
	if indexed.tokens != nil {
		t.Fatalf("token index of %d bytes built with a budget of 1000", indexed.tokens.bytes())
	}
	r := Request{Search: "etienne 12", Limit: 20}
	want, err := Run(context.Background(), db, plain, r)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Run(context.Background(), db, indexed, r)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) || want.Total == 0 {
		t.Errorf("got total %d, want %d", got.Total, want.Total)
	}
}

func TestTokenWindow(t *testing.T) {
	m := make([]uint64, 3)
	set := []int64{0, 5, 63, 64, 100, 150, 191}
	for _, r := range set {
		m[r/64] |= 1 << (r % 64)
	}
	tests := []struct {
		after   int64
		skip, n int
		want    []int64
	}{
		{-1, 0, 3, []int64{0, 5, 63}},
		{-1, 2, 3, []int64{63, 64, 100}},
		{5, 0, 2, []int64{63, 64}},
		{63, 1, 10, []int64{100, 150, 191}},
		{191, 0, 10, nil},
		{-1, 7, 10, nil},
		{-1, 0, 0, nil},
	}
	for _, tt := range tests {
		if got := window(m, tt.after, tt.skip, tt.n); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("window(after %d, skip %d, n %d) = %v, want %v", tt.after, tt.skip, tt.n, got, tt.want)
		}
	}
	if got := count(m); got != int64(len(set)) {
		t.Errorf("count = %d, want %d", got, len(set))
	}
}
