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
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log"
	"math"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
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

// print writes the report: the machine line, then the table.
func (b *bench) print(loadStart string) {
	fmt.Printf("\nMachine: %d cores, %s, %s, %s; load generator: %s; load average %s at start, %s at end\n\n",
		runtime.NumCPU(), cpuModel(), runtime.Version(), "DuckDB "+duckdbVersion(), generatorName(), loadStart, loadAverage())
	fmt.Println("| | measure | csvapi | reference | ratio | target | met? |")
	fmt.Println("|---|---|---|---|---|---|---|")
	for _, r := range b.results {
		fmt.Printf("| %s | %s | %s | %s | %s | %s | %s |\n", r.section, r.measure, dash(r.csvapi), dash(r.reference), dash(r.ratio), dash(r.target), dash(r.met))
	}
	fmt.Printf("\nFigures are medians over %d round(s), min–max in brackets; ratios are taken round by round (csvapi and its reference one after the other, in turn first), then their median.\n", b.rounds)
}

func dash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// ingest times /apify of each file against DuckDB alone loading it into a
// database file, alternated round by round, on one csvapi with a fresh
// cache; each round asks another URL (a query string the upstream ignores)
// so that csvapi loads it again.
func (b *bench) ingest() error {
	svc, err := startCSVAPI(b.bin, filepath.Join(b.dir, "cache-ingest"))
	if err != nil {
		return err
	}
	defer svc.stop()
	files := []struct{ name, path, opts string }{
		{"the bench's UTF-8 CSV", b.in.utf8, ""},
		{"CSV with quoted fields (embedded quotes and a comma) on every 7th row", b.in.quoted, ""},
		{"Windows-1252 `;` CSV with decimal commas", b.in.french, ", encoding='latin-1', decimal_separator=','"},
	}
	for _, f := range files {
		var mine, ref, ratio sample
		for r := range b.rounds {
			var took, base time.Duration
			err := pair(r, func() (err error) {
				if _, took, err = svc.apify(fmt.Sprintf("%s/%s?round=%d", b.upstream, filepath.Base(f.path), r)); err != nil {
					return fmt.Errorf("apify %s: %w", f.name, err)
				}
				return nil
			}, func() (err error) {
				if base, err = duckdbAlone(b.dir, f.path, f.opts); err != nil {
					return fmt.Errorf("DuckDB alone on %s: %w", f.name, err)
				}
				return nil
			})
			if err != nil {
				return err
			}
			mine, ref, ratio = append(mine, took.Seconds()), append(ref, base.Seconds()), append(ratio, took.Seconds()/base.Seconds())
			log.Printf("ingest %s: csvapi %.2f s, DuckDB alone %.2f s", filepath.Base(f.path), took.Seconds(), base.Seconds())
		}
		stmt := "`CREATE TABLE data AS SELECT * FROM read_csv(file" + f.opts + ")`"
		size := fileSize(f.path)
		b.add(result{
			section:   "Ingest",
			measure:   fmt.Sprintf("`/apify` of %s, %s rows, %s", f.name, thousands(b.rows), humanBytes(size)),
			csvapi:    mine.format(2, " s") + fmt.Sprintf(", %s", mbps(size, time.Duration(mine.median()*float64(time.Second)))),
			reference: "DuckDB alone, " + stmt + " into a database file: " + ref.format(2, " s"),
			ratio:     ratio.format(2, "×"),
			target:    "≤ 1.2×",
			met:       yesNo(ratio.median() <= 1.2),
		})
	}
	_, took, err := svc.apify(b.upstream + "/" + filepath.Base(b.in.xlsx))
	if err != nil {
		return fmt.Errorf("apify xlsx: %w", err)
	}
	b.add(result{section: "Ingest", measure: fmt.Sprintf("`/apify` of an xlsx, %s rows, %s", thousands(b.xlsxRows), humanBytes(fileSize(b.in.xlsx))),
		csvapi: secs(took.Seconds())})
	return nil
}

