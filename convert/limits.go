package convert

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/klauspost/compress/zip"
	"io"
	"os"
	"path"
	"strings"
)

// Structural limits checked before DuckDB reads a file. DuckDB's readers
// recurse on nesting, and a small file can make them use gigabytes or
// crash (a 20 KB JSON nested 10,000 deep, a Parquet list nested 300 deep):
// these cheap checks refuse such files with a clear message first.
const (
	// MaxJSONDepth is the deepest nesting of arrays and objects accepted
	// in JSON and NDJSON, counting the outer array.
	MaxJSONDepth = 64
	// MaxParquetDepth is the deepest nesting of a Parquet column (lists,
	// structs, maps), counted as schema levels below the root.
	MaxParquetDepth = 32
	// MaxZipEntries is the most entries a zip archive (or an xlsx or ods
	// workbook, which are zips) may hold: Go's reader allocates the whole
	// central directory up front.
	MaxZipEntries = 10000
)

// structuralChecks is false only in the tests that show what the worker
// process contains when a hostile file reaches DuckDB unchecked.
var structuralChecks = true

// checkNative applies the structural limits to the files DuckDB reads
// natively. maxColumns, when positive, bounds a Parquet file's top-level
// columns from its footer, before any table is built.
func checkNative(ctx context.Context, db *sql.DB, p *Prepared, maxColumns int) error {
	if !structuralChecks {
		return nil
	}
	switch p.Filetype {
	case FiletypeJSON, FiletypeNDJSON:
		return checkJSONDepth(p.Path, MaxJSONDepth)
	case FiletypeParquet:
		return checkParquetSchema(ctx, db, p.Path, maxColumns)
	}
	return nil
}

// checkJSONDepth scans the file once, outside strings, and fails with
// ErrNotTabular when arrays and objects nest deeper than max. It reads a
// byte at a time through a buffer: no token is materialised, so its
// memory is constant whatever the input.
func checkJSONDepth(path string, max int) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	depth, err := jsonDepth(bufio.NewReaderSize(f, 64<<10), max)
	if err != nil {
		return err
	}
	if depth > max {
		return fmt.Errorf("%w: the JSON nests arrays and objects more than %d levels deep", ErrNotTabular, max)
	}
	return nil
}

// jsonDepth returns the deepest nesting found in r, stopping as soon as it
// passes max. It does not validate JSON (DuckDB does): it only counts.
func jsonDepth(r io.ByteReader, max int) (int, error) {
	depth, deepest := 0, 0
	inString, escaped := false, false
	for {
		b, err := r.ReadByte()
		if errors.Is(err, io.EOF) {
			return deepest, nil
		}
		if err != nil {
			return 0, err
		}
		switch {
		case inString:
			switch {
			case escaped:
				escaped = false
			case b == '\\':
				escaped = true
			case b == '"':
				inString = false
			}
		case b == '"':
			inString = true
		case b == '[' || b == '{':
			depth++
			if depth > deepest {
				deepest = depth
				if deepest > max {
					return deepest, nil
				}
			}
		case b == ']' || b == '}':
			if depth > 0 {
				depth--
			}
		}
	}
}

// checkParquetSchema reads the file's schema from its footer (DuckDB's
// parquet_schema, which reads no data) and refuses a file nested deeper
// than MaxParquetDepth, or with more than maxColumns top-level columns.
func checkParquetSchema(ctx context.Context, db *sql.DB, path string, maxColumns int) error {
	rows, err := db.QueryContext(ctx, "SELECT coalesce(num_children, 0) FROM parquet_schema(?)", path)
	if err != nil {
		return loadError(ctx, err, path)
	}
	defer rows.Close()
	var children []int64
	for rows.Next() {
		var n int64
		if err := rows.Scan(&n); err != nil {
			return err
		}
		children = append(children, n)
	}
	if err := rows.Err(); err != nil {
		return loadError(ctx, err, path)
	}
	if len(children) == 0 {
		return fmt.Errorf("%w: the Parquet file has no schema", ErrUnreadable)
	}
	if maxColumns > 0 && children[0] > int64(maxColumns) {
		return fmt.Errorf("%w: %d, the limit is %d", ErrTooManyColumns, children[0], maxColumns)
	}
	if d := schemaDepth(children); d > MaxParquetDepth {
		return fmt.Errorf("%w: the Parquet columns nest %d levels deep, the limit is %d", ErrNotTabular, d, MaxParquetDepth)
	}
	return nil
}

