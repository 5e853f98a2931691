package convert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func openTestDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := OpenDB(DBConfig{Threads: 2, MemoryLimit: "1GB"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestLoad(t *testing.T) {
	db := openTestDB(t)
	tests := []struct {
		name, csv      string
		delimiter, dec string
		columns        []Column
		rows           int64
	}{
		{
			name: "french", csv: "code;nom;montant;date\n01001;Ambérieu;58769,21;01/02/2023\n2A004;Ajaccio;12,5;13/02/2023\n",
			delimiter: ";", dec: ",",
			columns: []Column{{Name: "code", Original: "code", Type: "VARCHAR"}, {Name: "nom", Original: "nom", Type: "VARCHAR"}, {Name: "montant", Original: "montant", Type: "DOUBLE", Decimal: ","}, {Name: "date", Original: "date", Type: "DATE", Format: "%d/%m/%Y"}},
			rows:    2,
		},
		{
			name: "semicolon with decimal points", csv: "a;b\n1.5;x\n2.25;y\n",
			delimiter: ";", dec: ".",
			columns: []Column{{Name: "a", Original: "a", Type: "DOUBLE", Decimal: "."}, {Name: "b", Original: "b", Type: "VARCHAR"}},
			rows:    2,
		},
		{
			name: "rowid column renamed", csv: "rowid,ROWID_,x\n1,2,3\n",
			delimiter: ",", dec: ".",
			columns: []Column{{Name: "rowid_1", Original: "rowid", Type: "BIGINT"}, {Name: "ROWID_", Original: "ROWID_", Type: "BIGINT"}, {Name: "x", Original: "x", Type: "BIGINT"}},
			rows:    1,
		},
		{
			name: "header only", csv: "a,b\n",
			delimiter: ",", dec: ".",
			columns: []Column{{Name: "a", Original: "a", Type: "VARCHAR"}, {Name: "b", Original: "b", Type: "VARCHAR"}},
			rows:    0,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeFile(t, dir, "in.csv", []byte(tt.csv))
			dst := filepath.Join(dir, "out.duckdb")
			m := &Meta{ID: "x"}
			if err := Load(t.Context(), db, src, dst, Options{}, m); err != nil {
				t.Fatalf("Load: %v", err)
			}
			if m.Delimiter != tt.delimiter || m.DecimalSeparator != tt.dec || m.Rows != tt.rows {
				t.Errorf("delimiter %q, decimal %q, rows %d; want %q, %q, %d", m.Delimiter, m.DecimalSeparator, m.Rows, tt.delimiter, tt.dec, tt.rows)
			}
			if !reflect.DeepEqual(m.Columns, tt.columns) {
				t.Errorf("columns = %v\nwant %v", m.Columns, tt.columns)
			}
			// The metadata stored in the file is what Load returned.
			if _, err := db.Exec("ATTACH " + QuoteLiteral(dst) + " AS t_meta (READ_ONLY)"); err != nil {
				t.Fatal(err)
			}
			defer db.Exec("DETACH t_meta")
			stored, err := ReadMeta(t.Context(), db, "t_meta")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(stored.Columns, m.Columns) || stored.Rows != m.Rows {
				t.Errorf("stored metadata %+v differs from %+v", stored, m)
			}
			files, _ := filepath.Glob(filepath.Join(dir, "out.duckdb*"))
			if len(files) != 1 {
				t.Errorf("files %v, want only out.duckdb", files)
			}
		})
	}
}

// TestLoadFailureLeavesNothing: a load that fails, whatever the reason,
// leaves neither its target nor a temporary file behind.
func TestLoadFailureLeavesNothing(t *testing.T) {
	db := openTestDB(t)
	dir := t.TempDir()
	var failed []string // targets of the loads that failed
	load := func(ctx context.Context, src, target string) error {
		t.Helper()
		dst := filepath.Join(dir, target)
		err := Load(ctx, db, src, dst, Options{}, &Meta{})
		if err != nil {
			failed = append(failed, target)
		}
		return err
	}

	src := writeFile(t, dir, "in.csv", []byte("a,b\n1,2\n"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := load(ctx, src, "cancelled.duckdb"); !errors.Is(err, context.Canceled) {
		t.Errorf("Load with a cancelled context: err = %v, want context.Canceled", err)
	}
	bad := writeFile(t, dir, "bad.csv", []byte("a,b\n\"1,2\n3,\"4\"x\"\n"))
	if err := load(t.Context(), bad, "broken.duckdb"); err != nil && !errors.Is(err, ErrUnreadable) {
		t.Errorf("Load of a broken file: err = %v, want ErrUnreadable or success", err)
	}
	if err := load(t.Context(), filepath.Join(dir, "missing.csv"), "missing.duckdb"); err == nil {
		t.Errorf("Load of a missing file succeeded")
	}
	if len(failed) < 2 {
		t.Fatalf("failed loads %v, want at least the cancelled and the missing one", failed)
	}
	for _, name := range failed {
		if _, err := os.Stat(filepath.Join(dir, name)); !os.IsNotExist(err) {
			t.Errorf("%s exists after a failed load (stat: %v)", name, err)
		}
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	if len(leftovers) != 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func ExampleLoad() {
	db, _ := OpenDB(DBConfig{})
	defer db.Close()
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "communes.csv")
	os.WriteFile(src, []byte("code;nom;superficie\n01001;L'Abergement-Clémenciat;15,95\n2A004;Ajaccio;82,03\n"), 0o644)

	m := &Meta{}
	if err := Load(context.Background(), db, src, filepath.Join(dir, "communes.duckdb"), Options{}, m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("%d rows, separator %q, decimal %q\n", m.Rows, m.Delimiter, m.DecimalSeparator)
	for _, c := range m.Columns {
		fmt.Println(c.Name, c.Type, c.Kind())
	}
	// Output:
	// 2 rows, separator ";", decimal ","
	// code VARCHAR string
	// nom VARCHAR string
	// superficie DOUBLE number
}

func TestSandbox(t *testing.T) {
	dir := t.TempDir()
	db, err := OpenDB(DBConfig{Sandbox: dir, TempDir: filepath.Join(dir, "spill")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	inside := writeFile(t, dir, "in.csv", []byte("a,b\n1,2\n"))
	if err := Load(t.Context(), db, inside, filepath.Join(dir, "in.duckdb"), Options{}, &Meta{}); err != nil {
		t.Errorf("load inside the sandbox: %v", err)
	}
	outside := writeFile(t, t.TempDir(), "out.csv", []byte("a,b\n1,2\n"))
	for _, q := range []string{
		"SELECT * FROM read_csv('/etc/passwd')",
		"SELECT * FROM read_csv(" + QuoteLiteral(outside) + ")",
		"SELECT * FROM read_csv(" + QuoteLiteral(dir+"/../"+filepath.Base(filepath.Dir(outside))+"/out.csv") + ")",
		"COPY (SELECT 1) TO " + QuoteLiteral(filepath.Join(filepath.Dir(outside), "x.csv")),
		"ATTACH " + QuoteLiteral(filepath.Join(filepath.Dir(outside), "x.duckdb")) + " AS x",
		"SET enable_external_access = true",
		"SET allowed_directories = ['/']",
	} {
		if _, err := db.Exec(q); err == nil {
			t.Errorf("%s: allowed, want refused", q)
		}
	}
}
