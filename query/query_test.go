package query

import (
	"context"
	"database/sql"
	"errors"
	"go/parser"
	"go/token"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// openDB returns an in-memory DuckDB on which stmts have run.
func openDB(tb testing.TB, stmts ...string) *sql.DB {
	tb.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			tb.Fatalf("%s: %v", s, err)
		}
	}
	return db
}

// describe returns the Table for relation, with its columns as DESCRIBE
// prints them, as the loader records them.
func describe(tb testing.TB, db *sql.DB, relation string) Table {
	tb.Helper()
	rows, err := db.Query("SELECT column_name, column_type FROM (DESCRIBE " + relation + ")")
	if err != nil {
		tb.Fatal(err)
	}
	defer rows.Close()
	t := Table{Relation: relation}
	for rows.Next() {
		var c convert.Column
		if err := rows.Scan(&c.Name, &c.Type); err != nil {
			tb.Fatal(err)
		}
		c.Original = c.Name
		t.Columns = append(t.Columns, c)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return t
}

// fixture is a table with one column of each kind; row 3 is all NULLs.
const fixture = `CREATE TABLE data AS SELECT * FROM (VALUES
	(1, 12.5, 1.5::DECIMAL(18,3), true, DATE '2024-01-31', TIMESTAMP '2024-01-31 10:00:00', TIME '10:00:00', 'Alice', '00012'),
	(2, 3.0, 2.0, false, DATE '2023-12-01', TIMESTAMP '2023-12-01 08:30:00.5', TIME '08:30:00', 'bob 100%', '7'),
	(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
	(4, 12.5, 0.1, true, DATE '2024-02-29', TIMESTAMP '2024-02-29 23:59:59', TIME '23:59:59', 'a_b', '12,5'),
	(5, -7.25, 100, false, DATE '1999-12-31', TIMESTAMP '1999-12-31 00:00:00', TIME '00:00:00', 'Éloïse', 'abc')
) v(id, price, amount, ok, day, ts, hour, name, code)`

func fixtureTable(tb testing.TB) (*sql.DB, Table) {
	tb.Helper()
	db := openDB(tb, fixture)
	return db, describe(tb, db, "data")
}

// rowIDs runs r and returns the rowid of each row of the page.
func rowIDs(t *testing.T, db *sql.DB, tbl Table, r Request) []int64 {
	t.Helper()
	p, err := Run(context.Background(), db, tbl, r)
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	ids := []int64{}
	for _, row := range p.Rows {
		ids = append(ids, row[0].(int64))
	}
	return ids
}

func TestFixtureTypes(t *testing.T) {
	_, tbl := fixtureTable(t)
	var got []string
	for _, c := range tbl.Columns {
		got = append(got, string(c.Kind()))
	}
	want := []string{"integer", "number", "number", "boolean", "date", "datetime", "time", "string", "string"}
	if !slices.Equal(got, want) {
		t.Fatalf("fixture kinds = %v, want %v", got, want)
	}
}

func TestFilters(t *testing.T) {
	db, tbl := fixtureTable(t)
	tests := []struct {
		col, op, value string
		want           []int64 // rowids
		wantErr        string  // substring of the InvalidError message
	}{
		{"id", "exact", "2", []int64{2}, ""},
		{"id", "exact", " 2 ", []int64{2}, ""},
		{"id", "exact", "2.5", nil, ""}, // no integer equals 2.5: no row, no error
		{"id", "exact", "2.x", nil, "integer"},
		{"id", "exact", "", nil, "integer"},
		{"id", "exact", "18446744073709551615", []int64{}, ""},
		{"id", "less", "18446744073709551615", []int64{1, 2, 3, 4, 5}, ""},
		{"id", "less", "2", []int64{1, 2}, ""},
		{"id", "less", "2.5", []int64{1, 2}, ""},
		{"id", "greater", "4", []int64{4, 5}, ""},
		{"id", "greater", "x", nil, "expects a number"},
		{"id", "contains", "3", []int64{3}, ""},

		{"price", "exact", "12.5", []int64{1, 4}, ""},
		{"price", "exact", "12,5", []int64{1, 4}, ""},
		{"price", "exact", "abc", nil, "expects a number"},
		{"price", "exact", "NaN", nil, "expects a number"},
		{"price", "less", "3", []int64{2, 5}, ""},
		{"price", "greater", "12,5", []int64{1, 4}, ""},
		{"price", "greater", "1e3", []int64{}, ""},
		{"price", "less", "0x10", nil, "expects a number"},
		{"price", "contains", "12", []int64{1, 4}, ""},

		{"amount", "exact", "0.1", []int64{4}, ""},
		{"amount", "greater", "1.5", []int64{1, 2, 5}, ""},

		{"ok", "exact", "true", []int64{1, 4}, ""},
		{"ok", "exact", "oui", []int64{1, 4}, ""},
		{"ok", "exact", "VRAI", []int64{1, 4}, ""},
		{"ok", "exact", "1", []int64{1, 4}, ""},
		{"ok", "exact", "FAUX", []int64{2, 5}, ""},
		{"ok", "exact", "non", []int64{2, 5}, ""},
		{"ok", "exact", "0", []int64{2, 5}, ""},
		{"ok", "exact", "maybe", nil, "boolean"},
		{"ok", "less", "1", nil, "boolean"},
		{"ok", "contains", "tru", []int64{1, 4}, ""},

		{"day", "exact", "2024-02-29", []int64{4}, ""},
		{"day", "exact", "29/02/2024", []int64{4}, ""},
		{"day", "exact", "2024-02-30", nil, "expects a date"},
		{"day", "less", "2023-12-01", []int64{2, 5}, ""},
		{"day", "greater", "01/01/2024", []int64{1, 4}, ""},
		{"day", "less", "5", nil, "expects a date"},
		{"day", "contains", "2024", []int64{1, 4}, ""},

		{"ts", "exact", "2023-12-01T08:30:00.5", []int64{2}, ""},
		{"ts", "exact", "2023-12-01 08:30:00.5", []int64{2}, ""},
		{"ts", "exact", "2024-01-31T10:00:00Z", []int64{1}, ""},
		{"ts", "exact", "2024-01-31T12:00:00+02:00", []int64{1}, ""},
		{"ts", "exact", "2024-01-31", []int64{1}, ""},
		{"ts", "exact", "31/01/2024", []int64{1}, ""},
		{"ts", "exact", "nope", nil, "expects a date or a timestamp"},
		{"ts", "less", "2023-12-01", []int64{2, 5}, ""},
		{"ts", "greater", "2024-01-31T10:00:00", []int64{1, 4}, ""},
		{"ts", "greater", "2024-01-31T10:00:01", []int64{4}, ""},

		{"hour", "exact", "08:30", []int64{2}, ""},
		{"hour", "exact", "25:00", nil, "expects a time"},
		{"hour", "greater", "10:00", []int64{1, 4}, ""},

		{"name", "exact", "Alice", []int64{1}, ""},
		{"name", "exact", "alice", []int64{}, ""},
		{"name", "exact", "", []int64{}, ""},
		{"name", "contains", "ALI", []int64{1}, ""},
		{"name", "contains", "éLOÏ", []int64{5}, ""},
		{"name", "contains", "%", []int64{2}, ""},
		{"name", "contains", "_", []int64{4}, ""},
		{"name", "contains", "a%", []int64{}, ""},
		{"name", "contains", "", []int64{1, 2, 4, 5}, ""},
		{"name", "greater", "x", nil, "expects a number"},
		{"name", "contains", "caf\xe9", nil, "UTF-8"},

		{"code", "exact", "00012", []int64{1}, ""},
		{"code", "exact", "12", []int64{}, ""},
		{"code", "less", "100", []int64{1, 2}, ""},
		{"code", "greater", "12", []int64{1}, ""},

		{"rowid", "exact", "3", []int64{3}, ""},
		{"rowid", "greater", "4", []int64{4, 5}, ""},

		{"id", "like", "1", nil, `unknown operator "like"`},
		{"nope", "exact", "1", nil, `unknown column "nope"`},
		{"ID", "exact", "1", nil, `unknown column "ID"`},
		{`name"; DROP TABLE data; --`, "exact", "1", nil, "unknown column"},
	}
	for _, tt := range tests {
		param := tt.col + "__" + tt.op
		t.Run(param+"="+tt.value, func(t *testing.T) {
			r := Request{Filters: []Filter{{Column: tt.col, Op: Op(tt.op), Value: tt.value}}, Limit: 100}
			if tt.wantErr != "" {
				_, err := Run(context.Background(), db, tbl, r)
				var ie *InvalidError
				if !errors.As(err, &ie) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("Run error = %v, want an *InvalidError", err)
				}
				if ie.Param != param || !strings.Contains(ie.Message, tt.wantErr) || !strings.Contains(err.Error(), param) {
					t.Errorf("error = %q (param %q), want param %q and a message containing %q", err, ie.Param, param, tt.wantErr)
				}
				if verr := r.Validate(tbl); verr == nil || verr.Error() != err.Error() {
					t.Errorf("Validate = %v, want %v", verr, err)
				}
				return
			}
			if err := r.Validate(tbl); err != nil {
				t.Fatalf("Validate = %v, want nil", err)
			}
			if got := rowIDs(t, db, tbl, r); !slices.Equal(got, tt.want) {
				t.Errorf("rowids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestFiltersAnd(t *testing.T) {
	db, tbl := fixtureTable(t)
	r := Request{Limit: 10, Filters: []Filter{
		{Column: "price", Op: OpExact, Value: "12.5"},
		{Column: "day", Op: OpGreater, Value: "2024-02-01"},
	}}
	if got, want := rowIDs(t, db, tbl, r), []int64{4}; !slices.Equal(got, want) {
		t.Errorf("rowids = %v, want %v", got, want)
	}
}

func TestTimestampTZ(t *testing.T) {
	db := openDB(t, "SET TimeZone = 'Europe/Paris'",
		`CREATE TABLE data AS SELECT * FROM (VALUES (TIMESTAMPTZ '2024-01-31 10:00:00+00'), (TIMESTAMPTZ '2024-06-01 00:00:00+00')) v(ts)`)
	tbl := describe(t, db, "data")
	tests := []struct {
		op, value string
		want      []int64
	}{
		{"exact", "2024-01-31T10:00:00Z", []int64{1}},
		{"exact", "2024-01-31T10:00:00", []int64{1}}, // naive means UTC
		{"exact", "2024-01-31T11:00:00+01:00", []int64{1}},
		{"greater", "2024-05-01", []int64{2}},
	}
	for _, tt := range tests {
		t.Run(tt.op+"="+tt.value, func(t *testing.T) {
			r := Request{Limit: 10, Filters: []Filter{{Column: "ts", Op: Op(tt.op), Value: tt.value}}}
			if got := rowIDs(t, db, tbl, r); !slices.Equal(got, tt.want) {
				t.Errorf("rowids = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestQuoting(t *testing.T) {
	// The resource's own database, attached under a name that needs quoting,
	// as the cache does it.
	path := filepath.Join(t.TempDir(), "r.duckdb")
	db := openDB(t,
		"ATTACH '"+path+"' AS \"r_0123abcd\"",
		`CREATE TABLE "r_0123abcd".main.data AS SELECT * FROM (VALUES
			(1, 'x1', 'y1', 10, 'q1', 'e1', 's1', 'r1'),
			(2, 'x2', 'y2', 20, 'q2', 'e2', 's2', 'r2'),
			(3, 'x3', 'y3', 30, 'q3', 'e3', 's3', 'r3')
		) v("a b", "x.y", "a__b", "n", "quo""te", "été", "semi;colon", "t")`)
	tbl := describe(t, db, `"r_0123abcd".main.data`)
	names := []string{"a b", "x.y", "a__b", "quo\"te", "été", "semi;colon", "t"}
	for _, name := range names {
		if _, ok := lookup(tbl, name); !ok {
			t.Fatalf("column %q missing from %v", name, tbl.Columns)
		}
	}
	values := map[string]string{"a b": "2", "x.y": "x2", "a__b": "y2", "quo\"te": "q2", "été": "e2", "semi;colon": "s2", "t": "r2"}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			r := Request{Limit: 10, Sort: []Sort{{Column: name, Desc: true}}}
			if got, want := rowIDs(t, db, tbl, r), []int64{3, 2, 1}; !slices.Equal(got, want) {
				t.Errorf("sorted desc: rowids = %v, want %v", got, want)
			}
			r = Request{Limit: 10, Filters: []Filter{{Column: name, Op: OpExact, Value: values[name]}}}
			if got, want := rowIDs(t, db, tbl, r), []int64{2}; !slices.Equal(got, want) {
				t.Errorf("exact: rowids = %v, want %v", got, want)
			}
			r = Request{Limit: 10, Filters: []Filter{{Column: name, Op: OpContains, Value: strings.ToUpper(values[name])}}}
			if got, want := rowIDs(t, db, tbl, r), []int64{2}; !slices.Equal(got, want) {
				t.Errorf("contains: rowids = %v, want %v", got, want)
			}
		})
	}
	p, err := Run(context.Background(), db, tbl, Request{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	want := append([]string{"rowid"}, "a b", "x.y", "a__b", "n", "quo\"te", "été", "semi;colon", "t")
	if !slices.Equal(p.Columns, want) {
		t.Errorf("columns = %q, want %q", p.Columns, want)
	}
}

func TestInjection(t *testing.T) {
	db, tbl := fixtureTable(t)
	evil := "'); DROP TABLE data; --"
	for _, op := range []Op{OpExact, OpContains} {
		for _, col := range []string{"name", "code", "day"} {
			r := Request{Limit: 10, Filters: []Filter{{Column: col, Op: op, Value: evil}}}
			p, err := Run(context.Background(), db, tbl, r)
			if col == "day" {
				if op == OpExact && !errors.Is(err, ErrInvalid) {
					t.Errorf("%s: error = %v, want ErrInvalid", r.Filters[0].Param(), err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", r.Filters[0].Param(), err)
			}
			if len(p.Rows) != 0 || p.Total != 0 {
				t.Errorf("%s: %d rows, total %d, want none", r.Filters[0].Param(), len(p.Rows), p.Total)
			}
		}
	}
	for _, col := range []string{"name; DROP TABLE data; --", `name" --`, "rowid + 1", "*"} {
		for _, r := range []Request{
			{Filters: []Filter{{Column: col, Op: OpExact, Value: "x"}}},
			{Sort: []Sort{{Column: col}}},
		} {
			if err := r.Validate(tbl); !errors.Is(err, ErrInvalid) {
				t.Errorf("Validate(column %q) = %v, want ErrInvalid", col, err)
			}
		}
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM data").Scan(&n); err != nil || n != 5 {
		t.Fatalf("after injection attempts: count = %d, %v; want 5 rows", n, err)
	}
}

func TestSortAndPages(t *testing.T) {
	db, tbl := fixtureTable(t)
	tests := []struct {
		name      string
		r         Request
		want      []int64
		wantTotal int64
	}{
		{"file order", Request{Limit: 10}, []int64{1, 2, 3, 4, 5}, 5},
		{"asc nulls last ties by rowid", Request{Limit: 10, Sort: []Sort{{Column: "price"}}}, []int64{5, 2, 1, 4, 3}, 5},
		{"desc nulls last ties by rowid", Request{Limit: 10, Sort: []Sort{{Column: "price", Desc: true}}}, []int64{1, 4, 2, 5, 3}, 5},
		{"text desc", Request{Limit: 10, Sort: []Sort{{Column: "name", Desc: true}}}, []int64{5, 2, 4, 1, 3}, 5},
		{"two keys", Request{Limit: 10, Sort: []Sort{{Column: "ok", Desc: true}, {Column: "price"}}}, []int64{1, 4, 5, 2, 3}, 5},
		{"rowid desc", Request{Limit: 10, Sort: []Sort{{Column: "rowid", Desc: true}}}, []int64{5, 4, 3, 2, 1}, 5},
		{"limit offset", Request{Limit: 2, Offset: 1, Sort: []Sort{{Column: "price"}}}, []int64{2, 1}, 5},
		{"last page", Request{Limit: 2, Offset: 4}, []int64{5}, 5},
		{"past the end", Request{Limit: 2, Offset: 10}, []int64{}, 5},
		{"limit 0", Request{Limit: 0}, []int64{}, 5},
		{"no limit", Request{Limit: -1, Offset: 3}, []int64{4, 5}, 5},
		{"filtered total", Request{Limit: 1, Filters: []Filter{{Column: "price", Op: OpExact, Value: "12.5"}}}, []int64{1}, 2},
		{"filtered offset", Request{Limit: 1, Offset: 1, Filters: []Filter{{Column: "price", Op: OpExact, Value: "12.5"}}}, []int64{4}, 2},
		{"no match", Request{Limit: 10, Filters: []Filter{{Column: "name", Op: OpExact, Value: "nobody"}}}, []int64{}, 0},
		{"hidden total", Request{Limit: 1, HideTotal: true}, []int64{1}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Run(context.Background(), db, tbl, tt.r)
			if err != nil {
				t.Fatal(err)
			}
			got := []int64{}
			for _, row := range p.Rows {
				got = append(got, row[0].(int64))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("rowids = %v, want %v", got, tt.want)
			}
			if p.Total != tt.wantTotal {
				t.Errorf("total = %d, want %d", p.Total, tt.wantTotal)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	_, tbl := fixtureTable(t)
	tests := []struct {
		name      string
		r         Request
		wantParam string // "" for valid
	}{
		{"empty", Request{}, ""},
		{"negative offset", Request{Offset: -1}, "_offset"},
		{"unknown sort", Request{Sort: []Sort{{Column: "nope"}}}, "_sort"},
		{"unknown sort desc", Request{Sort: []Sort{{Column: "nope", Desc: true}}}, "_sort_desc"},
		{"sort by rowid", Request{Sort: []Sort{{Column: "rowid"}}}, ""},
		{"second filter wrong", Request{Filters: []Filter{{"id", OpExact, "1"}, {"price", OpLess, "cheap"}}}, "price__less"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.r.Validate(tbl)
			if tt.wantParam == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var ie *InvalidError
			if !errors.As(err, &ie) || ie.Param != tt.wantParam {
				t.Fatalf("Validate = %v, want an InvalidError on %s", err, tt.wantParam)
			}
		})
	}
}

func TestHideRowID(t *testing.T) {
	db, tbl := fixtureTable(t)
	p, err := Run(context.Background(), db, tbl, Request{Limit: 2, Offset: 1, HideRowID: true, Sort: []Sort{{Column: "rowid", Desc: true}}})
	if err != nil {
		t.Fatal(err)
	}
	wantCols := []string{"id", "price", "amount", "ok", "day", "ts", "hour", "name", "code"}
	if !slices.Equal(p.Columns, wantCols) {
		t.Errorf("columns = %v, want %v", p.Columns, wantCols)
	}
	if len(p.Kinds) != len(wantCols) || p.Kinds[0] != convert.KindInteger || p.Kinds[7] != convert.KindString {
		t.Errorf("kinds = %v, want one per column, integer first", p.Kinds)
	}
	if len(p.Rows) != 2 || len(p.Rows[0]) != len(wantCols) || p.Rows[0][0] != int64(4) || p.Rows[1][0] != int64(3) {
		t.Errorf("rows = %v, want ids 4 and 3 with %d values each", p.Rows, len(wantCols))
	}
}

// TestFileOrder checks that the default order, which has no ORDER BY, is
// file order on a table of several row groups scanned by several threads.
func TestFileOrder(t *testing.T) {
	db := openDB(t, "SET threads = 4",
		"CREATE TABLE data AS SELECT range AS n, 'v' || (range % 7) AS s FROM range(500000)")
	tbl := describe(t, db, "data")
	for _, r := range []Request{
		{Limit: 50, Offset: 300000},
		{Limit: 50, Offset: 40000, Filters: []Filter{{Column: "s", Op: OpExact, Value: "v3"}}},
		{Limit: 50, Offset: 40000, Filters: []Filter{{Column: "s", Op: OpContains, Value: "3"}}, HideRowID: true},
	} {
		p, err := Run(context.Background(), db, tbl, r)
		if err != nil {
			t.Fatal(err)
		}
		col := 1
		if r.HideRowID {
			col = 0
		}
		for i := 1; i < len(p.Rows); i++ {
			if p.Rows[i][col].(int64) <= p.Rows[i-1][col].(int64) {
				t.Fatalf("%+v: row %d has n=%v after n=%v, want file order", r, i, p.Rows[i][col], p.Rows[i-1][col])
			}
		}
		if len(p.Rows) != 50 {
			t.Fatalf("%+v: %d rows, want 50", r, len(p.Rows))
		}
	}
}

func TestValues(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT
		170141183460469231731687303715884105727::HUGEINT AS huge,
		42::HUGEINT AS small_huge,
		18446744073709551615::UBIGINT AS ubig,
		9007199254740993::BIGINT AS unsafe,
		-9007199254740992::BIGINT AS safe,
		7::TINYINT AS tiny,
		0.1::FLOAT AS f32,
		'NaN'::DOUBLE AS nan,
		'-Infinity'::DOUBLE AS inf,
		123.450::DECIMAL(18,3) AS dec,
		DATE '2024-01-31' AS day,
		TIMESTAMP '2024-01-31 10:00:00' AS ts,
		TIMESTAMP '2024-01-31 10:00:00.25' AS ts_frac,
		TIMESTAMPTZ '2024-01-31 10:00:00+00' AS tstz,
		TIME '08:30:05' AS tm,
		'6ba7b810-9dad-11d1-80b4-00c04fd430c8'::UUID AS id,
		NULL::VARCHAR AS nothing,
		true AS yes`)
	tbl := describe(t, db, "data")
	p, err := Run(context.Background(), db, tbl, Request{Limit: 1, HideRowID: true})
	if err != nil {
		t.Fatal(err)
	}
	got := string(p.AppendRowsJSON(nil, false))
	want := `[["170141183460469231731687303715884105727",42,"18446744073709551615","9007199254740993",-9007199254740992,7,` +
		`0.1,null,null,123.45,"2024-01-31","2024-01-31T10:00:00","2024-01-31T10:00:00.25","2024-01-31T10:00:00Z",` +
		`"08:30:05","6ba7b810-9dad-11d1-80b4-00c04fd430c8",null,true]]`
	if got != want {
		t.Errorf("JSON =\n%s\nwant\n%s", got, want)
	}
}

func TestTimeout(t *testing.T) {
	// A relation that takes minutes to sort: the deadline must interrupt it.
	slow := Table{
		Relation: "(SELECT range AS rowid, range % 1000 AS n FROM range(10000000000))",
		Columns:  []convert.Column{{Name: "n", Original: "n", Type: "BIGINT"}},
	}
	db := openDB(t)
	r := Request{Limit: 10, Sort: []Sort{{Column: "n", Desc: true}}}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := Run(ctx, db, slow, r); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Run error = %v, want context.DeadlineExceeded", err)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	var sb strings.Builder
	if _, err := Export(ctx, db, slow, r, &sb, ExportOptions{}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Export error = %v, want context.DeadlineExceeded", err)
	}

	// The connection is usable afterwards.
	db.SetMaxOpenConns(1)
	var one int
	if err := db.QueryRow("SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Errorf("after timeout: SELECT 1 = %d, %v", one, err)
	}
}

func TestImports(t *testing.T) {
	forbidden := []string{"net/http", "github.com/gofiber/", "github.com/csvapi/csvapi/server", "github.com/csvapi/csvapi/cache"}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			for _, bad := range forbidden {
				if strings.HasPrefix(path, bad) {
					t.Errorf("%s imports %s; package query must not", name, path)
				}
			}
		}
	}
}

func BenchmarkRun(b *testing.B) {
	db := openDB(b, `CREATE TABLE data AS SELECT range AS id, 'name ' || range AS name,
		range * 1.5 AS price, range % 2 = 0 AS ok, DATE '2020-01-01' + (range % 1000)::INTEGER AS day,
		'code' || (range % 97) AS code FROM range(100000)`)
	tbl := describe(b, db, "data")
	ctx := context.Background()
	b.Run("first page", func(b *testing.B) {
		for b.Loop() {
			if _, err := Run(ctx, db, tbl, Request{Limit: 20}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("filtered sorted", func(b *testing.B) {
		r := Request{Limit: 20, Filters: []Filter{{Column: "code", Op: OpExact, Value: "code7"}}, Sort: []Sort{{Column: "price", Desc: true}}}
		for b.Loop() {
			if _, err := Run(ctx, db, tbl, r); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzFilter checks that any filter value is either refused by Validate
// with an *InvalidError or runs without a database error, on every kind of
// column and with every operator.
func FuzzFilter(f *testing.F) {
	for _, v := range []string{"", "1", "-0", "12,5", "1e308", "99999999999999999999", "18446744073709551615",
		"true", "oui", "2024-02-29", "0000-01-01", "31/12/9999", "2024-01-31T10:00:00.123456789+14:00",
		"23:59:59.999", "%_", "'); DROP TABLE data; --", "\x00", "\xff"} {
		f.Add(v)
	}
	db, tbl := fixtureTable(f)
	f.Fuzz(func(t *testing.T, value string) {
		for _, c := range append(tbl.Columns, convert.Column{Name: RowID}) {
			for _, op := range []Op{OpExact, OpContains, OpLess, OpGreater} {
				r := Request{Limit: 5, Filters: []Filter{{Column: c.Name, Op: op, Value: value}}}
				_, err := Run(context.Background(), db, tbl, r)
				var ie *InvalidError
				if err != nil && !errors.As(err, &ie) {
					t.Errorf("%s=%q: %v, want an *InvalidError or no error", r.Filters[0].Param(), value, err)
				}
			}
		}
	})
}

// BenchmarkCompile measures building the SQL of a request with filters, an
// OR group and a sort, without running it.
func BenchmarkCompile(b *testing.B) {
	t := Table{Relation: "data", Columns: []convert.Column{
		{Name: "code", Type: "VARCHAR"}, {Name: "nom", Type: "VARCHAR"}, {Name: "population", Type: "BIGINT"},
		{Name: "superficie", Type: "DOUBLE"}, {Name: "date_maj", Type: "DATE"}, {Name: "chef_lieu", Type: "BOOLEAN"},
	}}
	r := Request{
		Filters: []Filter{{Column: "population", Op: OpGreater, Value: "1000"}, {Column: "nom", Op: OpContains, Value: "saint"},
			{Column: "date_maj", Op: OpLess, Value: "2023-12-31"}},
		Sort:  []Sort{{Column: "superficie", Desc: true}},
		Limit: 20,
	}
	for b.Loop() {
		p, err := compile(t, r)
		if err != nil {
			b.Fatal(err)
		}
		_ = p.pageStmt()
	}
}

// TestRowsStmt checks that the one statement builder keeps placeholders
// and arguments together: a page reads one row more than its limit (to
// know whether a next page exists), COPY exactly the limit.
func TestRowsStmt(t *testing.T) {
	tbl := Table{Relation: "data", Columns: []convert.Column{{Name: "n", Type: "BIGINT"}, {Name: "s", Type: "VARCHAR"}}}
	r := Request{Filters: []Filter{{Column: "n", Op: OpIn, Value: "1,2,3"}, {Column: "s", Op: OpContains, Value: "x"}},
		Sort: []Sort{{Column: "s"}}, Limit: 10, Offset: 20}
	p, err := compile(tbl, r)
	if err != nil {
		t.Fatal(err)
	}
	p.cursorCond, p.cursorArgs = "t.rowid > ?", []any{int64(7)}
	for _, tc := range []struct {
		name      string
		s         stmt
		wantLimit int64
	}{
		{"page", p.pageStmt(), 11},
		{"copy", p.rowsStmt(p.outputList(), false), 10},
	} {
		if n := strings.Count(tc.s.sql, "?"); n != len(tc.s.args) {
			t.Errorf("%s: %d placeholders, %d arguments: %s", tc.name, n, len(tc.s.args), tc.s.sql)
		}
		args := tc.s.args
		if len(args) < 2 || args[len(args)-2] != tc.wantLimit || args[len(args)-1] != int64(20) || args[len(args)-3] != int64(7) {
			t.Errorf("%s: arguments %v, want …, cursor 7, limit %d, offset 20", tc.name, args, tc.wantLimit)
		}
	}
	if c := p.countStmt(); strings.Count(c.sql, "?") != len(c.args) || strings.Contains(c.sql, "LIMIT") {
		t.Errorf("count: %s %v", c.sql, c.args)
	}
}