// schemaDepth returns the depth of a schema tree given in depth-first
// order as each element's number of children (Parquet's flattened
// schema), the root being at depth 0.
func schemaDepth(children []int64) int {
	var open []int64 // children still expected by each open group
	deepest := 0
	for _, n := range children {
		for len(open) > 0 && open[len(open)-1] == 0 {
			open = open[:len(open)-1]
		}
		if len(open) > 0 {
			open[len(open)-1]--
		}
		if len(open) > deepest {
			deepest = len(open)
		}
		if n > 0 {
			open = append(open, n)
		}
	}
	return deepest
}

// checkZipEntries reads the entry count from the end of a zip file, before
// archive/zip allocates its central directory, and refuses archives with
// more than MaxZipEntries entries.
func checkZipEntries(path string) error {
	n, err := zipEntries(path)
	if err != nil {
		return nil // not a well-formed zip: archive/zip reports it
	}
	if n > MaxZipEntries {
		return fmt.Errorf("%w: the archive holds %d entries, the limit is %d", ErrNotTabular, n, MaxZipEntries)
	}
	return nil
}

// zipEntries returns the total entry count of the zip at path, from its
// end of central directory record (or the zip64 one it points to).
func zipEntries(path string) (uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	// The record is 22 bytes plus a comment of at most 65,535.
	size := min(st.Size(), 22+65535)
	buf := make([]byte, size)
	if _, err := f.ReadAt(buf, st.Size()-size); err != nil {
		return 0, err
	}
	for i := len(buf) - 22; i >= 0; i-- {
		if string(buf[i:i+4]) != "PK\x05\x06" {
			continue
		}
		n := uint64(binary.LittleEndian.Uint16(buf[i+10:]))
		if n != 0xFFFF || i < 20 || string(buf[i-20:i-16]) != "PK\x06\x07" {
			return n, nil
		}
		// Zip64: the locator before the record points to the zip64 record.
		off := int64(binary.LittleEndian.Uint64(buf[i-20+8:]))
		rec := make([]byte, 56)
		if _, err := f.ReadAt(rec, off); err != nil || string(rec[:4]) != "PK\x06\x06" {
			return 0, errors.New("bad zip64 record")
		}
		return binary.LittleEndian.Uint64(rec[32:]), nil
	}
	return 0, errors.New("no end of central directory")
}

// Caps on the parts of an xlsx workbook other than its worksheets and
// shared strings, by their declared uncompressed size. The spreadsheet
// reader holds these parts whole in memory (a 325 KB file whose styles
// inflate to 133 MB cost 3.4 GB); no real workbook comes near.
const (
	MaxXLSXStylesSize = 16 << 20
	MaxXLSXPartSize   = 64 << 20
)

// checkXLSXParts refuses a workbook whose styles or other auxiliary parts
// declare more than their cap.
func checkXLSXParts(files []*zip.File) error {
	for _, f := range files {
		name, size := f.Name, f.UncompressedSize64
		limit := uint64(MaxXLSXPartSize)
		switch {
		case strings.HasPrefix(name, "xl/worksheets/"), name == "xl/sharedStrings.xml":
			continue // the table itself: capped by the converter's output size
		case name == "xl/styles.xml":
			limit = MaxXLSXStylesSize
		}
		if size > limit {
			return fmt.Errorf("%w: the workbook part %s holds %s, more than the %s allowed", ErrUnreadable,
				path.Base(name), sizeText(int64(min(size, 1<<62))), sizeText(int64(limit)))
		}
	}
	return nil
}