// serving runs the sections that query the quoted 1 M-row table: first on
// a csvapi without response cache (every answer computed), then, on the
// same cache directory, on one with it (cached pages, exports).
func (b *bench) serving() error {
	uncached := b.need("query") || b.need("profile") || b.need("cursor") || b.need("search")
	cached := b.need("cached") || b.need("export")
	if !uncached && !cached {
		return nil
	}
	cacheDir := filepath.Join(b.dir, "cache-serve")
	if err := os.RemoveAll(cacheDir); err != nil {
		return err
	}
	fileURL := b.upstream + "/" + filepath.Base(b.in.quoted)
	if uncached {
		// The smallest size the flag takes: no answer fits, so every one
		// is computed (checked by computed below).
		svc, err := startCSVAPIOn(b.bin, cacheDir, "--response-cache-size", "1B")
		if err != nil {
			return err
		}
		err = b.uncachedSections(svc, cacheDir, fileURL)
		svc.stop()
		if err != nil {
			return fmt.Errorf("%w (csvapi's log: %s)", err, svc.logPath)
		}
	}
	if cached {
		svc, err := startCSVAPIOn(b.bin, cacheDir)
		if err != nil {
			return err
		}
		err = b.cachedSections(svc, fileURL)
		svc.stop()
		if err != nil {
			return fmt.Errorf("%w (csvapi's log: %s)", err, svc.logPath)
		}
	}
	return nil
}

func (b *bench) uncachedSections(svc *service, cacheDir, fileURL string) error {
	log.Printf("loading %s for the serving measures", filepath.Base(b.in.quoted))
	id, _, err := svc.apify(fileURL)
	if err != nil {
		return err
	}
	api := svc.base + "/api/" + id
	steps := []struct {
		name string
		run  func() error
	}{
		{"query", func() error { return b.query(api, cacheDir, id) }},
		{"profile", func() error { return b.profile(api, cacheDir, id) }},
		{"cursor", func() error { return b.cursor(api) }},
		{"search", func() error { return b.search(api) }},
	}
	for _, s := range steps {
		if b.need(s.name) {
			b.try(s.name, s.run)
		}
	}
	return nil
}

func (b *bench) cachedSections(svc *service, fileURL string) error {
	id, _, err := svc.apify(fileURL) // already converted: answered from the cache
	if err != nil {
		return err
	}
	api := svc.base + "/api/" + id
	if b.need("cached") {
		b.try("cached", func() error { return b.cachedPage(api) })
	}
	if b.need("export") {
		b.try("export", func() error { return b.export(api) })
	}
	return nil
}

// pair runs round r of a comparison: csvapi's side then the reference's in
// even rounds, the other way round in odd ones (A B B A …), so that neither
// side always follows the other.
func pair(r int, csvapi, reference func() error) error {
	first, second := csvapi, reference
	if r%2 == 1 {
		first, second = reference, csvapi
	}
	if err := first(); err != nil {
		return err
	}
	return second()
}

// queryValues are the filter values of request i, the same for csvapi and
// for DuckDB alone: a commune and a population threshold, so that every
// request differs from the ones before it.
func queryValues(i int64) (string, int64) {
	return communes[i%int64(len(communes))], (i * 104_729) % 2_000_000
}

func pageURL(api string, i int64) string {
	commune, pop := queryValues(i)
	return api + "?_size=20&_sort_desc=montant&commune__exact=" + url.QueryEscape(commune) +
		"&population__strictly_greater=" + strconv.FormatInt(pop, 10)
}

