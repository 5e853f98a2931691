package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"reflect"
	"strings"
	"testing"
	"time"
)

// The resource ids of data.gouv.fr are UUIDs; these two name generated
// tables on the fake portal below.
const (
	communesUUID = "5d2c4bd4-6c2b-4a0f-9e1a-3a1c6b8e9f01"
	slowUUID     = "0b7f6a52-1f3c-4d7e-8a9b-2c3d4e5f6a7b"
)

// generatedCommunes is a 120-row CSV with the column types and names the
// fronts handle differently: text with accents and parentheses, integers
// with missing values, decimals, dates, booleans, a categorical column, and
// a column whose name holds a dot, a space and parentheses.
func generatedCommunes() []byte {
	var b bytes.Buffer
	b.WriteString("nom,population,surface,date_maj,chef_lieu,categorie,code.postal (ancien),annee\n")
	day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 1; i <= 120; i++ {
		nom := fmt.Sprintf("Commune %d", i)
		switch i {
		case 7:
			nom = "Saint-Étienne (Loire)"
		case 8:
			nom = "a.b"
		}
		pop := ""
		if i%10 != 0 {
			pop = fmt.Sprint(i * 100)
		}
		fmt.Fprintf(&b, "%s,%s,%.2f,%s,%t,%c,0%04d,%d\n", nom, pop, float64(i)*1.5, day.AddDate(0, 0, i).Format(time.DateOnly),
			i%3 == 0, "ABC"[i%3], i, 1990+i%30)
	}
	return b.Bytes()
}

