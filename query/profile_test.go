package query

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

func TestProfile(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	tp, err := Profile(context.Background(), db, tbl, Request{Filters: []Filter{{Column: "n", Op: OpNot, Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tp)
	got := string(b)
	for _, want := range []string{
		`"rows":6`,
		`{"name":"n","type":"integer","count":6,"nulls":0,"distinct":6,"distinct_approx":false,"min":1,"max":7,"mean":4.333333333333333,"std":2.160246899469287,"median":4.5,"quartiles":[3.25,4.5,5.75]`,
		`"histogram":[{"from":1,"count":1},{"from":2,"count":0},{"from":3,"count":1}`,
		`{"name":"x.y","type":"number","count":5,"nulls":1,"distinct":4,"distinct_approx":false,"min":-3.25,"max":10.5`,
		`"top":[{"value":10.5,"count":2},{"value":-3.25,"count":1}`,
		`{"name":"le jour","type":"date","count":5,"nulls":1,"distinct":4,"distinct_approx":false,"min":"2023-12-31","max":"2024-03-10","median":"2024-01-15"`,
		`"histogram":[{"from":"2023-12","count":1},{"from":"2024-01","count":3},{"from":"2024-03","count":1}]`,
		`{"name":"a b.c__d\"e","type":"string","count":5,"nulls":1,"distinct":5`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("profile lacks %s\n%s", want, got)
		}
	}
}

// TestProfileLargeTable checks a profile of more than 100,000 rows (where
// distinct counts used to be estimates) against the exact answers computed
// here with plain SQL.
func TestProfileLargeTable(t *testing.T) {
	const rows = 150_000
	db := openDB(t, `CREATE TABLE data AS SELECT
		CASE WHEN i % 10 < 4 THEN 'paris' WHEN i % 10 < 7 THEN 'lyon' WHEN i % 10 < 9 THEN 'nice' ELSE 'x' || i END AS ville,
		i % 7 AS k,
		CASE WHEN i % 1000 = 0 THEN NULL ELSE DATE '2020-01-01' + (i % 900)::INTEGER END AS jour
		FROM range(`+strconv.Itoa(rows)+`) r(i)`)
	tbl := describe(t, db, "data")
	tp, err := Profile(context.Background(), db, tbl, Request{Filters: []Filter{{Column: "k", Op: OpNot, Value: "6"}}})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]ColumnProfile{}
	for _, c := range tp.Columns {
		byName[c.Name] = c
	}
	where := " FROM data WHERE k <> 6"
	want := func(q string) []FacetValue {
		t.Helper()
		r, err := db.Query(q)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out []FacetValue
		for r.Next() {
			var v any
			var n int64
			if err := r.Scan(&v, &n); err != nil {
				t.Fatal(err)
			}
			out = append(out, FacetValue{Value: normalize(v, formDefault), Count: n})
		}
		return out
	}
	ville := byName["ville"]
	if got, exp := fmt.Sprint(ville.Top[:3]), fmt.Sprint(want("SELECT ville, count(*) AS n"+where+" GROUP BY ALL ORDER BY n DESC LIMIT 3")); got != exp {
		t.Errorf("ville top: %s, want %s", got, exp)
	}
	var distinct int64
	if err := db.QueryRow("SELECT count(DISTINCT ville)" + where).Scan(&distinct); err != nil {
		t.Fatal(err)
	}
	if ville.DistinctApprox || ville.Distinct != distinct || len(ville.Top) != TopValues {
		t.Errorf("ville: distinct %d (approx %v), %d top values; want exactly %d, %d", ville.Distinct, ville.DistinctApprox, len(ville.Top), distinct, TopValues)
	}
	if jour := byName["jour"]; jour.Distinct != 900 || jour.Nulls == 0 {
		t.Errorf("jour: distinct %d, nulls %d; want 900 (NULL not counted), some", jour.Distinct, jour.Nulls)
	}
	k := byName["k"]
	if got, exp := fmt.Sprint(k.Top), fmt.Sprint(want("SELECT k, count(*) AS n"+where+" GROUP BY ALL ORDER BY n DESC, k")); got != exp {
		t.Errorf("k top: %s, want %s", got, exp)
	}
	var hist []FacetValue
	for _, b := range k.Histogram {
		hist = append(hist, FacetValue{Value: b.From, Count: b.Count})
	}
	if got, exp := fmt.Sprint(hist), fmt.Sprint(want("SELECT k, count(*)"+where+" GROUP BY k ORDER BY k")); got != exp {
		t.Errorf("k histogram: %s, want %s", got, exp)
	}
	hist = nil
	for _, b := range byName["jour"].Histogram {
		hist = append(hist, FacetValue{Value: b.From, Count: b.Count})
	}
	// Three years: one bin a year.
	if got, exp := fmt.Sprint(hist), fmt.Sprint(want("SELECT strftime(jour, '%Y') AS y, count(*)"+where+" AND jour IS NOT NULL GROUP BY y ORDER BY y")); got != exp {
		t.Errorf("jour histogram: %s, want %s", got, exp)
	}
	jourTop := byName["jour"].Top
	nulls := false
	for _, v := range jourTop {
		nulls = nulls || v.Value == nil
	}
	if nulls { // ~140 NULLs cannot beat dates counted ~160 times each
		t.Errorf("jour top lists NULL: %v", jourTop)
	}
}

// TestProfileLargeTableSearch: the sampled statement composes with a
// search and a filter.
func TestProfileLargeTableSearch(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT 'ville ' || (i % 50) AS nom, i % 7 AS k FROM range(300000) r(i)`)
	tbl := describe(t, db, "data")
	tp, err := Profile(context.Background(), db, tbl, Request{Search: "ville", Filters: []Filter{{Column: "k", Op: OpNot, Value: "6"}}})
	if err != nil {
		t.Fatal(err)
	}
	if tp.Rows < 100_000 || len(tp.Columns[0].Top) != TopValues || tp.Columns[0].Top[0].Count != tp.Rows/50+1 && tp.Columns[0].Top[0].Count != tp.Rows/50 {
		t.Errorf("rows %d, top %v", tp.Rows, tp.Columns[0].Top)
	}
}

// TestDecodeProfile: a profile read back from its JSON writes the same
// JSON, and keeps the Go types clients of TableProfile look at (int64
// extremes of integers, strings of dates), for every kind of column,
// decimals included (12.50 stays 12.50). The table has a column named b,
// which histograms once took for their bins' alias.
func TestDecodeProfile(t *testing.T) {
	db := openDB(t, oddFixture, `CREATE TABLE kinds AS SELECT i AS n, i * 1.5 AS f, (i * 1.25)::DECIMAL(10,2) AS d,
		i % 2 = 0 AS b, DATE '2024-01-01' + i::INTEGER AS day, 'v' || (i % 3) AS s,
		CASE WHEN i = 3 THEN 1e21 ELSE i::DOUBLE / 7 END AS big, i * 1000000 AS mega
		FROM range(1, 40) r(i)`)
	for _, relation := range []string{"data", "kinds"} {
		tbl := describe(t, db, relation)
		tp, err := Profile(context.Background(), db, tbl, Request{})
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(tp)
		back, err := DecodeProfile(want, tbl)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := json.Marshal(back)
		if string(got) != string(want) {
			t.Errorf("%s: decoded profile writes\n%s\nwant\n%s", relation, got, want)
		}
		if !reflect.DeepEqual(back, tp) {
			t.Errorf("%s: decoded profile\n%#v\nwant\n%#v", relation, back, tp)
		}
	}
	tbl := describe(t, db, "kinds")
	if _, err := DecodeProfile([]byte(`{"rows":1,"columns":[`), tbl); err == nil {
		t.Error("a truncated profile decoded")
	}
	if _, err := DecodeProfile([]byte(`{"rows":1,"columns":[{"name":"nope"}]}`), tbl); err == nil {
		t.Error("a profile of another table decoded")
	}
}
