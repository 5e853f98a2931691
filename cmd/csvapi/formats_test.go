package main

import (
	"bytes"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// formatsUpstream serves the fixtures of testdata/corpus/formats under
// opaque paths with a misleading Content-Type: the format must be found
// from the content alone.
func formatsUpstream(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("f")
		if name == "" || strings.ContainsAny(name, "/\\") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/csv")
		w.Write(mustRead(t, "corpus/formats/"+name))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// apifyWith calls /apify with extra parameters and returns the endpoint.
func apifyWith(t *testing.T, base, fileURL string, params url.Values) string {
	t.Helper()
	q := url.Values{"url": {fileURL}}
	for k, v := range params {
		q[k] = v
	}
	r := get(t, base+"/apify?"+q.Encode())
	if r.status != http.StatusOK {
		t.Fatalf("apify %s %v: status %d, body %s", fileURL, params, r.status, r.raw)
	}
	ep, _ := r.body["endpoint"].(string)
	return ep
}

func TestFormats(t *testing.T) {
	up := formatsUpstream(t)
	_, base := startService(t, "--allow-private")
	fixture := func(name string) string { return up.URL + "/download?f=" + url.QueryEscape(name) }

	tests := []struct {
		name     string
		fixture  string
		params   url.Values
		infos    map[string]any // expected general_infos entries
		firstRow map[string]any
	}{
		{
			name: "xlsx", fixture: "xlsx_types.xlsx",
			infos: map[string]any{"filetype": "xlsx", "sheet": "Communes", "total_lines": 3.0},
			firstRow: map[string]any{"rowid": 1.0, "code_insee": "01001", "nom": "L'Abergement-Clémenciat", "population": 832.0,
				"superficie": 15.95, "budget": 1234567.891, "taux": 0.125, "date_maj": "2023-02-01", "date_fr": "2023-02-01",
				"horodatage": "2023-02-01T08:30:00", "chef_lieu": false, "ratio": 0.3},
		},
		{
			name: "xlsx sheet by index", fixture: "xlsx_sheets.xlsx", params: url.Values{"sheet": {"2"}},
			infos:    map[string]any{"filetype": "xlsx", "sheet": "Données"},
			firstRow: map[string]any{"rowid": 1.0, "code": "84", "nom": "Auvergne-Rhône-Alpes"},
		},
		{
			name: "ods", fixture: "ods_types.ods",
			infos: map[string]any{"filetype": "ods", "sheet": "Communes", "total_lines": 2.0},
			firstRow: map[string]any{"rowid": 1.0, "Commune": "01001", "column2": "L'Abergement-Clémenciat", "population": 832.0,
				"taux": 0.125, "budget": 1234567.891, "date_maj": "2023-02-01", "horodatage": "2023-02-01T08:30:00",
				"heure": "08:30:00", "chef_lieu": false, "note": "deux  espaces\net une ligne"},
		},
		{
			name: "xls", fixture: "mscfb_test.xls",
			infos:    map[string]any{"filetype": "xls", "sheet": "Test sheet 1", "total_lines": 3.0},
			firstRow: map[string]any{"rowid": 1.0, "Test1": "Avocado", "Lorem": 1.0, "Ipsum": 2.0},
		},
		{
			name: "zip with ?file=", fixture: "zip_several.zip", params: url.Values{"file": {"regions.csv"}},
			infos:    map[string]any{"filetype": "csv", "compression": "zip", "file": "regions.csv", "separator": ";"},
			firstRow: map[string]any{"rowid": 1.0, "code": "84", "nom": "Auvergne-Rhône-Alpes"},
		},
		{
			name: "zstd", fixture: "communes.csv.zst",
			infos:    map[string]any{"filetype": "csv", "compression": "zstd"},
			firstRow: map[string]any{"rowid": 1.0, "code_insee": "01001", "nom": "L'Abergement-Clémenciat", "population": 832.0, "superficie": 15.95, "date_maj": "2023-02-01"},
		},
		{
			name: "parquet", fixture: "data.parquet",
			infos: map[string]any{"filetype": "parquet", "total_lines": 3.0},
			firstRow: map[string]any{"rowid": 1.0, "rowid_": 1.0, "code_insee": "01001", "nom": "L'Abergement-Clémenciat", "population": 832.0,
				"superficie": 15.95, "date_maj": "2023-02-01", "horodatage": "2023-02-01T08:30:00", "chef_lieu": false,
				"tags": `["a","b"]`, "geo": `{"lat":45.5,"lon":4.85}`},
		},
		{
			name: "json", fixture: "array.json",
			infos: map[string]any{"filetype": "json", "total_lines": 3.0},
			firstRow: map[string]any{"rowid": 1.0, "code_insee": "01001", "nom": "L'Abergement-Clémenciat", "population": 832.0,
				"superficie": 15.95, "date_maj": "2023-02-01", "chef_lieu": false},
		},
		{
			name: "ndjson", fixture: "records.ndjson",
			infos:    map[string]any{"filetype": "ndjson"},
			firstRow: map[string]any{"rowid": 1.0, "id": 1.0, "label": "un", "mesure": 1.5},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ep := apifyWith(t, base, fixture(tt.fixture), tt.params)
			r := get(t, ep+"?_size=1&_shape=objects")
			if r.status != http.StatusOK {
				t.Fatalf("page: status %d, body %s", r.status, r.raw)
			}
			rows, _ := r.body["rows"].([]any)
			if len(rows) != 1 || !reflect.DeepEqual(rows[0], tt.firstRow) {
				t.Errorf("rows = %v\nwant [%v]", rows, tt.firstRow)
			}
			gi, _ := r.body["general_infos"].(map[string]any)
			for k, want := range tt.infos {
				if gi[k] != want {
					t.Errorf("general_infos[%q] = %v, want %v", k, gi[k], want)
				}
			}
		})
	}

	t.Run("sheet and file make distinct resources", func(t *testing.T) {
		a := apifyWith(t, base, fixture("xlsx_sheets.xlsx"), url.Values{"sheet": {"Données"}})
		b := apifyWith(t, base, fixture("xlsx_sheets.xlsx"), nil)
		if a == b {
			t.Errorf("sheet=Données and the default sheet share endpoint %s", a)
		}
	})
}

func TestFormatsErrors(t *testing.T) {
	up := formatsUpstream(t)
	_, base := startService(t, "--allow-private")
	apifyURL := func(name string, extra ...string) string {
		q := url.Values{"url": {up.URL + "/download?f=" + url.QueryEscape(name)}}
		for i := 0; i+1 < len(extra); i += 2 {
			q.Set(extra[i], extra[i+1])
		}
		return base + "/apify?" + q.Encode()
	}
	tests := []struct {
		name, url string
		status    int
		code      string
		mention   string
		choices   []any // details.choices, when set
	}{
		{"several files", apifyURL("zip_several.zip"), 422, "several_files", "file", []any{"communes.csv", "regions.csv"}},
		{"unknown file", apifyURL("zip_several.zip", "file", "nope.csv"), 400, "invalid_parameter", "nope.csv", []any{"communes.csv", "regions.csv"}},
		{"unknown sheet", apifyURL("xlsx_sheets.xlsx", "sheet", "Feuil9"), 400, "invalid_parameter", "sheet", []any{"Lisez-moi", "Données"}},
		{"control character in sheet", apifyURL("xlsx_sheets.xlsx", "sheet", "a\x01b"), 400, "invalid_parameter", "sheet", nil},
		{"json object", apifyURL("object.json"), 415, "not_tabular", "single JSON object", nil},
		{"png", apifyURL("image.png"), 415, "not_tabular", "PNG image", nil},
		{"pdf", apifyURL("document.pdf"), 415, "not_tabular", "PDF", nil},
		{"html", apifyURL("page.html"), 415, "not_tabular", "HTML", nil},
		{"empty", apifyURL("empty.csv"), 415, "not_tabular", "empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.url)
			if r.status != tt.status || r.body["code"] != tt.code {
				t.Fatalf("status %d, body %s; want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if msg, _ := r.body["error"].(string); !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q should mention %q", msg, tt.mention)
			}
			if tt.choices != nil {
				details, _ := r.body["details"].(map[string]any)
				if !reflect.DeepEqual(details["choices"], tt.choices) {
					t.Errorf("details = %v, want choices %v", details, tt.choices)
				}
			}
		})
	}
}

