package convert

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/csvapi/csvapi/convert/internal/ods"
)

// OpenDocument spreadsheets (.ods) are read by convert/internal/ods, which
// needs no DuckDB; this file picks the sheet, writes it as CSV and maps the
// reader's errors to convert's.

// odsToCSV writes one sheet of the OpenDocument spreadsheet at src as UTF-8
// CSV in dir and returns the CSV's path and the sheet's name. Values follow
// the xlsx rules: plain numbers, ISO dates, text as is.
func odsToCSV(ctx context.Context, src, dir, sheet string, maxSize int64) (out, name string, err error) {
	s, err := ods.Open(src, maxSize)
	if err != nil {
		return "", "", odsError(err)
	}
	defer s.Close()
	// First pass: sheet names and widths, so that the CSV is written
	// padded to the widest row in one pass.
	sheets, err := s.Sheets()
	if err != nil {
		return "", "", odsError(err)
	}
	if len(sheets) == 0 {
		return "", "", fmt.Errorf("%w: the workbook has no sheet", ErrNotTabular)
	}
	idx := 0
	if sheet != "" {
		names := make([]string, len(sheets))
		for i, sh := range sheets {
			names[i] = sh.Name
		}
		if idx, err = sheetIndex(names, sheet); err != nil {
			return "", "", err
		}
	}
	out, err = writeTemp(ctx, dir, "sheet-*.csv", func(w io.Writer) error {
		sw := newSheetWriter(w, sheets[idx].Width, maxSize)
		if err := s.Rows(idx, sw.write); err != nil {
			return err
		}
		return sw.close()
	})
	if err != nil {
		return "", "", odsError(err)
	}
	return out, sheets[idx].Name, nil
}

// odsError maps the errors of the ods reader to convert's: ErrTooLarge,
// ErrUnreadable for a malformed file. Errors that carry convert's
// categories already (from the CSV writer) are returned as they are.
func odsError(err error) error {
	var format ods.FormatError
	switch {
	case isCategorised(err):
		return err
	case errors.Is(err, ods.ErrTooLarge):
		return fmt.Errorf("%w: %v", ErrTooLarge, err)
	case errors.As(err, &format):
		return fmt.Errorf("%w: %v", ErrUnreadable, err)
	}
	return fmt.Errorf("%w: the ods workbook could not be read (%v)", ErrUnreadable, err)
}
