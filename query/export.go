package query

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/csvapi/csvapi/convert"
)

// Format is an export file format.
type Format string

// Export formats.
const (
	FormatCSV     Format = "csv"
	FormatTSV     Format = "tsv"
	FormatJSON    Format = "json"    // one array of objects
	FormatNDJSON  Format = "ndjson"  // one object per line
	FormatParquet Format = "parquet" // written by DuckDB
	FormatXLSX    Format = "xlsx"    // one sheet; at most MaxXLSXRows rows
)

// Formats lists the export formats, in the order documentation shows them.
var Formats = []Format{FormatCSV, FormatTSV, FormatJSON, FormatNDJSON, FormatParquet, FormatXLSX}

// ContentType returns the media type of files in format f.
func (f Format) ContentType() string {
	switch f {
	case FormatTSV:
		return "text/tab-separated-values; charset=utf-8"
	case FormatJSON:
		return "application/json; charset=utf-8"
	case FormatNDJSON:
		return "application/x-ndjson; charset=utf-8"
	case FormatParquet:
		return "application/vnd.apache.parquet"
	case FormatXLSX:
		return "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
	}
	return "text/csv; charset=utf-8"
}

// MaxXLSXRows is the number of data rows a spreadsheet sheet holds (its
// 1,048,576 rows minus the header).
const MaxXLSXRows = 1<<20 - 1

// DefaultExportBatch is the number of rows Export reads per query when
// ExportOptions.BatchSize is 0.
const DefaultExportBatch = 50_000

// ExportOptions are the knobs of Export; the zero value writes RFC 4180 CSV.
type ExportOptions struct {
	Format       Format // FormatCSV when empty
	Separator    rune   // CSV field separator; ',' when 0 (TSV is always a tab)
	BOM          bool   // start CSV and TSV with a UTF-8 byte order mark (for Excel)
	DecimalComma bool   // write numbers with a decimal comma in CSV and TSV
	BatchSize    int    // rows per query; DefaultExportBatch when 0
	TempDir      string // where Parquet is built before it is sent; os.TempDir() when empty

	// FormulaSafe makes CSV and TSV safe to open in a spreadsheet: a text
	// cell that starts with = + - @ a tab or a carriage return, which a
	// spreadsheet would run as a formula, gets a leading single quote
	// (OWASP's rule for CSV injection). Number columns are left alone.
	FormulaSafe bool

	// SourceForm writes CSV and TSV values as the source file wrote them
	// where csvapi knows how: dates and timestamps in their format
	// (31/01/2024), numbers with the file's decimal comma, booleans as its
	// words (oui/non). Without it (the default), values are normalized:
	// ISO 8601 dates, decimal points, true/false.
	SourceForm bool
}

// Export validates r, then writes to w every row of t that r selects, in
// r's order, in the format of opts: r.Limit < 0 means all rows,
// r.HideRowID drops the rowid column, r.Columns and r.Omit select columns.
// Values take their natural text form in text formats: dates and times as
// in a Page, floats in their shortest form, booleans true/false, NULL as an
// empty field (null in JSON).
//
// Memory stays bounded whatever the number of rows. Parquet, and CSV and
// TSV of the usual column types, are written by DuckDB's COPY into a
// temporary file (opts.TempDir), then copied to w. Other formats are read in
// batches of opts.BatchSize (duckdb-go materialises the whole result of a
// query before the first row is read), each one starting after the last row
// of the previous batch by the same keyset cursor as Run's pages.
//
// It returns the number of data rows written. Errors are an *InvalidError
// (errors.Is ErrInvalid) for a bad request, in which case nothing is
// written; otherwise a wrapped database or write error, or one wrapping
// ctx.Err() when ctx is done, after which w holds a truncated file.
func Export(ctx context.Context, db *sql.DB, t Table, r Request, w io.Writer, opts ExportOptions) (rows int64, err error) {
	r.HideTotal, r.Facets, r.After = true, nil, ""
	p, err := compile(t, r)
	if err != nil {
		return 0, err
	}
	if err := opts.validate(); err != nil {
		return 0, err
	}
	if opts.Format == FormatParquet {
		return exportParquet(ctx, db, p, w, opts.TempDir)
	}
	if opts.Format == FormatCSV || opts.Format == FormatTSV {
		if list, ok := p.textCopyList(opts); ok {
			return exportCopyCSV(ctx, db, p.rowsStmt(list, false), w, opts)
		}
	}
	if opts.Format == FormatXLSX && (r.Limit < 0 || r.Limit > MaxXLSXRows) {
		// Refuse before writing anything rather than cut the file silently.
		if err := checkXLSXRows(ctx, db, p); err != nil {
			return 0, err
		}
	}
	enc, err := newEncoder(w, opts, p.names, p.kinds)
	if err != nil {
		return 0, err
	}
	rows, err = exportBatches(ctx, db, t, r, opts.BatchSize, enc)
	if err != nil {
		return rows, err
	}
	if err := enc.close(); err != nil {
		return rows, fmt.Errorf("export: write: %w", err)
	}
	return rows, nil
}

