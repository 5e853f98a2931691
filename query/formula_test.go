package query

import (
	"encoding/csv"
	"strings"
	"testing"
)

// TestExportFormulaSafe: CSV for Excel neutralizes text cells a spreadsheet
// would run as formulas, in both writers; numbers and plain CSV stay raw.
func TestExportFormulaSafe(t *testing.T) {
	db := openDB(t, `CREATE TABLE data AS SELECT * FROM (VALUES
		(1, -1.5::DOUBLE, '=HYPERLINK("http://x","click")'),
		(2, 2.5::DOUBLE, '+1'),
		(3, 3.0::DOUBLE, '-2'),
		(4, 4.0::DOUBLE, '@SUM(A1)'),
		(5, 5.0::DOUBLE, chr(9) || 'tab'),
		(6, 6.0::DOUBLE, chr(13) || 'cr'),
		(-7, 7.0::DOUBLE, 'plain = text'),
		(8, NULL, NULL)
	) AS v(n, d, s)`)
	tbl := describe(t, db, "data")
	safe := []string{`'=HYPERLINK("http://x","click")`, "'+1", "'-2", "'@SUM(A1)", "'\ttab", "'\rcr", "plain = text", ""}
	raw := []string{`=HYPERLINK("http://x","click")`, "+1", "-2", "@SUM(A1)", "\ttab", "\rcr", "plain = text", ""}
	for _, tc := range []struct {
		name string
		opts ExportOptions
		want []string
	}{
		{"excel", ExportOptions{Separator: ';', FormulaSafe: true}, safe},
		{"plain", ExportOptions{}, raw},
	} {
		if err := tc.opts.validate(); err != nil {
			t.Fatal(err)
		}
		r := Request{Limit: -1, HideRowID: true, HideTotal: true, Sort: []Sort{{Column: "n"}}}
		p, err := compile(tbl, r)
		if err != nil {
			t.Fatal(err)
		}
		list, ok := p.textCopyList(tc.opts)
		if !ok {
			t.Fatal("textCopyList refused the table")
		}
		var fast, slow strings.Builder
		if _, err := exportCopyCSV(t.Context(), db, p.rowsStmt(list, false), &fast, tc.opts); err != nil {
			t.Fatal(err)
		}
		enc, err := newEncoder(&slow, tc.opts, p.names, p.kinds)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := exportBatches(t.Context(), db, tbl, r, 3, enc); err != nil {
			t.Fatal(err)
		}
		enc.close()
		for path, out := range map[string]string{"COPY": fast.String(), "rows": slow.String()} {
			cr := csv.NewReader(strings.NewReader(out))
			cr.Comma = tc.opts.Separator
			records, err := cr.ReadAll()
			if err != nil || len(records) != 9 {
				t.Fatalf("%s %s: %d records, %v\n%s", tc.name, path, len(records), err, out)
			}
			// Sorted by n: -7 first.
			order := []int{6, 0, 1, 2, 3, 4, 5, 7}
			for i, rec := range records[1:] {
				if want := tc.want[order[i]]; rec[2] != want {
					t.Errorf("%s %s: row %d s = %q, want %q", tc.name, path, i+1, rec[2], want)
				}
			}
			if records[1][0] != "-7" || records[2][1] != "-1.5" && records[2][1] != "-1,5" {
				t.Errorf("%s %s: numbers changed: %q %q", tc.name, path, records[1], records[2])
			}
		}
	}
}
