package cache

import (
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/csvapi/csvapi/convert"
)

// invalidate makes DuckDB invalidate db the way a hostile file did: a
// Parquet list nested deeper than its definition levels can count raises an
// INTERNAL error, after which every statement fails with a FATAL one.
func invalidate(t *testing.T, db *sql.DB) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "deep.parquet")
	const depth = 130
	if _, err := db.Exec("COPY (SELECT " + strings.Repeat("[", depth) + "1" + strings.Repeat("]", depth) +
		" AS a) TO " + convert.QuoteLiteral(path)); err != nil {
		t.Fatalf("write the nested Parquet file: %v", err)
	}
	if _, err := db.Exec("SELECT * FROM read_parquet(?)", path); err == nil {
		t.Fatal("reading the nested Parquet file did not fail: find another way to invalidate DuckDB")
	}
	var one int
	err := db.QueryRow("SELECT 1").Scan(&one)
	if !convert.Unusable(err) {
		t.Fatalf("after the INTERNAL error, SELECT 1 gave %v, want a FATAL error", err)
	}
	return err
}

func TestHealReplacesAnInvalidatedInstance(t *testing.T) {
	c := newTestCache(t)
	c.Reopen = func() (*sql.DB, error) { return convert.OpenDB(convert.DBConfig{Threads: 2}) }
	var healed *sql.DB
	c.OnHeal = func(db *sql.DB) { healed = db }
	e := upload(t, c, "a,b\n1,x\n2,y\n")

	if c.Heal(t.Context(), sql.ErrNoRows) {
		t.Error("Heal replaced the instance on an ordinary error")
	}
	old := c.ServingDB()
	err := invalidate(t, old)
	if !c.Heal(t.Context(), err) {
		t.Fatal("Heal did not replace the invalidated instance")
	}
	if c.Heal(t.Context(), err) {
		t.Error("a second Heal with the same error replaced the healthy new instance")
	}
	db := c.ServingDB()
	if db == old || healed != db {
		t.Fatalf("ServingDB after Heal: same %v, OnHeal told %v", db == old, healed == db)
	}
	if got := c.Stats().DuckDBRestarts; got != 1 {
		t.Errorf("DuckDBRestarts = %d, want 1", got)
	}
	// The resource loaded before is attached again on its next use.
	e2, err := c.Acquire(t.Context(), e.ID)
	if err != nil {
		t.Fatalf("Acquire after Heal: %v", err)
	}
	defer e2.Release()
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + e2.Relation).Scan(&n); err != nil || n != 2 {
		t.Errorf("rows after Heal: %d, %v; want 2", n, err)
	}
	if err := c.CheckDB(t.Context()); err != nil {
		t.Errorf("CheckDB on the new instance: %v", err)
	}
}

func TestCheckDBHeals(t *testing.T) {
	c := newTestCache(t)
	c.Reopen = func() (*sql.DB, error) { return convert.OpenDB(convert.DBConfig{Threads: 2}) }
	invalidate(t, c.ServingDB())
	if err := c.CheckDB(t.Context()); err != nil {
		t.Fatalf("CheckDB: %v, want the instance replaced", err)
	}
	if got := c.Stats().DuckDBRestarts; got != 1 {
		t.Errorf("DuckDBRestarts = %d, want 1", got)
	}
}
