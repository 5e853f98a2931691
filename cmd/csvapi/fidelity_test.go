package main

import (
	"bytes"
	"net/http"
	"net/url"
	"testing"
)

// TestRejectsEndpoint loads a file with ragged rows: short rows are padded,
// long ones are served at /api/<id>/rejects, counted in general_infos.
func TestRejectsEndpoint(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	ep := apify(t, base, up.URL+"/corpus/csv/ragged_long.csv")

	r := get(t, ep)
	infos, _ := r.body["general_infos"].(map[string]any)
	if infos["rejected_rows"] != 2.0 || r.body["total"] != 2.0 {
		t.Errorf("rejected_rows, total = %v, %v; want 2, 2", infos["rejected_rows"], r.body["total"])
	}
	r = get(t, ep+"/rejects?_size=1&_offset=1")
	want := `"rows":[[5,"too many columns","Expected Number of Columns: 3 Found: 4","11;12;13;14;15"]],"total":2}`
	if r.status != http.StatusOK || !bytes.Contains(r.raw, []byte(want)) {
		t.Errorf("rejects: status %d, body %s\nwant %s", r.status, r.raw, want)
	}

	// A file without rejects answers an empty list.
	r = get(t, apify(t, base, up.URL+"/communes.csv")+"/rejects")
	if r.status != http.StatusOK || r.body["total"] != 0.0 {
		t.Errorf("no rejects: status %d, body %s", r.status, r.raw)
	}
}

// TestOverrides checks that /apify applies and reports overrides, and
// refuses invalid ones with a 400 naming the parameter.
func TestOverrides(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")

	fileURL := up.URL + "/corpus/csv/override_decimal_dot.csv"
	r := get(t, base+"/apify?decimal=.&url="+url.QueryEscape(fileURL))
	if r.status != http.StatusOK {
		t.Fatalf("apify: status %d: %s", r.status, r.raw)
	}
	// Overrides make their own table: follow the endpoint, and check that
	// the plain URL's id is not the forced table.
	endpoint, _ := r.body["endpoint"].(string)
	if endpoint == base+"/api/"+md5Hex(fileURL) {
		t.Errorf("decimal=. got the plain URL's id %s", endpoint)
	}
	r = get(t, endpoint)
	if !bytes.Contains(r.raw, []byte(`"overrides":{"decimal":"."}`)) || !bytes.Contains(r.raw, []byte(`"rows":[[1,"1,5","x"]`)) {
		t.Errorf("decimal=. not applied or not reported: %s", r.raw)
	}

	for _, tt := range []struct{ query, param string }{
		{"delimiter=ab", "delimiter"},
		{"quote=x", "quote"},
		{"header=first", "header"},
		{"skip=-1", "skip"},
		{"decimal=;", "decimal"},
		{"header=2&skip=1", "skip"},
	} {
		r := get(t, base+"/apify?"+tt.query+"&url="+url.QueryEscape(up.URL+"/communes.csv"))
		details, _ := r.body["details"].(map[string]any)
		if r.status != http.StatusBadRequest || r.body["code"] != "invalid_parameter" || details["parameter"] != tt.param {
			t.Errorf("%s: status %d, body %s; want 400 invalid_parameter naming %s", tt.query, r.status, r.raw, tt.param)
		}
	}
}

// TestNotTabularMessages checks that refusals say what was received.
func TestNotTabularMessages(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t, "--allow-private")
	for name, want := range map[string]string{
		"empty.csv":                 "the file is empty",
		"one_line_no_delimiter.txt": "a single line of text without any delimiter",
		"html.csv":                  "HTML",
	} {
		r := get(t, base+"/apify?url="+url.QueryEscape(up.URL+"/corpus/csv/"+name))
		msg, _ := r.body["error"].(string)
		if r.status != http.StatusUnsupportedMediaType || !bytes.Contains([]byte(msg), []byte(want)) {
			t.Errorf("%s: status %d, error %q; want 415 mentioning %q", name, r.status, msg, want)
		}
	}
}
