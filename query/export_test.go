package query

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
)

func TestExport(t *testing.T) {
	db, tbl := fixtureTable(t)
	tests := []struct {
		name     string
		r        Request
		want     string
		wantRows int64
	}{
		{
			name: "filtered sorted without rowid",
			r: Request{Limit: -1, HideRowID: true, Sort: []Sort{{Column: "day", Desc: true}},
				Filters: []Filter{{Column: "price", Op: OpGreater, Value: "0"}}},
			want: "id,price,amount,ok,day,ts,hour,name,code\n" +
				"4,12.5,0.1,true,2024-02-29,2024-02-29T23:59:59,23:59:59,a_b,\"12,5\"\n" +
				"1,12.5,1.5,true,2024-01-31,2024-01-31T10:00:00,10:00:00,Alice,00012\n" +
				"2,3,2,false,2023-12-01,2023-12-01T08:30:00.5,08:30:00,bob 100%,7\n",
			wantRows: 3,
		},
		{
			name: "nulls and rowid",
			r:    Request{Limit: 1, Offset: 2},
			want: "rowid,id,price,amount,ok,day,ts,hour,name,code\n" +
				"3,3,,,,,,,,\n",
			wantRows: 1,
		},
		{
			name:     "nothing matches",
			r:        Request{Limit: -1, HideRowID: true, Filters: []Filter{{Column: "name", Op: OpExact, Value: "nobody"}}},
			want:     "id,price,amount,ok,day,ts,hour,name,code\n",
			wantRows: 0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var sb strings.Builder
			n, err := Export(context.Background(), db, tbl, tt.r, &sb, ExportOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if sb.String() != tt.want {
				t.Errorf("CSV =\n%s\nwant\n%s", sb.String(), tt.want)
			}
			if n != tt.wantRows {
				t.Errorf("rows = %d, want %d", n, tt.wantRows)
			}
		})
	}
}

