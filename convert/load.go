package convert

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"
)

// DBConfig holds the settings of the process-wide DuckDB instance.
type DBConfig struct {
	MemoryLimit string // e.g. "4GB"; empty keeps DuckDB's default (80% of RAM)
	Threads     int    // 0 keeps DuckDB's default (number of cores)
	TempDir     string // where DuckDB spills when a load exceeds MemoryLimit
	// Sandbox, when set, is the only directory DuckDB may touch: file access
	// elsewhere is disabled and the configuration locked, so that not even a
	// future bug could make a query read /etc/passwd or write outside it.
	Sandbox string
}

// OpenDB opens the in-memory DuckDB instance that loads and serves every
// resource; resource files are ATTACHed to it. Extension auto-install is
// off: the service never downloads code at run time.
func OpenDB(cfg DBConfig) (*sql.DB, error) {
	q := url.Values{}
	q.Set("autoinstall_known_extensions", "false")
	q.Set("autoload_known_extensions", "true")
	if cfg.MemoryLimit != "" {
		q.Set("memory_limit", cfg.MemoryLimit)
	}
	if cfg.Threads > 0 {
		q.Set("threads", strconv.Itoa(cfg.Threads))
	}
	if cfg.TempDir != "" {
		q.Set("temp_directory", cfg.TempDir)
	}
	connector, err := duckdb.NewConnector("?"+q.Encode(), nil)
	if err != nil {
		return nil, fmt.Errorf("open duckdb: %w", err)
	}
	db := sql.OpenDB(connector)
	if cfg.Sandbox != "" {
		if err := sandbox(db, cfg.Sandbox); err != nil {
			db.Close()
			return nil, err
		}
	}
	return db, nil
}

// sandbox restricts DuckDB's file access to dir. These settings are global
// to the instance, and lock_configuration forbids changing them back.
func sandbox(db *sql.DB, dir string) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	// The trailing separator keeps /data from allowing /database.
	abs = strings.TrimSuffix(abs, string(filepath.Separator)) + string(filepath.Separator)
	for _, stmt := range []string{
		"SET allowed_directories = [" + quoteLiteral(abs) + "]",
		"SET enable_external_access = false",
		"SET lock_configuration = true",
	} {
		if _, err := db.Exec(stmt); err != nil {
			return fmt.Errorf("sandbox duckdb: %w", err)
		}
	}
	return nil
}

// DuckDBVersion returns the version of the linked DuckDB library.
func DuckDBVersion(ctx context.Context, db *sql.DB) (string, error) {
	var v string
	err := db.QueryRowContext(ctx, "SELECT version()").Scan(&v)
	return v, err
}

// Meta is what csvapi knows about a loaded resource. It is stored inside the
// resource's database file (table csvapi_meta), so the cache survives restarts.
type Meta struct {
	ID           string    `json:"id"`
	URL          string    `json:"url,omitempty"` // empty for uploads
	Filename     string    `json:"filename,omitempty"`
	FetchedAt    time.Time `json:"fetched_at"`
	ETag         string    `json:"etag,omitempty"`
	LastModified string    `json:"last_modified,omitempty"`
	SourceSize   int64     `json:"source_size"` // bytes downloaded or uploaded

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
	HeaderRowIdx     int    `json:"header_row_idx"` // lines skipped before the header
	DecimalSeparator string `json:"decimal_separator"`
	DateFormat       string `json:"date_format,omitempty"`
	TimestampFormat  string `json:"timestamp_format,omitempty"`

	Columns  []Column      `json:"columns"`
	Rows     int64         `json:"rows"`
	LoadedAt time.Time     `json:"loaded_at"`
	LoadTime time.Duration `json:"load_time_ns"`
}

// dialect is the part of sniff_csv's answer csvapi keeps.
type dialect struct {
	delimiter, quote, escape, newline string
	skip                              int
	header                            bool
	dateFormat, timestampFormat       string
}

