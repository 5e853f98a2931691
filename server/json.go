package server

import (
	"encoding/json"
	"strconv"
	"sync"
	"time"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

func appendJSON(b []byte, v any) []byte {
	out, err := json.Marshal(v)
	if err != nil {
		return append(b, "null"...)
	}
	return append(b, out...)
}

func appendMillis(b []byte, d time.Duration) []byte {
	return strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 3, 64)
}

// maxVersionInfos bounds versionInfos; past it the map starts over.
const maxVersionInfos = 10_000

// versionInfos holds the rendered general_infos and columns_infos of each
// resource version: they never change once loaded.
type versionInfos struct {
	mu sync.Mutex
	m  map[string]renderedInfos
	// analyses are the profiles /apify?analysis=yes asked for, by resource
	// version (the profiles themselves are Server.profiles'): they fill
	// columns_infos, as csvapi's analysis did.
	analyses map[string]*query.TableProfile
}

func infoKey(e *cache.Entry) string { return versionKey(e.ID, e.Version) }

// versionKey names a resource version in the maps kept per version.
func versionKey(id, version string) string { return id + "-" + version }

// analyzed reports whether a profile was computed for the version of
// id; it allocates nothing when no resource has one (the usual case).
func (ic *versionInfos) analyzed(id, version string) bool {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return len(ic.analyses) > 0 && ic.analyses[id+"-"+version] != nil
}

// analysis returns the profile computed for e's version, if any.
func (ic *versionInfos) analysis(e *cache.Entry) *query.TableProfile {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	return ic.analyses[infoKey(e)]
}

// setAnalysis records the profile of e's version; its infos are rendered
// again with it.
func (ic *versionInfos) setAnalysis(e *cache.Entry, tp *query.TableProfile) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	if ic.analyses == nil || len(ic.analyses) >= maxVersionInfos {
		ic.analyses = map[string]*query.TableProfile{}
	}
	ic.analyses[infoKey(e)] = tp
	delete(ic.m, infoKey(e))
}

// forget drops the infos and the analysis of a retired version.
func (ic *versionInfos) forget(key string) {
	ic.mu.Lock()
	defer ic.mu.Unlock()
	delete(ic.m, key)
	delete(ic.analyses, key)
}

// renderedInfos is `,"general_infos":{…` without its closing brace, so that
// the freshness fields of each request can follow, and `},"columns_infos":{…}`.
type renderedInfos struct{ general, columns []byte }

// appendInfos appends the general_infos and columns_infos of e.
func (ic *versionInfos) appendInfos(b []byte, e *cache.Entry) []byte {
	key := infoKey(e)
	ic.mu.Lock()
	r, ok := ic.m[key]
	if !ok {
		if ic.m == nil || len(ic.m) >= maxVersionInfos {
			ic.m = map[string]renderedInfos{}
		}
		r = renderInfos(e.Meta, ic.analyses[key])
		ic.m[key] = r
	}
	ic.mu.Unlock()
	b = append(b, r.general...)
	b = append(b, `,"revalidated_at":`...)
	b = appendJSON(b, e.CheckedAt.UTC())
	b = append(b, `,"stale":`...)
	b = strconv.AppendBool(b, e.Stale != nil)
	if e.Stale != nil {
		b = append(b, `,"stale_reason":`...)
		b = appendJSON(b, classify(e.Stale).Message)
	}
	return append(b, r.columns...)
}

type generalInfos struct {
	URL              string            `json:"url,omitempty"`
	Filename         string            `json:"filename,omitempty"`
	Filetype         string            `json:"filetype"`
	Sheet            string            `json:"sheet,omitempty"`
	File             string            `json:"file,omitempty"`
	Encoding         string            `json:"encoding"`
	EncodingConf     int               `json:"encoding_confidence,omitempty"`
	Compression      string            `json:"compression,omitempty"`
	Separator        string            `json:"separator"`
	Quote            string            `json:"quote"`
	HeaderRowIdx     int               `json:"header_row_idx"`
	HasHeader        bool              `json:"has_header"`
	DecimalSeparator string            `json:"decimal_separator"`
	NewLine          string            `json:"newline,omitempty"`
	DateFormats      map[string]string `json:"date_formats,omitempty"`
	Overrides        map[string]string `json:"overrides,omitempty"`
	TotalLines       int64             `json:"total_lines"`
	RejectedRows     int64             `json:"rejected_rows"`
	RepeatedHeaders  int               `json:"repeated_headers,omitempty"`
	NbColumns        int               `json:"nb_columns"`
	Size             int64             `json:"size"`
	FetchedAt        time.Time         `json:"fetched_at"`
	LoadMS           float64           `json:"load_ms"`
}

