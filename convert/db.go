package convert

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

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
		"SET allowed_directories = [" + QuoteLiteral(abs) + "]",
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

// Unusable reports whether err is a DuckDB error after which its instance
// cannot be trusted: a FATAL error invalidates the database (every later
// statement fails), and an INTERNAL error is a DuckDB bug that may have
// left it inconsistent. The instance must then be replaced.
func Unusable(err error) bool {
	var de *duckdb.Error
	if !errors.As(err, &de) {
		return false
	}
	return de.Type == duckdb.ErrorTypeFatal || de.Type == duckdb.ErrorTypeInternal
}