// fakePortal serves generated tables at /fr/datasets/r/<uuid>, as
// www.data.gouv.fr redirects a resource id to its file; the slow one
// answers only once release is closed.
func fakePortal(t *testing.T, release chan struct{}) *httptest.Server {
	t.Helper()
	body := generatedCommunes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fr/datasets/r/" + communesUUID:
			http.Redirect(w, r, "/files/communes.csv", http.StatusFound)
		case "/files/communes.csv":
			w.Header().Set("Content-Type", "text/csv")
			w.Write(body)
		case "/fr/datasets/r/" + slowUUID:
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			w.Write(body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// tabularGet decodes a JSON answer of an api-tabular route.
func tabularGet(t *testing.T, u string) (int, map[string]any) {
	t.Helper()
	r := getRaw(t, u)
	var body map[string]any
	if err := json.Unmarshal(r.raw, &body); err != nil {
		t.Fatalf("GET %s: status %d, invalid JSON %q", u, r.status, r.raw)
	}
	return r.status, body
}

func dataIDs(body map[string]any) []float64 {
	var ids []float64
	rows, _ := body["data"].([]any)
	for _, row := range rows {
		m, _ := row.(map[string]any)
		id, _ := m["__id"].(float64)
		ids = append(ids, id)
	}
	return ids
}

func metaTotal(body map[string]any) any {
	meta, _ := body["meta"].(map[string]any)
	return meta["total"]
}

// TestTabularFronts replays the URLs data.gouv.fr's fronts build for
// api-tabular against csvapi, on a generated table reached by its portal
// resource id, and checks the keys each front reads.
func TestTabularFronts(t *testing.T) {
	release := make(chan struct{})
	portal := fakePortal(t, release)
	defer close(release)
	_, base := startService(t, "--allow-private", "--apify-wait", "5s",
		"--resource-url-template", portal.URL+"/fr/datasets/r/{id}")
	res := base + "/api/resources/" + communesUUID

	t.Run("cdata useTabularProfile.ts and DataStructure: profile", func(t *testing.T) {
		// datagouv-components/src/composables/useTabularProfile.ts fetches
		// `${tabularApiUrl}/api/resources/${id}/profile/`; useColumnMetadata.ts
		// reads profile.header, columns[col].python_type and .format,
		// categorical, total_lines, profile[col].tops, nb_missing_values.
		status, body := tabularGet(t, res+"/profile/")
		prof, _ := body["profile"].(map[string]any)
		if status != 200 || prof == nil {
			t.Fatalf("profile: status %d, %v", status, body)
		}
		if _, ok := body["indexes"]; !ok || body["indexes"] != nil {
			t.Errorf("indexes = %v, want null", body["indexes"])
		}
		wantHeader := []any{"nom", "population", "surface", "date_maj", "chef_lieu", "categorie", "code.postal (ancien)", "annee"}
		if !reflect.DeepEqual(prof["header"], wantHeader) {
			t.Errorf("header = %v, want %v", prof["header"], wantHeader)
		}
		// DataStructure.vue lists Object.keys(profile.columns): file order.
		if raw := getRaw(t, res+"/profile/").raw; !bytes.Contains(raw, []byte(`"columns":{"nom":`)) {
			t.Errorf("profile.columns not in file order: %.300s", raw)
		}
		cols, _ := prof["columns"].(map[string]any)
		wantTypes := map[string]string{"nom": "string", "population": "int", "surface": "float", "date_maj": "date",
			"chef_lieu": "bool", "categorie": "string", "code.postal (ancien)": "string", "annee": "int"}
		for col, want := range wantTypes {
			info, _ := cols[col].(map[string]any)
			if info["python_type"] != want || info["format"] == nil {
				t.Errorf("columns[%q] = %v, want python_type %s and a format", col, info, want)
			}
		}
		// functions/tabular.ts resolveColumnType: format "year" is a year.
		if annee, _ := cols["annee"].(map[string]any); annee["format"] != "year" {
			t.Errorf("columns.annee = %v, want format year", annee)
		}
		if pop, _ := cols["population"].(map[string]any); pop["format"] != "int" {
			t.Errorf("columns.population = %v, want format int", pop)
		}
		if prof["total_lines"] != 120.0 {
			t.Errorf("total_lines = %v, want 120", prof["total_lines"])
		}
		if cat, _ := prof["categorical"].([]any); !reflect.DeepEqual(cat, []any{"chef_lieu", "categorie"}) {
			t.Errorf("categorical = %v, want [chef_lieu categorie]", prof["categorical"])
		}
		stats, _ := prof["profile"].(map[string]any)
		pop, _ := stats["population"].(map[string]any)
		if pop["nb_missing_values"] != 12.0 || pop["nb_distinct"] != 108.0 || pop["min"] != 100.0 || pop["max"] != 11900.0 || pop["mean"] == nil || pop["std"] == nil {
			t.Errorf("profile.population = %v", pop)
		}
		// explore's storeTabular.js colours categories from tops[].value
		// when nb_distinct < 10; cdata's getBooleanCounts reads tops too.
		catg, _ := stats["categorie"].(map[string]any)
		tops, _ := catg["tops"].([]any)
		top, _ := tops[0].(map[string]any)
		if catg["nb_distinct"] != 3.0 || len(tops) != 3 || top["count"] != 40.0 || top["value"] == nil {
			t.Errorf("profile.categorie = %v", catg)
		}
	})

	t.Run("cdata tabularApi.ts fetchTabularData: page, sort, groupby, aggregation", func(t *testing.T) {
		// `/data/?page=${page}&page_size=${pageSize}` + `&${column}__sort=${type}`
		status, body := tabularGet(t, res+"/data/?page=2&page_size=15&population__sort=desc")
		ids := dataIDs(body)
		if status != 200 || len(ids) != 15 || metaTotal(body) != 120.0 {
			t.Fatalf("sorted page: status %d, %d rows, total %v", status, len(ids), metaTotal(body))
		}
		if ids[0] != 103 { // page 1: 119..111 (110 is NULL), 109..104
			t.Errorf("sorted page 2 starts with __id %v, want 103", ids[0])
		}
		// `&${groupBy}__groupby` + `&${column}__${type}` (ChartViewer)
		status, body = tabularGet(t, res+"/data/?page=1&page_size=15&categorie__groupby&population__sum")
		want := []any{
			map[string]any{"categorie": "A", "population__sum": 216000.0},
			map[string]any{"categorie": "B", "population__sum": 216000.0},
			map[string]any{"categorie": "C", "population__sum": 216000.0},
		}
		if status != 200 || !reflect.DeepEqual(body["data"], want) {
			t.Errorf("groupby+sum: status %d, data %v, want %v", status, body["data"], want)
		}
		// groupby alone: the distinct values; sortable by an aggregate.
		_, body = tabularGet(t, res+"/data/?chef_lieu__groupby")
		if want := []any{map[string]any{"chef_lieu": false}, map[string]any{"chef_lieu": true}}; !reflect.DeepEqual(body["data"], want) {
			t.Errorf("groupby alone: %v, want %v", body["data"], want)
		}
		// population__less=11800 drops 118 (B) and 119 (C) before grouping.
		// Sums: A 216000, B 204200, C 204100.
		_, body = tabularGet(t, res+"/data/?categorie__groupby&nom__count&population__sum__sort=asc&population__sum&population__isnotnull&population__less=11800")
		first, _ := body["data"].([]any)[0].(map[string]any)
		if first["categorie"] != "C" || first["nom__count"] != 35.0 || first["population__sum"] != 204100.0 {
			t.Errorf("groupby sorted by aggregate, filtered first: first group %v", first)
		}
	})

	t.Run("cdata TabularExplorer.vue: filters, global search, CSV download", func(t *testing.T) {
		// The explorer sends page=1&page_size=50 with its tableQuery.
		q := url.Values{"page": {"1"}, "page_size": {"50"}, "categorie__in": {"A,B"}, "population__greater": {"1000"},
			"population__less": {"5000"}, "date_maj__greater": {"2023-01-20"}, "date_maj__strictly_less": {"2023-02-15"},
			"nom__contains": {"commune"}, "population__isnotnull": {""}}
		status, body := tabularGet(t, res+"/data/?"+q.Encode())
		if status != 200 || metaTotal(body) != 15.0 {
			t.Errorf("filters: status %d, total %v, want 15 (%v)", status, metaTotal(body), body)
		}
		// functions/tabular.ts buildGlobalSearchConditions: text columns get
		// col__contains.<encodeConditionValue(v)>, number columns
		// col__exact.<v> when v is a decimal literal; then ofetch encodes
		// the whole or=(…) once more.
		search := func(v string) string {
			enc := strings.NewReplacer(".", "%2E", "(", "%28", ")", "%29").Replace(url.PathEscape(v))
			conds := []string{"nom__contains." + enc, "categorie__contains." + enc, "code.postal (ancien)__contains." + enc}
			if _, err := fmt.Sscan(v, new(float64)); err == nil {
				conds = append(conds, "population__exact."+enc, "surface__exact."+enc)
			}
			return url.Values{"page": {"1"}, "page_size": {"50"}, "or": {"(" + strings.Join(conds, ",") + ")"}}.Encode()
		}
		for _, tc := range []struct {
			search string
			want   []float64
		}{
			{"(Loire)", []float64{7}},
			{"a.b", []float64{8}},
			{"Saint-Étienne (Loire)", []float64{7}},
			{"0101", []float64{101}}, // code postal 00101 contains it
			{"4.5", []float64{3}},    // surface 4.50; no integer population equals it
		} {
			status, body := tabularGet(t, res+"/data/?"+search(tc.search))
			if got := dataIDs(body); status != 200 || !reflect.DeepEqual(got, tc.want) {
				t.Errorf("global search %q: status %d, __id %v, want %v (%v)", tc.search, status, got, tc.want, body)
			}
		}
		// filteredDownloadUrl: `/data/csv/?${new URLSearchParams(tableQuery)}`
		r := getRaw(t, res+"/data/csv/?"+url.Values{"categorie__exact": {"A"}, "population__sort": {"desc"}}.Encode())
		lines := strings.Split(strings.TrimSpace(string(r.raw)), "\n")
		if r.status != 200 || !strings.HasPrefix(lines[0], "__id,nom,") || len(lines) != 41 || !strings.HasPrefix(lines[1], "117,") {
			t.Errorf("CSV download: status %d, %d lines, header %q, first %q", r.status, len(lines), lines[0], lines[1])
		}
		r = getRaw(t, res+"/data/json/?categorie__exact=A&page_size=2")
		var rows []map[string]any
		if err := json.Unmarshal(r.raw, &rows); err != nil || len(rows) != 40 || rows[0]["__id"] != 3.0 {
			t.Errorf("JSON download: %d rows, first %v, err %v", len(rows), rows, err)
		}
	})

	t.Run("udata-front api/tabularApi.ts getData and getProfile", func(t *testing.T) {
		// `/data/?page=${page}&page_size=${config.tabular_page_size}` + `&${column}__sort=${type}`;
		// Preview.vue reads data, meta.total and meta.page_size.
		status, body := tabularGet(t, res+"/data/?page=3&page_size=10&nom__sort=asc")
		meta, _ := body["meta"].(map[string]any)
		if status != 200 || len(dataIDs(body)) != 10 || !reflect.DeepEqual(meta, map[string]any{"page": 3.0, "page_size": 10.0, "total": 120.0}) {
			t.Errorf("getData: status %d, meta %v", status, meta)
		}
		if status, _ := tabularGet(t, res+"/profile/"); status != 200 {
			t.Errorf("getProfile: status %d", status)
		}
		// Without the trailing slash too.
		if status, body := tabularGet(t, res+"/data?page=1&page_size=3"); status != 200 || len(dataIDs(body)) != 3 {
			t.Errorf("/data without slash: status %d", status)
		}
	})

	t.Run("explore storeTabular.js retrieveData and changePage", func(t *testing.T) {
		// new URL(…/data/) with searchParams page_size, page, `${field}__${comp}`,
		// and `${sortBy}__sort`; reads data, links.next, meta.total, then
		// fetches links.next as is.
		u, _ := url.Parse(res + "/data/")
		q := u.Query()
		q.Set("page_size", "20")
		q.Set("page", "1")
		q.Set("nom__differs", "a.b")
		q.Set("surface__sort", "desc")
		u.RawQuery = q.Encode()
		status, body := tabularGet(t, u.String())
		links, _ := body["links"].(map[string]any)
		next, _ := links["next"].(string)
		if status != 200 || metaTotal(body) != 119.0 || !strings.HasPrefix(next, res+"/data/") || links["prev"] != nil {
			t.Fatalf("retrieveData: status %d, total %v, links %v", status, metaTotal(body), links)
		}
		status, body = tabularGet(t, next)
		if ids := dataIDs(body); status != 200 || len(ids) != 20 || ids[0] != 100 {
			t.Errorf("links.next: status %d, __id %v", status, ids)
		}
	})

	t.Run("explore tabularapi.js getRows: resource meta", func(t *testing.T) {
		status, body := tabularGet(t, res+"/")
		links, _ := body["links"].([]any)
		if status != 200 || len(links) != 3 || body["url"] != portal.URL+"/fr/datasets/r/"+communesUUID || body["created_at"] == nil {
			t.Fatalf("meta: status %d, %v", status, body)
		}
		for i, rel := range []string{"profile", "data", "swagger"} {
			l, _ := links[i].(map[string]any)
			if l["rel"] != rel || l["type"] != "GET" || l["href"] != res+"/"+rel+"/" {
				t.Errorf("links[%d] = %v", i, l)
			}
		}
	})

	t.Run("swagger lists operators by type", func(t *testing.T) {
		status, body := tabularGet(t, res+"/swagger/")
		paths, _ := body["paths"].(map[string]any)
		item, _ := paths["/api/resources/"+communesUUID+"/data/"].(map[string]any)
		params, _ := item["parameters"].([]any)
		names := map[string]bool{}
		for _, p := range params {
			m, _ := p.(map[string]any)
			names[m["name"].(string)] = true
		}
		for name, want := range map[string]bool{"nom__contains": true, "population__contains": false, "population__sum": true,
			"chef_lieu__less": false, "chef_lieu__exact": true, "date_maj__strictly_less": true, "nom__avg": false} {
			if status != 200 || names[name] != want {
				t.Errorf("swagger parameter %s: present %v, want %v", name, names[name], want)
			}
		}
	})

	t.Run("api-tabular errors and /health/", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
		}{
			{res + "/data/?limit=5", 400},
			{res + "/data/?page_size=5000", 400},
			{res + "/data/?population__contains=1", 400}, // not on numbers, as api-tabular's swagger
			{res + "/data/?nom__avg", 400},
			{res + "/data/?nom__sort=up", 400},
			{res + "/data/?columns=nom&categorie__groupby", 400},
			{res + "/data/?or=(nom__exact.x", 400},
			{base + "/api/resources/" + strings.Repeat("0", 32) + "/data/", 404},
			{base + "/api/resources/not-an-id/profile/", 404},
			{base + "/api/resources/00000000-0000-0000-0000-000000000000/", 404}, // the portal answers 404
		} {
			status, body := tabularGet(t, tc.path)
			// The fronts read the status; data.gouv.fr's MCP server
			// (helpers/tabular_api_client.py) reads errors[].detail.message.
			errs, _ := body["errors"].([]any)
			e, _ := errs[0].(map[string]any)
			detail, _ := e["detail"].(map[string]any)
			if status != tc.status || len(errs) != 1 || e["code"] == nil || e["title"] == nil || detail["message"] == nil {
				t.Errorf("%s: status %d, body %v; want %d with errors[{code,title,detail:{message}}]", tc.path, status, body, tc.status)
			}
		}
		status, body := tabularGet(t, base+"/health/")
		if status != 200 || body["status"] != "ok" || body["uptime_since"] == nil || body["version"] == nil {
			t.Errorf("/health/: %d %v", status, body)
		}
		if _, body := tabularGet(t, base+"/health"); body["ok"] != true || body["status"] != nil {
			t.Errorf("/health changed: %v", body)
		}
	})

	t.Run("csvapi ids and uploads on the same routes", func(t *testing.T) {
		fileURL := portal.URL + "/files/communes.csv"
		apify(t, base, fileURL)
		if status, body := tabularGet(t, base+"/api/resources/"+md5Hex(fileURL)+"/data/?nom__exact=a.b"); status != 200 || metaTotal(body) != 1.0 {
			t.Errorf("MD5 id: status %d, %v", status, body)
		}
		content := generatedCommunes()[:200]
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		fw, _ := mw.CreateFormFile("file", "c.csv")
		fw.Write(content)
		mw.Close()
		req, _ := http.NewRequest(http.MethodPost, base+"/upload", &buf)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		r := do(t, req)
		ep, _ := r.body["endpoint"].(string)
		if r.status != 200 || ep == "" {
			t.Fatalf("upload: %d %s", r.status, r.raw)
		}
		if status, body := tabularGet(t, base+"/api/resources/"+path.Base(ep)+"/data/"); status != 200 || metaTotal(body) == nil {
			t.Errorf("upload id: status %d, %v", status, body)
		}
	})
}

