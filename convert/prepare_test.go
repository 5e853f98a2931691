package convert

import (
	"bytes"
	"compress/gzip"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zip"
)

// formatGolden is what a fixture of testdata/corpus/formats must give: the
// detected type and containers, the columns, and the first rows as text
// (DuckDB's VARCHAR rendering, so that dates and numbers are exact), or
// the error it must be refused with.
type formatGolden struct {
	Filetype    string       `json:"filetype,omitempty"`
	Compression string       `json:"compression,omitempty"`
	File        string       `json:"file,omitempty"`
	Sheet       string       `json:"sheet,omitempty"`
	Encoding    string       `json:"encoding,omitempty"`
	Columns     []Column     `json:"columns,omitempty"`
	Rows        int64        `json:"rows,omitempty"`
	FirstRows   [][]*string  `json:"first_rows,omitempty"`
	Error       string       `json:"error,omitempty"`
	Choices     *ChoiceError `json:"choice,omitempty"`
}

// TestFormatsCorpus loads every fixture of testdata/corpus/formats (with
// the options of its case) and compares the result with NAME.golden.json.
// go test ./convert -run TestFormatsCorpus -update rewrites the goldens:
// review the diff.
func TestFormatsCorpus(t *testing.T) {
	db := openTestDB(t)
	tests := []struct {
		name, file string
		opts       PrepareOptions
	}{
		{name: "xlsx_types", file: "xlsx_types.xlsx"},
		{name: "xlsx_merged_header", file: "xlsx_merged_header.xlsx"},
		{name: "xlsx_wide_row", file: "xlsx_wide_row.xlsx"},
		{name: "xlsx_corrupt", file: "xlsx_corrupt.xlsx"},
		{name: "xlsx_sheets", file: "xlsx_sheets.xlsx"},
		{name: "xlsx_sheets_by_name", file: "xlsx_sheets.xlsx", opts: PrepareOptions{Sheet: "Données"}},
		{name: "xlsx_sheets_by_index", file: "xlsx_sheets.xlsx", opts: PrepareOptions{Sheet: "2"}},
		{name: "xlsx_sheets_unknown", file: "xlsx_sheets.xlsx", opts: PrepareOptions{Sheet: "Feuil9"}},
		{name: "xlsx_hidden_first_sheet", file: "xlsx_hidden_first_sheet.xlsx"},
		{name: "xls", file: "mscfb_test.xls"},
		{name: "xls_types", file: "xls_types.xls"},
		{name: "xls_sheet_by_name", file: "mscfb_test.xls", opts: PrepareOptions{Sheet: "Test sheet 2"}},
		{name: "ods", file: "ods_types.ods"},
		{name: "ods_sheet_by_name", file: "ods_types.ods", opts: PrepareOptions{Sheet: "Régions"}},
		{name: "gzip", file: "communes.csv.gz"},
		{name: "zstd", file: "communes.csv.zst"},
		{name: "zip_one", file: "zip_one.zip"},
		{name: "zip_several", file: "zip_several.zip"},
		{name: "zip_several_pick", file: "zip_several.zip", opts: PrepareOptions{File: "regions.csv"}},
		{name: "zip_several_unknown", file: "zip_several.zip", opts: PrepareOptions{File: "nope.csv"}},
		{name: "zip_with_readme", file: "zip_with_readme.zip"},
		{name: "zip_xlsx", file: "zip_xlsx.zip"},
		{name: "zip_gzip", file: "zip_gzip.zip"},
		{name: "zip_empty", file: "zip_empty.zip"},
		{name: "array_json", file: "array.json"},
		{name: "ndjson", file: "records.ndjson"},
		{name: "ndjson_bom", file: "bom.ndjson"},
		{name: "nested_json", file: "nested.json"},
		{name: "parquet", file: "data.parquet"},
		{name: "object_json", file: "object.json"},
		{name: "bracket_header_csv", file: "bracket_header.csv"},
		{name: "scalars_json", file: "scalars.json"},
		{name: "empty_array_json", file: "empty_array.json"},
		{name: "png", file: "image.png"},
		{name: "pdf", file: "document.pdf"},
		{name: "empty", file: "empty.csv"},
		{name: "html", file: "page.html"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := loadFixture(t, db, filepath.Join(formatsDir, tt.file), tt.opts)
			b, err := json.MarshalIndent(got, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			golden := filepath.Join(formatsDir, tt.name+".golden.json")
			if *update {
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("%s differs from %s:\ngot\n%s\nwant\n%s", tt.file, golden, b, want)
			}
		})
	}
}

