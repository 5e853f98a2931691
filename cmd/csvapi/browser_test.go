package main

import (
	"bytes"
	"context"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// findChromium returns the path of a Chromium binary: `chromium` (Debian,
// which .ci/run installs) or `chromium-browser` (Ubuntu, Alpine) on PATH.
// When there is none, the browser tests skip, saying so, except in CI
// (CI=true), where a missing browser fails the run: otherwise CI would pass
// with the only coverage of the pages skipped.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	const msg = "chromium not installed (neither chromium nor chromium-browser on PATH): apt-get install chromium"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "; CI=true, so the browser tests must run")
	}
	t.Skip(msg + "; browser tests skipped")
	return ""
}

// browser is a headless Chromium tab for one test. On failure the test's
// screenshots go to a temporary directory whose path is logged; with
// CSVAPI_SHOTS=dir they are written there in any case.
type browser struct {
	t     *testing.T
	ctx   context.Context
	shots []string
	dir   string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(findChromium(t)),
		chromedp.Flag("headless", true), chromedp.Flag("no-sandbox", true), chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-quic", true), chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("lang", "en-US"),
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	ctx, cancelT := context.WithTimeout(ctx, 3*patience) // a whole test's browsing: several waits
	b := &browser{t: t, ctx: ctx, dir: os.Getenv("CSVAPI_SHOTS")}
	t.Cleanup(func() {
		if t.Failed() {
			b.shot("failure")
			b.saveShots()
		} else if b.dir != "" {
			b.saveShots()
		}
		cancelT()
		cancelC()
		cancelA()
	})
	return b
}

