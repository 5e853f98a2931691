// Command bench measures csvapi end to end on generated inputs, each figure
// beside a reference measured in the same run (DuckDB alone, a bare fiber
// handler, an empty cache), and prints a Markdown table: measure, csvapi,
// reference, ratio, target, met.
//
//	go run ./bench                                   # everything (1 M rows; 10 M for memory)
//	go run ./bench -only query,cached                # some sections again
//	go run ./bench -rows 200000 -big-rows 0 -cold-resources 50 -rounds 1 -duration 2s   # a quick check
//
// It builds csvapi (and bench/fiberref, the fiber reference), serves the
// inputs from a loopback upstream, and drives everything on 127.0.0.1 only,
// with wrk when it is installed (apt-get install wrk) and a small Go load
// generator otherwise. Every load is bounded by -duration or a count, and
// every process it starts is killed when it exits, fails or is interrupted.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// sections are the parts of the bench -only can pick, in running order.
var sections = []string{"ingest", "query", "profile", "cursor", "search", "cached", "export", "coldstart", "memory"}

// config holds the flags.
type config struct {
	dir            string
	rows, bigRows  int
	xlsxRows       int
	duration       time.Duration
	conns          int
	rounds         int
	profileRuns    int
	cursorRequests int
	searchWarmup   time.Duration
	coldResources  int
	only           map[string]bool
}

func main() {
	var c config
	var only string
	flag.StringVar(&c.dir, "dir", "bench-data", "where inputs, binaries and caches go (inputs are reused between runs)")
	flag.IntVar(&c.rows, "rows", 1_000_000, "rows of the main CSV files")
	flag.IntVar(&c.bigRows, "big-rows", 10_000_000, "rows of the large file of the memory measure (0: skip it)")
	flag.IntVar(&c.xlsxRows, "xlsx-rows", 100_000, "rows of the spreadsheet")
	flag.DurationVar(&c.duration, "duration", 5*time.Second, "duration of each load (one side of one round)")
	flag.IntVar(&c.conns, "connections", 32, "connections of the cached-page measure (wrk, 2 threads)")
	flag.IntVar(&c.rounds, "rounds", 3, "rounds of each comparison, csvapi and its reference alternated")
	flag.IntVar(&c.profileRuns, "profile-runs", 5, "timed /profile requests after the first")
	flag.IntVar(&c.cursorRequests, "cursor-requests", 30, "requests of each of the first and the deep sorted page")
	flag.DurationVar(&c.searchWarmup, "search-warmup", 5*time.Second, "searches not counted after the first, while csvapi builds what it searches with")
	flag.IntVar(&c.coldResources, "cold-resources", 1000, "cached resources of the cold-start measure (built once, reused)")
	flag.StringVar(&only, "only", "", "comma-separated sections to run, of: "+strings.Join(sections, ", ")+" (default: all)")
	fidelity := flag.Int("fidelity-rows", 0, "also load a French table of this many rows in Windows-1252 and in UTF-8 with --memory-limit 1GB, and compare (13000000 rows ≈ 1 GB)")
	flag.Parse()
	var err error
	if c.only, err = parseOnly(only); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if c.rounds < 1 || c.duration <= 0 || c.conns < 1 || c.profileRuns < 1 || c.cursorRequests < 1 || c.rows < 1000 {
		fmt.Fprintln(os.Stderr, "-rounds, -duration, -connections, -profile-runs and -cursor-requests must be positive, -rows at least 1000")
		os.Exit(2)
	}

	// No csvapi outlives the bench: killed on Ctrl-C, on error and on panic.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		log.Printf("%s: stopping the processes the bench started", s)
		killChildren()
		os.Exit(130)
	}()
	defer func() {
		if p := recover(); p != nil {
			killChildren()
			panic(p)
		}
	}()
	err = run(c)
	if err == nil && *fidelity > 0 {
		err = runFidelity(c.dir, *fidelity)
	}
	killChildren()
	if err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

// parseOnly reads -only: every section when empty.
func parseOnly(s string) (map[string]bool, error) {
	out := map[string]bool{}
	if strings.TrimSpace(s) == "" {
		for _, name := range sections {
			out[name] = true
		}
		return out, nil
	}
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if !slices.Contains(sections, name) {
			return nil, fmt.Errorf("-only: unknown section %q; sections: %s", name, strings.Join(sections, ", "))
		}
		out[name] = true
	}
	return out, nil
}

