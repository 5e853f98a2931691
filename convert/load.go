package convert

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"
)

// Meta is what csvapi knows about a loaded resource. It is stored inside the
// resource's database file (table csvapi_meta), so the cache survives restarts.
type Meta struct {
	ID           string    `json:"id"`
	URL          string    `json:"url,omitempty"` // empty for uploads
	Filename     string    `json:"filename,omitempty"`
	FetchedAt    time.Time `json:"fetched_at"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	SourceSize   int64     `json:"source_size"`            // bytes downloaded or uploaded
	ContentHash  string    `json:"content_hash,omitempty"` // of the source bytes, set by the cache

	Filetype         string `json:"filetype"`        // a Filetype* constant: csv, xlsx, xls, ods, json, ndjson, parquet
	Sheet            string `json:"sheet,omitempty"` // spreadsheet sheet loaded
	File             string `json:"file,omitempty"`  // zip member loaded
	Encoding         string `json:"encoding"`
	Compression      string `json:"compression,omitempty"`
	Delimiter        string `json:"separator"`
	Quote            string `json:"quote"`
	Escape           string `json:"escape"`
	NewLine          string `json:"newline"`
	HasHeader        bool   `json:"has_header"`
	HeaderRowIdx     int    `json:"header_row_idx"` // rows skipped above the header (or the data)
	DecimalSeparator string `json:"decimal_separator"`
	DateFormat       string `json:"date_format,omitempty"`      // of the first date column; see Column.Format
	TimestampFormat  string `json:"timestamp_format,omitempty"` // of the first timestamp column
	// Overrides are the options the client forced (name → value).
	Overrides map[string]string `json:"overrides,omitempty"`

	Columns      []Column      `json:"columns"`
	Rows         int64         `json:"rows"`
	RejectedRows int64         `json:"rejected_rows"`
	Rejects      bool          `json:"rejects_table"` // the file has a rejects table (loads before it existed do not)
	LoadedAt     time.Time     `json:"loaded_at"`
	LoadTime     time.Duration `json:"load_time_ns"`

	// RepeatedHeaders counts the header's repetitions skipped in the
	// sniffer's head (the first MB): rows equal to the header are skipped
	// in the whole file, but counted only there.
	RepeatedHeaders int `json:"repeated_headers,omitempty"`
	// EncodingConfidence is how sure the detection of Encoding is, 0–100
	// (0 when it was forced or not detected).
	EncodingConfidence int `json:"encoding_confidence,omitempty"`
}

// Load reads the file Prepare produced at src into a new database file at
// dbPath: table data (the file's columns, typed, in file order), table
// rejects (lines that could not be read as a row: line, reason, message,
// raw text) and csvapi_meta holding m. The file is built under a temporary
// name beside dbPath and renamed into place only when complete, so a crash
// or a cancelled ctx never leaves a half table that looks ready.
//
// m.Filetype says what src is. JSON, NDJSON and Parquet are read by DuckDB's
// own readers (native.go). Anything else is UTF-8 delimited text: its
// dialect is detected on the head of the file (SniffDialect) unless opts
// forces it; DuckDB reads every column as text, short rows padded with
// NULLs, and each column's type is chosen on the whole column (types.go).
// Load fills the detected fields of m (dialect, columns, rows, rejects).
//
// It returns ErrNotTabular or ErrUnreadable when the file cannot be read as
// a table, an *OptionError for invalid opts, and ctx's error when the load
// is cancelled.
func Load(ctx context.Context, db *sql.DB, src, dbPath string, opts Options, m *Meta) (err error) {
	if nativeReader(m.Filetype) != "" { // JSON, NDJSON, Parquet: see native.go
		return loadNative(ctx, db, src, dbPath, opts.MaxColumns, m)
	}
	start := time.Now()
	head, complete, err := readHeadN(src, headLen)
	if err != nil {
		return err
	}
	// DuckDB skips a UTF-8 BOM itself; the sniffer must not see it in the first name.
	head = bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF})
	sniffOpts := opts
	if isSpreadsheet(m.Filetype) && opts.Delimiter == "" {
		// Prepare wrote this CSV from a sheet: its dialect is known, and a
		// one-column sheet must not be taken for a text without delimiter.
		sniffOpts.Delimiter = ","
	}
	d, err := SniffDialect(head, complete, sniffOpts)
	if err != nil {
		return err
	}
	if opts.MaxColumns > 0 && d.Columns > opts.MaxColumns {
		return fmt.Errorf("%w: %d, the limit is %d", ErrTooManyColumns, d.Columns, opts.MaxColumns)
	}
	// Reject tables are temporary tables of one connection.
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	r := &reader{path: src, d: d, serial: d.QuotedNewLines}
	names := columnNames(d)

	return writeResource(ctx, conn, dbPath, m, func(alias string) error {
		// Fast path: types guessed from the head, checked by the load
		// itself, one pass over the file. A value that contradicts a guess
		// fails it (as does anything else); the safe path then checks every
		// column first.
		cols, fast := guessColumns(r, names, opts.Decimal)
		if fast {
			err := createTables(ctx, conn, r, alias, cols, m, true)
			if err != nil && ctx.Err() != nil {
				return err
			}
			fast = err == nil
		}
		if !fast {
			var err error
			if cols, err = chooseColumns(ctx, conn, r, names, opts.Decimal); err != nil {
				return err
			}
			if err = createTables(ctx, conn, r, alias, cols, m, false); err != nil {
				return err
			}
		}
		if m.Filetype == "" { // spreadsheets converted to CSV keep their own type
			m.Filetype = FiletypeCSV
		}
		m.describeDialect(d, cols, opts)
		m.LoadedAt = time.Now().UTC()
		m.LoadTime = time.Since(start)
		return nil
	})
}

// createTables creates alias.data from the file with each column cast to
// its chosen type, and alias.rejects from the lines DuckDB could not read.
func createTables(ctx context.Context, conn *sql.Conn, r *reader, alias string, cols []typedColumn, m *Meta, strict bool) error {
	sel := make([]string, len(cols))
	for i, c := range cols {
		expr := c.selectExpr()
		if strict {
			expr = c.strictSelectExpr()
		}
		sel[i] = expr + " AS " + QuoteIdent(c.Name)
	}
	rej, scan := "csvapi_rejects_"+randomHex(6), "csvapi_scans_"+randomHex(6)
	defer conn.ExecContext(context.WithoutCancel(ctx), "DROP TABLE IF EXISTS "+rej+"; DROP TABLE IF EXISTS "+scan)
	if strict && r.d.RepeatedHeaders == 0 && headerFails(cols) {
		// A repeated header row fails the strict casts by itself: no
		// filter needed, the safe path filters. Not when the head already
		// repeats the header: the fast path would surely fail and the file
		// be read twice.
		rr := *r
		rr.keepRepeats = true
		r = &rr
	}
	src := r.sql("store_rejects = true, rejects_table = " + QuoteLiteral(rej) + ", rejects_scan = " + QuoteLiteral(scan))
	create := "CREATE TABLE " + alias + ".data AS SELECT " + strings.Join(sel, ", ") + " FROM " + src
	if _, err := conn.ExecContext(ctx, create, r.args()...); err != nil {
		return loadError(ctx, err, r.path)
	}
	if err := conn.QueryRowContext(ctx, "SELECT count(*) FROM "+alias+".data").Scan(&m.Rows); err != nil {
		return err
	}
	// Raw lines come with the line ends around them: trim those only.
	// DuckDB reports a line once per error (once per extra field): keep one.
	rejects := "CREATE TABLE " + alias + ".rejects AS SELECT DISTINCT ON (line) CAST(line AS BIGINT) AS line, " +
		"lower(CAST(error_type AS VARCHAR)) AS reason, error_message AS message, trim(csv_line, chr(13) || chr(10)) AS raw FROM " +
		rej + " ORDER BY line, column_idx"
	if _, err := conn.ExecContext(ctx, rejects); err != nil {
		return err
	}
	m.Rejects = true
	return conn.QueryRowContext(ctx, "SELECT count(*) FROM "+alias+".rejects").Scan(&m.RejectedRows)
}

// describeDialect records in m what was detected or forced.
func (m *Meta) describeDialect(d *Dialect, cols []typedColumn, o Options) {
	m.Delimiter, m.NewLine = string(d.Delimiter), d.NewLine
	m.Quote, m.Escape = "", ""
	if d.Quote != 0 {
		m.Quote, m.Escape = string(d.Quote), string(cmp.Or(d.Escape, d.Quote))
	}
	m.HasHeader, m.HeaderRowIdx, m.RepeatedHeaders = d.Header, d.Start, d.RepeatedHeaders
	m.DecimalSeparator = "."
	if o.Decimal != "" {
		m.DecimalSeparator = o.Decimal
	}
	m.Columns = make([]Column, len(cols))
	for i, c := range cols {
		m.Columns[i] = c.Column
		if c.Decimal == "," {
			m.DecimalSeparator = ","
		}
		if c.as.sqlType() == "DATE" && m.DateFormat == "" {
			m.DateFormat = c.Format
		}
		if c.as.sqlType() == "TIMESTAMP" && m.TimestampFormat == "" {
			m.TimestampFormat = c.Format
		}
	}
	m.Overrides = o.applied()
}

// ReadMeta reads the metadata stored in an attached resource database.
func ReadMeta(ctx context.Context, db *sql.DB, alias string) (*Meta, error) {
	var raw string
	if err := db.QueryRowContext(ctx, "SELECT meta FROM "+QuoteIdent(alias)+".csvapi_meta").Scan(&raw); err != nil {
		return nil, fmt.Errorf("read metadata of %s: %w", alias, err)
	}
	var m Meta
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return nil, fmt.Errorf("decode metadata of %s: %w", alias, err)
	}
	return &m, nil
}

// loadError classifies an error from DuckDB's CSV reader: cancellation stays
// as is, anything else means the text could not be read as a table.
// DuckDB's messages name the file; the path is replaced so that clients
// never learn the server's directory layout.
func loadError(ctx context.Context, err error, path string) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("%w (%v)", ctxErr, err)
	}
	msg := strings.ReplaceAll(err.Error(), path, "<file>")
	return fmt.Errorf("%w: %s", ErrUnreadable, msg)
}

// QuoteIdent quotes a SQL identifier for DuckDB, doubling embedded quotes.
func QuoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

// QuoteLiteral quotes a SQL string literal, doubling embedded quotes. It
// is for file paths only (ATTACH and COPY take no bound parameters), never
// for user text, which reaches SQL as bound values.
func QuoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

func removeDBFiles(path string) {
	os.Remove(path)
	os.Remove(path + ".wal")
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)
}

// isSpreadsheet reports whether filetype names a spreadsheet format, which
// Prepare converts to a comma-separated UTF-8 CSV.
func isSpreadsheet(filetype string) bool {
	return filetype == FiletypeXLSX || filetype == FiletypeXLS || filetype == FiletypeODS
}
