package convert

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

// BenchmarkIngest times, alternately in the same run, a conversion in a
// worker process (as the server runs it: a spare worker, DuckDB given 3/4
// of the default 2 GiB) and DuckDB alone (a fresh instance, CREATE TABLE
// AS SELECT * FROM read_csv into a database file) on the file named by
// CSVAPI_BENCH_FILE, and reports min/median/max of each and of their
// ratio. CSVAPI_BENCH_BASELINE holds read_csv options of the DuckDB run
// (e.g. ", encoding='latin-1', decimal_separator=','"):
//
//	CSVAPI_BENCH_FILE=bench-data/utf8-1000000.csv go test -run '^$' -bench Ingest -benchtime 5x ./convert/
func BenchmarkIngest(b *testing.B) {
	src := os.Getenv("CSVAPI_BENCH_FILE")
	if src == "" {
		b.Skip("CSVAPI_BENCH_FILE is not set")
	}
	src, _ = filepath.Abs(src)
	baseline := os.Getenv("CSVAPI_BENCH_BASELINE")
	dir := b.TempDir()
	w := spare(testWorker("serve"))
	w.MemoryLimit = DefaultWorkerMemory
	defer w.Close()
	var csvapi, duck, ratio []float64
	for i := 0; b.Loop(); i++ {
		work := filepath.Join(dir, "work"+strconv.Itoa(i))
		os.Mkdir(work, 0o755)
		job := Job{Source: src, WorkDir: work, Out: filepath.Join(dir, "out"+strconv.Itoa(i)+".duckdb"), MaxSize: 1 << 40}
		start := time.Now()
		if _, err := w.Convert(context.Background(), job); err != nil {
			b.Fatal(err)
		}
		c := time.Since(start).Seconds()
		d, err := duckdbAlone(filepath.Join(dir, "alone"+strconv.Itoa(i)+".duckdb"), src, baseline)
		if err != nil {
			b.Fatal(err)
		}
		os.RemoveAll(work)
		os.Remove(job.Out)
		csvapi, duck, ratio = append(csvapi, c), append(duck, d), append(ratio, c/d)
	}
	report := func(name string, xs []float64) {
		slices.Sort(xs)
		b.ReportMetric(xs[0], name+"-min")
		b.ReportMetric(xs[len(xs)/2], name+"-median")
		b.ReportMetric(xs[len(xs)-1], name+"-max")
	}
	report("csvapi-s", csvapi)
	report("duckdb-s", duck)
	report("ratio", ratio)
}

// duckdbAlone times DuckDB's own CREATE TABLE … AS SELECT * FROM read_csv
// into a database file, in a fresh instance, as go run ./bench does.
func duckdbAlone(out, src, opts string) (float64, error) {
	start := time.Now()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	defer os.Remove(out)
	if _, err := db.Exec("ATTACH " + QuoteLiteral(out) + " AS b"); err != nil {
		return 0, err
	}
	if _, err := db.Exec("CREATE TABLE b.data AS SELECT * FROM read_csv(" + QuoteLiteral(src) + opts + ")"); err != nil {
		return 0, err
	}
	if _, err := db.Exec("DETACH b"); err != nil {
		return 0, err
	}
	return time.Since(start).Seconds(), nil
}