func TestExportRoundTrip(t *testing.T) {
	tricky := "a,b \"quoted\"\nnext line;é"
	db := openDB(t, "CREATE TABLE data AS SELECT * FROM (VALUES (1, 'plain'), (2, $$"+tricky+"$$)) v(\"n\", \"the text\")")
	tbl := describe(t, db, "data")
	var sb strings.Builder
	if _, err := Export(context.Background(), db, tbl, Request{Limit: -1}, &sb, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	records, err := csv.NewReader(strings.NewReader(sb.String())).ReadAll()
	if err != nil {
		t.Fatalf("reading the export back: %v\n%s", err, sb.String())
	}
	want := [][]string{{"rowid", "n", "the text"}, {"1", "1", "plain"}, {"2", "2", tricky}}
	if !slices.EqualFunc(records, want, slices.Equal) {
		t.Errorf("records = %q, want %q", records, want)
	}
}

func TestExportErrors(t *testing.T) {
	db := openDB(t, "CREATE TABLE data AS SELECT range AS n, 'row ' || range AS s FROM range(50000)")
	tbl := describe(t, db, "data")

	var sb strings.Builder
	_, err := Export(context.Background(), db, tbl, Request{Limit: -1, Filters: []Filter{{Column: "n", Op: OpExact, Value: "x"}}}, &sb, ExportOptions{})
	if !errors.Is(err, ErrInvalid) || sb.Len() != 0 {
		t.Errorf("invalid request: error = %v, %d bytes written; want ErrInvalid and nothing written", err, sb.Len())
	}

	errFull := errors.New("disk full")
	w := &failingWriter{after: 100 << 10, err: errFull}
	n, err := Export(context.Background(), db, tbl, Request{Limit: -1}, w, ExportOptions{})
	if !errors.Is(err, errFull) {
		t.Errorf("write error: error = %v, want %v", err, errFull)
	}
	if n == 0 || n >= 50000 {
		t.Errorf("write error: %d rows written, want it to stop part way", n)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cw := &cancelWriter{after: 100 << 10, cancel: cancel}
	n, err = Export(ctx, db, tbl, Request{Limit: -1}, cw, ExportOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: error = %v, want context.Canceled", err)
	}
	if n >= 50000 {
		t.Errorf("cancelled: %d rows written, want it to stop part way", n)
	}
}

// failingWriter fails with err once more than after bytes are written.
type failingWriter struct {
	after, n int
	err      error
}

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n+len(p) > w.after {
		return 0, w.err
	}
	w.n += len(p)
	return len(p), nil
}

// cancelWriter cancels its context once more than after bytes are written.
type cancelWriter struct {
	after, n int
	cancel   context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.after {
		w.cancel()
	}
	return len(p), nil
}

// TestExportFormats exports the same rows in every format, in several
// batches, and reads each file back.
func TestExportFormats(t *testing.T) {
	db, tbl := fixtureTable(t)
	r := Request{Limit: -1, HideRowID: true, Sort: []Sort{{Column: "price", Desc: true}}, Omit: []string{"ts", "hour"}}
	page, err := Run(context.Background(), db, tbl, r)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := string(page.AppendRowsJSON(nil, true))
	export := func(t *testing.T, opts ExportOptions) []byte {
		t.Helper()
		opts.BatchSize = 2 // several batches, joined by the cursor
		opts.TempDir = t.TempDir()
		var buf bytes.Buffer
		n, err := Export(context.Background(), db, tbl, r, &buf, opts)
		if err != nil {
			t.Fatal(err)
		}
		if n != 5 {
			t.Errorf("rows = %d, want 5", n)
		}
		return buf.Bytes()
	}
	t.Run("json", func(t *testing.T) {
		got := export(t, ExportOptions{Format: FormatJSON})
		var a, b any
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%v\n%s", err, got)
		}
		json.Unmarshal([]byte(wantJSON), &b)
		if !reflect.DeepEqual(a, b) {
			t.Errorf("json =\n%s\nwant\n%s", got, wantJSON)
		}
	})
	t.Run("ndjson", func(t *testing.T) {
		got := export(t, ExportOptions{Format: FormatNDJSON})
		lines := strings.Split(strings.TrimSuffix(string(got), "\n"), "\n")
		if "["+strings.Join(lines, ",")+"]" != wantJSON {
			t.Errorf("ndjson =\n%s\nwant the objects of\n%s", got, wantJSON)
		}
	})
	t.Run("csv excel", func(t *testing.T) {
		got := string(export(t, ExportOptions{BOM: true, Separator: ';', DecimalComma: true}))
		want := "\uFEFFid;price;amount;ok;day;name;code\n" +
			"1;12,5;1,5;true;2024-01-31;Alice;00012\n" +
			"4;12,5;0,1;true;2024-02-29;a_b;12,5\n" +
			"2;3;2;false;2023-12-01;bob 100%;7\n" +
			"5;-7,25;100;false;1999-12-31;Éloïse;abc\n" +
			"3;;;;;;\n"
		if got != want {
			t.Errorf("csv =\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("tsv", func(t *testing.T) {
		got := export(t, ExportOptions{Format: FormatTSV})
		cr := csv.NewReader(bytes.NewReader(got))
		cr.Comma = '\t'
		records, err := cr.ReadAll()
		if err != nil || len(records) != 6 || records[2][6] != "12,5" || records[5][0] != "3" {
			t.Errorf("tsv records = %q, %v", records, err)
		}
	})
	t.Run("parquet", func(t *testing.T) {
		got := export(t, ExportOptions{Format: FormatParquet})
		path := filepath.Join(t.TempDir(), "back.parquet")
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		backDB := openDB(t, "CREATE TABLE data AS SELECT * FROM read_parquet('"+path+"')")
		back := describe(t, backDB, "data")
		p, err := Run(context.Background(), backDB, back, Request{Limit: -1, HideRowID: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := string(p.AppendRowsJSON(nil, true)); got != wantJSON {
			t.Errorf("parquet read back =\n%s\nwant\n%s", got, wantJSON)
		}
	})
	t.Run("xlsx", func(t *testing.T) {
		got := export(t, ExportOptions{Format: FormatXLSX})
		f, err := excelize.OpenReader(bytes.NewReader(got))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		rows, err := f.GetRows("Sheet1")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 6 || rows[0][1] != "price" || rows[1][5] != "Alice" || rows[4][5] != "Éloïse" {
			t.Errorf("xlsx rows = %q", rows)
		}
	})
	t.Run("unknown format", func(t *testing.T) {
		_, err := Export(context.Background(), db, tbl, r, io.Discard, ExportOptions{Format: "pdf"})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("error = %v, want ErrInvalid", err)
		}
	})
}

// TestExportBatchesLarge checks a batched export of a larger table in a
// sorted order: every row once, in order.
func TestExportBatchesLarge(t *testing.T) {
	db := openDB(t, "CREATE TABLE data AS SELECT range AS n, (range * 7919) % 1000 AS k FROM range(20000)")
	tbl := describe(t, db, "data")
	var sb strings.Builder
	r := Request{Limit: -1, HideRowID: true, Sort: []Sort{{Column: "k"}}}
	n, err := Export(context.Background(), db, tbl, r, &sb, ExportOptions{BatchSize: 3000})
	if err != nil || n != 20000 {
		t.Fatalf("Export = %d, %v", n, err)
	}
	records, _ := csv.NewReader(strings.NewReader(sb.String())).ReadAll()
	seen := map[string]bool{}
	for i, rec := range records[1:] {
		if seen[rec[0]] {
			t.Fatalf("row n=%s twice", rec[0])
		}
		seen[rec[0]] = true
		if i > 0 && atoi(rec[1]) < atoi(records[i][1]) {
			t.Fatalf("row %d: k=%s after k=%s", i, rec[1], records[i][1])
		}
	}
	if len(seen) != 20000 {
		t.Errorf("%d distinct rows, want 20000", len(seen))
	}
}

func atoi(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

// TestCopyCSVMatchesRows: the fast COPY path writes the same text as the
// row-by-row encoder, value for value.
func TestCopyCSVMatchesRows(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT * FROM (VALUES
		(1, 3.0::DOUBLE, 0.1::DOUBLE, TIMESTAMP '2024-01-31 10:20:30', DATE '2024-01-31', true, 'a,"b"', 9007199254740993),
		(2, 1e20::DOUBLE, -2.5::DOUBLE, TIMESTAMP '2024-01-31 10:20:30.125', DATE '1999-12-31', false, 'multi
line', -1),
		(3, 'nan'::DOUBLE, 'inf'::DOUBLE, TIMESTAMP '2000-01-01 00:00:00.000001', NULL, NULL, NULL, NULL),
		(4, 123456789.25::DOUBLE, 1e-7::DOUBLE, NULL, DATE '2020-02-29', true, '', 0)
	) AS v(i, d, e, ts, day, ok, s, big)`)
	tbl := describe(t, db, "data")
	for _, opts := range []ExportOptions{{}, {Format: FormatTSV}, {DecimalComma: true, BOM: true}} {
		if err := opts.validate(); err != nil {
			t.Fatal(err)
		}
		r := Request{Limit: -1, HideRowID: true, HideTotal: true, Sort: []Sort{{Column: "d", Desc: true}}}
		p, err := compile(tbl, r)
		if err != nil {
			t.Fatal(err)
		}
		list, ok := p.textCopyList(opts)
		if !ok {
			t.Fatalf("textCopyList refused the table")
		}
		var fast, slow strings.Builder
		if _, err := exportCopyCSV(t.Context(), db, p.rowsStmt(list, false), &fast, opts); err != nil {
			t.Fatal(err)
		}
		enc, err := newEncoder(&slow, opts, p.names, p.kinds)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exportBatches(t.Context(), db, tbl, r, 10, enc); err != nil {
			t.Fatal(err)
		}
		enc.close()
		if fast.String() != slow.String() {
			t.Errorf("options %+v:\nCOPY:\n%s\nrows:\n%s", opts, fast.String(), slow.String())
		}
	}
}

// TestCopyCSVMatchesRowsOnRandomDoubles compares both writers on doubles of
// every magnitude.
func TestCopyCSVMatchesRowsOnRandomDoubles(t *testing.T) {
	db := openDB(t, `SELECT setseed(0.42)`, `CREATE TABLE data AS
		SELECT (random() - 0.5) * pow(10, (random() * 60 - 30)::INTEGER) AS d,
		       round(random() * 1000, (random() * 4)::INTEGER) AS r
		FROM range(3000)`)
	tbl := describe(t, db, "data")
	opts := ExportOptions{}
	opts.validate()
	r := Request{Limit: -1, HideRowID: true, HideTotal: true}
	p, err := compile(tbl, r)
	if err != nil {
		t.Fatal(err)
	}
	list, _ := p.textCopyList(ExportOptions{})
	var fast, slow strings.Builder
	if _, err := exportCopyCSV(t.Context(), db, p.rowsStmt(list, false), &fast, opts); err != nil {
		t.Fatal(err)
	}
	enc, _ := newEncoder(&slow, opts, p.names, p.kinds)
	if _, err := exportBatches(t.Context(), db, tbl, r, 1000, enc); err != nil {
		t.Fatal(err)
	}
	enc.close()
	f, s := strings.Split(fast.String(), "\n"), strings.Split(slow.String(), "\n")
	if len(f) != len(s) {
		t.Fatalf("%d lines by COPY, %d row by row", len(f), len(s))
	}
	// Integral doubles beyond 2^53 are written in full by COPY and in
	// shortest digits padded with zeros row by row: the same value.
	bad := 0
	for i := range f {
		if f[i] == s[i] || sameFloats(f[i], s[i]) {
			continue
		}
		if bad++; bad <= 5 {
			t.Errorf("line %d: COPY %q, rows %q", i, f[i], s[i])
		}
	}
}

// sameFloats reports whether two CSV lines hold the same numbers.
func sameFloats(a, b string) bool {
	fa, fb := strings.Split(a, ","), strings.Split(b, ",")
	if len(fa) != len(fb) {
		return false
	}
	for i := range fa {
		x, err1 := strconv.ParseFloat(fa[i], 64)
		y, err2 := strconv.ParseFloat(fb[i], 64)
		if err1 != nil || err2 != nil || x != y {
			return false
		}
	}
	return true
}

// TestXLSXDates: dates and timestamps are date cells (numbers with a date
// format) in XLSX exports, not text, so that a spreadsheet computes on them.
func TestXLSXDates(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT * FROM (VALUES
		(DATE '2024-01-15', TIMESTAMP '2024-01-15 10:30:00', 'x'),
		(NULL, NULL, 'y')) v(jour, heure, t)`)
	tbl := describe(t, db, "data")
	var buf bytes.Buffer
	if _, err := Export(t.Context(), db, tbl, Request{Limit: -1, HideRowID: true}, &buf, ExportOptions{Format: FormatXLSX}); err != nil {
		t.Fatal(err)
	}
	f, err := excelize.OpenReader(&buf)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for cell, want := range map[string]string{"A2": "2024-01-15", "B2": "2024-01-15 10:30:00"} {
		typ, _ := f.GetCellType("Sheet1", cell)
		raw, _ := f.GetCellValue("Sheet1", cell, excelize.Options{RawCellValue: true})
		shown, _ := f.GetCellValue("Sheet1", cell)
		if typ == excelize.CellTypeSharedString || typ == excelize.CellTypeInlineString || strings.Contains(raw, "-") || shown != want {
			t.Errorf("%s: type %v, raw %q, shown %q; want a date serial number shown as %q", cell, typ, raw, shown, want)
		}
	}
	if v, _ := f.GetCellValue("Sheet1", "A3"); v != "" {
		t.Errorf("NULL date: %q, want an empty cell", v)
	}
}

// TestExportSourceForm: with SourceForm, CSV values are written as the
// source file wrote them (its date format, decimal comma and boolean
// words); without it, normalized.
func TestExportSourceForm(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT * FROM (VALUES
		(DATE '2024-01-31', true, 12.5::DOUBLE, 'x'),
		(NULL, false, NULL, 'y')) v(jour, actif, montant, t)`)
	tbl := describe(t, db, "data")
	for i := range tbl.Columns {
		switch tbl.Columns[i].Name {
		case "jour":
			tbl.Columns[i].Format = "%d/%m/%Y"
		case "actif":
			tbl.Columns[i].Bools = []string{"oui", "non"}
		case "montant":
			tbl.Columns[i].Decimal = ","
		}
	}
	export := func(opts ExportOptions) string {
		var b strings.Builder
		if _, err := Export(t.Context(), db, tbl, Request{Limit: -1, HideRowID: true}, &b, opts); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	if got, want := export(ExportOptions{SourceForm: true, Separator: ';'}), "jour;actif;montant;t\n31/01/2024;oui;12,5;x\n;non;;y\n"; got != want {
		t.Errorf("source form:\n%s\nwant\n%s", got, want)
	}
	if got, want := export(ExportOptions{}), "jour,actif,montant,t\n2024-01-31,true,12.5,x\n,false,,y\n"; got != want {
		t.Errorf("normalized:\n%s\nwant\n%s", got, want)
	}
}

// TestExportSourceFormOtherTypes: a type the normalized COPY path does not
// write (DECIMAL here) still follows the source's decimal comma.
func TestExportSourceFormOtherTypes(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT 12.5::DECIMAL(3,1) AS montant`)
	tbl := describe(t, db, "data")
	tbl.Columns[0].Decimal = ","
	var b strings.Builder
	if _, err := Export(t.Context(), db, tbl, Request{Limit: -1, HideRowID: true}, &b, ExportOptions{SourceForm: true, Separator: ';'}); err != nil {
		t.Fatal(err)
	}
	if got, want := b.String(), "montant\n12,5\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}