// shot keeps a full-page screenshot under name, written at the end when
// the test fails or CSVAPI_SHOTS is set.
func (b *browser) shot(name string) {
	if !b.t.Failed() && b.dir == "" {
		return
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	dir := b.dir
	if dir == "" {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.png", strings.ReplaceAll(b.t.Name(), "/", "_"), name))
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	b.shots = append(b.shots, path)
}

func (b *browser) saveShots() {
	if len(b.shots) > 0 {
		b.t.Logf("screenshots: %s", strings.Join(b.shots, " "))
	}
}

// run runs actions, failing the test on error.
func (b *browser) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

// shadowJS wraps expr so that `$` and `$$` query inside the first
// <csvapi-preview>'s shadow root.
func shadowJS(expr string) string {
	return `(() => { const r = document.querySelector('csvapi-preview').shadowRoot;
const $ = s => r.querySelector(s), $$ = s => [...r.querySelectorAll(s)];
return (` + expr + `); })()`
}

// eval evaluates expr in the shadow root of the table.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](shadowJS(expr)))
	if err != nil {
		b.t.Fatalf("eval %s: %v", expr, err)
	}
	return v
}

// do runs expr (an action in the shadow root of the table) for its effect.
func (b *browser) do(expr string) {
	b.t.Helper()
	eval[chromedp.Void](b, expr)
}

// waitFor polls expr (in the table's shadow root) until it is true.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(patience)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](`(() => { try { return !!`+shadowJS(expr)+` } catch { return false } })()`))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			status, _ := chromedp.Run(b.ctx, chromedp.Evaluate[string](`(() => { try { return `+shadowJS(`$('.cv-status').textContent`)+` } catch (e) { return String(e) } })()`))
			b.t.Fatalf("waiting for %s (%s): timed out; status: %q, err: %v", what, expr, status, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// text returns the text of the table's cells, row by row, without rowid.
func (b *browser) cells() [][]string {
	b.t.Helper()
	return eval[[][]string](b, `$$('tbody tr').map(tr => [...tr.children].slice(1).map(td => td.textContent))`)
}

func (b *browser) location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.pathname + location.search`))
	if err != nil {
		b.t.Fatal(err)
	}
	return loc
}

func TestBrowserExplore(t *testing.T) {
	b := newBrowser(t)
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	src := up.URL + "/communes.csv"
	b.run("open", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(src)+"&page_size=2&lang=en"))
	b.waitFor("the table", `$$('tbody tr').length === 2 && $('.cv-count').textContent.includes('of 5')`)
	b.shot("loaded")

	if loc, want := b.location(), "/explore/"+md5Hex(src); !strings.HasPrefix(loc, want+"?") || !strings.Contains(loc, "page_size=2") {
		t.Errorf("location = %q, want %s?…page_size=2", loc, want)
	}
	heads := eval[[]string](b, `$$('thead th .cv-type').map(e => e.closest('th').querySelector('.cv-name').textContent + ':' + e.textContent)`)
	if got, want := strings.Join(heads, " "), "code_insee:text nom:text population:integer superficie:number date_maj:date chef_lieu:yes/no"; got != want {
		t.Errorf("headers = %q, want %q", got, want)
	}
	if got := b.cells()[0]; strings.Join(got, "|") != "01001|L'Abergement-Clémenciat|832|15.95|Feb 1, 2023|no" {
		t.Errorf("first row = %q", got)
	}
	align := eval[string](b, `getComputedStyle($$('tbody tr')[1].children[3]).textAlign`)
	if align != "right" {
		t.Errorf("population cell text-align = %q, want right", align)
	}

	// Sort: click sorts ascending, again descending; shift-click adds a key.
	sortBtn := func(col string, shift bool) string {
		return fmt.Sprintf(`($$('th').find(th => th.querySelector('.cv-name')?.textContent === %q).querySelector('.cv-sort')
			.dispatchEvent(new MouseEvent('click', {bubbles: true, shiftKey: %v})), true)`, col, shift)
	}
	b.do(sortBtn("population", false))
	b.waitFor("ascending sort", `$$('tbody tr')[0]?.children[2].textContent === "L'Abergement-Clémenciat"`)
	b.do(sortBtn("population", false))
	b.waitFor("descending sort", `$$('tbody tr')[0]?.children[2].textContent === 'Paris'`)
	ariaSort := eval[string](b, `$$('th[aria-sort]').map(th => th.querySelector('.cv-name').textContent + '=' + th.getAttribute('aria-sort')).join()`)
	if ariaSort != "population=descending" {
		t.Errorf("aria-sort = %q, want population=descending", ariaSort)
	}
	b.do(sortBtn("chef_lieu", true))
	b.waitFor("two sort keys", `location.search.includes('_sort=-population%2Cchef_lieu')`)

	// Paginate.
	b.do(`($$('.cv-pager button').find(x => x.textContent.includes('Next')).click(), true)`)
	b.waitFor("page 2", `$('.cv-count').textContent === 'Rows 3–4 of 5'`)
	if loc := b.location(); !strings.Contains(loc, "page=2") {
		t.Errorf("location %q lacks page=2", loc)
	}

	// Filter on a text column by typing, as a user does.
	b.run("type a filter", chromedp.SendKeys(chromedp.JSPath(`document.querySelector('csvapi-preview').shadowRoot.querySelectorAll('.cv-filters input')[1]`), "saint"))
	b.waitFor("filtered rows", `$('.cv-count').textContent === 'Rows 1–1 of 1'`)
	href := eval[string](b, `$('.cv-export a.x-csv').getAttribute('href')`)
	if !strings.Contains(href, "/export.csv?") || !strings.Contains(href, "nom__icontains=saint") || !strings.Contains(href, "_sort=") {
		t.Errorf("CSV export link %q does not carry the filter and sort", href)
	}
	href = eval[string](b, `$('.cv-export a.x-excel').getAttribute('href')`)
	if !strings.Contains(href, "nom__icontains=saint") || !strings.Contains(href, "bom=1") || !strings.Contains(href, "sep=%3B") || !strings.Contains(href, "decimal=%2C") {
		t.Errorf("Excel export link %q", href)
	}
	// "As in the source file": the file's dd/mm/yyyy dates and decimal
	// commas, where the plain CSV is normalized (issue 14, defect 11).
	href = eval[string](b, `$('.cv-export a.x-csv-source').getAttribute('href')`)
	if !strings.Contains(href, "values=source") || !strings.Contains(href, "nom__icontains=saint") {
		t.Errorf("source-form export link %q", href)
	}
	if src := get(t, eval[string](b, `$('.cv-export a.x-csv-source').href`)); !bytes.Contains(src.raw, []byte("/2023")) || bytes.Contains(src.raw, []byte("2023-")) {
		t.Errorf("source-form export %q: want the file's dd/mm/yyyy dates", src.raw)
	}
	if loc := b.location(); !strings.Contains(loc, "nom__icontains=saint") {
		t.Errorf("location %q lacks the filter", loc)
	}
	b.shot("filtered")

	// Clear, then search every column.
	b.do(`($('.cv-clear').click(), true)`)
	b.waitFor("cleared", `$('.cv-count').textContent === 'Rows 1–2 of 5'`)
	b.run("search", chromedp.SendKeys(chromedp.JSPath(`document.querySelector('csvapi-preview').shadowRoot.querySelector('.cv-search')`), "marseille"))
	b.waitFor("search result", `$('.cv-count').textContent === 'Rows 1–1 of 1' && $$('tbody tr')[0].children[2].textContent === 'Marseille'`)
	b.do(`($('.cv-clear').click(), true)`)
	b.waitFor("cleared", `$('.cv-count').textContent === 'Rows 1–2 of 5'`)

	// Facets follow the filters.
	b.waitFor("chef_lieu facet", `$('.cv-facets')?.textContent.includes('chef_lieu')`)
	facet := eval[string](b, `$$('.cv-facets .cv-facet').map(f => f.textContent).join(' ')`)
	if facet != "yes4 no1" {
		t.Errorf("facet = %q, want \"yes4 no1\"", facet)
	}
	b.do(`($$('.cv-facets .cv-facet')[1].click(), true)`)
	b.waitFor("facet filter", `$('.cv-count').textContent === 'Rows 1–1 of 1'`)
	b.do(`($('.cv-clear').click(), true)`)
	b.waitFor("cleared", `$('.cv-count').textContent === 'Rows 1–2 of 5'`)

	// Profile with its histogram.
	b.do(`($$('th').find(th => th.querySelector('.cv-name')?.textContent === 'population').querySelector('.cv-prof').click(), true)`)
	b.waitFor("profile", `$('dialog[open] svg rect') && $('dialog').textContent.includes('Distinct values')`)
	bars := eval[int](b, `$$('dialog svg rect:not(.axis)').length`)
	if bars < 2 {
		t.Errorf("histogram has %d bars", bars)
	}
	b.shot("profile")
	b.run("close", chromedp.KeyEvent("\x1b"))

	// The detection report names the encoding and the delimiter.
	report := eval[string](b, `$('.cv-report').textContent`)
	for _, want := range []string{"utf-8", "Delimiter;", "Rejected lines0"} {
		if !strings.Contains(report, want) {
			t.Errorf("report %q lacks %q", report, want)
		}
	}

	// The URL is the view: reloading it shows the same table.
	b.run("share", chromedp.Navigate(base+"/explore/"+md5Hex(src)+"?population__gte=100000&_sort=nom&page_size=2&lang=fr"))
	b.waitFor("shared view", `$('.cv-count').textContent === 'Lignes 1 à 2 sur 3' && $$('tbody tr')[0].children[2].textContent === 'Marseille'`)
	gte := eval[string](b, `$$('.cv-filters input').find(i => i.getAttribute('aria-label') === 'population min').value`)
	if gte != "100000" {
		t.Errorf("population min filter input = %q", gte)
	}
	b.shot("french")
}

func TestBrowserScriptCellIsInert(t *testing.T) {
	b := newBrowser(t)
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	b.run("open", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(up.URL+"/xss.csv")))
	b.waitFor("the table", `$$('tbody tr').length >= 2`)
	b.do(`$$('tbody tr')[0].children[1].click()`)
	b.waitFor("the row detail", `$('dialog[open] .cv-detail, dialog.cv-detail[open]')`)
	b.shot("xss")
	type result struct {
		XSS     bool     `json:"xss"`
		Scripts int      `json:"scripts"`
		Images  int      `json:"images"`
		Cells   []string `json:"cells"`
		Rel     string   `json:"rel"`
	}
	got := eval[result](b, `({xss: window.__xss !== undefined, scripts: $$('tbody script, dialog script').length, images: $$('tbody img, dialog img').length,
		cells: $$('tbody td, dialog dd .v').map(td => td.textContent), rel: $('tbody a')?.rel})`)
	if got.XSS || got.Scripts > 0 || got.Images > 0 {
		t.Errorf("a cell's markup ran or was parsed: %+v", got)
	}
	joined := strings.Join(got.Cells, "|")
	for _, want := range []string{"<script>window.__xss=1</script>", `<img src=x onerror="window.__xss=2">`} {
		if !strings.Contains(joined, want) {
			t.Errorf("cells %q lack the literal text %q", joined, want)
		}
	}
	if got.Rel != "noopener nofollow" {
		t.Errorf("link rel = %q", got.Rel)
	}
	title, err := chromedp.Run(b.ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if title != "xss.csv — csvapi" {
		t.Errorf("title = %q", title)
	}
}

func TestBrowserEmbedAndWidget(t *testing.T) {
	b := newBrowser(t)
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	id := ep[strings.LastIndex(ep, "/")+1:]

	b.run("embed", chromedp.Navigate(base+"/embed/"+id))
	b.waitFor("embed table", `$$('tbody tr').length === 5 && !$('.cv-facets') && !$('.cv-export')`)
	b.do(`$$('.cv-sort')[2].click()`)
	b.waitFor("embed sort", `$$('tbody tr')[0].children[2].textContent === "L'Abergement-Clémenciat"`)
	if loc := b.location(); loc != "/embed/"+id {
		t.Errorf("embed changed the location to %q", loc)
	}
	b.shot("embed")

	// Another origin includes the script and the element.
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprintf(w, `<!doctype html><html lang="fr"><head><title>portail</title>
<script src="%s/static/csvapi-preview.js" defer></script></head>
<body><h1>Un portail</h1><csvapi-preview endpoint="%s" page-size="3"></csvapi-preview>
<csvapi-preview id="second" url="%s/communes.csv"></csvapi-preview></body></html>`, base, ep, up.URL)
	}))
	t.Cleanup(other.Close)
	b.run("other origin", chromedp.Navigate(other.URL+"/"))
	b.waitFor("widget table", `$$('tbody tr').length === 3 && $('.cv-count').textContent === 'Lignes 1 à 3 sur 5'`)
	b.waitFor("widget by url", `document.getElementById('second').shadowRoot.querySelectorAll('tbody tr').length === 5`)
	origin, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`location.origin`))
	if err != nil {
		t.Fatal(err)
	}
	if origin == base {
		t.Fatal("the test page is not on another origin")
	}
	b.shot("widget")
}

func TestBrowserHomeAndPhone(t *testing.T) {
	b := newBrowser(t)
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	b.run("home", chromedp.Navigate(base+"/?lang=fr"))
	b.shot("home")
	b.run("paste a URL", chromedp.SendKeys(chromedp.ID("url"), up.URL+"/communes.csv"), chromedp.Submit(chromedp.ID("url")))
	b.waitFor("the table", `$$('tbody tr').length === 5`)

	// The home page lists what this browser explored.
	b.run("home again", chromedp.Navigate(base+"/"))
	recent, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`document.getElementById('recent').textContent`))
	if err != nil || !strings.Contains(recent, "communes.csv") {
		t.Errorf("recent list = %q (%v), want communes.csv", recent, err)
	}

	// On a phone the table scrolls sideways under a sticky header.
	b.run("phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile),
		chromedp.Navigate(base+"/explore/"+md5Hex(up.URL+"/communes.csv")+"?lang=fr"))
	b.waitFor("the table", `$$('tbody tr').length === 5`)
	type layout struct {
		Wide   bool   `json:"wide"`
		Sticky string `json:"sticky"`
		Page   bool   `json:"page"`
	}
	got := eval[layout](b, `({wide: $('.cv-scroll').scrollWidth > $('.cv-scroll').clientWidth,
		sticky: getComputedStyle($('thead th')).position,
		page: document.documentElement.scrollWidth <= document.documentElement.clientWidth})`)
	if !got.Wide || got.Sticky != "sticky" || !got.Page {
		t.Errorf("phone layout = %+v, want the table to scroll inside a page that does not", got)
	}
	b.shot("phone")
}

// frenchUpstream serves villes.csv, a French table as data journalists
// meet them: accents, long free text, numbers in the thousands, years.
func frenchUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	var b strings.Builder
	b.WriteString("nom;region;departement;population;superficie;annee;description;date_maj\n")
	long := strings.Repeat("Une commune dont la description est longue et faite de mots ordinaires. ", 6)
	regions := []string{"Auvergne-Rhône-Alpes", "Bourgogne-Franche-Comté", "Île-de-France", "Provence-Alpes-Côte d'Azur", "Normandie"}
	deps := []string{"01", "03", "07", "15", "26", "38", "42", "43", "63", "69", "73", "74", "75", "76", "13"}
	fmt.Fprintf(&b, "Saint-Étienne;Auvergne-Rhône-Alpes;42;172565;79,97;1986;%s;01/02/2023\n", long)
	fmt.Fprintf(&b, "Saint-Étienne-du-Rouvray;Normandie;76;28641;18,26;1990;%s;01/02/2023\n", long)
	fmt.Fprintf(&b, "Paris;Île-de-France;75;2133111;105,4;1975;%s;01/02/2023\n", long)
	for i := 1; i <= 30; i++ {
		area := fmt.Sprintf("%d,5", i)
		if i == 30 {
			area = "" // an empty cell
		}
		fmt.Fprintf(&b, "Commune %d;%s;%s;%d;%s;%d;%s;%02d/%02d/%d\n", i, regions[i%len(regions)], deps[i%len(deps)], i*1000, area, 1950+i, long,
			i%28+1, i%12+1, 2015+i%10)
	}
	body := b.String()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		fmt.Fprint(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// hostPage serves html (with {base} the csvapi base and {ep} an endpoint)
// from another origin than csvapi's.
func hostPage(t *testing.T, html, base, ep string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		strings.NewReplacer("{base}", base, "{ep}", ep).WriteString(w, html)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/"
}

// typeInto focuses the shadow-root element matched by sel, clears it and
// types text as a user does.
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	// The input may be drawn after what the caller waited for (a chart
	// before the table's header): wait for it rather than fail on null.
	b.waitFor(sel, fmt.Sprintf(`!!$(%q)`, sel))
	b.do(fmt.Sprintf(`($(%q).value = '', $(%q).focus(), true)`, sel, sel))
	b.run("type "+text, chromedp.SendKeys(chromedp.JSPath(`document.querySelector('csvapi-preview').shadowRoot.querySelector(`+jsString(sel)+`)`), text))
}

func jsString(s string) string { return fmt.Sprintf("%q", s) }

// lines is a JS expression counting the line boxes of the text in el.
const linesJS = `(el => { const r = document.createRange(); r.selectNodeContents(el);
	return new Set([...r.getClientRects()].filter(x => x.width > 0).map(x => Math.round(x.top))).size; })`

// TestBrowserRound2 holds the tests of issue 14's defects, ranked as the
// issue ranks them; each failed before its fix.
func TestBrowserRound2(t *testing.T) {
	up := frenchUpstream(t)
	_, base := startService(t, "--allow-private")
	src := up.URL + "/villes.csv"
	ep := apify(t, base, src)
	id := ep[strings.LastIndex(ep, "/")+1:]
	cell := func(col string) string { // index of col's cells in a row
		return fmt.Sprintf(`$$('thead th').findIndex(th => th.querySelector('.cv-name')?.textContent === %q)`, col)
	}

	// 1. Words never break mid-word in the embed, long text stays short.
	t.Run("words", func(t *testing.T) {
		b := newBrowser(t)
		b.run("phone embed", chromedp.EmulateViewport(375, 700, chromedp.EmulateMobile), chromedp.Navigate(base+"/embed/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 10`)
		b.shot("embed-375")
		type lines struct{ Nom, Region, Desc int }
		got := eval[lines](b, `(() => { const lines = `+linesJS+`, tr = $$('tbody tr')[0];
			return {Nom: lines(tr.children[`+cell("nom")+`]), Region: lines(tr.children[`+cell("region")+`]),
				Desc: lines(tr.children[`+cell("description")+`])}; })()`)
		if got.Nom != 1 || got.Region != 1 {
			t.Errorf("Saint-Étienne / Auvergne-Rhône-Alpes span %d / %d lines, want 1 (no break inside a word)", got.Nom, got.Region)
		}
		if got.Desc > 3 {
			t.Errorf("the long description spans %d lines, want it clamped to at most 3", got.Desc)
		}
	})

	// 2. The UI's "contains" folds case and accents.
	t.Run("accents", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		b.typeInto(`input[aria-label="Filtrer nom"]`, "etienne")
		b.waitFor("two Saint-Étienne", `$('.cv-count').textContent === 'Lignes 1 à 2 sur 2'`)
		if loc := b.location(); !strings.Contains(loc, "nom__icontains=etienne") {
			t.Errorf("location %q lacks nom__icontains=etienne", loc)
		}
	})

	// 3. Numbers typed as the French table shows them filter; a bad one
	// says so in French next to its field.
	t.Run("numbers", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		b.typeInto(`input[aria-label="population max"]`, "20 000")
		b.waitFor("20 rows of at most 20,000", `$('.cv-count').textContent === 'Lignes 1 à 20 sur 20'`)
		if loc := b.location(); !strings.Contains(loc, "population__lte=20000") {
			t.Errorf("location %q lacks population__lte=20000", loc)
		}
		b.typeInto(`input[aria-label="superficie min"]`, "1 234,5")
		b.waitFor("none above 1234.5 km²", `$('.cv-count').textContent.includes('sur 0') || $('.cv-none')`)
		if loc := b.location(); !strings.Contains(loc, "superficie__gte=1234.5") {
			t.Errorf("location %q lacks superficie__gte=1234.5", loc)
		}
		b.typeInto(`input[aria-label="superficie min"]`, "beaucoup")
		b.waitFor("the error by the field", `$('input[aria-label="superficie min"]').getAttribute('aria-invalid') === 'true'`)
		msg := eval[string](b, `document.getElementById ? $('#'+$('input[aria-label="superficie min"]').getAttribute('aria-describedby'))?.textContent || '' : ''`)
		if !strings.Contains(msg, "nombre") {
			t.Errorf("error message by the field = %q, want French text about a number", msg)
		}
		if status := eval[string](b, `$('.cv-status').textContent`); strings.Contains(status, "expects") {
			t.Errorf("status shows the raw English API error %q", status)
		}
		b.shot("number-error")
	})

	// 4. A host page's inherited styles do not reach the component's text.
	t.Run("isolation", func(t *testing.T) {
		b := newBrowser(t)
		page := hostPage(t, `<!doctype html><html lang="fr"><head><style>* { font-family: serif; color: rgb(255, 0, 0);
text-transform: uppercase; letter-spacing: 4px; font-style: italic; text-align: center; }</style>
<script src="{base}/static/csvapi-preview.js" defer></script></head>
<body><csvapi-preview endpoint="{ep}"></csvapi-preview></body></html>`, base, ep)
		b.run("host", chromedp.Navigate(page))
		b.waitFor("the table", `$$('tbody tr').length === 10`)
		b.shot("hostile-host")
		got := eval[map[string]string](b, `(() => { const s = getComputedStyle($$('tbody td')[1]);
			return {color: s.color, font: s.fontFamily, transform: s.textTransform, spacing: s.letterSpacing, style: s.fontStyle}; })()`)
		if got["color"] == "rgb(255, 0, 0)" || got["font"] == "serif" || got["transform"] != "none" || got["spacing"] != "normal" || got["style"] != "normal" {
			t.Errorf("the host's styles reach the cells: %v", got)
		}
	})

	// 5. The embed fits the height it is given.
	t.Run("embed-height", func(t *testing.T) {
		b := newBrowser(t)
		for _, height := range []int64{480, 320} {
			b.run("embed", chromedp.EmulateViewport(1280, height), chromedp.Navigate(base+"/embed/"+id))
			b.waitFor("the table", `$$('tbody tr').length === 10`)
			type fit struct {
				Page, Link, Inner float64
			}
			got, err := chromedp.Run(b.ctx, chromedp.Evaluate[fit](`({page: document.documentElement.scrollHeight,
				link: document.querySelector('.embed-foot a').getBoundingClientRect().bottom, inner: innerHeight})`))
			if err != nil {
				t.Fatal(err)
			}
			if got.Page > got.Inner || got.Link > got.Inner {
				t.Errorf("at %d px: page %v px high, link bottom at %v: the embed overflows", height, got.Page, got.Link)
			}
			b.shot(fmt.Sprintf("embed-%d", height))
		}
	})

	// 6. Rows are one line high; the first column stays in view when the
	// table scrolls sideways, and the user can freeze more.
	t.Run("sticky", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		rowH := eval[float64](b, `Math.max(...$$('tbody tr').map(tr => tr.getBoundingClientRect().height))`)
		lineH := eval[float64](b, `parseFloat(getComputedStyle($('tbody td')).fontSize) * 1.5`)
		if rowH > 2*lineH+16 {
			t.Errorf("rows are up to %v px high, want one line (about %v px)", rowH, lineH)
		}
		if sl := eval[float64](b, `($('.cv-scroll').scrollLeft = 5000, $('.cv-scroll').scrollLeft)`); sl < 100 {
			t.Errorf("the table scrolls %v px sideways, want it wider than its box", sl)
		}
		stuck := eval[bool](b, `(() => { const left = $('.cv-scroll').getBoundingClientRect().left, tr = $$('tbody tr')[3];
			return tr.children[0].getBoundingClientRect().left - left < 2 && tr.children[1].getBoundingClientRect().left - left < 80; })()`)
		if !stuck {
			t.Errorf("after scrolling right, # and nom are out of view")
		}
		onTop := eval[bool](b, `(th => { const r = th.getBoundingClientRect();
			return th.contains(document.querySelector('csvapi-preview').shadowRoot.elementFromPoint(r.left + 8, r.top + 12)); })($$('thead th')[1])`)
		if !onTop {
			t.Errorf("after scrolling right, the nom header is covered by the scrolled headers")
		}
		b.do(`($('.cv-freeze').value = '2', $('.cv-freeze').dispatchEvent(new Event('change')), true)`)
		b.waitFor("two frozen columns", `(() => { const tr = $$('tbody tr')[3]; $('.cv-scroll').scrollLeft = 5000;
			return getComputedStyle(tr.children[2]).position === 'sticky' && getComputedStyle(tr.children[3]).position !== 'sticky'; })()`)
		b.shot("sticky")
	})

	// 7. Menus close on Escape and on a click elsewhere.
	t.Run("menus", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		b.do(`($('.cv-export summary').click(), true)`)
		b.waitFor("export menu open", `$('.cv-export').open`)
		b.run("escape", chromedp.KeyEvent("\x1b"))
		b.waitFor("export menu closed by Escape", `!$('.cv-export').open`)
		b.do(`($$('.cv-drop summary')[0].click(), true)`)
		b.waitFor("columns menu open", `$$('.cv-drop')[0].open`)
		b.run("click elsewhere", chromedp.MouseClickXY(5, 5))
		b.waitFor("columns menu closed by a click outside", `!$$('.cv-drop')[0].open`)
	})
}

