package convert

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// BenchmarkIngest times, alternately in the same run, a conversion in a
// worker process (as the server runs it: a spare worker, DuckDB given 3/4
// of the default 2 GiB) and DuckDB alone (a fresh instance, CREATE TABLE
// AS SELECT * FROM read_csv into a database file) on the file named by
// CSVAPI_BENCH_FILE, and reports min/median/max of each and of their
// ratio, in wall time and in CPU time (user + system, the worker's
// included), which a shared machine disturbs less. CSVAPI_BENCH_BASELINE holds read_csv options of the DuckDB run
// (e.g. ", encoding='latin-1', decimal_separator=','"); CSVAPI_BENCH_THREADS
// sets both DuckDBs' threads (1 makes the CPU ratio steadier on a busy
// machine):
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
	threads, _ := strconv.Atoi(os.Getenv("CSVAPI_BENCH_THREADS"))
	w.Threads = threads
	defer w.Close()
	var csvapi, duck, ratio, csvapiCPU, duckCPU, cpuRatio []float64
	for i := 0; b.Loop(); i++ {
		work := filepath.Join(dir, "work"+strconv.Itoa(i))
		os.Mkdir(work, 0o755)
		job := Job{Source: src, WorkDir: work, Out: filepath.Join(dir, "out"+strconv.Itoa(i)+".duckdb"), MaxSize: 1 << 40}
		start, cpu := time.Now(), cpuTime(syscall.RUSAGE_SELF)+cpuTime(syscall.RUSAGE_CHILDREN)
		if _, err := w.Convert(context.Background(), job); err != nil {
			b.Fatal(err)
		}
		c := time.Since(start).Seconds()
		cc := cpuTime(syscall.RUSAGE_SELF) + cpuTime(syscall.RUSAGE_CHILDREN) - cpu
		cpu = cpuTime(syscall.RUSAGE_SELF)
		d, err := duckdbAlone(filepath.Join(dir, "alone"+strconv.Itoa(i)+".duckdb"), src, baseline, threads)
		if err != nil {
			b.Fatal(err)
		}
		dc := cpuTime(syscall.RUSAGE_SELF) - cpu
		csvapiCPU, duckCPU, cpuRatio = append(csvapiCPU, cc), append(duckCPU, dc), append(cpuRatio, cc/dc)
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
	report("csvapi-cpu-s", csvapiCPU)
	report("duckdb-cpu-s", duckCPU)
	report("cpu-ratio", cpuRatio)
}

// cpuTime returns the user and system CPU seconds of who
// (syscall.RUSAGE_SELF, or RUSAGE_CHILDREN for the waited-for workers).
func cpuTime(who int) float64 {
	var ru syscall.Rusage
	syscall.Getrusage(who, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// duckdbAlone times DuckDB's own CREATE TABLE … AS SELECT * FROM read_csv
// into a database file, in a fresh instance, as go run ./bench does.
func duckdbAlone(out, src, opts string, threads int) (float64, error) {
	start := time.Now()
	dsn := ""
	if threads > 0 {
		dsn = "?threads=" + strconv.Itoa(threads)
	}
	db, err := sql.Open("duckdb", dsn)
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
