package main

import (
	"bytes"
	"compress/gzip"
	"crypto/md5"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
)

// upstream serves testdata/ plus a few special routes, and counts hits.
type upstream struct {
	*httptest.Server
	hits     atomic.Int64
	failNext atomic.Bool
}

func newUpstream(t *testing.T) *upstream {
	t.Helper()
	u := &upstream{}
	files := http.FileServer(http.Dir("../../testdata"))
	mux := http.NewServeMux()
	mux.Handle("/", files)
	mux.HandleFunc("/gzipped", func(w http.ResponseWriter, r *http.Request) {
		// Served without extension and with a generic type: detection must
		// rely on the magic bytes.
		w.Header().Set("Content-Type", "application/octet-stream")
		zw := gzip.NewWriter(w)
		zw.Write(mustRead(t, "communes.csv"))
		zw.Close()
	})
	mux.HandleFunc("/flaky.csv", func(w http.ResponseWriter, r *http.Request) {
		if u.failNext.Swap(false) {
			http.Error(w, "try later", http.StatusServiceUnavailable)
			return
		}
		w.Write(mustRead(t, "communes.csv"))
	})
	mux.HandleFunc("/big.csv", func(w http.ResponseWriter, r *http.Request) {
		// No Content-Length: the cap must stop the stream itself.
		w.(http.Flusher).Flush()
		line := bytes.Repeat([]byte("x"), 1023)
		for i := 0; i < 4096; i++ {
			if _, err := w.Write(append(line, '\n')); err != nil {
				return
			}
		}
	})
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.hits.Add(1)
		mux.ServeHTTP(w, r)
	}))
	t.Cleanup(u.Close)
	return u
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("../../testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// startService runs the real service on 127.0.0.1:0 with a fresh cache
// directory and returns its base URL.
func startService(t *testing.T, args ...string) (*Main, string) {
	t.Helper()
	return startServiceIn(t, t.TempDir(), args...)
}

func startServiceIn(t *testing.T, dir string, args ...string) (*Main, string) {
	t.Helper()
	m := NewMain()
	args = append([]string{"--addr", "127.0.0.1:0", "--cache-dir", dir}, args...)
	noEnv := func(string) (string, bool) { return "", false }
	if err := m.ParseFlags(args, noEnv, io.Discard); err != nil {
		t.Fatalf("ParseFlags(%v): %v", args, err)
	}
	m.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	if err := m.Run(t.Context()); err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	base := "http://" + m.Addr()
	cacheDirs.Store(base, dir)
	return m, base
}

type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func get(t *testing.T, u string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Fatalf("%s %s: invalid JSON %q: %v", req.Method, req.URL, raw, err)
		}
	}
	return r
}

func md5Hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}

// apify converts a fixture and returns its endpoint.
func apify(t *testing.T, base, fileURL string) string {
	t.Helper()
	r := get(t, base+"/apify?url="+url.QueryEscape(fileURL))
	if r.status != http.StatusOK || r.body["ok"] != true {
		t.Fatalf("apify %s: status %d, body %s", fileURL, r.status, r.raw)
	}
	ep, _ := r.body["endpoint"].(string)
	if want := base + "/api/" + md5Hex(fileURL); ep != want {
		t.Fatalf("apify %s: endpoint %q, want %q", fileURL, ep, want)
	}
	return ep
}