type columnInfo struct {
	Type         convert.Kind `json:"type"`
	PythonType   string       `json:"python_type"`
	SQLType      string       `json:"sql_type"`
	OriginalName string       `json:"original_name"`
	Format       string       `json:"format,omitempty"`  // strptime format of dates
	Decimal      string       `json:"decimal,omitempty"` // decimal separator of numbers
	// Profile is the column's profile when /apify was called with
	// analysis=yes (csvapi's analysis).
	Profile *query.ColumnProfile `json:"profile,omitempty"`
}

var pythonTypes = map[convert.Kind]string{
	convert.KindInteger: "int", convert.KindNumber: "float", convert.KindBoolean: "bool",
	convert.KindDate: "date", convert.KindTimestamp: "datetime", convert.KindTime: "string",
	convert.KindString: "string",
}

// renderInfos renders general_infos and columns_infos, the columns in file
// order (a Go map would sort them), with each column's profile when an
// analysis was asked for.
func renderInfos(m *convert.Meta, analysis *query.TableProfile) renderedInfos {
	profiles := map[string]*query.ColumnProfile{}
	if analysis != nil {
		for i := range analysis.Columns {
			profiles[analysis.Columns[i].Name] = &analysis.Columns[i]
		}
	}
	general := []byte(`,"general_infos":`)
	general = appendJSON(general, generalInfos{
		URL: m.URL, Filename: m.Filename, Filetype: m.Filetype, Sheet: m.Sheet, File: m.File, Encoding: m.Encoding, EncodingConf: m.EncodingConfidence, Compression: m.Compression,
		Separator: m.Delimiter, Quote: m.Quote, HeaderRowIdx: m.HeaderRowIdx, HasHeader: m.HasHeader,
		DecimalSeparator: m.DecimalSeparator, TotalLines: m.Rows, NbColumns: len(m.Columns),
		NewLine: m.NewLine, DateFormats: dateFormats(m.Columns), Overrides: m.Overrides, RejectedRows: m.RejectedRows, RepeatedHeaders: m.RepeatedHeaders,
		Size: m.SourceSize, FetchedAt: m.FetchedAt, LoadMS: float64(m.LoadTime.Microseconds()) / 1000,
	})
	general = general[:len(general)-1] // drop "}"
	b := []byte(`},"columns_infos":{`)
	for i, c := range m.Columns {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(b, c.Name)
		b = append(b, ':')
		b = appendJSON(b, columnInfo{Type: c.Kind(), PythonType: pythonTypes[c.Kind()], SQLType: c.Type, OriginalName: c.Original,
			Format: c.Format, Decimal: c.Decimal, Profile: profiles[c.Name]})
	}
	return renderedInfos{general: general, columns: append(b, '}')}
}

// dateFormats maps each date or timestamp column to the format its values
// were read with.
func dateFormats(cols []convert.Column) map[string]string {
	var m map[string]string
	for _, c := range cols {
		if c.Format == "" {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[c.Name] = c.Format
	}
	return m
}

// appendPageHead appends the common start of a page answer:
// {"ok":true,"query_ms":…,"columns":[…],"rows":[…],"total":N — the caller
// adds its own keys and the closing brace.
func appendPageHead(b []byte, start time.Time, page *query.Page, objects bool) []byte {
	b = append(b, `{"ok":true,"query_ms":`...)
	b = appendMillis(b, time.Since(start))
	b = append(b, `,"columns":`...)
	b = appendJSON(b, page.Columns)
	b = append(b, `,"rows":`...)
	b = page.AppendRowsJSON(b, objects)
	b = append(b, `,"total":`...)
	return strconv.AppendInt(b, max(page.Total, 0), 10)
}
