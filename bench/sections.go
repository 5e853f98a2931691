package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

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

// summarizeRef introduces the reference figure of /profile.
const summarizeRef = "DuckDB alone, `SUMMARIZE data` (one scan: min, max, distinct estimate, mean, quartiles, nulls; no top values or histogram) on a copy of the same file: "

// allRows is a filter every row matches: with it a profile is computed
// at each request (only the unfiltered profile is kept), which measures
// the computation itself.
const allRows = "rowid__greater=1"

// profile times /profile of every column as served, the first request
// right after the load and then profileRuns more (the response cache is
// off, but the unfiltered profile is computed once per version and kept),
// and the computation itself (a filter matching every row), each beside
// DuckDB's SUMMARIZE of the same table in the bench process, the two in
// turn first.
func (b *bench) profile(api, cacheDir, id string) error {
	served := fmt.Sprintf("`/profile` of all columns, %s rows, as served: the unfiltered profile, computed once per version (in the background after the load) and kept; median of %d requests, the first one after the load apart (it waits for the background computation if that still runs)",
		thousands(b.rows), b.profileRuns)
	computed := fmt.Sprintf("`/profile?%s` of all columns, %s rows: a filter matching every row, so computed at each request (the profile's own cost); median of %d", allRows, thousands(b.rows), b.profileRuns)
	dbFile, err := databaseFile(cacheDir, id)
	if err != nil {
		return err
	}
	db, closeDB, err := openCopy(b.dir, dbFile, "reference-profile.duckdb", 1)
	if err != nil {
		return fmt.Errorf("DuckDB alone on %s: %w", filepath.Base(dbFile), err)
	}
	defer closeDB()
	start := time.Now()
	if err := getJSON(api+"/profile", new(struct{})); err != nil {
		return err
	}
	first := time.Since(start)
	firstNote := ""
	if took, ok := backgroundProfileTime(api); ok {
		firstNote = fmt.Sprintf(" (it waited for the background computation, which took %s by csvapi_profile_duration_seconds)", secs(took))
	}
	var runs, comp, refs, ratio sample
	timeouts := 0
	for i := range b.profileRuns {
		took, err := timeProfile(api + "/profile")
		if err != nil {
			return err
		}
		runs = append(runs, ms(took))
		var c, ref time.Duration
		var cerr, rerr error
		if i%2 == 0 {
			c, cerr = timeProfile(api + "/profile?" + allRows)
			ref, rerr = summarize(db)
		} else {
			ref, rerr = summarize(db)
			c, cerr = timeProfile(api + "/profile?" + allRows)
		}
		if isStatus(cerr, http.StatusGatewayTimeout) {
			// Past csvapi's --query-timeout: a figure, not a failure.
			timeouts++
			cerr, c = nil, 0
		}
		if cerr != nil {
			return cerr
		}
		if rerr != nil {
			return fmt.Errorf("DuckDB alone, SUMMARIZE: %w", rerr)
		}
		refs = append(refs, ref.Seconds())
		if c > 0 {
			comp, ratio = append(comp, c.Seconds()), append(ratio, c.Seconds()/ref.Seconds())
		}
	}
	b.add(result{
		section: "Profile",
		measure: served,
		csvapi:  fmt.Sprintf("%s; first %s%s", runs.format(1, " ms"), secs(first.Seconds()), firstNote),
		target:  "≤ 0.5 s",
		met:     yesNo(runs.median() <= 500),
	})
	r := result{section: "Profile", measure: computed, reference: summarizeRef + refs.format(2, " s")}
	if len(comp) > 0 {
		r.csvapi, r.ratio = comp.format(2, " s"), ratio.format(2, "×")
	}
	if timeouts > 0 {
		r.csvapi = strings.TrimPrefix(fmt.Sprintf("%s; %d of %d past csvapi's `--query-timeout` (504)", r.csvapi, timeouts, b.profileRuns), "; ")
	}
	b.add(r)
	return nil
}

// backgroundProfileTime reads, from the /metrics of the csvapi serving
// api (…/api/<id>), the seconds its one background profile took; false
// when it computed none, or more than one.
func backgroundProfileTime(api string) (float64, bool) {
	base, _, _ := strings.Cut(api, "/api/")
	resp, err := httpClient.Get(base + "/metrics")
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, false
	}
	value := func(name string) (float64, bool) {
		for _, line := range strings.Split(string(body), "\n") {
			if v, ok := strings.CutPrefix(line, name+`{trigger="background"} `); ok {
				f, err := strconv.ParseFloat(v, 64)
				return f, err == nil
			}
		}
		return 0, false
	}
	n, ok1 := value("csvapi_profile_duration_seconds_count")
	sum, ok2 := value("csvapi_profile_duration_seconds_sum")
	return sum, ok1 && ok2 && n == 1
}

// timeProfile times one answer of a /profile URL.
func timeProfile(u string) (time.Duration, error) {
	start := time.Now()
	err := getJSON(u, new(struct{}))
	return time.Since(start), err
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