func (o *ExportOptions) validate() error {
	if o.Format == "" {
		o.Format = FormatCSV
	}
	switch o.Format {
	case FormatCSV, FormatTSV, FormatJSON, FormatNDJSON, FormatParquet, FormatXLSX:
	default:
		return &InvalidError{Param: "format", Message: fmt.Sprintf("unknown format %s (known: csv, tsv, json, ndjson, parquet, xlsx)", quoteValue(string(o.Format)))}
	}
	if o.Separator == 0 {
		o.Separator = ','
	}
	if o.Format == FormatTSV {
		o.Separator = '\t'
	}
	switch o.Separator {
	case ',', ';', '\t', '|':
	default:
		return &InvalidError{Param: "sep", Message: "must be one of , ; | or a tab"}
	}
	if o.DecimalComma && o.Separator == ',' && o.Format == FormatCSV {
		// Still valid CSV (such fields are quoted), but rarely what is meant.
		o.Separator = ';'
	}
	if o.BatchSize <= 0 {
		o.BatchSize = DefaultExportBatch
	}
	return nil
}

// exportBatches pages through the rows r selects, batch rows at a time,
// and hands them to enc.
func exportBatches(ctx context.Context, db *sql.DB, t Table, r Request, batch int, enc encoder) (int64, error) {
	var rows int64
	remaining := r.Limit
	for {
		r.Limit = batch
		if remaining >= 0 {
			r.Limit = min(batch, remaining)
		}
		if r.Limit == 0 {
			return rows, nil
		}
		p, err := compile(t, r)
		if err != nil {
			return rows, err
		}
		page, rowids, err := p.fetch(ctx, db)
		if err != nil {
			return rows, fmt.Errorf("export: %w", err)
		}
		hasNext := len(page.Rows) > r.Limit
		if hasNext {
			page.Rows = page.Rows[:r.Limit]
		}
		for _, row := range page.Rows {
			if err := enc.row(row); err != nil {
				return rows, fmt.Errorf("export: write: %w", err)
			}
			rows++
			if rows%1000 == 0 {
				if err := ctx.Err(); err != nil {
					return rows, fmt.Errorf("export: %w", err)
				}
			}
		}
		if err := enc.flush(); err != nil {
			return rows, fmt.Errorf("export: write: %w", err)
		}
		if !hasNext {
			return rows, nil
		}
		if remaining >= 0 {
			remaining -= len(page.Rows)
		}
		r.After, r.Offset = encodeCursor(p.sortSig, rowids[len(page.Rows)-1]), 0
	}
}