func TestApifyThenPage(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")

	r := get(t, ep+"?_size=2&_shape=objects")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	for _, key := range []string{"ok", "query_ms", "columns", "rows", "total", "general_infos", "columns_infos"} {
		if _, ok := r.body[key]; !ok {
			t.Errorf("response lacks %q: %s", key, r.raw)
		}
	}
	wantRows := []any{
		map[string]any{"rowid": 1.0, "code_insee": "01001", "nom": "L'Abergement-Clémenciat", "population": 832.0,
			"superficie": 15.95, "date_maj": "2023-02-01", "chef_lieu": false},
		map[string]any{"rowid": 2.0, "code_insee": "2A004", "nom": "Ajaccio", "population": 71361.0,
			"superficie": 82.03, "date_maj": "2023-02-13", "chef_lieu": true},
	}
	if !reflect.DeepEqual(r.body["rows"], wantRows) {
		t.Errorf("rows = %v\nwant %v", r.body["rows"], wantRows)
	}
	if got := r.body["total"]; got != 5.0 {
		t.Errorf("total = %v, want 5", got)
	}
	// Integers are JSON integers, not 832.0.
	if !bytes.Contains(r.raw, []byte(`"population":832,`)) {
		t.Errorf("population not written as a JSON integer: %s", r.raw)
	}
	gi, _ := r.body["general_infos"].(map[string]any)
	for key, want := range map[string]any{"encoding": "utf-8", "separator": ";", "header_row_idx": 0.0, "total_lines": 5.0, "filetype": "csv"} {
		if gi[key] != want {
			t.Errorf("general_infos[%q] = %v, want %v", key, gi[key], want)
		}
	}
	ci, _ := r.body["columns_infos"].(map[string]any)
	for col, want := range map[string]string{"code_insee": "string", "population": "integer", "superficie": "number", "date_maj": "date", "chef_lieu": "boolean"} {
		info, _ := ci[col].(map[string]any)
		if info["type"] != want {
			t.Errorf("columns_infos[%q].type = %v, want %s", col, info["type"], want)
		}
	}
	wantCols := []any{"rowid", "code_insee", "nom", "population", "superficie", "date_maj", "chef_lieu"}
	if !reflect.DeepEqual(r.body["columns"], wantCols) {
		t.Errorf("columns = %v, want %v", r.body["columns"], wantCols)
	}

	// A second apify answers from the cache without downloading again.
	hits := up.hits.Load()
	apify(t, base, up.URL+"/communes.csv")
	if got := up.hits.Load(); got != hits {
		t.Errorf("second apify downloaded again: %d upstream hits, want %d", got, hits)
	}
}

func TestEncodingsAndDialects(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	tests := []struct {
		file, encoding, separator string
		row                       []any // first row, rowid hidden
	}{
		{"communes.csv", "utf-8", ";", []any{"01001", "L'Abergement-Clémenciat", 832.0, 15.95, "2023-02-01", false}},
		{"bom.csv", "utf-8-sig", ",", []any{1.0, "Crème brûlée", 4.5}},
		{"latin1.tsv", "windows-1252", "\t", []any{1.0, "Châteauroux", "à revoir"}},
		{"cp1252.csv", "windows-1252", ";", []any{"œufs", 2.5, "prix en €"}},
		{"gzipped", "utf-8", ";", []any{"01001", "L'Abergement-Clémenciat", 832.0, 15.95, "2023-02-01", false}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			ep := apify(t, base, up.URL+"/"+tt.file)
			r := get(t, ep+"?_rowid=hide&_size=1")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			rows, _ := r.body["rows"].([]any)
			if len(rows) != 1 || !reflect.DeepEqual(rows[0], tt.row) {
				t.Errorf("rows = %v, want [%v]", rows, tt.row)
			}
			gi, _ := r.body["general_infos"].(map[string]any)
			if gi["encoding"] != tt.encoding || gi["separator"] != tt.separator {
				t.Errorf("encoding, separator = %q, %q; want %q, %q", gi["encoding"], gi["separator"], tt.encoding, tt.separator)
			}
		})
	}
	t.Run("cp1252 second row", func(t *testing.T) {
		r := get(t, base+"/api/"+md5Hex(up.URL+"/cp1252.csv")+"?_offset=1&_rowid=hide")
		want := []any{[]any{"bœuf", 12.9, "« spécial »"}}
		if !reflect.DeepEqual(r.body["rows"], want) {
			t.Errorf("rows = %v, want %v", r.body["rows"], want)
		}
	})
	t.Run("forced encoding", func(t *testing.T) {
		// Forcing utf-16 on an ASCII file is wrong, but must fail cleanly.
		r := get(t, base+"/apify?encoding=klingon&url="+url.QueryEscape(up.URL+"/bom.csv?x"))
		if r.status != http.StatusBadRequest || r.body["code"] != "unsupported_encoding" {
			t.Errorf("status %d body %s, want 400 unsupported_encoding", r.status, r.raw)
		}
		ep := apify(t, base, up.URL+"/latin1.tsv?forced")
		r = get(t, base+"/apify?encoding=iso-8859-15&url="+url.QueryEscape(up.URL+"/latin1.tsv?forced2"))
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.raw)
		}
		r = get(t, ep+"?_rowid=hide&_size=1")
		if want := []any{[]any{1.0, "Châteauroux", "à revoir"}}; !reflect.DeepEqual(r.body["rows"], want) {
			t.Errorf("rows = %v, want %v", r.body["rows"], want)
		}
	})
}