// loadFixture runs Prepare and Load on src and describes the result.
func loadFixture(t *testing.T, db *sql.DB, src string, opts PrepareOptions) formatGolden {
	t.Helper()
	dir := t.TempDir()
	p, err := Prepare(context.Background(), src, dir, opts, 1<<30)
	if err != nil {
		return errorGolden(t, err)
	}
	m := &Meta{ID: "fixture"}
	p.Apply(m)
	dst := filepath.Join(dir, "out.duckdb")
	if err := Load(t.Context(), db, p.Path, dst, Options{}, m); err != nil {
		return errorGolden(t, err)
	}
	g := formatGolden{Filetype: m.Filetype, Compression: m.Compression, File: m.File, Sheet: m.Sheet,
		Encoding: m.Encoding, Columns: m.Columns, Rows: m.Rows}
	alias := "fx_" + randomHex(4)
	if _, err := db.Exec("ATTACH " + QuoteLiteral(dst) + " AS " + alias + " (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DETACH " + alias)
	rows, err := db.Query("SELECT CAST(COLUMNS(*) AS VARCHAR) FROM " + alias + ".data ORDER BY rowid LIMIT 5")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		vals := make([]sql.NullString, len(m.Columns))
		ptrs := make([]any, len(vals))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		row := make([]*string, len(vals))
		for i, v := range vals {
			if v.Valid {
				row[i] = &v.String
			}
		}
		g.FirstRows = append(g.FirstRows, row)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return g
}

// errorGolden describes a refusal. Only categorised errors are expected:
// anything else is a bug.
func errorGolden(t *testing.T, err error) formatGolden {
	t.Helper()
	var ce *ChoiceError
	if errors.As(err, &ce) {
		return formatGolden{Error: err.Error(), Choices: ce}
	}
	if !errors.Is(err, ErrNotTabular) && !errors.Is(err, ErrUnreadable) && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("uncategorised error: %v", err)
	}
	if strings.Contains(err.Error(), os.TempDir()) {
		t.Errorf("error leaks a path: %v", err)
	}
	return formatGolden{Error: err.Error()}
}

// Decompression bombs are stopped by the size cap, whatever the archive
// claims about sizes.
func TestPrepareBombs(t *testing.T) {
	zeros := bytes.Repeat([]byte("0,0\n"), 1<<20) // 4 MB of CSV, a few KB compressed
	lying := lyingZip(t, zeros)
	tests := []struct {
		name string
		in   []byte
		want []error // any of
	}{
		{"zstd", zstdBytes(t, zeros), []error{ErrTooLarge}},
		{"gzip", gzipBytes(t, zeros), []error{ErrTooLarge}},
		{"zip", zipBytes(t, []zipMember{{name: "bomb.csv", data: string(zeros)}}), []error{ErrTooLarge}},
		{"zip of zstd", zipBytes(t, []zipMember{{name: "bomb.csv.zst", data: string(zstdBytes(t, zeros))}}), []error{ErrTooLarge}},
		// The header says 10 bytes; reading must not go on past the cap
		// (the zip reader also reports the mismatch as corruption).
		{"zip declaring a small size", lying, []error{ErrTooLarge, ErrNotTabular}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeFile(t, dir, "src", tt.in)
			_, err := Prepare(context.Background(), src, dir, PrepareOptions{}, 1<<20)
			ok := false
			for _, w := range tt.want {
				ok = ok || errors.Is(err, w)
			}
			if !ok {
				t.Fatalf("Prepare: err = %v, want one of %v", err, tt.want)
			}
			var total int64
			files, _ := os.ReadDir(dir)
			for _, f := range files {
				if info, err := f.Info(); err == nil {
					total += info.Size()
				}
			}
			if total > 3<<20 {
				t.Errorf("%d bytes left in the work directory: the cap did not stop the copy", total)
			}
		})
	}
}