func checkXLSXRows(ctx context.Context, db *sql.DB, p *plan) error {
	var n int64
	c := p.countStmt()
	if err := db.QueryRowContext(ctx, c.sql, c.args...).Scan(&n); err != nil {
		return dbError(ctx, "export", err)
	}
	if n-int64(p.offset) > MaxXLSXRows {
		return &InvalidError{Param: "format", Message: fmt.Sprintf("xlsx holds at most %d rows and %d match: filter further or use csv or parquet", MaxXLSXRows, n)}
	}
	return nil
}

// exportParquet has DuckDB write the rows into a temporary Parquet file,
// then copies it to w.
func exportParquet(ctx context.Context, db *sql.DB, p *plan, w io.Writer, dir string) (int64, error) {
	f, rows, err := copyToTemp(ctx, db, p.rowsStmt(p.outputList(), false), "(FORMAT parquet, COMPRESSION zstd)", dir)
	if err != nil {
		return 0, err
	}
	defer closeAndRemove(f)
	if _, err := io.Copy(w, f); err != nil {
		return rows, fmt.Errorf("export: write: %w", err)
	}
	return rows, nil
}

// exportCopyCSV has DuckDB write CSV (or TSV) into a temporary file with
// its parallel writer, then copies the file to w: six to ten times faster
// than scanning rows through database/sql, with the same text for every
// value (textCopyList; integral doubles beyond 2^53 are written in full
// rather than in shortest digits padded with zeros: the same number).
func exportCopyCSV(ctx context.Context, db *sql.DB, s stmt, w io.Writer, opts ExportOptions) (int64, error) {
	// The separator is one of , ; | tab (validated).
	format := "(FORMAT csv, HEADER true, DELIMITER " + quoteLiteral(string(opts.Separator)) + ", QUOTE '\"', ESCAPE '\"', NULL '')"
	f, rows, err := copyToTemp(ctx, db, s, format, opts.TempDir)
	if err != nil {
		return 0, err
	}
	defer closeAndRemove(f)
	if opts.BOM {
		if _, err := io.WriteString(w, "\uFEFF"); err != nil {
			return 0, fmt.Errorf("export: write: %w", err)
		}
	}
	if lines, err := copyLines(ctx, w, f); err != nil {
		// Rows sent so far, counted by line ends (values holding line breaks
		// make it an estimate); it only feeds the log.
		return min(max(lines-1, 0), rows), err
	}
	return rows, nil
}

// copyToTemp runs COPY (s) TO a new temporary file in dir with the
// given options, and returns the file open for reading (closeAndRemove it)
// with the number of rows written.
func copyToTemp(ctx context.Context, db *sql.DB, s stmt, options, dir string) (*os.File, int64, error) {
	f, err := os.CreateTemp(dir, "export-*")
	if err != nil {
		return nil, 0, fmt.Errorf("export: %w", err)
	}
	path := f.Name()
	f.Close()
	// COPY overwrites the file; its name is ours, never user text.
	q := "COPY (" + s.sql + ") TO " + quoteLiteral(filepath.ToSlash(path)) + " " + options
	res, err := db.ExecContext(ctx, q, s.args...)
	if err != nil {
		os.Remove(path)
		return nil, 0, dbError(ctx, "export", err)
	}
	rows, _ := res.RowsAffected()
	if f, err = os.Open(path); err != nil {
		os.Remove(path)
		return nil, 0, fmt.Errorf("export: %w", err)
	}
	return f, rows, nil
}

func closeAndRemove(f *os.File) {
	f.Close()
	os.Remove(f.Name())
}

// copyLines copies r to w, stopping when ctx is done, and counts the line
// ends copied.
func copyLines(ctx context.Context, w io.Writer, r io.Reader) (int64, error) {
	buf := make([]byte, 32<<10)
	var lines int64
	for {
		if err := ctx.Err(); err != nil {
			return lines, fmt.Errorf("export: %w", err)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				return lines, fmt.Errorf("export: write: %w", err)
			}
			lines += int64(bytes.Count(buf[:n], []byte{'\n'}))
		}
		if rerr == io.EOF {
			return lines, nil
		}
		if rerr != nil {
			return lines, fmt.Errorf("export: %w", rerr)
		}
	}
}