func TestHeaderOnlyAndTypes(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")

	r := get(t, apify(t, base, up.URL+"/header_only.csv"))
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if r.body["total"] != 0.0 || !reflect.DeepEqual(r.body["rows"], []any{}) {
		t.Errorf("total, rows = %v, %v; want 0, []", r.body["total"], r.body["rows"])
	}
	if want := []any{"rowid", "a", "b", "c"}; !reflect.DeepEqual(r.body["columns"], want) {
		t.Errorf("columns = %v, want %v", r.body["columns"], want)
	}

	r = get(t, apify(t, base, up.URL+"/types.csv")+"?_size=1")
	want := `[[1,1,1.5,true,"2024-01-31","2024-01-31T10:20:30","hello","9007199254740993",null]]`
	if !bytes.Contains(r.raw, []byte(`"rows":`+want)) {
		t.Errorf("typed row: got %s\nwant rows %s", r.raw, want)
	}
}

func TestPageParameters(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	weird := apify(t, base, up.URL+"/columns.csv")
	types := apify(t, base, up.URL+"/types.csv")

	tests := []struct {
		name, url string
		col       string // column whose values are checked
		want      []any
		total     any // nil: key absent
	}{
		{"size", ep + "?_size=2", "nom", []any{"L'Abergement-Clémenciat", "Ajaccio"}, 5.0},
		{"offset", ep + "?_size=2&_offset=3", "nom", []any{"Paris", "Marseille"}, 5.0},
		{"size zero", ep + "?_size=0", "nom", []any{}, 5.0},
		{"sort", ep + "?_sort=population&_size=2", "nom", []any{"L'Abergement-Clémenciat", "Ajaccio"}, 5.0},
		{"sort desc", ep + "?_sort_desc=population&_size=2", "nom", []any{"Paris", "Marseille"}, 5.0},
		{"exact", ep + "?nom__exact=Paris", "code_insee", []any{"75056"}, 1.0},
		{"exact code keeps zeros", ep + "?code_insee__exact=01001", "nom", []any{"L'Abergement-Clémenciat"}, 1.0},
		{"contains ignores case", ep + "?nom__contains=SAINT", "nom", []any{"Saint-Étienne"}, 1.0},
		{"less", ep + "?population__less=71361", "nom", []any{"L'Abergement-Clémenciat", "Ajaccio"}, 2.0},
		{"greater", ep + "?population__greater=873076&_sort=population", "nom", []any{"Marseille", "Paris"}, 2.0},
		{"decimal comma value", ep + "?superficie__greater=100,5", "nom", []any{"Paris", "Marseille"}, 2.0},
		{"filters AND", ep + "?population__greater=100000&nom__contains=ar", "nom", []any{"Paris", "Marseille"}, 2.0},
		{"no match keeps total", ep + "?nom__exact=Lille", "nom", []any{}, 0.0},
		{"total hidden", ep + "?_total=hide&_size=1", "nom", []any{"L'Abergement-Clémenciat"}, nil},
		{"injection is a value", ep + "?nom__exact=" + url.QueryEscape("'); DROP TABLE data; --"), "nom", []any{}, 0.0},
		{"percent is literal", types + "?s__contains=" + url.QueryEscape("0%"), "s", []any{"100% _x_"}, 1.0},
		{"underscore is literal", types + "?s__contains=_x_", "s", []any{"100% _x_"}, 1.0},
		{"percent alone", types + "?s__contains=%25", "s", []any{"100% _x_"}, 1.0},
		{"space in name", weird + "?" + url.QueryEscape("nom commune") + "__exact=Brest", "nom commune", []any{"Brest"}, 1.0},
		{"dot in name", weird + "?x.y__greater=3", "x.y", []any{3.0}, 1.0},
		{"double underscore in name", weird + "?a__b__exact=beta", "a__b", []any{"beta"}, 1.0},
		{"quote in name", weird + "?" + url.QueryEscape(`quo"te`) + "__contains=2", `quo"te`, []any{"q2"}, 1.0},
		{"accent in name", weird + "?_sort_desc=" + url.QueryEscape("été") + "&_size=1", "été", []any{"frais"}, 3.0},
		{"semicolon in name", weird + "?" + url.QueryEscape("semi;colon") + "__exact=s3", "semi;colon", []any{"s3"}, 1.0},
		{"column named rowid", weird + "?rowid___exact=r2", "rowid_", []any{"r2"}, 1.0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.url+"&_shape=objects")
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			rows, _ := r.body["rows"].([]any)
			got := []any{}
			for _, row := range rows {
				got = append(got, row.(map[string]any)[tt.col])
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("%s = %v, want %v", tt.col, got, tt.want)
			}
			if total, ok := r.body["total"]; total != tt.total || ok != (tt.total != nil) {
				t.Errorf("total = %v (present %v), want %v", total, ok, tt.total)
			}
		})
	}

	t.Run("rowid hidden", func(t *testing.T) {
		r := get(t, ep+"?_rowid=hide&_size=1")
		cols, _ := r.body["columns"].([]any)
		if len(cols) == 0 || cols[0] != "code_insee" {
			t.Errorf("columns = %v, want code_insee first", cols)
		}
	})
	t.Run("lists shape", func(t *testing.T) {
		r := get(t, ep+"?_shape=lists&_size=1&_sort_desc=nom")
		if want := []any{[]any{2.0, "2A004", "Ajaccio", 71361.0, 82.03, "2023-02-13", true}}; reflect.DeepEqual(r.body["rows"], want) {
			t.Errorf("_sort_desc=nom first row is Ajaccio, want Saint-Étienne")
		}
		rows, _ := r.body["rows"].([]any)
		if len(rows) != 1 || rows[0].([]any)[2] != "Saint-Étienne" {
			t.Errorf("rows = %v, want Saint-Étienne first", rows)
		}
	})
}

