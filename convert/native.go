package convert

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// nativeReader returns the DuckDB table function that reads a file of the
// given type directly, or "" when the file is CSV text. Its only parameter
// is the file's path.
func nativeReader(filetype string) string {
	switch filetype {
	case FiletypeJSON:
		// sample_size = -1: types are chosen on every record, so a late
		// record cannot contradict the sample.
		return "read_json(?, format = 'array', records = true, sample_size = -1)"
	case FiletypeNDJSON:
		return "read_json(?, format = 'newline_delimited', records = true, sample_size = -1)"
	case FiletypeParquet:
		return "read_parquet(?)"
	}
	return ""
}

// loadNative loads a JSON, NDJSON or Parquet file with DuckDB's own reader
// into the resource database at dbPath, in file order. Nested values
// (objects, arrays, maps) are stored as JSON text so that the table stays
// flat; types the API does not serve (blobs, UUIDs, intervals …) as text.
func loadNative(ctx context.Context, db *sql.DB, path, dbPath string, maxColumns int, m *Meta) error {
	start := time.Now()
	reader := nativeReader(m.Filetype)
	cols, exprs, err := describeNative(ctx, db, reader, path)
	if err != nil {
		return err
	}
	if maxColumns > 0 && len(cols) > maxColumns { // before any table is built
		return fmt.Errorf("%w: %d, the limit is %d", ErrTooManyColumns, len(cols), maxColumns)
	}
	err = writeResource(ctx, db, dbPath, m, func(alias string) error {
		create := "CREATE TABLE " + alias + ".data AS SELECT " + strings.Join(exprs, ", ") + " FROM " + reader
		if _, err := db.ExecContext(ctx, create, path); err != nil {
			return loadError(ctx, err, path)
		}
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+alias+".data").Scan(&m.Rows); err != nil {
			return err
		}
		m.Columns = cols
		m.Encoding = ""
		if m.Filetype != FiletypeParquet {
			m.Encoding = EncodingUTF8
		}
		m.LoadedAt = time.Now().UTC()
		m.LoadTime = time.Since(start)
		return nil
	})
	return err
}

// describeNative returns the columns of the file as they will be stored,
// and the SELECT expressions that produce them.
func describeNative(ctx context.Context, db *sql.DB, reader, path string) ([]Column, []string, error) {
	rows, err := db.QueryContext(ctx, "DESCRIBE SELECT * FROM "+reader, path)
	if err != nil {
		return nil, nil, loadError(ctx, err, path)
	}
	defer rows.Close()
	var cols []Column
	for rows.Next() {
		var name, typ string
		var null, key, def, extra sql.NullString
		if err := rows.Scan(&name, &typ, &null, &key, &def, &extra); err != nil {
			return nil, nil, err
		}
		cols = append(cols, Column{Name: name, Original: name, Type: typ})
	}
	if err := rows.Err(); err != nil {
		return nil, nil, loadError(ctx, err, path)
	}
	if len(cols) == 0 {
		return nil, nil, fmt.Errorf("%w: no columns found", ErrUnreadable)
	}
	renameRowid(cols)
	exprs := make([]string, len(cols))
	for i, c := range cols {
		src := QuoteIdent(c.Original)
		switch flatType(c.Type) {
		case "":
			exprs[i] = src
		case "json":
			exprs[i] = "CAST(to_json(" + src + ") AS VARCHAR)"
			cols[i].Type = "VARCHAR"
		default:
			exprs[i] = "CAST(" + src + " AS VARCHAR)"
			cols[i].Type = "VARCHAR"
		}
		exprs[i] += " AS " + QuoteIdent(cols[i].Name)
	}
	return cols, exprs, nil
}

// flatType says how a column of the given DuckDB type is stored: "" as is
// (the types the query package serves), "json" as JSON text (nested
// values), "text" as its text form.
func flatType(t string) string {
	u := strings.ToUpper(t)
	switch {
	case strings.HasPrefix(u, "STRUCT"), strings.HasPrefix(u, "MAP"), strings.HasPrefix(u, "UNION"),
		strings.HasSuffix(u, "]"), u == "JSON":
		return "json"
	case u == "VARCHAR", KindOf(u) != KindString:
		return ""
	}
	return "text"
}

// renameRowid renames columns literally called rowid (in any case), which
// would shadow the row number clients see, as the CSV path does.
func renameRowid(cols []Column) {
	taken := map[string]bool{}
	for _, c := range cols {
		taken[strings.ToLower(c.Name)] = true
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
}

// writeResource builds the resource database at dbPath: it attaches a new
// file under a temporary name, lets fill create table data in it, stores m
// in csvapi_meta, and renames the file into place only when all went well,
// so that a failed or cancelled load leaves nothing that looks ready.
//
// db is a *sql.DB or, when fill needs connection-local temporary tables, a
// *sql.Conn.
func writeResource(ctx context.Context, db execer, dbPath string, m *Meta, fill func(alias string) error) (err error) {
	tmp := dbPath + ".tmp-" + randomHex(6)
	alias := "load_" + randomHex(8)
	defer func() {
		if err != nil {
			removeDBFiles(tmp)
		}
	}()
	if _, err = db.ExecContext(ctx, "ATTACH "+QuoteLiteral(tmp)+" AS "+alias); err != nil {
		return fmt.Errorf("attach %s: %w", tmp, err)
	}
	attached := true
	defer func() {
		if attached {
			db.ExecContext(context.WithoutCancel(ctx), "DETACH "+alias)
		}
	}()
	if err = fill(alias); err != nil {
		return err
	}
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
	return os.Rename(tmp, dbPath)
}

// execer runs statements: a *sql.DB or a *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}