// TestTabularFirstConversion checks what a front gets while the first
// conversion of a portal resource outlasts --apify-wait: a 503 with
// Retry-After and api-tabular's error body (the fronts show a failed
// preview), then the data once the conversion is done.
func TestTabularFirstConversion(t *testing.T) {
	release := make(chan struct{})
	portal := fakePortal(t, release)
	_, base := startService(t, "--allow-private", "--apify-wait", "20ms",
		"--resource-url-template", portal.URL+"/fr/datasets/r/{id}")
	data := base + "/api/resources/" + slowUUID + "/data/?page=1&page_size=50"
	r := getRaw(t, data) // the portal holds the file until release
	var body map[string]any
	json.Unmarshal(r.raw, &body)
	errs, _ := body["errors"].([]any)
	if r.status != http.StatusServiceUnavailable || r.header.Get("Retry-After") == "" || len(errs) != 1 {
		t.Fatalf("during the first conversion: status %d, Retry-After %q, body %s", r.status, r.header.Get("Retry-After"), r.raw)
	}
	close(release)
	for i := 0; ; i++ {
		status, body := tabularGet(t, data)
		if status == 200 {
			if metaTotal(body) != 120.0 {
				t.Errorf("after the conversion: total %v, want 120", metaTotal(body))
			}
			return
		}
		if status != http.StatusServiceUnavailable || i == 1500 { // 30 s
			t.Fatalf("after release: status %d, %v", status, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
