package main

import (
	"bytes"
	"database/sql"
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2"
)

// noms returns the "nom" of each row of a page answered with _shape=objects.
func noms(t *testing.T, r response) []string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	out := []string{}
	rows, _ := r.body["rows"].([]any)
	for _, row := range rows {
		obj, _ := row.(map[string]any)
		s, _ := obj["nom"].(string)
		out = append(out, s)
	}
	return out
}

func TestQueryGrammar(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	tests := []struct {
		query string
		want  []string
	}{
		{"nom__icontains=etienne", []string{"Saint-Étienne"}},
		{"nom=Paris", []string{"Paris"}},
		{"nom__differs=Paris&chef_lieu=true", []string{"Ajaccio", "Saint-Étienne", "Marseille"}},
		{"population__strictly_greater=832&population__lt=172565", []string{"Ajaccio"}},
		{"population__between=800,80000", []string{"L'Abergement-Clémenciat", "Ajaccio"}},
		{"code_insee__in=75056,13055", []string{"Paris", "Marseille"}},
		{`nom__in=["Paris","Nulle, part"]`, []string{"Paris"}},
		{"nom__startswith=saint", []string{"Saint-Étienne"}},
		{"date_maj__gte=01/03/2023", []string{"Marseille"}},
		{"superficie__less=16", []string{"L'Abergement-Clémenciat"}},
		{"or=(nom__exact.Paris,population__lt.1000)", []string{"L'Abergement-Clémenciat", "Paris"}},
		{"or=(nom__exact.Paris,and(chef_lieu__exact.true,population__lt.100000))", []string{"Ajaccio", "Paris"}},
		{`or=(nom__exact."Saint-Étienne",nom__icontains.MARS)`, []string{"Saint-Étienne", "Marseille"}},
		{"q=saint ETIENNE", []string{"Saint-Étienne"}},
		{"q=clemenciat", []string{"L'Abergement-Clémenciat"}},
		{"_sort=-chef_lieu,population&_size=3", []string{"Ajaccio", "Saint-Étienne", "Marseille"}},
		{"chef_lieu__sort=asc&population__sort=desc&_size=2", []string{"L'Abergement-Clémenciat", "Paris"}},
		{"_sort_desc=superficie&_size=1", []string{"Marseille"}},
		{"page=2&page_size=2", []string{"Saint-Étienne", "Paris"}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			if got := noms(t, get(t, ep+"?_shape=objects&"+q.Encode())); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("noms = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestQueryErrors(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--max-page-size", "50")
	ep := apify(t, base, up.URL+"/communes.csv")
	tests := []struct {
		query, wantInMessage string
	}{
		{"population__gt=beaucoup", `population__gt: expects a number, got "beaucoup"`},
		{"date_maj__between=2023-01-01", "expects two values"},
		{"nom__like=x", `unknown filter operator "like"`},
		{"nope__exact=1", `unknown column "nope"`},
		{"or=(nom__exact.a", `missing ")"`},
		{"or=(nom.a)", "expected column__operator.value"},
		{"_sort=nope", `unknown column "nope"`},
		{"_col=nope", `unknown column "nope"`},
		{"_facet=nope", `unknown column "nope"`},
		{"_size=51", "use the export endpoint"},
		{"page_size=51", "use the export endpoint"},
		{"_next=forged", "invalid cursor"},
		{"_next=" + url.QueryEscape("'; DROP TABLE data; --"), "invalid cursor"},
		{"page=0", "page must be a positive integer"},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := get(t, ep+"?"+tt.query)
			msg, _ := r.body["error"].(string)
			if r.status != http.StatusBadRequest || r.body["code"] != "invalid_parameter" || !strings.Contains(msg, tt.wantInMessage) {
				t.Errorf("status %d, body %s; want 400 invalid_parameter with %q", r.status, r.raw, tt.wantInMessage)
			}
		})
	}
}

func TestCursorOverHTTP(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	for _, sort := range []string{"", "&_sort=-population", "&_sort=chef_lieu,-superficie"} {
		var walked []string
		next := ep + "?_shape=objects&_size=2" + sort
		for pages := 0; next != ""; pages++ {
			if pages > 5 {
				t.Fatal("more than 5 pages of 2 rows for 5 rows")
			}
			r := get(t, next)
			walked = append(walked, noms(t, r)...)
			next, _ = r.body["next_url"].(string)
			if token, _ := r.body["next"].(string); (token == "") != (next == "") {
				t.Errorf("next %q and next_url %q: want both or neither", token, next)
			}
		}
		all := noms(t, get(t, ep+"?_shape=objects"+sort))
		if !reflect.DeepEqual(walked, all) {
			t.Errorf("sort %q: walked %q, want %q", sort, walked, all)
		}
	}
}

