package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

// duckdbAlone times DuckDB's own CREATE TABLE … AS SELECT * FROM read_csv
// into a database file, the reference /apify is compared with: a fresh
// instance each time, as csvapi's conversion worker has.
func duckdbAlone(dir, path, opts string) (time.Duration, error) {
	out := filepath.Join(dir, "reference-ingest.duckdb")
	os.Remove(out)
	os.Remove(out + ".wal")
	defer os.Remove(out)
	start := time.Now()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	if _, err := db.Exec("ATTACH " + quote(out) + " AS b"); err != nil {
		return 0, err
	}
	if _, err := db.Exec("CREATE TABLE b.data AS SELECT * FROM read_csv(" + quote(path) + opts + ")"); err != nil {
		return 0, err
	}
	if _, err := db.Exec("DETACH b"); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

func quote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// duckdbVersion is the version of the DuckDB linked into the bench (the
// same module version as csvapi's).
func duckdbVersion() string {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return "?"
	}
	defer db.Close()
	var v string
	if db.QueryRow("SELECT version()").Scan(&v) != nil {
		return "?"
	}
	return v
}

// queryRef runs, in the bench process, the statements a client of DuckDB
// alone would run for the uncached filtered page: the exact count and the
// sorted page of 20, prepared once, on a copy of the database file csvapi
// built (read-only), with the same filter values as the HTTP requests.
type queryRef struct {
	db          *sql.DB
	closeDB     func()
	count, page *sql.Stmt
}

// Reference statements of the uncached page: csvapi's filters
// commune__exact and population__strictly_greater, its sort
// _sort_desc=montant with NULLs last and ties broken by rowid, its 1-based
// rowid first.
const (
	refCountSQL = `SELECT count(*) FROM data WHERE commune = ? AND population > ?`
	refPageSQL  = `SELECT rowid + 1 AS rowid, * FROM data WHERE commune = ? AND population > ? ORDER BY montant DESC NULLS LAST, rowid LIMIT 20`
)

// openCopy copies the database file csvapi built (so that the two
// processes share no lock) to name and opens the copy read-only with
// conns connections; closing the returned function removes the copy.
func openCopy(dir, dbFile, name string, conns int) (*sql.DB, func(), error) {
	cp := filepath.Join(dir, name)
	if err := copyFile(dbFile, cp); err != nil {
		return nil, nil, err
	}
	db, err := sql.Open("duckdb", cp+"?access_mode=READ_ONLY")
	if err != nil {
		os.Remove(cp)
		return nil, nil, err
	}
	db.SetMaxOpenConns(conns)
	db.SetMaxIdleConns(conns)
	return db, func() { db.Close(); os.Remove(cp) }, nil
}

// openQueryRef opens the reference of the uncached page on a copy of the
// database file, with its statements prepared.
func openQueryRef(dir, dbFile string, conns int) (*queryRef, error) {
	db, closeDB, err := openCopy(dir, dbFile, "reference-query.duckdb", conns)
	if err != nil {
		return nil, err
	}
	r := &queryRef{db: db, closeDB: closeDB}
	if r.count, err = db.Prepare(refCountSQL); err != nil {
		r.close()
		return nil, err
	}
	if r.page, err = db.Prepare(refPageSQL); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// summarize times DuckDB's own one-scan summary of every column (min, max,
// distinct estimate, mean, quartiles, nulls) on db, reading every row of
// its answer: a reference for csvapi's /profile, which also gives top
// values and histograms.
func summarize(db *sql.DB) (time.Duration, error) {
	start := time.Now()
	rows, err := db.Query("SUMMARIZE data")
	if err != nil {
		return 0, err
	}
	if err := scanAll(rows); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// run is one reference request: the count, then the page, every value
// scanned as a client would.
func (r *queryRef) run(ctx context.Context, commune string, pop int64) (int64, error) {
	var total int64
	if err := r.count.QueryRowContext(ctx, commune, pop).Scan(&total); err != nil {
		return 0, err
	}
	rows, err := r.page.QueryContext(ctx, commune, pop)
	if err != nil {
		return 0, err
	}
	return total, scanAll(rows)
}

func (r *queryRef) close() {
	if r.count != nil {
		r.count.Close()
	}
	if r.page != nil {
		r.page.Close()
	}
	r.closeDB()
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return nil
}

// scanAll reads every value of rows, as a client would, and closes rows.
func scanAll(rows *sql.Rows) error {
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
	}
	return rows.Err()
}