// TestBrowserRowDetail: a click on a row shows every field with its type
// and a copy button; Ctrl+C on a cell copies its value.
func TestBrowserRowDetail(t *testing.T) {
	up := frenchUpstream(t)
	_, base := startService(t, "--allow-private")
	b := newBrowser(t)
	b.run("open", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(up.URL+"/villes.csv")+"&lang=fr"))
	b.waitFor("the table", `$$('tbody tr').length === 20`)
	// Static files arrive compressed, under content-hashed names.
	type res struct {
		Name          string
		Encoded, Size float64
	}
	statics := eval[[]res](b, `performance.getEntriesByType('resource').filter(e => e.name.includes('/static/'))
		.map(e => ({Name: e.name, Encoded: e.encodedBodySize, Size: e.decodedBodySize}))`)
	if len(statics) < 3 {
		t.Errorf("static files loaded: %+v, want the stylesheet and two scripts", statics)
	}
	for _, r := range statics {
		if !regexp.MustCompile(`/static/[a-z-]+\.[0-9a-f]{10}\.(js|css)$`).MatchString(r.Name) || r.Encoded >= r.Size {
			t.Errorf("static file %s: %v bytes on the wire for %v, want a hashed name and compression", r.Name, r.Encoded, r.Size)
		}
	}
	// The clipboard of a headless browser is not readable: record writes.
	b.run("spy", chromedp.Evaluate[chromedp.Void](`navigator.clipboard.writeText = s => { window.__copied = s; return Promise.resolve(); }`))
	b.do(`($$('tbody tr')[0].children[2].click(), true)`)
	b.waitFor("the detail", `$('dialog.cv-detail[open]')`)
	type field struct{ Name, Type, Value string }
	fields := eval[[]field](b, `$$('dialog.cv-detail dt').map(dt => ({Name: dt.firstChild.textContent, Type: dt.querySelector('small').textContent,
		Value: dt.nextElementSibling.querySelector('.v').textContent}))`)
	if len(fields) != 8 || fields[0] != (field{"nom", "texte", "Saint-Étienne"}) || fields[3].Type != "entier" ||
		!strings.HasPrefix(fields[6].Value, "Une commune") || len(fields[6].Value) < 400 {
		t.Errorf("detail fields = %+v", fields)
	}
	if name := eval[string](b, `$('#' + $('dialog.cv-detail').getAttribute('aria-labelledby'))?.textContent`); name != "Ligne 1" {
		t.Errorf("dialog name = %q, want Ligne 1", name)
	}
	b.shot("detail")
	b.do(`($$('dialog.cv-detail .cv-copy')[3].click(), true)`)
	b.waitFor("copied population", `(window.__copied === '172565')`)
	b.run("close", chromedp.KeyEvent("\x1b"))
	b.waitFor("closed", `!$('dialog[open]')`)

	// Ctrl+C on a focused cell copies the value as the API gives it.
	b.do(`(td => (td.focus(), td.dispatchEvent(new KeyboardEvent('keydown', {key: 'c', ctrlKey: true, bubbles: true})), true))($$('tbody tr')[1].children[1])`)
	b.waitFor("copied the cell", `window.__copied === 'Saint-Étienne-du-Rouvray'`)
}