func TestErrors(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private", "--max-file-size", "1MB")
	_, strict := startService(t) // no --allow-private
	ep := apify(t, base, up.URL+"/communes.csv")
	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()

	tests := []struct {
		name, url string
		status    int
		code      string
		mention   string // the message names the parameter
	}{
		{"missing url", base + "/apify", 400, "missing_url", "url"},
		{"malformed url", base + "/apify?url=not-a-url", 400, "invalid_url", "url"},
		{"ftp url", base + "/apify?url=ftp://example.org/a.csv", 400, "invalid_url", "url"},
		{"unknown id", base + "/api/" + md5Hex("nope"), 404, "not_found", ""},
		{"bad id", base + "/api/..%2f..%2fetc", 404, "not_found", ""},
		{"size not integer", ep + "?_size=abc", 400, "invalid_parameter", "_size"},
		{"size negative", ep + "?_size=-1", 400, "invalid_parameter", "_size"},
		{"size too large", ep + "?_size=100000", 400, "invalid_parameter", "export"},
		{"offset not integer", ep + "?_offset=1.5", 400, "invalid_parameter", "_offset"},
		{"unknown shape", ep + "?_shape=table", 400, "invalid_parameter", "_shape"},
		{"unknown filter column", ep + "?nope__exact=1", 400, "invalid_parameter", "nope"},
		{"unknown sort column", ep + "?_sort=nope", 400, "invalid_parameter", "nope"},
		{"unknown operator", ep + "?nom__like=x", 400, "invalid_parameter", "nom__like"},
		{"less not numeric", ep + "?population__less=abc", 400, "invalid_parameter", "population__less"},
		{"greater not numeric", ep + "?nom__greater=abc", 400, "invalid_parameter", "nom__greater"},
		{"upstream 404", base + "/apify?url=" + url.QueryEscape(up.URL+"/missing.csv"), 502, "upstream_status", "404"},
		{"upstream unreachable", base + "/apify?url=" + url.QueryEscape(closed.URL+"/a.csv"), 502, "upstream_unreachable", ""},
		{"html page", base + "/apify?url=" + url.QueryEscape(up.URL+"/page.html"), 415, "not_tabular", "HTML"},
		{"too large", base + "/apify?url=" + url.QueryEscape(up.URL+"/big.csv"), 413, "too_large", ""},
		{"private address", strict + "/apify?url=" + url.QueryEscape(up.URL+"/communes.csv"), 403, "forbidden_address", ""},
		{"no such route", base + "/nope", 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := get(t, tt.url)
			if r.status != tt.status || r.body["code"] != tt.code || r.body["ok"] != false {
				t.Fatalf("status %d, body %s; want %d with code %q", r.status, r.raw, tt.status, tt.code)
			}
			msg, _ := r.body["error"].(string)
			if msg == "" || !strings.Contains(msg, tt.mention) {
				t.Errorf("error %q should mention %q", msg, tt.mention)
			}
			for _, leak := range []string{"duckdb", "DuckDB", "/tmp", "Binder", "Catalog", ".go:"} {
				if bytes.Contains(r.raw, []byte(leak)) {
					t.Errorf("body leaks %q: %s", leak, r.raw)
				}
			}
		})
	}

	t.Run("query timeout", func(t *testing.T) {
		_, slow := startService(t, "--allow-private", "--query-timeout", "1ns")
		ep := apify(t, slow, up.URL+"/communes.csv")
		r := get(t, ep)
		if r.status != http.StatusGatewayTimeout || r.body["code"] != "timeout" {
			t.Errorf("status %d body %s, want 504 timeout", r.status, r.raw)
		}
	})
}

