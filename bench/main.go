// Command bench measures csvapi end to end on generated inputs and prints a
// Markdown table: ingest against DuckDB alone, serving throughput and
// latency, export speed and peak memory.
//
//	go run ./bench                 # full suite (1 M and 10 M rows)
//	go run ./bench -big-rows 0     # skip the 10 M-row file
//
// It builds csvapi, serves the inputs from a loopback upstream, and drives
// the service over HTTP on 127.0.0.1 only, with wrk when it is installed
// (apt-get install wrk) and a small Go load generator otherwise. Every load
// is bounded by -duration.
package main

import (
	"database/sql"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	_ "github.com/duckdb/duckdb-go/v2"
)

func main() {
	dir := flag.String("dir", "bench-data", "where inputs, the binary and caches go (reused between runs)")
	rows := flag.Int("rows", 1_000_000, "rows of the main CSV files")
	bigRows := flag.Int("big-rows", 10_000_000, "rows of the large file for the memory measure (0: skip)")
	xlsxRows := flag.Int("xlsx-rows", 100_000, "rows of the spreadsheet")
	duration := flag.Duration("duration", 5*time.Second, "duration of each serving measure")
	conns := flag.Int("connections", 32, "concurrent connections of the serving measures")
	fidelity := flag.Int("fidelity-rows", 0, "also load a French table of this many rows in Windows-1252 and in UTF-8 with --memory-limit 1GB, and compare (13000000 rows ≈ 1 GB)")
	flag.Parse()
	if err := run(*dir, *rows, *bigRows, *xlsxRows, *duration, *conns); err != nil {
		log.Fatal(err)
	}
	if *fidelity > 0 {
		if err := runFidelity(*dir, *fidelity); err != nil {
			log.Fatal(err)
		}
	}
}

// result is one line of the report.
type result struct{ section, what, figure, target string }

