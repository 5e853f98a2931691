package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// hostileFile is a file made to hurt a parser, and the answer it must get.
type hostileFile struct {
	name   string
	make   func(t *testing.T) []byte
	status int
	code   string
}

// hostileFiles are the findings of the security review (issue 11), each
// generated here, small on the wire.
var hostileFiles = []hostileFile{
	// 20 KB of JSON nested 10,000 deep: DuckDB's reader used ~7 GB, then
	// segfaulted, killing the whole service.
	{"deep.json", func(*testing.T) []byte { return deepJSON(10000) }, http.StatusUnsupportedMediaType, "not_tabular"},
	{"deep.ndjson", func(*testing.T) []byte {
		return []byte(`{"a":1}` + "\n" + `{"a":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "}\n")
	}, http.StatusUnsupportedMediaType, "not_tabular"},
	// A Parquet list nested 300 deep: an INTERNAL error that invalidated
	// the shared DuckDB instance until a restart.
	{"deep.parquet", func(t *testing.T) []byte {
		return duckdbFile(t, "SELECT "+strings.Repeat("[", 300)+"1"+strings.Repeat("]", 300)+" AS a")
	}, http.StatusUnsupportedMediaType, "not_tabular"},
	// 3,000 columns: refused from the footer, before a table is built.
	{"wide.parquet", func(t *testing.T) []byte {
		cols := make([]string, 3000)
		for i := range cols {
			cols[i] = strconv.Itoa(i) + " AS c" + strconv.Itoa(i)
		}
		return duckdbFile(t, "SELECT "+strings.Join(cols, ", "))
	}, http.StatusUnprocessableEntity, "too_many_columns"},
	// A corrupt Parquet file: the message once carried DuckDB's SQL.
	{"corrupt.parquet", func(*testing.T) []byte {
		return append(append([]byte("PAR1"), bytes.Repeat([]byte{0xAB}, 4096)...), "\x10\x00\x00\x00PAR1"...)
	}, http.StatusUnprocessableEntity, "unreadable"},
	// xlsx whose styles inflate to 40 MB (the review's 133 MB needed 3.4 GB).
	{"styles.xlsx", func(t *testing.T) []byte {
		// Well-formed, so that the cap is what refuses it: without it, the
		// reader parses the styles.
		return xlsxWith(t, "xl/styles.xml", bulk{
			head: []byte(`<styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><cellXfs>`),
			unit: bytes.Repeat([]byte(`<xf numFmtId="14"/>`), 1<<12), n: 40 << 20 / 19 >> 12,
			tail: []byte(`</cellXfs></styleSheet>`)})
	}, http.StatusUnprocessableEntity, "unreadable"},
	// xlsx with an 80 MB junk part.
	{"junk.xlsx", func(t *testing.T) []byte {
		return xlsxWith(t, "xl/junk.bin", repeated(make([]byte, 1<<20), 80))
	}, http.StatusUnprocessableEntity, "unreadable"},
	// A gzip of a zip with 20,000 entries: Go's reader allocates the whole
	// directory (1.5 M entries cost 410 MB).
	{"entries.zip.gz", func(t *testing.T) []byte {
		var z bytes.Buffer
		zw := zip.NewWriter(&z)
		for i := range 20000 {
			// Stored, not deflated: zip.Writer resets a compressor (640 KB
			// of tables) per deflated entry, 85 s under the race detector.
			w, _ := zw.CreateHeader(&zip.FileHeader{Name: fmt.Sprintf("f%d.csv", i), Method: zip.Store})
			if i == 0 {
				// One table among empty entries: only the cap on entries
				// refuses the archive.
				w.Write([]byte("a,b\n1,2\n"))
			}
		}
		zw.Close()
		var g bytes.Buffer
		gw, _ := gzip.NewWriterLevel(&g, gzip.BestSpeed)
		gw.Write(z.Bytes())
		gw.Close()
		return g.Bytes()
	}, http.StatusUnsupportedMediaType, "not_tabular"},
}

// leaks are strings an error answer must never carry: SQL text, stack
// traces, source files, server paths.
var leaks = []string{"LINE 1", "SELECT", "read_parquet", "read_json", "Stack Trace", "stack trace", ".go:", ".cpp", "/tmp/", "goroutine "}

// TestHostileFiles runs the review's hostile files against a real csvapi
// process with --memory-limit 1GB: each gets a clean JSON error, and after
// each the process is alive, ready, and still serves a table loaded before;
// the process tree never passes 2.5 GB of resident memory.
func TestHostileFiles(t *testing.T) {
	files := map[string][]byte{"good.csv": mustRead(t, "communes.csv")}
	for _, h := range hostileFiles {
		files[h.name] = h.make(t)
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, ok := files[strings.TrimPrefix(r.URL.Path, "/")]
		if !ok {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	defer up.Close()

	dir := t.TempDir()
	base, _, proc := startProcessArgs(t, dir, "--memory-limit", "1GB")
	peak := watchTreeRSS(t, proc.Pid)
	good := apifyEndpoint(t, base, up.URL+"/good.csv")

	for _, h := range hostileFiles {
		t.Run(h.name, func(t *testing.T) {
			r := apifyOutcome(t, base+"/apify?url="+url.QueryEscape(up.URL+"/"+h.name))
			if r.status != h.status || r.body["code"] != h.code {
				t.Errorf("status %d code %v (%s), want %d %s", r.status, r.body["code"], r.raw, h.status, h.code)
			}
			checkCleanError(t, r, dir)
			checkStillServing(t, base, proc, good)
		})
	}
	if p := peak(); p > 2500<<20 {
		t.Errorf("peak resident memory of the process tree: %d MB, want under 2,500 MB", p>>20)
	} else {
		t.Logf("peak resident memory of the process tree: %d MB", p>>20)
	}
}

// TestConversionKilled: a conversion that passes the structural checks but
// outgrows --load-memory-limit is killed in its worker process; the client
// gets 422 conversion_failed, remembered like other failures, and the
// service goes on.
func TestConversionKilled(t *testing.T) {
	// Shared strings are the table's own text, so no cap applies to them:
	// the reader holds 40 MB of them, far above the limit once parsed. Each
	// string is distinct, as in a real table, so the part is stored rather
	// than compressed (compressing it took a minute under the race
	// detector on a loaded machine).
	ss := []byte(`<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">`)
	for i := 0; len(ss) < 40<<20; i++ {
		ss = append(strconv.AppendInt(append(ss, "<si><t>string number "...), int64(i), 10), "</t></si>"...)
	}
	ss = append(ss, `</sst>`...)
	files := map[string][]byte{"good.csv": mustRead(t, "communes.csv"), "strings.xlsx": xlsxWith(t, "xl/sharedStrings.xml", stored(ss))}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write(files[strings.TrimPrefix(r.URL.Path, "/")])
	}))
	defer up.Close()
	dir := t.TempDir()
	limit := "96MB"
	if raceEnabled {
		// The race detector's shadow memory: a worker that loads a 5-row
		// CSV peaks at about 125 MB under it. The worker parses the bomb
		// until the limit, so a higher one costs time (320 MB: 36 s of CPU
		// time for this test, 224 MB: 23 s).
		limit = "224MB"
	}
	base, _, proc := startProcessArgs(t, dir, "--load-memory-limit", limit)
	good := apifyEndpoint(t, base, up.URL+"/good.csv")

	bomb := base + "/apify?url=" + url.QueryEscape(up.URL+"/strings.xlsx")
	r := apifyOutcome(t, bomb)
	if r.status != http.StatusUnprocessableEntity || r.body["code"] != "conversion_failed" ||
		!strings.Contains(r.body["error"].(string), "memory") {
		t.Fatalf("status %d body %s, want 422 conversion_failed naming memory", r.status, r.raw)
	}
	checkCleanError(t, r, dir)
	checkStillServing(t, base, proc, good)
	if again := get(t, bomb); again.body["code"] != "conversion_failed" {
		t.Errorf("second request: %s, want the remembered conversion_failed", again.raw)
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
	tmp, _ := os.ReadDir(filepath.Join(dir, "tmp"))
	var work []string
	for _, e := range tmp {
		if e.Name() != "duckdb-spill" {
			work = append(work, e.Name())
		}
	}
	if len(leftovers)+len(work) > 0 {
		t.Errorf("files left by the killed conversion: %v %v", leftovers, work)
	}
}

// checkCleanError checks that r is a JSON error that leaks nothing.
func checkCleanError(t *testing.T, r response, cacheDir string) {
	t.Helper()
	if r.body == nil || r.body["ok"] != false || r.body["error"] == "" {
		t.Errorf("not a JSON error: %s", r.raw)
	}
	for _, leak := range append(leaks, cacheDir) {
		if bytes.Contains(r.raw, []byte(leak)) {
			t.Errorf("the answer leaks %q: %s", leak, r.raw)
		}
	}
}

// checkStillServing checks that the process is alive and ready, and that
// the table at endpoint still answers the right rows.
func checkStillServing(t *testing.T, base string, proc *os.Process, endpoint string) {
	t.Helper()
	if err := proc.Signal(syscall.Signal(0)); err != nil {
		t.Fatalf("the csvapi process died: %v", err)
	}
	if r := get(t, base+"/ready"); r.status != http.StatusOK {
		t.Errorf("/ready: %d %s", r.status, r.raw)
	}
	r := get(t, endpoint+"?code_insee__exact=2A004&_shape=objects")
	rows, _ := r.body["rows"].([]any)
	if r.status != http.StatusOK || len(rows) != 1 || rows[0].(map[string]any)["nom"] != "Ajaccio" {
		t.Errorf("the table loaded before: %d %s, want Ajaccio", r.status, r.raw)
	}
}

func apifyEndpoint(t *testing.T, base, u string) string {
	t.Helper()
	var r response
	eventually(t, "the good table", func() bool {
		r = get(t, base+"/apify?url="+url.QueryEscape(u))
		return r.status == http.StatusOK
	})
	return r.body["endpoint"].(string)
}

// apifyOutcome asks the /apify URL u until the load ends: on a loaded
// machine under the race detector a conversion can outlast --apify-wait,
// and the 202 that answers meanwhile says nothing of the outcome. Asking
// again joins the running load.
func apifyOutcome(t *testing.T, u string) response {
	t.Helper()
	r := get(t, u)
	for deadline := time.Now().Add(5 * time.Minute); r.status == http.StatusAccepted; r = get(t, u) {
		if time.Now().After(deadline) {
			t.Fatalf("the load of %s was still running after 5 minutes: %s", u, r.raw)
		}
		time.Sleep(200 * time.Millisecond)
	}
	return r
}

// watchTreeRSS samples the resident memory of pid and its descendants until
// the test ends; the returned function gives the peak of their sum.
func watchTreeRSS(t *testing.T, pid int) func() int64 {
	var peak atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			if rss := treeRSS(pid); rss > peak.Load() {
				peak.Store(rss)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	var once sync.Once
	finish := func() int64 {
		once.Do(func() { close(stop); wg.Wait() })
		return peak.Load()
	}
	t.Cleanup(func() { finish() })
	return finish
}

// treeRSS sums VmRSS over pid and its descendants, read from /proc.
func treeRSS(pid int) int64 {
	children := map[int][]int{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The parent pid is the second field after the command's ")".
		fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(fields) > 1 {
			ppid, _ := strconv.Atoi(fields[1])
			children[ppid] = append(children[ppid], p)
		}
	}
	var sum int64
	var walk func(int)
	walk = func(p int) {
		status, _ := os.ReadFile("/proc/" + strconv.Itoa(p) + "/status")
		for line := range strings.SplitSeq(string(status), "\n") {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
				sum += kb << 10
			}
		}
		for _, c := range children[p] {
			walk(c)
		}
	}
	walk(pid)
	return sum
}

func deepJSON(depth int) []byte {
	return []byte(`[{"a": ` + strings.Repeat("[", depth) + strings.Repeat("]", depth) + `}]`)
}

// duckdbFile returns the Parquet file DuckDB writes for query.
func duckdbFile(t *testing.T, query string) []byte {
	t.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	path := filepath.Join(t.TempDir(), "f.parquet")
	if _, err := db.Exec("COPY (" + query + ") TO " + convert.QuoteLiteral(path) + " (FORMAT parquet)"); err != nil {
		t.Fatalf("write Parquet: %v", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// xlsxWith returns a minimal workbook with one sheet and the extra part.
func xlsxWith(t *testing.T, part string, content zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	parts := map[string]string{
		"[Content_Types].xml": `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>` +
			`<Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>`,
		"_rels/.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>`,
		"xl/workbook.xml": `<?xml version="1.0"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" ` +
			`xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/></sheets></workbook>`,
		"xl/_rels/workbook.xml.rels": `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">` +
			`<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>` +
			`<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>`,
		"xl/worksheets/sheet1.xml": `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>` +
			`<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c></row><row r="2"><c r="A2" t="s"><v>2</v></c><c r="B2"><v>3</v></c></row></sheetData></worksheet>`,
	}
	for name, text := range parts {
		w, _ := zw.Create(name)
		w.Write([]byte(text))
	}
	content.addTo(t, zw, part)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