// textCopyList is outputList with every column turned into the text Export
// writes for it (the text of a Page's values): ISO timestamps with a T,
// integral doubles without ".0", NaN and infinities as empty fields, and a
// decimal comma and formula-safe text when opts ask for them. It reports
// false when a column has a type whose text DuckDB would write differently
// (time zones, UUIDs, nested types): those exports take the row-by-row path.
func (p *plan) textCopyList(opts ExportOptions) (string, bool) {
	cols := make([]string, len(p.names))
	for i, expr := range p.exprs {
		var e string
		switch t := strings.ToUpper(p.sqlTypes[i]); {
		case t == "VARCHAR" || t == "JSON":
			// COPY quotes an empty string to tell it from NULL; a Page's
			// text (and the row-by-row writer) does not.
			e = "NULLIF(" + expr + ", '')"
			if opts.FormulaSafe {
				e = "CASE WHEN left(" + e + ", 1) IN ('=', '+', '-', '@', chr(9), chr(13)) THEN '''' || " + e + " ELSE " + e + " END"
			}
		case t == "BOOLEAN" || t == "DATE":
			e = expr
		case p.kinds[i] == convert.KindInteger:
			e = expr
		case t == "DOUBLE" || t == "FLOAT" || t == "REAL":
			// Go's shortest form, as encoding/json writes it: integral values
			// below 1e21 in full, exponents without leading zeros.
			e = "CASE WHEN isnan(" + expr + ") OR isinf(" + expr + ") THEN NULL" +
				" WHEN " + expr + " = trunc(" + expr + ") AND abs(" + expr + ") < 1e21 THEN CAST(CAST(" + expr + " AS HUGEINT) AS VARCHAR)" +
				" ELSE regexp_replace(CAST(" + expr + " AS VARCHAR), 'e([+-])0*([0-9])', 'e\\1\\2') END"
		case t == "TIMESTAMP" || t == "TIMESTAMP_S" || t == "TIMESTAMP_MS" || t == "TIMESTAMP_NS":
			// Fractional seconds only when there are some, as in a Page.
			e = "strftime(" + expr + ", '%Y-%m-%dT%H:%M:%S') || CASE WHEN microsecond(" + expr + ") % 1000000 = 0 THEN '' " +
				"ELSE '.' || rtrim(lpad(CAST(microsecond(" + expr + ") % 1000000 AS VARCHAR), 6, '0'), '0') END"
		case opts.SourceForm:
			e = "CAST(" + expr + " AS VARCHAR)" // DuckDB's text: the row-by-row path knows no source form
		default:
			return "", false
		}
		if opts.SourceForm {
			e = p.sourceForm(i, e)
		}
		if (opts.DecimalComma || opts.SourceForm && p.sources[i].Decimal == ",") && p.kinds[i] == convert.KindNumber {
			e = "replace(" + e + ", '.', ',')"
		}
		cols[i] = e + " AS " + quoteIdent(p.names[i])
	}
	list := strings.Join(cols, ", ")
	if list == "" {
		list = "NULL AS empty"
	}
	return list, true
}