// lyingZip stores data deflated under a header that declares 10 bytes.
func lyingZip(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// Compressed by hand, so that CreateRaw can carry a false size.
	raw := flateBytes(t, data)
	w, err := zw.CreateRaw(&zip.FileHeader{Name: "bomb.csv", Method: zip.Deflate,
		CompressedSize64: uint64(len(raw)), UncompressedSize64: 10, CRC32: 0})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func flateBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(data)
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestSniffFormat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want format
		err  error
	}{
		{"csv", "a,b\n1,2\n", formatText, nil},
		{"gzip", "\x1f\x8b\x08\x00", formatGzip, nil},
		{"zstd", "\x28\xb5\x2f\xfd\x00", formatZstd, nil},
		{"ole2", "\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1rest", formatXLS, nil},
		{"parquet", "PAR1....PAR1", formatParquet, nil},
		{"json array with BOM", "\xEF\xBB\xBF  [ {\"a\": 1} ]", formatJSON, nil},
		{"ndjson", "{\"a\": 1}\n{\"a\": 2}\n", formatNDJSON, nil},
		{"ndjson of one record", "{\"a\": 1}\n", 0, ErrNotTabular},
		{"json array of arrays", "[[1, 2], [3, 4]]", 0, ErrNotTabular},
		{"invalid json is text", "{nope", formatText, nil},
		{"bracketed CSV header", "[Code];[Nom]\n01001;Ambérieu\n", formatText, nil},
		{"jpeg", "\xFF\xD8\xFF\xE0\x00\x10JFIF", 0, ErrNotTabular},
		{"gif", "GIF89a\x01\x00", 0, ErrNotTabular},
		{"corrupt zip", "PK\x03\x04garbage", 0, ErrNotTabular},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := writeFile(t, t.TempDir(), "src", []byte(tt.in))
			got, err := sniffFormat(src)
			if !errors.Is(err, tt.err) || (err == nil && got != tt.want) {
				t.Errorf("sniffFormat(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}

// FuzzPrepare feeds arbitrary bytes to format detection and container
// reading: they must never panic or hang, and must fail with a categorised
// error. Seeds include every fixture of testdata/corpus/formats.
func FuzzPrepare(f *testing.F) {
	fixtures, _ := filepath.Glob(filepath.Join(formatsDir, "*"))
	for _, p := range fixtures {
		if strings.HasSuffix(p, ".golden.json") {
			continue
		}
		if b, err := os.ReadFile(p); err == nil && len(b) < 64<<10 {
			f.Add(b)
		}
	}
	f.Add([]byte("PK\x05\x06" + strings.Repeat("\x00", 18)))
	f.Fuzz(func(t *testing.T, in []byte) {
		dir := t.TempDir()
		src := writeFile(t, dir, "src", in)
		_, err := Prepare(context.Background(), src, dir, PrepareOptions{}, 1<<20)
		if err == nil {
			return
		}
		var ce *ChoiceError
		if !errors.Is(err, ErrNotTabular) && !errors.Is(err, ErrUnreadable) && !errors.Is(err, ErrTooLarge) &&
			!errors.As(err, &ce) {
			t.Errorf("uncategorised error: %v", err)
		}
	})
}

// TestPrepareStopsWithContext: a load's end (timeout, shutdown) stops
// Prepare, even in the middle of a decompression, with ctx's error and no
// file left behind.
func TestPrepareStopsWithContext(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "big.csv.gz")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte("a,b\n"))
	zw.Write(bytes.Repeat([]byte("1,2\n"), 4<<20)) // 16 MB: several writes of writeTemp's buffer
	zw.Close()
	if err := os.WriteFile(src, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Prepare(ctx, src, dir, PrepareOptions{}, 1<<30); !errors.Is(err, context.Canceled) {
		t.Errorf("Prepare with a canceled context: %v, want context.Canceled", err)
	}
	// Canceled during the copy: the first write of the decompressed text
	// cancels, the next ones fail.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	_, err := writeTemp(ctx, dir, "plain-*", func(w io.Writer) error {
		for range 64 {
			if _, err := w.Write(bytes.Repeat([]byte("x"), 1<<20)); err != nil {
				return fmt.Errorf("%w: corrupt stream: %v", ErrNotTabular, err)
			}
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrNotTabular) {
		t.Errorf("writeTemp canceled during the copy: %v, want context.Canceled alone", err)
	}
	if left, _ := os.ReadDir(dir); len(left) > 0 {
		t.Errorf("files left in the work directory: %v", left)
	}
}