// query compares the uncached filtered, sorted page with its exact total
// against DuckDB alone running the count and the page on a copy of the
// same database file, at 1 and 8 clients, after checking both give the
// same totals.
func (b *bench) query(api, cacheDir, id string) error {
	dbFile, err := databaseFile(cacheDir, id)
	if err != nil {
		return err
	}
	ref, err := openQueryRef(b.dir, dbFile, 8)
	if err != nil {
		return fmt.Errorf("DuckDB alone on %s: %w", filepath.Base(dbFile), err)
	}
	defer ref.close()
	ctx := context.Background()
	for i := int64(1); i <= 3; i++ {
		var page struct{ Total int64 }
		if err := getJSON(pageURL(api, i), &page); err != nil {
			return err
		}
		commune, pop := queryValues(i)
		want, err := ref.run(ctx, commune, pop)
		if err != nil {
			return err
		}
		if page.Total != want {
			return fmt.Errorf("%s: total %d, DuckDB alone counts %d", pageURL(api, i), page.Total, want)
		}
	}
	for _, clients := range []int{1, 8} {
		who := map[int]string{1: "1 client"}[clients]
		if who == "" {
			who = strconv.Itoa(clients) + " clients"
		}
		var mine, refs []stats
		var ratio sample
		for r := range b.rounds {
			// Both sides of a round ask the same values; rounds ask others.
			off := int64(r+1) * 1_000_000
			var st, rt stats
			err := pair(r, func() (err error) {
				st, err = loadHTTP(func(i int64) string { return pageURL(api, off+i) }, clients, b.duration)
				return err
			}, func() (err error) {
				rt, err = loadFunc(func(i int64) error {
					commune, pop := queryValues(off + i)
					_, err := ref.run(ctx, commune, pop)
					return err
				}, clients, b.duration)
				return err
			})
			if err != nil {
				return err
			}
			mine, refs, ratio = append(mine, st), append(refs, rt), append(ratio, st.rps/rt.rps)
			log.Printf("query, %s: csvapi %s; DuckDB alone %s", who, st, rt)
		}
		b.add(result{
			section:   "Query",
			measure:   fmt.Sprintf("uncached page of 20, `commune__exact` + `population__strictly_greater` (varying), `_sort_desc=montant`, exact total; %s", who),
			csvapi:    throughput(mine),
			reference: "DuckDB alone, count + page statements (prepared), same values and concurrency: " + throughput(refs),
			ratio:     ratio.format(2, "×"),
			target:    "≥ 1.0",
			met:       yesNo(ratio.median() >= 1.0 && errorsOf(mine) == 0),
		})
	}
	return nil
}

// profile times /profile of every column, first and then profileRuns
// more (the response cache is off, so each is computed), each followed by
// DuckDB's SUMMARIZE of the same table in the bench process.
func (b *bench) profile(api, cacheDir, id string) error {
	measure := fmt.Sprintf("`/profile` of all columns, %s rows (median of %d requests; the first one after the load apart)", thousands(b.rows), b.profileRuns)
	dbFile, err := databaseFile(cacheDir, id)
	if err != nil {
		return err
	}
	db, closeDB, err := openCopy(b.dir, dbFile, "reference-profile.duckdb", 1)
	if err != nil {
		return fmt.Errorf("DuckDB alone on %s: %w", filepath.Base(dbFile), err)
	}
	defer closeDB()
	var first time.Duration
	var runs, refs, ratio sample
	queryMS := map[string]bool{}
	for i := 0; i <= b.profileRuns; i++ {
		start := time.Now()
		var body struct {
			QueryMS json.Number `json:"query_ms"`
		}
		err := getJSON(api+"/profile", &body)
		took := time.Since(start)
		if isStatus(err, http.StatusGatewayTimeout) {
			// Past csvapi's --query-timeout: a figure, not a failure.
			b.add(result{section: "Profile", measure: measure,
				csvapi: fmt.Sprintf("504 timeout after %s (csvapi's `--query-timeout`)", secs(took.Seconds())),
				target: "≤ 0.5 s", met: yesNo(false)})
			return nil
		}
		if err != nil {
			return err
		}
		if i == 0 {
			first = took
			continue
		}
		ref, err := summarize(db)
		if err != nil {
			return fmt.Errorf("DuckDB alone, SUMMARIZE: %w", err)
		}
		runs, refs, ratio = append(runs, took.Seconds()), append(refs, ref.Seconds()), append(ratio, took.Seconds()/ref.Seconds())
		queryMS[body.QueryMS.String()] = true
	}
	note := ""
	if len(runs) >= 3 && len(queryMS) == 1 {
		// Not computed each time: the first request is the one to read.
		note = " (every later answer has the same query_ms: they were not computed again)"
	}
	b.add(result{
		section:   "Profile",
		measure:   measure,
		csvapi:    fmt.Sprintf("%s; first %s%s", runs.format(2, " s"), secs(first.Seconds()), note),
		reference: "DuckDB alone, `SUMMARIZE data` (one scan: min, max, distinct estimate, mean, quartiles, nulls; no top values or histogram) on a copy of the same file: " + refs.format(2, " s"),
		ratio:     ratio.format(2, "×"),
		target:    "≤ 0.5 s",
		met:       yesNo(runs.median() <= 0.5),
	})
	return nil
}