// TestBrowserAPIPanel: the API panel gives the URLs of the current view, a
// curl line and embed snippets that show the same view elsewhere.
func TestBrowserAPIPanel(t *testing.T) {
	up := frenchUpstream(t)
	_, base := startService(t, "--allow-private")
	b := newBrowser(t)
	b.run("open", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(up.URL+"/villes.csv")+"&region=Normandie&_sort=-population&lang=fr"))
	b.waitFor("the view", `$('.cv-count')?.textContent === 'Lignes 1 à 7 sur 7'`)
	b.do(`($('.cv-api summary').click(), true)`)
	b.waitFor("the panel", `$('.cv-api').open && $('.s-curl').value`)
	b.shot("api-panel")
	snip := eval[map[string]string](b, `Object.fromEntries($$('.cv-snip').map(a => [a.className.split(' s-')[1], a.value]))`)

	r := get(t, snip["json"])
	if r.status != http.StatusOK || r.body["total"] != float64(7) {
		t.Errorf("JSON URL %s: status %d, total %v, want 7", snip["json"], r.status, r.body["total"])
	}
	if rows, _ := r.body["rows"].([]any); len(rows) == 0 || !strings.Contains(fmt.Sprint(rows[0]), "Commune 29") {
		t.Errorf("JSON URL %s: first row is not the most populous of Normandie: %v", snip["json"], r.body["rows"])
	}
	if !strings.HasPrefix(snip["curl"], "curl '"+snip["json"]+"'") {
		t.Errorf("curl = %q", snip["curl"])
	}
	r = get(t, snip["csv"])
	if r.status != http.StatusOK || strings.Count(string(r.raw), "\n") != 8 {
		t.Errorf("CSV URL %s: status %d, %d lines, want header + 7", snip["csv"], r.status, strings.Count(string(r.raw), "\n"))
	}

	src := regexp.MustCompile(`src="([^"]+)"`).FindStringSubmatch(snip["iframe"])
	if src == nil {
		t.Fatalf("iframe snippet %q has no src", snip["iframe"])
	}
	b.run("the iframe's page", chromedp.Navigate(html.UnescapeString(src[1])))
	b.waitFor("the embedded view", `$('.cv-count')?.textContent === 'Lignes 1 à 7 sur 7'`)

	page := hostPage(t, `<!doctype html><html><head><title>portail</title></head><body>`+snip["component"]+`</body></html>`, "", "")
	b.run("the component's page", chromedp.Navigate(page))
	b.waitFor("the component's view", `$('.cv-count')?.textContent === 'Lignes 1 à 7 sur 7' && $$('tbody tr')[1].children[1].textContent === 'Saint-Étienne-du-Rouvray'`)
}