func run(dir string, rows, bigRows, xlsxRows int, duration time.Duration, conns int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	dir, _ = filepath.Abs(dir)
	log.Printf("generating inputs in %s (once; reused by later runs)", dir)
	in, err := generate(dir, rows, bigRows, xlsxRows)
	if err != nil {
		return err
	}
	bin := filepath.Join(dir, "csvapi")
	log.Printf("building %s", bin)
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/csvapi").CombinedOutput(); err != nil {
		return fmt.Errorf("go build: %v\n%s", err, out)
	}
	up, err := serveFiles(dir)
	if err != nil {
		return err
	}
	var results []result
	add := func(r result) {
		log.Printf("%s | %s | %s", r.section, r.what, r.figure)
		results = append(results, r)
	}

	// Ingest, each file on a fresh cache.
	svc, err := startCSVAPI(bin, filepath.Join(dir, "cache-ingest"))
	if err != nil {
		return err
	}
	ingest := []struct {
		name, path, target string
		baseline           string // read_csv options of the DuckDB-alone run; "" for none
	}{
		{"UTF-8 CSV", in.utf8, "≤ 1.3×", ""},
		{"Windows-1252 `;` CSV, decimal commas", in.french, "≤ 1.6×", ", encoding='latin-1', decimal_separator=','"},
		{"xlsx", in.xlsx, "", "-"},
	}
	ids := map[string]string{}
	for _, f := range ingest {
		id, took, err := svc.apify(up + "/" + filepath.Base(f.path))
		if err != nil {
			return fmt.Errorf("apify %s: %w", f.name, err)
		}
		ids[f.path] = id
		fig := fmt.Sprintf("%.2f s (%s)", took.Seconds(), mbps(fileSize(f.path), took))
		if f.baseline != "-" {
			base, err := duckdbAlone(dir, f.path, f.baseline)
			if err != nil {
				return fmt.Errorf("DuckDB alone on %s: %w", f.name, err)
			}
			fig += fmt.Sprintf("; DuckDB alone %.2f s; ratio %.2f×", base.Seconds(), took.Seconds()/base.Seconds())
		}
		add(result{"Ingest", fmt.Sprintf("`/apify` %s, %s", f.name, humanBytes(fileSize(f.path))), fig, f.target})
	}

	// Serving, on the UTF-8 file.
	id := ids[in.utf8]
	api := svc.base + "/api/" + id
	deep, err := svc.deepCursor(api)
	if err != nil {
		return err
	}
	serve := []struct{ what, path, target string }{
		{"cached first page (`_size=20`)", "?_size=20", "≥ 15,000 req/s"},
		{"filtered + sorted page with total", "?_size=20&population__greater=1000000&commune__exact=Lyon&_sort_desc=montant", "p50 < 30 ms"},
		{"`q` search", "?_size=20&q=saint", ""},
		{"facet", "?_size=0&_facet=commune", ""},
		{"deep cursor page", deep, ""},
	}
	for _, s := range serve {
		// One request first, as a visitor would make: it fills the response
		// cache and, for q, starts the search index.
		if _, _, err := download(api + s.path); err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		st, err := load(api+s.path, conns, duration)
		if err != nil {
			return fmt.Errorf("%s: %w", s.what, err)
		}
		add(result{"Serve", s.what, st.String(), s.target})
	}
	// The same filtered page, each request different so that nothing comes
	// from the response cache: one client for the latency of one query,
	// then all connections for the throughput of DuckDB on 2 cores.
	distinct := api + "?_size=20&commune__exact=Lyon&_sort_desc=montant&population__greater="
	for _, c := range []int{1, conns} {
		st, err := loadDistinct(distinct, c, duration)
		if err != nil {
			return err
		}
		add(result{"Serve", fmt.Sprintf("filtered + sorted page with total, every request distinct (uncached), %d connection(s)", c),
			st.String(), map[int]string{1: "p50 < 30 ms"}[c]})
	}

	// Exports.
	for _, format := range []string{"csv", "parquet"} {
		n, took, err := download(api + "/export?format=" + format)
		if err != nil {
			return err
		}
		add(result{"Export", fmt.Sprintf("%s of %d rows", strings.ToUpper(format), rows),
			fmt.Sprintf("%s in %.2f s: %s", humanBytes(n), took.Seconds(), mbps(n, took)), map[string]string{"csv": "≥ 100 MB/s"}[format]})
	}
	svc.stop()

	// Memory: the large file with a 1 GB DuckDB memory limit.
	if in.big != "" {
		mem, err := startCSVAPI(bin, filepath.Join(dir, "cache-memory"), "--memory-limit", "1GB")
		if err != nil {
			return err
		}
		_, took, err := mem.apify(up + "/" + filepath.Base(in.big))
		if err != nil {
			return fmt.Errorf("apify of the large file: %w", err)
		}
		peak := mem.peakRSS()
		mem.stop()
		add(result{"Memory", fmt.Sprintf("peak RSS loading %d rows (%s) with `--memory-limit 1GB`", bigRows, humanBytes(fileSize(in.big))),
			fmt.Sprintf("%s (load %.1f s)", humanBytes(peak), took.Seconds()), "< 1.5 GB"})
	}

	fmt.Printf("\nMachine: %d cores, %s, %s; load generator: %s\n\n", runtime.NumCPU(), cpuModel(), runtime.Version(), generatorName())
	fmt.Println("| | measure | figure | target |")
	fmt.Println("|---|---|---|---|")
	for _, r := range results {
		fmt.Printf("| %s | %s | %s | %s |\n", r.section, r.what, r.figure, r.target)
	}
	return nil
}

// duckdbAlone times DuckDB's own CREATE TABLE … AS SELECT * FROM read_csv
// into a database file, the baseline /apify is compared with.
func duckdbAlone(dir, path, opts string) (time.Duration, error) {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		return 0, err
	}
	defer db.Close()
	out := filepath.Join(dir, "baseline.duckdb")
	os.Remove(out)
	defer os.Remove(out)
	start := time.Now()
	if _, err := db.Exec("ATTACH '" + out + "' AS b"); err != nil {
		return 0, err
	}
	if _, err := db.Exec("CREATE TABLE b.data AS SELECT * FROM read_csv('" + path + "'" + opts + ")"); err != nil {
		return 0, err
	}
	if _, err := db.Exec("DETACH b"); err != nil {
		return 0, err
	}
	return time.Since(start), nil
}

// serveFiles serves dir on a loopback port, as an upstream would.
func serveFiles(dir string) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go http.Serve(ln, http.FileServer(http.Dir(dir)))
	return "http://" + ln.Addr().String(), nil
}

func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	default:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	}
}

func mbps(n int64, d time.Duration) string {
	return fmt.Sprintf("%.0f MB/s", float64(n)/(1<<20)/d.Seconds())
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.GOARCH
	}
	for _, line := range strings.Split(string(b), "\n") {
		if name, ok := strings.CutPrefix(line, "model name"); ok {
			return strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(name), ":"))
		}
	}
	return runtime.GOARCH
}