func TestExport(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")

	r := get(t, ep+"/export?population__greater=100000&_sort_desc=population&_size=1")
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
		t.Errorf("Content-Type = %q, want text/csv", ct)
	}
	if cd := r.header.Get("Content-Disposition"); !strings.Contains(cd, `filename="communes.csv"`) {
		t.Errorf("Content-Disposition = %q, want the file name", cd)
	}
	records, err := csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
	if err != nil {
		t.Fatalf("export is not CSV: %v\n%s", err, r.raw)
	}
	want := [][]string{
		{"code_insee", "nom", "population", "superficie", "date_maj", "chef_lieu"},
		{"75056", "Paris", "2133111", "105.4", "2022-12-31", "true"},
		{"13055", "Marseille", "873076", "240.62", "2023-03-15", "true"},
		{"42218", "Saint-Étienne", "172565", "79.97", "2023-02-28", "true"},
	}
	if !reflect.DeepEqual(records, want) {
		t.Errorf("export = %q\nwant %q", records, want)
	}

	r = get(t, apify(t, base, up.URL+"/bom.csv")+"/export")
	records, err = csv.NewReader(bytes.NewReader(r.raw)).ReadAll()
	if err != nil || len(records) != 4 || records[3][1] != `Tarte, "maison"` {
		t.Errorf("export with quotes = %q (%v), want the quoted field back", records, err)
	}
	if r := get(t, ep+"/export?nope__exact=1"); r.status != http.StatusBadRequest {
		t.Errorf("export with a bad filter: status %d, want 400", r.status)
	}
}

