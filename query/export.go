package query

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
)

// exportFlushRows is how many rows Export buffers at most between flushes
// (and checks of ctx); the buffer also flushes on its own when full.
const exportFlushRows = 1000

// Export validates r, then writes to w, as CSV (RFC 4180, comma-separated),
// a header of the column names and every row of t that r selects, in r's
// order; r.Limit < 0 means all rows, r.HideRowID drops the rowid column.
// Rows are streamed one by one, never held all in memory. Values take their
// natural text form: dates and times as in a Page, floats in their shortest
// form, booleans true/false, NULL as an empty field.
//
// It returns the number of data rows written. Errors are an *InvalidError
// (errors.Is ErrInvalid) for a bad request, in which case nothing is
// written; otherwise a wrapped database or write error, or one wrapping
// ctx.Err() when ctx is done, after which w holds a truncated CSV.
func Export(ctx context.Context, db *sql.DB, t Table, r Request, w io.Writer) (rows int64, err error) {
	p, err := compile(t, r)
	if err != nil {
		return 0, err
	}
	res, err := db.QueryContext(ctx, p.selectSQL(), p.selectArgs()...)
	if err != nil {
		return 0, dbError(ctx, "export", err)
	}
	defer res.Close()

	cw := csv.NewWriter(bufio.NewWriterSize(w, 64<<10))
	if err := cw.Write(p.names); err != nil {
		return 0, fmt.Errorf("export: write: %w", err)
	}
	sc := newScanner(p.formats)
	record := make([]string, len(p.names))
	var buf []byte
	for res.Next() {
		row, err := sc.scan(res)
		if err != nil {
			return rows, dbError(ctx, "export: scan", err)
		}
		for i, v := range row {
			record[i], buf = textValue(v, buf)
		}
		if err := cw.Write(record); err != nil {
			return rows, fmt.Errorf("export: write: %w", err)
		}
		rows++
		if rows%exportFlushRows == 0 {
			if err := ctx.Err(); err != nil {
				return rows, fmt.Errorf("export: %w", err)
			}
			cw.Flush()
			if err := cw.Error(); err != nil {
				return rows, fmt.Errorf("export: write: %w", err)
			}
		}
	}
	if err := res.Err(); err != nil {
		return rows, dbError(ctx, "export", err)
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return rows, fmt.Errorf("export: write: %w", err)
	}
	return rows, nil
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
	return textValue(normalize(v, formatDefault), buf)
}