// cursor compares the sorted page reached by cursor at 90% of the table
// (row 900,000 of 1 M) with the first page under the same sort, requests
// alternated.
func (b *bench) cursor(api string) error {
	const sort = "_size=20&_sort=population"
	var head struct{ Total int64 }
	if err := getJSON(api+"?_size=1", &head); err != nil {
		return err
	}
	at := head.Total * 9 / 10
	var page struct {
		Next    string `json:"next"`
		NextURL string `json:"next_url"`
	}
	if err := getJSON(fmt.Sprintf("%s?%s&_offset=%d", api, sort, at-20), &page); err != nil {
		return err
	}
	if page.Next == "" {
		return errors.New("no next cursor on a deep sorted page")
	}
	deep := api + "?" + sort + "&_next=" + url.QueryEscape(page.Next)
	if strings.HasPrefix(page.NextURL, "http") {
		deep = page.NextURL
	}
	first := api + "?" + sort
	for _, u := range []string{first, deep} {
		if err := computed(u); err != nil {
			return err
		}
	}
	var firsts, deeps sample
	for range b.cursorRequests {
		for _, u := range []string{first, deep} {
			_, took, err := download(u)
			if err != nil {
				return err
			}
			if u == first {
				firsts = append(firsts, ms(took))
			} else {
				deeps = append(deeps, ms(took))
			}
		}
	}
	ratio := deeps.median() / firsts.median()
	b.add(result{
		section:   "Cursor",
		measure:   fmt.Sprintf("sorted (`_sort=population`) page of 20 by cursor at row %s, p50 of %d", thousands(int(at)), b.cursorRequests),
		csvapi:    fmt.Sprintf("%.1f ms (%.1f–%.1f)", deeps.median(), deeps.min(), deeps.max()),
		reference: fmt.Sprintf("the first sorted page: %.1f ms (%.1f–%.1f)", firsts.median(), firsts.min(), firsts.max()),
		ratio:     fmt.Sprintf("%.2f×", ratio),
		target:    "≤ 2×",
		met:       yesNo(ratio <= 2),
	})
	return nil
}

// searchWords are the first words of the searches; each request adds a
// different number, which every label holds ("Dossier 123456 de Lyon").
var searchWords = []string{"lyon", "paris", "saint", "nice", "lille", "reims", "brest", "tours", "caen", "nancy",
	"dijon", "angers", "toulon", "rennes", "nantes", "havre", "grenoble", "limoges", "rouen", "amiens"}

// searchURL is the search of request i: 20 words × 9,900 numbers of 3 or
// 4 digits, so that 198,000 requests in a row are all different.
func searchURL(api string, i int64) string {
	n := int64(len(searchWords))
	q := searchWords[i%n] + " " + strconv.FormatInt(100+(i/n)%9900, 10)
	return api + "?_size=20&q=" + url.QueryEscape(q)
}