func TestColumnsFacetsTotal(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")

	r := get(t, ep+"?_col=nom&_col=population&_size=1&_total=hide")
	if want := []any{"rowid", "nom", "population"}; !reflect.DeepEqual(r.body["columns"], want) {
		t.Errorf("columns = %v, want %v", r.body["columns"], want)
	}
	if _, ok := r.body["total"]; ok {
		t.Errorf("_total=hide still gives a total: %s", r.raw)
	}
	r = get(t, ep+"?columns=nom,chef_lieu&_nocol=rowid&_size=1")
	if want := []any{"nom", "chef_lieu"}; !reflect.DeepEqual(r.body["columns"], want) {
		t.Errorf("columns = %v, want %v", r.body["columns"], want)
	}

	r = get(t, ep+"?_facet=chef_lieu&_facet=nom&_facet_size=2&population__gt=1000&_size=0")
	want := map[string]any{
		"chef_lieu": map[string]any{"values": []any{map[string]any{"value": true, "count": 4.0}}, "truncated": false},
		"nom": map[string]any{"values": []any{
			map[string]any{"value": "Ajaccio", "count": 1.0}, map[string]any{"value": "Marseille", "count": 1.0}},
			"truncated": true},
	}
	if !reflect.DeepEqual(r.body["facets"], want) {
		t.Errorf("facets = %v\nwant %v", r.body["facets"], want)
	}

	// Odd column names work in every parameter.
	ep = apify(t, base, up.URL+"/columns.csv")
	q := url.Values{"x.y__gte": {"2"}, "_sort": {`-quo"te`}, "_col": {"nom commune", "semi;colon"}, "_facet": {"a__b"}}
	r = get(t, ep+"?"+q.Encode())
	if want := []any{[]any{3.0, "Brest", "s3"}, []any{2.0, "Nantes", "s2"}}; r.status != 200 || !reflect.DeepEqual(r.body["rows"], want) {
		t.Errorf("odd names: status %d, rows %v, want %v (%s)", r.status, r.body["rows"], want, r.raw)
	}
}

func TestTabularAggregateProfile(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--max-groups", "3")
	ep := apify(t, base, up.URL+"/communes.csv")

	r := get(t, ep+"/data?page=2&page_size=2&columns=nom")
	wantData := []any{map[string]any{"__id": 3.0, "nom": "Saint-Étienne"}, map[string]any{"__id": 4.0, "nom": "Paris"}}
	if r.status != 200 || !reflect.DeepEqual(r.body["data"], wantData) {
		t.Errorf("/data: status %d, data %v, want %v", r.status, r.body["data"], wantData)
	}
	links, _ := r.body["links"].(map[string]any)
	meta, _ := r.body["meta"].(map[string]any)
	if next, _ := links["next"].(string); !strings.Contains(next, "page=3") || !strings.HasPrefix(next, base) {
		t.Errorf("links.next = %v", links["next"])
	}
	if prev, _ := links["prev"].(string); !strings.Contains(prev, "page=1") {
		t.Errorf("links.prev = %v", links["prev"])
	}
	if prof, _ := links["profile"].(string); prof != base+"/api/resources/"+path.Base(ep)+"/profile/" {
		t.Errorf("links.profile = %v", links["profile"])
	}
	if !reflect.DeepEqual(meta, map[string]any{"page": 2.0, "page_size": 2.0, "total": 5.0}) {
		t.Errorf("meta = %v", meta)
	}

	r = get(t, ep+"/aggregate?group_by=chef_lieu&agg=count,sum:population,max:date_maj&_sort=-sum_population")
	wantRows := []any{[]any{true, 4.0, 3250113.0, "2023-03-15"}, []any{false, 1.0, 832.0, "2023-02-01"}}
	if r.status != 200 || !reflect.DeepEqual(r.body["rows"], wantRows) || r.body["total"] != 2.0 {
		t.Errorf("/aggregate: status %d, %s; want rows %v", r.status, r.raw, wantRows)
	}
	r = get(t, ep+"/aggregate?chef_lieu__groupby&population__avg&population__gt=1000")
	if want := []any{"chef_lieu", "population__avg"}; !reflect.DeepEqual(r.body["columns"], want) {
		t.Errorf("api-tabular aggregate columns = %v, want %v (%s)", r.body["columns"], want, r.raw)
	}
	if r := get(t, ep+"/aggregate?group_by=nom"); r.status != 400 || !strings.Contains(r.body["error"].(string), "more than the 3 allowed") {
		t.Errorf("--max-groups: status %d, %s", r.status, r.raw)
	}
	if r := get(t, ep+"/aggregate?agg=sum:nom"); r.status != 400 {
		t.Errorf("sum of text: status %d, want 400", r.status)
	}

	r = get(t, ep+"/profile?chef_lieu=true")
	prof, _ := r.body["profile"].(map[string]any)
	cols, _ := prof["columns"].([]any)
	if r.status != 200 || prof["rows"] != 4.0 || len(cols) != 6 {
		t.Fatalf("/profile: status %d, %s", r.status, r.raw)
	}
	pop, _ := cols[2].(map[string]any)
	if pop["name"] != "population" || pop["min"] != 71361.0 || pop["max"] != 2133111.0 || pop["distinct"] != 4.0 {
		t.Errorf("population profile = %v", pop)
	}
	if h, _ := pop["histogram"].([]any); len(h) != 10 {
		t.Errorf("population histogram has %d bins, want 10", len(h))
	}
}