// TestBrowserChart: the chart builder draws /aggregate as SVG, follows the
// filters, keeps its state in the URL, downloads as SVG and PNG, and works
// in the web component with mode="chart".
func TestBrowserChart(t *testing.T) {
	up := frenchUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/villes.csv")
	id := ep[strings.LastIndex(ep, "/")+1:]
	b := newBrowser(t)
	b.run("open", chromedp.Navigate(base+"/explore/"+id+"?chart=bar&chart_x=region&chart_y=sum%3Apopulation&lang=fr"))
	b.waitFor("five bars", `$$('.cv-chart svg rect.cv-bar').length === 5`)
	first := eval[string](b, `$('.cv-chart svg rect.cv-bar title').textContent`)
	if first != "Île-de-France : 2 220 111" && first != "Île-de-France : 2\u202f220\u202f111" {
		t.Errorf("first bar = %q, want Île-de-France : 2 220 111", first)
	}
	if title := eval[string](b, `$('.cv-chart svg').getAttribute('aria-label')`); title != "Somme de population par region" {
		t.Errorf("chart title = %q", title)
	}
	b.shot("chart-bar")

	b.typeInto(`input[aria-label="Filtrer nom"]`, "etienne")
	// "etie" draws the same 2 bars: wait for the whole word to be applied.
	b.waitFor("the chart follows the filter", `$$('.cv-chart svg rect.cv-bar').length === 2 && location.search.includes('nom__icontains=etienne')`)
	if loc := b.location(); !strings.Contains(loc, "chart=bar") || !strings.Contains(loc, "chart_x=region") || !strings.Contains(loc, "nom__icontains=etienne") {
		t.Errorf("location %q lacks the chart's state or the filter", loc)
	}
	b.do(`($('.cv-ctype').value = 'line', $('.cv-ctype').dispatchEvent(new Event('change')), true)`)
	b.waitFor("a line", `$('.cv-chart svg polyline') && location.search.includes('chart=line')`)
	b.waitFor("a PNG", `$('.cv-dlpng').href.startsWith('data:image/png;base64,') && $('.cv-dlpng').href.length > 2000`)
	svg := eval[string](b, `decodeURIComponent($('.cv-dlsvg').href.split(',').slice(1).join(','))`)
	if !strings.HasPrefix(svg, `<svg xmlns="http://www.w3.org/2000/svg"`) || !strings.Contains(svg, "<polyline") {
		t.Errorf("downloadable SVG = %.200q", svg)
	}
	b.shot("chart-line")

	// The web component draws a chart alone on another origin.
	page := hostPage(t, `<!doctype html><html lang="fr"><head><script src="{base}/static/csvapi-preview.js" defer></script></head>
<body><csvapi-preview mode="chart" endpoint="{ep}" chart="bar" chart-x="region" chart-y="avg:superficie"></csvapi-preview></body></html>`, base, ep)
	b.run("component", chromedp.Navigate(page))
	b.waitFor("the component's chart", `$$('svg rect.cv-bar').length === 5 && !$('table')`)
	if title := eval[string](b, `$('svg').getAttribute('aria-label')`); title != "Moyenne de superficie par region" {
		t.Errorf("component chart title = %q", title)
	}
	b.shot("chart-component")
}