// Load reads the UTF-8 CSV file at csvPath with DuckDB's read_csv
// auto-detection (or, when m.Filetype says JSON, NDJSON or Parquet as
// Prepare set it, with DuckDB's reader of that format) into a new database file at dbPath (table data, in file
// order, plus csvapi_meta holding m). The file is built under a temporary
// name beside dbPath and renamed into place only when complete, so a crash
// or a cancelled ctx never leaves a half table that looks ready. Load fills
// the detected fields of m (dialect, columns, rows).
//
// It returns ErrUnreadable when DuckDB cannot read the text as a table, and
// ctx's error when the load is cancelled.
func Load(ctx context.Context, db *sql.DB, csvPath, dbPath string, m *Meta) (err error) {
	if nativeReader(m.Filetype) != "" { // JSON, NDJSON, Parquet: see native.go
		return loadNative(ctx, db, csvPath, dbPath, m)
	}
	start := time.Now()
	d, decimal, err := detect(ctx, db, csvPath)
	if err != nil {
		return err
	}
	cols, err := describe(ctx, db, csvPath, decimal)
	if err != nil {
		return err
	}

	tmp := dbPath + ".tmp-" + randomHex(6)
	alias := "load_" + randomHex(8)
	defer func() {
		if err != nil {
			removeDBFiles(tmp)
		}
	}()
	if _, err = db.ExecContext(ctx, "ATTACH "+quoteLiteral(tmp)+" AS "+alias); err != nil {
		return fmt.Errorf("attach %s: %w", tmp, err)
	}
	attached := true
	defer func() {
		if attached {
			db.ExecContext(context.WithoutCancel(ctx), "DETACH "+alias)
		}
	}()

	sel := make([]string, len(cols))
	for i, c := range cols {
		sel[i] = QuoteIdent(c.Original) + " AS " + QuoteIdent(c.Name)
	}
	create := "CREATE TABLE " + alias + ".data AS SELECT " + strings.Join(sel, ", ") +
		" FROM read_csv(?, decimal_separator = ?)"
	if _, err = db.ExecContext(ctx, create, csvPath, decimal); err != nil {
		return loadError(ctx, err, csvPath)
	}
	if err = db.QueryRowContext(ctx, "SELECT count(*) FROM "+alias+".data").Scan(&m.Rows); err != nil {
		return err
	}

	if m.Filetype == "" { // spreadsheets converted to CSV keep their own type
		m.Filetype = FiletypeCSV
	}
	m.Delimiter, m.Quote, m.Escape, m.NewLine = d.delimiter, d.quote, d.escape, d.newline
	m.HasHeader, m.HeaderRowIdx = d.header, d.skip
	m.DecimalSeparator = decimal
	m.DateFormat, m.TimestampFormat = d.dateFormat, d.timestampFormat
	m.Columns = cols
	m.LoadedAt = time.Now().UTC()
	m.LoadTime = time.Since(start)
	meta, err := json.Marshal(m)
	if err != nil {
		return err
	}
	if _, err = db.ExecContext(ctx, "CREATE TABLE "+alias+".csvapi_meta (meta VARCHAR)"); err != nil {
		return err
	}
	if _, err = db.ExecContext(ctx, "INSERT INTO "+alias+".csvapi_meta VALUES (?)", string(meta)); err != nil {
		return err
	}
	if _, err = db.ExecContext(ctx, "DETACH "+alias); err != nil {
		return fmt.Errorf("detach %s: %w", tmp, err)
	}
	attached = false
	if err = os.Rename(tmp, dbPath); err != nil {
		return err
	}
	return nil
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

// detect runs DuckDB's sniffer and picks the decimal separator. Files not
// delimited by commas are tried with a decimal comma too (French "12,5"), and
// the reading that gives more numeric columns wins.
func detect(ctx context.Context, db *sql.DB, path string) (dialect, string, error) {
	d, err := sniff(ctx, db, path, ".")
	if err != nil {
		return d, "", err
	}
	if d.delimiter == "," {
		return d, ".", nil
	}
	dot, err := describe(ctx, db, path, ".")
	if err != nil {
		return d, "", err
	}
	comma, err := describe(ctx, db, path, ",")
	if err != nil {
		return d, ".", nil // the comma reading failed: keep the dot one
	}
	if numericColumns(comma) > numericColumns(dot) {
		dc, err := sniff(ctx, db, path, ",")
		if err != nil {
			return d, "", err
		}
		return dc, ",", nil
	}
	return d, ".", nil
}

func numericColumns(cols []Column) int {
	n := 0
	for _, c := range cols {
		if c.Kind() == KindNumber || c.Kind() == KindInteger {
			n++
		}
	}
	return n
}

func sniff(ctx context.Context, db *sql.DB, path, decimal string) (dialect, error) {
	var d dialect
	var skip uint32
	var dateFormat, tsFormat sql.NullString
	err := db.QueryRowContext(ctx, `SELECT Delimiter, Quote, Escape, NewLineDelimiter, SkipRows, HasHeader, DateFormat, TimestampFormat
		FROM sniff_csv(?, decimal_separator = ?)`, path, decimal).
		Scan(&d.delimiter, &d.quote, &d.escape, &d.newline, &skip, &d.header, &dateFormat, &tsFormat)
	if err != nil {
		return d, loadError(ctx, err, path)
	}
	d.skip = int(skip)
	d.dateFormat, d.timestampFormat = dateFormat.String, tsFormat.String
	for _, v := range []*string{&d.delimiter, &d.quote, &d.escape, &d.newline} {
		if *v == "(empty)" { // sniff_csv's spelling of "none"
			*v = ""
		}
	}
	d.newline = strings.NewReplacer(`\r`, "\r", `\n`, "\n").Replace(d.newline)
	return d, nil
}

// describe returns the columns read_csv detects, with names made safe for
// serving: a column literally named rowid would shadow the row number, so it
// is renamed.
func describe(ctx context.Context, db *sql.DB, path, decimal string) ([]Column, error) {
	rows, err := db.QueryContext(ctx, "DESCRIBE SELECT * FROM read_csv(?, decimal_separator = ?)", path, decimal)
	if err != nil {
		return nil, loadError(ctx, err, path)
	}
	defer rows.Close()
	var cols []Column
	taken := map[string]bool{}
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			return nil, err
		}
		cols = append(cols, Column{Name: name, Original: name, Type: typ})
		taken[strings.ToLower(name)] = true
	}
	if err := rows.Err(); err != nil {
		return nil, loadError(ctx, err, path)
	}
	for i, c := range cols {
		if strings.EqualFold(c.Name, "rowid") {
			name := c.Name + "_"
			for n := 1; taken[strings.ToLower(name)]; n++ {
				name = c.Name + "_" + strconv.Itoa(n)
			}
			taken[strings.ToLower(name)] = true
			cols[i].Name = name
		}
	}
	if len(cols) == 0 {
		return nil, fmt.Errorf("%w: no columns found", ErrUnreadable)
	}
	return cols, nil
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

// quoteLiteral quotes a SQL string literal. Only used for paths csvapi
// generates itself (ATTACH takes no bound parameters).
func quoteLiteral(s string) string {
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
