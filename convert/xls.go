package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/csvapi/csvapi/convert/internal/xls"
)

// Legacy Excel workbooks (.xls) are read by convert/internal/xls, which
// needs no DuckDB; this file picks the sheet, writes it as CSV and maps the
// reader's errors to convert's.

// xlsToCSV writes one sheet of the legacy Excel workbook at src as UTF-8
// CSV in dir and returns the CSV's path and the sheet's name. Values follow
// the xlsx rules: plain numbers, ISO dates, text as is.
func xlsToCSV(ctx context.Context, src, dir, sheet string, maxSize int64) (out, name string, err error) {
	wb, err := xls.Open(src, maxSize)
	if err != nil {
		return "", "", xlsError(err, maxSize)
	}
	sheets := wb.Sheets()
	i, err := pickXLSSheet(sheets, sheet)
	if err != nil {
		return "", "", err
	}
	cells, err := wb.Cells(i)
	if err != nil {
		return "", "", xlsError(err, maxSize)
	}
	out, err = writeTemp(ctx, dir, "sheet-*.csv", func(w io.Writer) error {
		return writeCells(w, cells, maxSize)
	})
	return out, sheets[i].Name, err
}

// xlsError maps the errors of the xls reader to convert's: ErrTooLarge,
// ErrNotTabular for a file that holds no table, ErrUnreadable for a
// malformed or unsupported workbook. Other errors (the file cannot be
// opened) are returned as they are.
func xlsError(err error, maxSize int64) error {
	var (
		notWorkbook xls.NotWorkbookError
		format      xls.FormatError
		unsupported xls.UnsupportedError
	)
	switch {
	case errors.Is(err, xls.ErrTooLarge):
		return fmt.Errorf("%w: the workbook is more than %d bytes", ErrTooLarge, maxSize)
	case errors.As(err, &notWorkbook):
		return fmt.Errorf("%w: %s", ErrNotTabular, notWorkbook)
	case errors.As(err, &format), errors.As(err, &unsupported):
		return fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	return err
}

// pickXLSSheet returns the index of the sheet named or numbered by want, or
// of the first visible one.
func pickXLSSheet(sheets []xls.Sheet, want string) (int, error) {
	if want != "" {
		names := make([]string, len(sheets))
		for i, s := range sheets {
			names[i] = s.Name
		}
		return sheetIndex(names, want)
	}
	return max(0, slices.IndexFunc(sheets, func(s xls.Sheet) bool { return !s.Hidden })), nil
}

// writeCells writes sorted cells as CSV rows, padded to the widest row.
func writeCells(w io.Writer, cells []xls.Cell, maxSize int64) error {
	width := 0
	for _, c := range cells {
		width = max(width, c.Col+1)
	}
	sw := newSheetWriter(w, width, maxSize)
	row := make([]string, width)
	for i := 0; i < len(cells); {
		clear(row)
		r := cells[i].Row
		for ; i < len(cells) && cells[i].Row == r; i++ {
			row[cells[i].Col] = cells[i].Value
		}
		if err := sw.write(row); err != nil {
			return err
		}
	}
	return sw.close()
}