// search measures `q` with two words and the total, one client, every
// request different; the first search and a warm-up are not counted.
func (b *bench) search(api string) error {
	_, first, err := download(searchURL(api, 0))
	if err != nil {
		return err
	}
	if _, err := loadHTTP(func(i int64) string { return searchURL(api, 150_000+i) }, 1, b.searchWarmup); err != nil {
		return err
	}
	var runs []stats
	for r := range b.rounds {
		off := int64(r) * 30_000 // another stretch of the sequence each round
		st, err := loadHTTP(func(i int64) string { return searchURL(api, off+i) }, 1, b.duration)
		if err != nil {
			return err
		}
		runs = append(runs, st)
	}
	var p50, rps sample
	for _, s := range runs {
		p50, rps = append(p50, ms(s.p50)), append(rps, s.rps)
	}
	b.add(result{
		section: "Search",
		measure: fmt.Sprintf("`q` of 2 words with total, %s rows, 1 client, every request different (first search %s, then %s not counted)", thousands(b.rows), round(first), b.searchWarmup),
		csvapi:  "p50 " + p50.format(1, " ms") + ", " + rps.format(0, " req/s") + errorNote(runs),
		target:  "p50 ≤ 20 ms",
		met:     yesNo(p50.median() <= 20 && errorsOf(runs) == 0),
	})
	return nil
}

// cachedPage compares the cached first page under wrk with a bare fiber
// handler answering a fixed 2 KB JSON, rounds alternated.
func (b *bench) cachedPage(api string) error {
	u := api + "?_size=20"
	n, _, err := download(u) // fills the response cache
	if err != nil {
		return err
	}
	fiberURL, fiberCmd, err := startFiberRef(b.fiberBin)
	if err != nil {
		return err
	}
	defer stopChild(fiberCmd, time.Second)
	var mine, refs []stats
	var ratio sample
	for r := range b.rounds {
		var st, rt stats
		err := pair(r, func() (err error) {
			st, err = load(u, b.conns, b.duration)
			return err
		}, func() (err error) {
			rt, err = load(fiberURL+"/", b.conns, b.duration)
			return err
		})
		if err != nil {
			return err
		}
		mine, refs, ratio = append(mine, st), append(refs, rt), append(ratio, st.rps/rt.rps)
		log.Printf("cached: csvapi %s; fiber %s", st, rt)
	}
	b.add(result{
		section:   "Cached",
		measure:   fmt.Sprintf("cached first page (`_size=20`, %s), %s × %d connections", humanBytes(n), generatorThreads(), b.conns),
		csvapi:    throughput(mine),
		reference: "a bare fiber handler returning a fixed 2 KB JSON, same load: " + throughput(refs),
		ratio:     ratio.format(2, "×"),
		target:    "≥ 0.7",
		met:       yesNo(ratio.median() >= 0.7 && errorsOf(mine) == 0),
	})
	return nil
}

// export downloads the whole table as CSV and as Parquet.
func (b *bench) export(api string) error {
	for _, format := range []string{"csv", "parquet"} {
		n, took, err := download(api + "/export?format=" + format)
		if err != nil {
			return err
		}
		r := result{section: "Export", measure: fmt.Sprintf("%s of the %s rows", strings.ToUpper(format), thousands(b.rows)),
			csvapi: fmt.Sprintf("%s in %.2f s: %s", humanBytes(n), took.Seconds(), mbps(n, took))}
		if format == "csv" {
			r.target = "≥ 100 MB/s"
			r.met = yesNo(float64(n)/(1<<20)/took.Seconds() >= 100)
		}
		b.add(r)
	}
	return nil
}