// sourceForm returns the expression that writes output column i as the
// source file did, e the normalized text expression otherwise.
func (p *plan) sourceForm(i int, e string) string {
	src, expr := p.sources[i], p.exprs[i]
	switch {
	case len(src.Bools) == 2:
		return "CASE WHEN " + expr + " THEN " + quoteLiteral(src.Bools[0]) + " WHEN NOT " + expr + " THEN " + quoteLiteral(src.Bools[1]) + " END"
	case src.Format != "" && (p.kinds[i] == convert.KindDate || p.kinds[i] == convert.KindTimestamp):
		return "strftime(" + expr + ", " + quoteLiteral(src.Format) + ")"
	}
	return e
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// encoder writes rows in one format.
type encoder interface {
	row([]any) error
	flush() error // between batches
	close() error // after the last row
}

func newEncoder(w io.Writer, opts ExportOptions, names []string, kinds []convert.Kind) (encoder, error) {
	switch opts.Format {
	case FormatJSON, FormatNDJSON:
		return newJSONEncoder(w, opts.Format == FormatNDJSON, names), nil
	case FormatXLSX:
		return newXLSXEncoder(w, names, kinds)
	}
	return newCSVEncoder(w, opts, names, kinds)
}

// csvEncoder writes CSV or TSV.
type csvEncoder struct {
	bw           *bufio.Writer
	cw           *csv.Writer
	record       []string
	numeric      []bool // columns whose decimal point becomes a comma
	decimalComma bool
	text         []bool // columns whose cells are made formula-safe; nil: none
	buf          []byte
}

func newCSVEncoder(w io.Writer, opts ExportOptions, names []string, kinds []convert.Kind) (*csvEncoder, error) {
	bw := bufio.NewWriterSize(w, 64<<10)
	if opts.BOM {
		bw.WriteString("\uFEFF")
	}
	e := &csvEncoder{bw: bw, cw: csv.NewWriter(bw), record: make([]string, len(names)), decimalComma: opts.DecimalComma}
	e.cw.Comma = opts.Separator
	e.numeric = make([]bool, len(kinds))
	for i, k := range kinds {
		e.numeric[i] = k == convert.KindNumber
	}
	if opts.FormulaSafe {
		e.text = make([]bool, len(kinds))
		for i, k := range kinds {
			e.text[i] = k == convert.KindString
		}
	}
	if err := e.cw.Write(names); err != nil {
		return nil, fmt.Errorf("export: write: %w", err)
	}
	return e, nil
}

func (e *csvEncoder) row(row []any) error {
	for i, v := range row {
		e.record[i], e.buf = textValue(v, e.buf)
		if e.decimalComma && e.numeric[i] {
			e.record[i] = strings.Replace(e.record[i], ".", ",", 1)
		}
		if e.text != nil && e.text[i] && formulaLike(e.record[i]) {
			e.record[i] = "'" + e.record[i]
		}
	}
	return e.cw.Write(e.record)
}

// formulaLike reports whether a spreadsheet would read cell as a formula
// (or as the start of one): it starts with = + - @, a tab or a CR.
func formulaLike(cell string) bool {
	return cell != "" && strings.IndexByte("=+-@\t\r", cell[0]) >= 0
}

func (e *csvEncoder) flush() error {
	e.cw.Flush()
	if err := e.cw.Error(); err != nil {
		return err
	}
	return e.bw.Flush()
}

func (e *csvEncoder) close() error { return e.flush() }

// jsonEncoder writes an array of objects, or one object per line.
type jsonEncoder struct {
	w     io.Writer
	lines bool
	keys  [][]byte
	buf   []byte
	n     int
}

func newJSONEncoder(w io.Writer, lines bool, names []string) *jsonEncoder {
	e := &jsonEncoder{w: w, lines: lines, buf: make([]byte, 0, 64<<10)}
	for i, name := range names {
		sep := ","
		if i == 0 {
			sep = "{"
		}
		e.keys = append(e.keys, append(appendString([]byte(sep), name), ':'))
	}
	if !lines {
		e.buf = append(e.buf, '[')
	}
	return e
}

func (e *jsonEncoder) row(row []any) error {
	if !e.lines && e.n > 0 {
		e.buf = append(e.buf, ',', '\n')
	}
	e.n++
	for i, v := range row {
		e.buf = append(e.buf, e.keys[i]...)
		e.buf = appendValue(e.buf, v)
	}
	if len(row) == 0 {
		e.buf = append(e.buf, '{')
	}
	e.buf = append(e.buf, '}')
	if e.lines {
		e.buf = append(e.buf, '\n')
	}
	if len(e.buf) >= 60<<10 {
		return e.flush()
	}
	return nil
}

func (e *jsonEncoder) flush() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

func (e *jsonEncoder) close() error {
	if !e.lines {
		e.buf = append(e.buf, ']', '\n')
	}
	return e.flush()
}

// xlsxEncoder writes one sheet with excelize's stream writer, which keeps
// rows in a temporary file past a small memory threshold. Dates and
// timestamps are date cells (a serial number with a date format), so that
// a spreadsheet sorts, filters and computes on them.
type xlsxEncoder struct {
	w     io.Writer
	f     *excelize.File
	sw    *excelize.StreamWriter
	next  int // next sheet row, 1-based
	vals  []any
	kinds []convert.Kind
	// styles of date and timestamp cells; 0 before the header row is out
	dateStyle, timeStyle int
}

func newXLSXEncoder(w io.Writer, names []string, kinds []convert.Kind) (*xlsxEncoder, error) {
	f := excelize.NewFile()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return nil, fmt.Errorf("export: xlsx: %w", err)
	}
	e := &xlsxEncoder{w: w, f: f, sw: sw, next: 1, vals: make([]any, len(names))}
	for i, n := range names {
		e.vals[i] = n
	}
	if err := e.row(e.vals); err != nil {
		return nil, err
	}
	dateFmt, timeFmt := "yyyy-mm-dd", "yyyy-mm-dd hh:mm:ss"
	if e.dateStyle, err = f.NewStyle(&excelize.Style{CustomNumFmt: &dateFmt}); err != nil {
		return nil, fmt.Errorf("export: xlsx: %w", err)
	}
	if e.timeStyle, err = f.NewStyle(&excelize.Style{CustomNumFmt: &timeFmt}); err != nil {
		return nil, fmt.Errorf("export: xlsx: %w", err)
	}
	e.kinds = kinds
	return e, nil
}