// An uploaded workbook takes the sheet parameter as a form field.
func TestUploadSheet(t *testing.T) {
	_, base := startService(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "classeur.bin")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(mustRead(t, "corpus/formats/xlsx_sheets.xlsx"))
	mw.WriteField("sheet", "Données")
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, base+"/upload", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r := do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("upload: status %d, body %s", r.status, r.raw)
	}
	ep, _ := r.body["endpoint"].(string)
	page := get(t, ep+"?_shape=objects")
	gi, _ := page.body["general_infos"].(map[string]any)
	if gi["sheet"] != "Données" || gi["filetype"] != "xlsx" || page.body["total"] != 2.0 {
		t.Errorf("general_infos = %v, total %v; want sheet Données, xlsx, 2 rows", gi, page.body["total"])
	}
}

// An uploaded zip takes the member in the query string: the form field
// named file is the upload itself.
func TestUploadZipMember(t *testing.T) {
	_, base := startService(t)
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	fw, err := mw.CreateFormFile("file", "archive.zip")
	if err != nil {
		t.Fatal(err)
	}
	fw.Write(mustRead(t, "corpus/formats/zip_several.zip"))
	mw.Close()
	req, err := http.NewRequest(http.MethodPost, base+"/upload?file=regions.csv", &body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	r := do(t, req)
	if r.status != http.StatusOK {
		t.Fatalf("upload: status %d, body %s", r.status, r.raw)
	}
	ep, _ := r.body["endpoint"].(string)
	page := get(t, ep)
	gi, _ := page.body["general_infos"].(map[string]any)
	if gi["file"] != "regions.csv" || page.body["total"] != 2.0 {
		t.Errorf("general_infos = %v, total %v; want file regions.csv, 2 rows", gi, page.body["total"])
	}
}