// memory loads the large file with a 1 GB DuckDB memory limit and reports
// the peak resident memory of the server and of its process tree (the
// conversion runs in a worker process), sampled during the load.
func (b *bench) memory() error {
	mem, err := startCSVAPI(b.bin, filepath.Join(b.dir, "cache-memory"), "--memory-limit", "1GB")
	if err != nil {
		return err
	}
	defer mem.stop()
	sampler := sampleTree(mem.cmd.Process.Pid, 20*time.Millisecond)
	_, took, err := mem.apify(b.upstream + "/" + filepath.Base(b.in.big))
	treePeak, childPeak := sampler()
	if err != nil {
		return fmt.Errorf("apify of the large file: %w", err)
	}
	peak := mem.peakRSS()
	b.add(result{section: "Memory",
		measure: fmt.Sprintf("peak RSS loading %s rows (%s) with `--memory-limit 1GB`: server, largest child (the conversion worker), whole tree (sampled every 20 ms)", thousands(b.bigRows), humanBytes(fileSize(b.in.big))),
		csvapi:  fmt.Sprintf("%s, %s, %s (load %.1f s)", humanBytes(peak), humanBytes(childPeak), humanBytes(treePeak), took.Seconds()),
		target:  "tree < 1.5 GB", met: yesNo(max(treePeak, peak) < 1500<<20)})
	return nil
}

// sampleTree polls the resident memory of pid's process tree until the
// returned function is called, which gives the largest sum seen and the
// largest peak (VmHWM) of any descendant.
func sampleTree(pid int, every time.Duration) func() (tree, child int64) {
	done := make(chan struct{})
	result := make(chan [2]int64, 1)
	go func() {
		var tree, child int64
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			tree = max(tree, treeRSS(pid))
			for _, c := range descendants(pid) {
				child = max(child, rss(c, "VmHWM"))
			}
			select {
			case <-done:
				result <- [2]int64{tree, child}
				return
			case <-t.C:
			}
		}
	}()
	return func() (int64, int64) {
		close(done)
		r := <-result
		return r[0], r[1]
	}
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

// sample is one figure measured once per round.
type sample []float64

func (s sample) sorted() []float64 { c := slices.Clone([]float64(s)); slices.Sort(c); return c }

func (s sample) median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := s.sorted()
	if len(c)%2 == 1 {
		return c[len(c)/2]
	}
	return (c[len(c)/2-1] + c[len(c)/2]) / 2
}

func (s sample) min() float64 { return slices.Min(s) }
func (s sample) max() float64 { return slices.Max(s) }

// format prints the median with prec decimals and its unit, and min–max
// in brackets when there are several rounds: "1.12 s (1.05–1.30)".
func (s sample) format(prec int, unit string) string {
	f := func(v float64) string { return strconv.FormatFloat(v, 'f', prec, 64) }
	if len(s) == 1 {
		return f(s[0]) + unit
	}
	return fmt.Sprintf("%s%s (%s–%s)", f(s.median()), unit, f(s.min()), f(s.max()))
}

func secs(v float64) string      { return fmt.Sprintf("%.2f s", v) }
func secsRange(v float64) string { return fmt.Sprintf("%.2f", v) }
func times(v float64) string     { return fmt.Sprintf("%.2f×", v) }
func plain(v float64) string     { return fmt.Sprintf("%.2f", v) }
func plain1(v float64) string    { return fmt.Sprintf("%.1f", v) }
func ms(d time.Duration) float64 {
	return float64(d) / float64(time.Millisecond)
}

// throughput prints requests per second and p50 over the rounds, and the
// errors if any.
func throughput(runs []stats) string {
	var rps, p50 sample
	for _, s := range runs {
		rps, p50 = append(rps, s.rps), append(p50, ms(s.p50))
	}
	prec := 0
	if p50.median() < 10 {
		prec = 2
	}
	return rps.format(0, " req/s") + ", p50 " + p50.format(prec, " ms") + errorNote(runs)
}

// errorNote flags failed requests: a figure with errors is not a result.
func errorNote(runs []stats) string {
	if n := errorsOf(runs); n > 0 {
		return fmt.Sprintf(", **%d errors**", n)
	}
	return ""
}

func errorsOf(runs []stats) int64 {
	var n int64
	for _, s := range runs {
		n += s.errors
	}
	return n
}

func yesNo(ok bool) string {
	if ok {
		return "yes"
	}
	return "**no**"
}

// thousands writes n with comma separators: 1,000,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
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

// loadAverage is the 1-minute load average: above 0.5 or so, another
// process shared the machine and the figures are noisy.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}