func TestUpload(t *testing.T) {
	_, base := startService(t)
	content := mustRead(t, "communes.csv")
	for _, field := range []string{"file", "filepond"} {
		t.Run(field, func(t *testing.T) {
			var body bytes.Buffer
			mw := multipart.NewWriter(&body)
			fw, _ := mw.CreateFormFile(field, "communes.csv")
			fw.Write(content)
			mw.Close()
			req, _ := http.NewRequest(http.MethodPost, base+"/upload", &body)
			req.Header.Set("Content-Type", mw.FormDataContentType())
			r := do(t, req)
			sum := md5.Sum(append([]byte("csvapi-upload\x00"), content...))
			if want := base + "/api/" + hex.EncodeToString(sum[:]); r.status != 200 || r.body["endpoint"] != want {
				t.Fatalf("status %d body %s, want endpoint %s", r.status, r.raw, want)
			}
			page := get(t, r.body["endpoint"].(string)+"?nom__exact=Paris")
			if page.body["total"] != 1.0 {
				t.Errorf("uploaded table: total = %v, want 1", page.body["total"])
			}
		})
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/upload", strings.NewReader("x"))
	if r := do(t, req); r.status != 400 || r.body["code"] != "missing_file" {
		t.Errorf("upload without file: status %d body %s, want 400 missing_file", r.status, r.raw)
	}
}

func TestCORSReferrersAndBaseURL(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	r := get(t, base+"/api/"+md5Hex("x"), "Origin", "https://www.data.gouv.fr")
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "*" {
		t.Errorf("Access-Control-Allow-Origin = %q, want *", got)
	}

	_, filtered := startService(t, "--allow-private", "--referrers", "toto.com", "--base-url", "https://csvapi.example.org/")
	fileURL := up.URL + "/communes.csv"
	for _, tt := range []struct {
		referer string
		status  int
	}{
		{"https://toto.com/page", 200},
		{"https://www.toto.com/", 200},
		{"https://evil-toto.com/", 403},
		{"https://toto.com.evil.org/", 403},
		{"", 403},
	} {
		r := get(t, filtered+"/apify?url="+url.QueryEscape(fileURL), "Referer", tt.referer)
		if r.status != tt.status {
			t.Errorf("Referer %q: status %d, want %d (%s)", tt.referer, r.status, tt.status, r.raw)
		}
		if tt.status == 200 {
			if want := "https://csvapi.example.org/api/" + md5Hex(fileURL); r.body["endpoint"] != want {
				t.Errorf("endpoint = %v, want %s", r.body["endpoint"], want)
			}
		}
	}
}

func TestCacheSurvivesRestart(t *testing.T) {
	up := newUpstream(t)
	dir := t.TempDir()
	m, base := startServiceIn(t, dir, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	id := ep[strings.LastIndex(ep, "/")+1:]
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	m.Server = nil // closed; the cleanup must not close it twice
	m.DB = nil
	m.Cache = nil
	// A leftover of an interrupted load must be removed, never served.
	leftover := filepath.Join(dir, md5Hex("other")+"-0000000000000001.duckdb.tmp-abc")
	os.WriteFile(leftover, []byte("half"), 0o644)

	_, base2 := startServiceIn(t, dir, "--allow-private")
	r := get(t, base2+"/api/"+id+"?_size=1")
	if r.status != 200 || r.body["total"] != 5.0 {
		t.Errorf("after restart: status %d body %s, want the table", r.status, r.raw)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Errorf("leftover %s still there (err %v)", leftover, err)
	}
}

func TestParseFlagsEnv(t *testing.T) {
	env := map[string]string{"CSVAPI_MAX_PAGE_SIZE": "5", "CSVAPI_ADDR": "0.0.0.0:9999", "CSVAPI_MAX_FILE_SIZE": "2MB"}
	getenv := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	m := NewMain()
	if err := m.ParseFlags([]string{"--addr", "127.0.0.1:1234"}, getenv, io.Discard); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Addr != "127.0.0.1:1234" || c.MaxPageSize != 5 || c.MaxFileSize != 2_000_000 {
		t.Errorf("addr %q, max page size %d, max file size %d; want the flag to win and env to fill the rest",
			c.Addr, c.MaxPageSize, c.MaxFileSize)
	}
	for _, args := range [][]string{
		{"--max-file-size", "lots"}, {"--log-format", "xml"}, {"--query-timeout", "0s"}, {"extra"},
	} {
		if err := NewMain().ParseFlags(args, getenv, io.Discard); err == nil {
			t.Errorf("ParseFlags(%v) accepted bad input", args)
		}
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(t.Context(), []string{"--version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "DuckDB v1.") {
		t.Errorf("version output %q lacks the DuckDB version", out.String())
	}
}

// TestAnalysis: /apify?analysis=yes fills columns_infos with each column's
// profile, as csvapi's analysis did.
func TestAnalysis(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	r := get(t, ep+"?_size=1")
	info := r.body["columns_infos"].(map[string]any)["population"].(map[string]any)
	if _, ok := info["profile"]; ok {
		t.Errorf("columns_infos has a profile without analysis=yes: %v", info)
	}
	if r := get(t, base+"/apify?analysis=maybe&url="+url.QueryEscape(up.URL+"/communes.csv")); r.status != 400 {
		t.Errorf("analysis=maybe: %d, want 400", r.status)
	}
	if r := get(t, base+"/apify?analysis=yes&url="+url.QueryEscape(up.URL+"/communes.csv")); r.status != 200 {
		t.Fatalf("apify with analysis: %d %s", r.status, r.raw)
	}
	r = get(t, ep+"?_size=1")
	info = r.body["columns_infos"].(map[string]any)["population"].(map[string]any)
	p, _ := info["profile"].(map[string]any)
	if p == nil || p["min"] != 832.0 || p["max"] != 2133111.0 || p["nulls"] != 0.0 || p["distinct"] != 5.0 {
		t.Errorf("population profile = %v, want min 832, max 2133111, 5 distinct", p)
	}
	if info["type"] != "integer" {
		t.Errorf("columns_infos lost its type: %v", info)
	}
}

// TestResponseCacheKeepsHostsApart: answers carry links built from the
// request's Host; a cached answer never goes to a client of another Host.
func TestResponseCacheKeepsHostsApart(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/communes.csv")
	req, _ := http.NewRequest(http.MethodGet, ep+"/data?page_size=2", nil)
	req.Host = "evil.example"
	if r := do(t, req); !bytes.Contains(r.raw, []byte("evil.example")) {
		t.Fatalf("test premise: links do not follow the Host: %s", r.raw)
	}
	if r := get(t, ep+"/data?page_size=2"); bytes.Contains(r.raw, []byte("evil.example")) {
		t.Errorf("a client got links to another client's Host: %s", r.raw)
	}
}