// getRaw is get without decoding JSON bodies: exports in JSON are arrays.
func getRaw(t *testing.T, u string) response {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, raw: raw}
}

func TestExportFormatsOverHTTP(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")

	r := getRaw(t, ep+"/export.csv?bom=1&sep=;&decimal=,&population__gt=100000&_col=nom&_col=superficie")
	if want := "\uFEFFnom;superficie\nSaint-Étienne;79,97\nParis;105,4\nMarseille;240,62\n"; string(r.raw) != want {
		t.Errorf("Excel CSV = %q, want %q", r.raw, want)
	}
	for _, tt := range []struct{ path, contentType, filename string }{
		{"/export?format=tsv", "text/tab-separated-values", "communes.tsv"},
		{"/export.json", "application/json", "communes.json"},
		{"/export.ndjson", "application/x-ndjson", "communes.ndjson"},
		{"/export.xlsx", "application/vnd.openxmlformats", "communes.xlsx"},
		{"/export.parquet", "application/vnd.apache.parquet", "communes.parquet"},
	} {
		r := getRaw(t, ep+tt.path)
		if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), tt.contentType) ||
			!strings.Contains(r.header.Get("Content-Disposition"), `filename="`+tt.filename+`"`) {
			t.Errorf("%s: status %d, type %q, disposition %q", tt.path, r.status, r.header.Get("Content-Type"), r.header.Get("Content-Disposition"))
		}
	}
	r = getRaw(t, ep+"/export.json?_sort=-population&_col=nom")
	var objs []map[string]any
	if err := json.Unmarshal(r.raw, &objs); err != nil || len(objs) != 5 || objs[0]["nom"] != "Paris" {
		t.Errorf("json export = %s (%v)", r.raw, err)
	}
	r = getRaw(t, ep+"/export.tsv")
	cr := csv.NewReader(bytes.NewReader(r.raw))
	cr.Comma = '\t'
	if recs, err := cr.ReadAll(); err != nil || len(recs) != 6 {
		t.Errorf("tsv export = %q (%v)", r.raw, err)
	}

	// Parquet reads back in DuckDB with its types.
	r = getRaw(t, ep+"/export.parquet?chef_lieu=true")
	path := filepath.Join(t.TempDir(), "back.parquet")
	if err := os.WriteFile(path, r.raw, 0o644); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var n, pop int64
	if err := db.QueryRow("SELECT count(*), sum(population) FROM read_parquet('"+path+"')").Scan(&n, &pop); err != nil || n != 4 || pop != 3250113 {
		t.Errorf("parquet read back: %d rows, population %d, %v; want 4, 3250113", n, pop, err)
	}
	if r := get(t, ep+"/export?format=pdf"); r.status != 400 {
		t.Errorf("format=pdf: status %d, want 400", r.status)
	}
}

func TestQueryTimeout(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--query-timeout", "1ns")
	// apify does not run under the query timeout.
	ep := apify(t, base, up.URL+"/communes.csv")
	for _, path := range []string{"?_sort=nom", "/aggregate?group_by=nom", "/profile", "/data"} {
		r := get(t, ep+path)
		if r.status != http.StatusGatewayTimeout || r.body["code"] != "timeout" {
			t.Errorf("%s: status %d, body %s; want 504 timeout", path, r.status, r.raw)
		}
	}
}
