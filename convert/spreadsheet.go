package convert

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xuri/excelize/v2"

	"github.com/csvapi/csvapi/convert/internal/numfmt"
)

// Date cells are given number formats that print a marker and the serial
// number ("\x01D45000.500000000"), which xlsxValue turns into ISO 8601:
// excelize's own date formatting is locale-aware and cost more than the
// XML parsing (BenchmarkXLSXToCSV).
// The marker cannot come from a cell: control characters are not allowed
// in xlsx text.
const (
	markDate     = "\x01D"
	markDateTime = "\x01T"
	markTime     = "\x01H"
)

// xlsxUnzipXMLLimit is the size past which excelize spills a worksheet's
// XML to a temporary file instead of holding it in memory.
const xlsxUnzipXMLLimit = 16 << 20

// sheetWriter writes a sheet's rows as UTF-8 CSV, capped at maxSize bytes.
// Rows are padded to the widest row seen so far, so that trailing empty
// cells do not make them ragged; ragged reports whether a row came out
// narrower than a later one (padRows then fixes the file). Rows with no
// value at all (formatting leftovers) are dropped.
type sheetWriter struct {
	cw     *csv.Writer
	cnt    *countingWriter
	width  int
	max    int64
	rows   int
	ragged bool
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

func newSheetWriter(w io.Writer, width int, maxSize int64) *sheetWriter {
	cnt := &countingWriter{w: w}
	return &sheetWriter{cw: csv.NewWriter(cnt), cnt: cnt, width: width, max: maxSize}
}

func (s *sheetWriter) write(row []string) error {
	if blank(row) {
		return nil
	}
	if len(row) > s.width {
		s.ragged = s.rows > 0
		s.width = len(row)
	}
	if len(row) < s.width {
		row = append(row, make([]string, s.width-len(row))...)
	}
	if err := s.cw.Write(row); err != nil {
		return err
	}
	s.rows++
	if s.cnt.n > s.max {
		return fmt.Errorf("%w: the sheet is more than %d bytes as CSV", ErrTooLarge, s.max)
	}
	return nil
}

func (s *sheetWriter) close() error {
	s.cw.Flush()
	if err := s.cw.Error(); err != nil {
		return err
	}
	if s.rows == 0 {
		return fmt.Errorf("%w: the sheet is empty", ErrNotTabular)
	}
	return nil
}

// padRows rewrites the CSV at path so that every record has width
// fields: a sheet whose widest row comes after narrower ones. Reading the
// CSV back costs far less than parsing the sheet's XML twice.
func padRows(ctx context.Context, path, dir string, width int, maxSize int64) (string, error) {
	in, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer os.Remove(path)
	defer in.Close()
	return writeTemp(ctx, dir, "sheet-*.csv", func(w io.Writer) error {
		r := csv.NewReader(in)
		r.FieldsPerRecord = -1
		sw := newSheetWriter(w, width, maxSize)
		for {
			rec, err := r.Read()
			if errors.Is(err, io.EOF) {
				return sw.close()
			}
			if err != nil {
				return err
			}
			if err := sw.write(rec); err != nil {
				return err
			}
		}
	})
}

func blank(row []string) bool {
	for _, v := range row {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
}

// xlsxToCSV writes one sheet of the xlsx workbook at src as UTF-8 CSV in
// dir, streaming its rows (excelize's Rows iterator), and returns the CSV's
// path and the sheet's name. Numbers are written unformatted (no thousands
// separators, percent or currency), dates as ISO 8601, text as is, so that
// the CSV reader types them like any CSV.
func xlsxToCSV(ctx context.Context, src, dir, sheet string, maxSize int64) (out, name string, err error) {
	defer recoverAs(&err, "xlsx")
	f, err := excelize.OpenFile(src, excelize.Options{
		UnzipSizeLimit: maxSize, UnzipXMLSizeLimit: min(maxSize, xlsxUnzipXMLLimit), TmpDir: dir,
	})
	if err != nil {
		return "", "", unreadable("xlsx", err, src, dir)
	}
	defer f.Close()
	if name, err = pickSheet(f, sheet); err != nil {
		return "", "", err
	}
	if err := markDateStyles(f); err != nil {
		return "", "", unreadable("xlsx", err, src, dir)
	}
	date1904 := false
	if props, err := f.GetWorkbookProps(); err == nil && props.Date1904 != nil {
		date1904 = *props.Date1904
	}
	var width int
	var ragged bool
	out, err = writeTemp(ctx, dir, "sheet-*.csv", func(w io.Writer) error {
		sw := newSheetWriter(w, 0, maxSize)
		err := eachRow(f, name, func(row []string) error {
			for i, v := range row {
				row[i] = xlsxValue(v, date1904)
			}
			return sw.write(row)
		})
		if err != nil {
			return err
		}
		width, ragged = sw.width, sw.ragged
		return sw.close()
	})
	if err != nil {
		return "", "", unreadable("xlsx", err, src, dir)
	}
	if ragged {
		if out, err = padRows(ctx, out, dir, width, maxSize); err != nil {
			return "", "", err
		}
	}
	return out, name, nil
}

// xlsxValue turns a marked date cell into ISO 8601 and leaves other values
// as excelize formatted them.
func xlsxValue(v string, date1904 bool) string {
	if len(v) < 2 || v[0] != '\x01' {
		return v
	}
	mark, rest := v[:2], v[2:]
	serial, err := strconv.ParseFloat(rest, 64)
	if err != nil {
		return rest
	}
	t, ok := numfmt.SerialTime(serial, date1904)
	if !ok {
		return rest
	}
	switch mark {
	case markDate:
		return t.Format(time.DateOnly)
	case markDateTime:
		return t.Format(time.DateTime)
	}
	return t.Format(time.TimeOnly)
}

// eachRow calls fn with the cell values of each row of sheet, streamed.
func eachRow(f *excelize.File, sheet string, fn func([]string) error) error {
	rows, err := f.Rows(sheet)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		row, err := rows.Columns()
		if err != nil {
			return err
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	return rows.Error()
}

// pickSheet returns the sheet named or numbered by want, or the first
// visible worksheet when want is empty (a hidden first sheet often holds
// lookup lists, not the data).
func pickSheet(f *excelize.File, want string) (string, error) {
	names := f.GetSheetList()
	if len(names) == 0 {
		return "", fmt.Errorf("%w: the workbook has no sheet", ErrNotTabular)
	}
	if want != "" {
		return pickName(names, "sheet", want)
	}
	for _, n := range names {
		if visible, err := f.GetSheetVisible(n); err == nil && visible {
			return n, nil
		}
	}
	return names[0], nil
}

// markDateStyles rewrites the workbook's cell styles in memory (the file is
// never saved) so that formatted values come out as csvapi wants them:
// date and time styles print a marker and the serial number (see markDate),
// every other number style prints the plain number ("General"), and text
// styles are left alone. excelize's Rows iterator gives no cell style, only
// the value formatted with it, so changing the styles is how dates are told
// from numbers while streaming.
func markDateStyles(f *excelize.File) error {
	if _, err := f.GetStyle(0); err != nil { // loads f.Styles
		return nil // no styles part: every value is raw already
	}
	if f.Styles == nil || f.Styles.CellXfs == nil {
		return nil
	}
	n := len(f.Styles.CellXfs.Xf)
	targets := map[numfmt.Kind]*int{}
	for k, mark := range map[numfmt.Kind]string{numfmt.Date: markDate, numfmt.DateTime: markDateTime, numfmt.Time: markTime} {
		code := `"` + mark + `"0.000000000` // a tenth of a millisecond: exact to the second
		id, err := f.NewStyle(&excelize.Style{CustomNumFmt: &code})
		if err != nil {
			return err
		}
		targets[k] = f.Styles.CellXfs.Xf[id].NumFmtID
	}
	general := 0
	for i := 0; i < n; i++ {
		xf := &f.Styles.CellXfs.Xf[i]
		if xf.NumFmtID == nil {
			continue
		}
		code := numfmt.BuiltIn(*xf.NumFmtID)
		if f.Styles.NumFmts != nil {
			for _, nf := range f.Styles.NumFmts.NumFmt {
				if nf.NumFmtID == *xf.NumFmtID {
					code = nf.FormatCode
				}
			}
		}
		switch k := numfmt.Classify(code); k {
		case numfmt.Date, numfmt.DateTime, numfmt.Time:
			xf.NumFmtID = targets[k]
		case numfmt.Number:
			xf.NumFmtID = &general
		}
	}
	return nil
}

// unreadable wraps a spreadsheet library's error as ErrUnreadable, with the
// server's paths (the source file, the work directory) removed from its text.
func unreadable(what string, err error, src, dir string) error {
	if isCategorised(err) {
		return err
	}
	msg := strings.ReplaceAll(strings.ReplaceAll(err.Error(), src, "<file>"), dir, "<dir>")
	return fmt.Errorf("%w: the %s workbook could not be read (%s)", ErrUnreadable, what, msg)
}

// isCategorised reports whether err already carries one of the sentinel
// errors or a ChoiceError.
func isCategorised(err error) bool {
	for _, s := range []error{ErrTooLarge, ErrNotTabular, ErrUnreadable} {
		if errors.Is(err, s) {
			return true
		}
	}
	var ce *ChoiceError
	return errors.As(err, &ce)
}

// recoverAs turns a panic of a spreadsheet library on malformed input into
// ErrUnreadable: a hostile file must not take the service down.
func recoverAs(err *error, what string) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: the %s workbook is malformed (%v)", ErrUnreadable, what, r)
	}
}