// result is one line of the report.
type result struct {
	section, measure, csvapi, reference, ratio, target, met string
}

// bench is one run: its configuration, what it built and what it found.
type bench struct {
	config
	bin, fiberBin string
	upstream      string
	in            inputs
	results       []result
	failed        int // sections that failed
}

func (b *bench) add(r result) {
	log.Printf("%s | %s | %s | %s | %s | %s | %s", r.section, r.measure, r.csvapi, r.reference, r.ratio, r.target, r.met)
	b.results = append(b.results, r)
}

func run(c config) error {
	if err := os.MkdirAll(c.dir, 0o755); err != nil {
		return err
	}
	c.dir, _ = filepath.Abs(c.dir)
	b := &bench{config: c}
	loadStart := loadAverage()
	if l, err := strconv.ParseFloat(loadStart, 64); err == nil && l > 1 {
		log.Printf("load average %s: something else is using the machine, the figures will be noisy", loadStart)
	}
	log.Printf("generating inputs in %s (once; reused by later runs)", c.dir)
	var err error
	if b.in, err = generate(c.dir, c.rows, c.bigRows, c.xlsxRows, b.need); err != nil {
		return err
	}
	b.bin = filepath.Join(c.dir, "csvapi")
	if err := goBuild(b.bin, "./cmd/csvapi"); err != nil {
		return err
	}
	if b.need("cached") {
		b.fiberBin = filepath.Join(c.dir, "fiberref")
		if err := goBuild(b.fiberBin, "./bench/fiberref"); err != nil {
			return err
		}
	}
	if b.upstream, err = serveFiles(c.dir); err != nil {
		return err
	}

	if b.need("ingest") {
		b.try("ingest", b.ingest)
	}
	if err := b.serving(); err != nil {
		b.fail("serving", err)
	}
	if b.need("coldstart") {
		b.try("coldstart", b.coldStart)
	}
	if b.need("memory") && b.in.big != "" {
		b.try("memory", b.memory)
	}
	b.print(loadStart)
	if b.failed > 0 {
		return fmt.Errorf("%d section(s) failed: see the table and the log above", b.failed)
	}
	return nil
}

// try runs one section; its failure is a line of the report, and the
// other sections still run.
func (b *bench) try(section string, run func() error) {
	if err := run(); err != nil {
		b.fail(section, err)
	}
}

// titles are the sections' names in the report.
var titles = map[string]string{"ingest": "Ingest", "query": "Query", "profile": "Profile", "cursor": "Cursor", "search": "Search",
	"cached": "Cached", "export": "Export", "coldstart": "Cold start", "memory": "Memory", "serving": "Serving"}

// fail reports a failed section, with the first line of its error.
func (b *bench) fail(section string, err error) {
	section = titles[section]
	b.failed++
	log.Printf("%s failed: %v", section, err)
	msg, _, _ := strings.Cut(err.Error(), "\n")
	if len(msg) > 300 {
		msg = msg[:300] + "…"
	}
	b.add(result{section: section, measure: "failed", csvapi: strings.ReplaceAll(msg, "|", "\\|"), met: "**error**"})
}

func (b *bench) need(section string) bool { return b.only[section] }

func goBuild(out, pkg string) error {
	log.Printf("building %s", out)
	if msg, err := exec.Command("go", "build", "-o", out, pkg).CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s (run the bench from the repository's root): %v\n%s", pkg, err, msg)
	}
	return nil
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

// computed checks that repeated requests of u are computed each time, not
// served from a response cache: five answers with the same query_ms are
// taken for cached. Answers without query_ms are not checked.
func computed(u string) error {
	seen := map[string]bool{}
	for range 5 {
		var body struct {
			QueryMS *json.Number `json:"query_ms"`
		}
		if err := getJSON(u, &body); err != nil {
			return err
		}
		if body.QueryMS == nil {
			return nil
		}
		seen[body.QueryMS.String()] = true
	}
	if len(seen) == 1 {
		return fmt.Errorf("%s: five answers with the same query_ms: they come from a response cache, and the measure needs computed answers", u)
	}
	return nil
}