// TestBrowserRound2More holds the tests of issue 14's defects 8 to 15
// (11, exports, is the server's); each failed before its fix.
func TestBrowserRound2More(t *testing.T) {
	up := frenchUpstream(t)
	_, base := startService(t, "--allow-private")
	src := up.URL + "/villes.csv"
	ep := apify(t, base, src)
	id := ep[strings.LastIndex(ep, "/")+1:]
	profile := func(b *browser, col string) {
		b.do(fmt.Sprintf(`($$('th').find(th => th.querySelector('.cv-name')?.textContent === %q).querySelector('.cv-prof').click(), true)`, col))
		b.waitFor("the profile of "+col, `$('dialog[open]') && $('dialog').textContent.includes('Valeurs distinctes')`)
	}

	// 8. The profile: dates as in the table, no "–  —" bins, a named
	// dialog showing its title, no "most frequent" for continuous values.
	t.Run("profile", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.EmulateViewport(1280, 500), chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		profile(b, "date_maj")
		type prof struct {
			Bins  []string
			Stats string
			Name  string
			Top   int
		}
		got := eval[prof](b, `({Bins: $$('dialog svg rect:not(.axis) title').map(t => t.textContent), Stats: $('dialog .cv-stats').textContent,
			Name: $('#' + $('dialog').getAttribute('aria-labelledby'))?.textContent || '', Top: $('dialog h2').getBoundingClientRect().top})`)
		if len(got.Bins) == 0 || strings.Contains(strings.Join(got.Bins, "|"), "—") {
			t.Errorf("date bins = %q, want no dash for a missing end", got.Bins)
		}
		if strings.Contains(got.Stats, "2015-") || !strings.Contains(got.Stats, "2015") {
			t.Errorf("profile stats %q: want dates as the table shows them (not ISO)", got.Stats)
		}
		if !strings.HasPrefix(got.Name, "Profil de date_maj") {
			t.Errorf("dialog's accessible name = %q", got.Name)
		}
		if got.Top < 0 {
			t.Errorf("the dialog's title is scrolled out of view (top %v)", got.Top)
		}
		b.shot("profile-date")
		b.run("close", chromedp.KeyEvent("\x1b"))
		profile(b, "population")
		if top := eval[bool](b, `$('dialog').textContent.includes('Les plus fréquentes')`); top {
			t.Errorf("population (every value once) lists its most frequent values")
		}
	})

	// 9. Facets by type and cardinality: short values, up to 50 distinct,
	// 10 shown then "show more"; never free text.
	t.Run("facets", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("facets", `$$('.cv-facets h3').length > 0`)
		names := eval[[]string](b, `$$('.cv-facets h3').map(h => h.textContent)`)
		if got := strings.Join(names, ","); !strings.Contains(got, "departement") || !strings.Contains(got, "region") || strings.Contains(got, "description") {
			t.Errorf("facets = %q, want departement and region, not description", got)
		}
		b.waitFor("ten departements and a show-more", `(s => s && s.querySelectorAll('.cv-facet').length === 10 && s.querySelector('.cv-fmore'))($$('.cv-facets section').find(s => s.querySelector('h3').textContent === 'departement'))`)
		b.do(`($$('.cv-facets section').find(s => s.querySelector('h3').textContent === 'departement').querySelector('.cv-fmore').click(), true)`)
		b.waitFor("fifteen departements", `$$('.cv-facets section').find(s => s.querySelector('h3').textContent === 'departement').querySelectorAll('.cv-facet').length === 15`)
	})

	// 10. On a phone the data comes first, and a link skips to it.
	t.Run("phone", func(t *testing.T) {
		b := newBrowser(t)
		b.run("phone", chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile), chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20 && $$('.cv-facets h3').length > 0`)
		b.shot("phone-375")
		top := eval[float64](b, `$$('tbody tr')[0].getBoundingClientRect().top + scrollY`)
		if top > 740 {
			t.Errorf("the first row is %v px down the page, want it on the first screen (740 px)", top)
		}
		b.do(`($('.cv-skip').click(), true)`)
		if focused := eval[bool](b, `document.querySelector('csvapi-preview').shadowRoot.activeElement === $('.cv-scroll')`); !focused {
			t.Errorf("the skip link does not move the focus to the table")
		}
		first := eval[bool](b, `$('.cv-skip') === $$('a[href], button, input, select, summary, [tabindex="0"]')[0]`)
		if !first {
			t.Errorf("the skip link is not the first stop in the table's element")
		}
		// The row detail fits the phone's width.
		b.do(`($$('tbody tr')[0].children[1].click(), true)`)
		b.waitFor("the detail", `$('dialog.cv-detail[open]')`)
		b.shot("phone-detail")
		if w := eval[float64](b, `$('dialog.cv-detail').getBoundingClientRect().right`); w > 375 {
			t.Errorf("the row detail reaches %v px on a 375 px screen", w)
		}
	})

	// 12. French throughout: sizes in ko/Mo, nothing-matches said plainly,
	// a failed load in French with a retry and a way back.
	t.Run("french", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		if report := eval[string](b, `$('.cv-report').textContent`); !strings.Contains(report, " ko") {
			t.Errorf("report %q: want the size in ko", report)
		}
		if ops := eval[string](b, `$$('.cv-op').map(s => s.getAttribute('aria-label')).join('|')`); strings.Contains(ops, "operator") {
			t.Errorf("operator labels %q are half English", ops)
		}
		b.typeInto(`input[aria-label="Filtrer nom"]`, "zzzz")
		b.waitFor("nothing matches", `$('.cv-none')`)
		if count := eval[string](b, `$('.cv-count').textContent`); strings.Contains(count, "0 à 0") {
			t.Errorf("count = %q", count)
		}
		b.run("a failing load", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(base+"/missing.csv")+"&lang=fr"))
		b.waitFor("the error", `$('.cv-status.error')`)
		b.shot("failed-load")
		type failure struct {
			Text  string
			Retry bool
			Home  string
		}
		got := eval[failure](b, `({Text: $('.cv-status').textContent, Retry: !!$('.cv-status button.cv-retry'), Home: $('.cv-status a.cv-home')?.getAttribute('href') || ''})`)
		if !strings.Contains(got.Text, "n'a pas pu être chargé") || !got.Retry || !strings.HasPrefix(got.Home, "/") {
			t.Errorf("failed load = %+v, want French, a retry button and a link home", got)
		}
	})

	// 13. Back undoes a filter.
	t.Run("back", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$('.cv-count')?.textContent === 'Lignes 1 à 20 sur 33'`)
		b.typeInto(`input[aria-label="Filtrer nom"]`, "etienne")
		b.waitFor("filtered", `$('.cv-count').textContent === 'Lignes 1 à 2 sur 2' && location.search.includes('etienne')`)
		b.run("back", chromedp.NavigateBack())
		b.waitFor("unfiltered again", `$('.cv-count').textContent === 'Lignes 1 à 20 sur 33' && $('input[aria-label="Filtrer nom"]').value === ''`)
	})

	// 14. Recent tables say where they come from.
	t.Run("recent", func(t *testing.T) {
		other := frenchUpstream(t)
		b := newBrowser(t)
		for _, u := range []string{src, other.URL + "/villes.csv"} {
			b.run("explore", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(u)))
			b.waitFor("the table", `$$('tbody tr').length === 20`)
		}
		b.run("home", chromedp.Navigate(base+"/?lang=fr"))
		items, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll('#recent li')].map(li => li.textContent)`))
		if err != nil {
			t.Fatal(err)
		}
		if len(items) != 2 || items[0] == items[1] || !strings.Contains(items[0], strings.TrimPrefix(other.URL, "http://")) {
			t.Errorf("recent = %q, want two entries telling the hosts apart", items)
		}
	})

	// 15. Empty cells marked, search matches highlighted, a multi-sort
	// hint, years and row numbers without thousands separators.
	t.Run("details", func(t *testing.T) {
		b := newBrowser(t)
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr&superficie__isnull=1"))
		b.waitFor("the table", `$$('tbody tr').length === 1`)
		if mark := eval[string](b, `getComputedStyle($('td.null'), '::after').content`); !strings.Contains(mark, "—") {
			t.Errorf("empty cell marker = %q", mark)
		}
		if year := eval[string](b, `$$('tbody tr')[0].children[`+"$$('thead th').findIndex(th => th.querySelector('.cv-name')?.textContent === 'annee')"+`].textContent`); year != "1980" {
			t.Errorf("year shown as %q, want 1980", year)
		}
		if hint := eval[string](b, `$('.cv-sort').title`); !strings.Contains(hint, "Maj") {
			t.Errorf("sort button title = %q, want the shift-click hint", hint)
		}
		b.run("open", chromedp.Navigate(base+"/explore/"+id+"?lang=fr"))
		b.waitFor("the table", `$$('tbody tr').length === 20`)
		b.typeInto(`.cv-search`, "etienne")
		b.waitFor("highlighted matches", `$$('tbody mark').length >= 2 && $('tbody mark').textContent === 'Étienne'`)
	})
}

// TestBrowserResize: a column is resized by dragging its header's edge or
// with the arrows on the handle, and the frozen columns follow.
func TestBrowserResize(t *testing.T) {
	up := frenchUpstream(t)
	_, base := startService(t, "--allow-private")
	b := newBrowser(t)
	b.run("open", chromedp.Navigate(base+"/explore?url="+url.QueryEscape(up.URL+"/villes.csv")+"&lang=fr"))
	b.waitFor("the table", `$$('tbody tr').length === 20`)
	width := func(col string) float64 {
		return eval[float64](b, fmt.Sprintf(`(i => $$('tbody tr')[0].children[i].getBoundingClientRect().width)($$('thead th').findIndex(th => th.querySelector('.cv-name')?.textContent === %q))`, col))
	}
	desc := width("description")
	b.do(`(r => { const x = r.getBoundingClientRect().right - 2, y = r.getBoundingClientRect().top + 5;
		r.dispatchEvent(new PointerEvent('pointerdown', {clientX: x, clientY: y, bubbles: true}));
		dispatchEvent(new PointerEvent('pointermove', {clientX: x + 200, clientY: y}));
		dispatchEvent(new PointerEvent('pointerup', {clientX: x + 200, clientY: y})); })($$('thead th').find(th => th.querySelector('.cv-name')?.textContent === 'description').querySelector('.cv-rsz'))`)
	if got := width("description"); got < desc+150 {
		t.Errorf("description is %v px wide after a 200 px drag, was %v", got, desc)
	}
	nom := width("nom")
	b.do(`($$('thead th').find(th => th.querySelector('.cv-name')?.textContent === 'nom').querySelector('.cv-rsz').focus(), true)`)
	for i := 0; i < 5; i++ {
		b.run("arrow", chromedp.KeyEvent(kb.ArrowRight))
	}
	if got := width("nom"); got < nom+70 {
		t.Errorf("nom is %v px wide after 5 × →, was %v", got, nom)
	}
	// The frozen nom column is wider: the next frozen offset follows.
	b.do(`($('.cv-freeze').value = '2', $('.cv-freeze').dispatchEvent(new Event('change')), true)`)
	gap := eval[float64](b, `(tr => tr.children[2].getBoundingClientRect().left - tr.children[1].getBoundingClientRect().right)($$('tbody tr')[0])`)
	if gap < -1 || gap > 1 {
		t.Errorf("second frozen column starts %v px from the first's end", gap)
	}
	b.shot("resized")
}

// TestBrowserLinkDown: with --checks, the explore page says when the
// source of a table has become unreachable.
func TestBrowserLinkDown(t *testing.T) {
	b := newBrowser(t)
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--checks")
	src := up.URL + "/flaky.csv"
	ep := apify(t, base, src)
	up.failNext.Store(true) // the check's HEAD gets a 503
	req, _ := http.NewRequest(http.MethodPost, base+"/check/one", strings.NewReader(`{"url": `+jsString(src)+`}`))
	if r := do(t, req); r.status != 200 {
		t.Fatalf("POST /check/one: %d %s", r.status, r.raw)
	}
	deadline := time.Now().Add(patience)
	for {
		r := get(t, ep+"/status")
		if lc, _ := r.body["link_check"].(map[string]any); lc["unreachable-since"] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no failed link check in %s/status: %s", ep, r.raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
	b.run("open", chromedp.Navigate(base+"/explore/"+md5Hex(src)+"?lang=en"))
	b.waitFor("the notice", `$('.cv-linkdown')?.textContent.includes('unreachable since') && $('.cv-linkdown').textContent.includes('HTTP 503')`)
	b.shot("link-down")
}