func (e *xlsxEncoder) row(row []any) error {
	for i, v := range row {
		switch x := v.(type) {
		case json.Number:
			if f, err := strconv.ParseFloat(string(x), 64); err == nil {
				v = f
			}
		case string:
			if i < len(e.kinds) {
				v = e.dateCell(e.kinds[i], x)
			}
		}
		e.vals[i] = v
	}
	cell, err := excelize.CoordinatesToCellName(1, e.next)
	if err != nil {
		return err
	}
	e.next++
	return e.sw.SetRow(cell, e.vals)
}

// dateCell returns the date cell of a date or timestamp column's value (as
// a Page writes it: ISO 8601), or s unchanged for other columns and for
// values it cannot read.
func (e *xlsxEncoder) dateCell(k convert.Kind, s string) any {
	switch k {
	case convert.KindDate:
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return excelize.Cell{StyleID: e.dateStyle, Value: t}
		}
	case convert.KindTimestamp:
		for _, layout := range []string{"2006-01-02T15:04:05.999999999", time.RFC3339Nano} {
			if t, err := time.Parse(layout, s); err == nil {
				// A spreadsheet has no time zones: the wall time as written.
				wall := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.UTC)
				return excelize.Cell{StyleID: e.timeStyle, Value: wall}
			}
		}
	}
	return s
}

func (e *xlsxEncoder) flush() error { return nil }

func (e *xlsxEncoder) close() error {
	defer e.f.Close()
	if err := e.sw.Flush(); err != nil {
		return err
	}
	return e.f.Write(e.w)
}

// textValue returns the CSV text of a normalised value; buf is scratch
// space, returned for reuse.
func textValue(v any, buf []byte) (string, []byte) {
	switch x := v.(type) {
	case nil:
		return "", buf
	case string:
		return x, buf
	case bool:
		if x {
			return "true", buf
		}
		return "false", buf
	case int64:
		return strconv.FormatInt(x, 10), buf
	case float64:
		buf = appendFloat(buf[:0], x)
		return string(buf), buf
	case json.Number:
		return string(x), buf
	}
	return textValue(normalize(v, formDefault), buf)
}
