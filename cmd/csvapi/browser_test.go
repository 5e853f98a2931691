package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
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
	ctx, cancelT := context.WithTimeout(ctx, 60*time.Second)
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
	deadline := time.Now().Add(15 * time.Second)
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
	if !strings.Contains(href, "/export.csv?") || !strings.Contains(href, "nom__contains=saint") || !strings.Contains(href, "_sort=") {
		t.Errorf("CSV export link %q does not carry the filter and sort", href)
	}
	href = eval[string](b, `$('.cv-export a.x-excel').getAttribute('href')`)
	if !strings.Contains(href, "nom__contains=saint") || !strings.Contains(href, "bom=1") || !strings.Contains(href, "sep=%3B") || !strings.Contains(href, "decimal=%2C") {
		t.Errorf("Excel export link %q", href)
	}
	if loc := b.location(); !strings.Contains(loc, "nom__contains=saint") {
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
	b.do(`$('.cv-more').click()`)
	b.waitFor("the full text", `$('.cv-more').getAttribute('aria-expanded') === 'true'`)
	b.shot("xss")
	type result struct {
		XSS     bool     `json:"xss"`
		Scripts int      `json:"scripts"`
		Images  int      `json:"images"`
		Cells   []string `json:"cells"`
		Rel     string   `json:"rel"`
	}
	got := eval[result](b, `({xss: window.__xss !== undefined, scripts: $$('tbody script').length, images: $$('tbody img').length,
		cells: $$('tbody td').map(td => td.textContent), rel: $('tbody a')?.rel})`)
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
