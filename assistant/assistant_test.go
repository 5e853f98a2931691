package assistant_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/assistant"
	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
)

// newService returns the tools on a fresh cache; allowPrivate lets them
// reach the httptest upstreams on loopback.
func newService(t *testing.T, allowPrivate bool) *assistant.Service {
	t.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	c, err := cache.New(t.TempDir(), db, &convert.Fetcher{AllowPrivate: allowPrivate, MaxSize: 64 << 20}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return assistant.New(c, assistant.Config{BaseURL: "https://csvapi.example.org"})
}

// connect returns a client session on s over in-memory transports.
func connect(t *testing.T, s *assistant.Service) *mcp.ClientSession {
	t.Helper()
	st, ct := mcp.NewInMemoryTransports()
	ss, err := s.Server().Connect(t.Context(), st, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ss.Close() })
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(t.Context(), ct, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

// upstream serves the files of ../testdata and the generated Rhône table.
func upstream(t *testing.T) *httptest.Server {
	t.Helper()
	communes := generateCommunes()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/population.csv" {
			w.Write(communes)
			return
		}
		b, err := os.ReadFile(filepath.Join("..", "testdata", filepath.Base(r.URL.Path)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Write(b)
	}))
	t.Cleanup(up.Close)
	return up
}

// Client is a test's view of a session: it calls tools and checks each
// structured answer against the tool's output schema.
type Client struct {
	t       *testing.T
	cs      *mcp.ClientSession
	schemas map[string]*jsonschema.Resolved
	Bytes   map[string]int // bytes of the last answer's text, per tool
}

func newClient(t *testing.T, cs *mcp.ClientSession) *Client {
	t.Helper()
	c := &Client{t: t, cs: cs, schemas: map[string]*jsonschema.Resolved{}, Bytes: map[string]int{}}
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tool := range res.Tools {
		b, _ := json.Marshal(tool.OutputSchema)
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatalf("%s: output schema: %v", tool.Name, err)
		}
		r, err := s.Resolve(nil)
		if err != nil {
			t.Fatalf("%s: resolve output schema: %v", tool.Name, err)
		}
		c.schemas[tool.Name] = r
	}
	return c
}

// call calls a tool; it fails the test on a transport error, and returns
// the structured output (decoded into out) or the tool error.
func (c *Client) call(name string, args any, out any) *assistant.Error {
	c.t.Helper()
	res, err := c.cs.CallTool(c.t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		c.t.Fatalf("%s: transport error %v (a tool error was expected at most)", name, err)
	}
	text := res.Content[0].(*mcp.TextContent).Text
	c.Bytes[name] = len(text)
	if res.IsError {
		var e assistant.Error
		if err := json.Unmarshal([]byte(text), &e); err != nil || e.Code == "" {
			c.t.Fatalf("%s: tool error is not a coded JSON error: %s", name, text)
		}
		return &e
	}
	b, _ := json.Marshal(res.StructuredContent)
	var instance any
	json.Unmarshal(b, &instance)
	if err := c.schemas[name].Validate(instance); err != nil {
		c.t.Errorf("%s: output does not match its schema: %v\n%s", name, err, b)
	}
	if out != nil {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.UseNumber()
		if err := dec.Decode(out); err != nil {
			c.t.Fatalf("%s: decode %s: %v", name, b, err)
		}
	}
	return nil
}

func (c *Client) mustCall(name string, args any, out any) {
	c.t.Helper()
	if e := c.call(name, args, out); e != nil {
		c.t.Fatalf("%s(%v): tool error %s: %s (hint: %s)", name, args, e.Code, e.Message, e.Hint)
	}
}

func TestListTools(t *testing.T) {
	cs := connect(t, newService(t, true))
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, tool := range res.Tools {
		names = append(names, tool.Name)
		if tool.OutputSchema == nil || tool.InputSchema == nil {
			t.Errorf("%s: input or output schema missing", tool.Name)
		}
		if len(tool.Description) < 200 {
			t.Errorf("%s: description of %d bytes; models need what it returns and how to continue", tool.Name, len(tool.Description))
		}
	}
	slices.Sort(names)
	if want := []string{"aggregate", "convert", "describe", "export_link", "query"}; !slices.Equal(names, want) {
		t.Errorf("tools = %v, want %v", names, want)
	}
	prompts, err := cs.ListPrompts(t.Context(), nil)
	if err != nil || len(prompts.Prompts) != 1 || prompts.Prompts[0].Name != "explore_table" {
		t.Errorf("prompts = %v, %v; want explore_table", prompts, err)
	}
}

// TestToolsOnCommunes runs the tools in the order a model would on
// testdata/communes.csv (;-separated, decimal commas, dd/mm/yyyy dates,
// codes with leading zeros).
func TestToolsOnCommunes(t *testing.T) {
	up := upstream(t)
	c := newClient(t, connect(t, newService(t, true)))

	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": up.URL + "/communes.csv"}, &conv)
	if conv.Status != "ready" || conv.Rows != 5 || conv.ID != cache.ID(up.URL+"/communes.csv") {
		t.Fatalf("convert = %+v, want ready, 5 rows, csvapi's id", conv)
	}
	if conv.Detection == nil || conv.Detection.Delimiter != ";" {
		t.Errorf("detection = %+v, want delimiter ;", conv.Detection)
	}
	types := map[string]string{}
	for _, col := range conv.Columns {
		types[col.Name] = col.Type
	}
	if types["code_insee"] != "string" || types["population"] != "integer" || types["superficie"] != "number" || types["date_maj"] != "date" {
		t.Errorf("column types = %v", types)
	}

	var desc assistant.DescribeOutput
	c.mustCall("describe", map[string]any{"id": conv.ID}, &desc)
	if desc.Rows != 5 || len(desc.Columns) != 6 || len(desc.Sample.Rows) != 3 {
		t.Errorf("describe: rows %d, %d columns, %d sample rows; want 5, 6, 3", desc.Rows, len(desc.Columns), len(desc.Sample.Rows))
	}
	for _, col := range desc.Columns {
		if col.Name == "population" && (fmt.Sprint(col.Min) != "832" || fmt.Sprint(col.Max) != "2133111") {
			t.Errorf("population min/max = %v/%v, want 832/2133111", col.Min, col.Max)
		}
	}

	var q assistant.QueryOutput
	c.mustCall("query", map[string]any{"id": conv.ID,
		"filters": []map[string]any{{"column": "population", "op": "greater", "value": 50000}, {"column": "chef_lieu", "value": "true"}},
		"sort":    []map[string]any{{"column": "population", "desc": true}},
		"columns": []string{"nom", "population"}, "page_size": 2}, &q)
	if got := fmt.Sprint(q.Columns, q.Rows, q.Total, q.HasMore); got != "[rowid nom population] [[4 Paris 2133111] [5 Marseille 873076]] 4 true" {
		t.Errorf("query = %s", got)
	}
	if q.Next == "" {
		t.Error("query: no next hint on a page with more rows")
	}
	var objs assistant.QueryOutput
	c.mustCall("query", map[string]any{"id": conv.ID, "objects": true, "columns": []string{"nom"}, "page_size": 1}, &objs)
	if got := fmt.Sprint(objs.Records, len(objs.Rows)); got != "[map[nom:L'Abergement-Clémenciat rowid:1]] 0" {
		t.Errorf("objects: records, rows = %s", got)
	}
	c.mustCall("query", map[string]any{"id": conv.ID, "filters": []map[string]any{{"column": "code_insee", "op": "in", "value": []any{"01001", "2A004"}}}}, &q)
	if q.Total != 2 {
		t.Errorf("in filter: total %d, want 2", q.Total)
	}

	var agg assistant.AggregateOutput
	c.mustCall("aggregate", map[string]any{"id": conv.ID, "group_by": []string{"chef_lieu"},
		"metrics": []map[string]any{{"func": "count"}, {"func": "sum", "column": "population"}},
		"sort":    []map[string]any{{"column": "sum_population", "desc": true}}}, &agg)
	if got := fmt.Sprint(agg.Columns, agg.Rows, agg.Groups); got != "[chef_lieu count sum_population] [[true 4 3250113] [false 1 832]] 2" {
		t.Errorf("aggregate = %s", got)
	}

	var link assistant.ExportOutput
	c.mustCall("export_link", map[string]any{"id": conv.ID, "format": "parquet",
		"filters": []map[string]any{{"column": "nom", "op": "icontains", "value": "saint"}},
		"sort":    []map[string]any{{"column": "nom"}}}, &link)
	want := "https://csvapi.example.org/api/" + conv.ID + "/export?_sort=nom&format=parquet&nom__icontains=saint"
	if link.URL != want || link.Rows != 1 {
		t.Errorf("export_link = %+v, want %s and 1 row", link, want)
	}

	// Mistakes are tool errors with the API's codes and a hint.
	for _, tc := range []struct {
		tool string
		args map[string]any
		code string
	}{
		{"query", map[string]any{"id": conv.ID, "filters": []map[string]any{{"column": "population", "op": "bigger", "value": 1}}}, "invalid_parameter"},
		{"query", map[string]any{"id": conv.ID, "filters": []map[string]any{{"column": "pop", "value": 1}}}, "invalid_parameter"},
		{"query", map[string]any{"id": conv.ID, "filters": []map[string]any{{"column": "population", "op": "less", "value": "many"}}}, "invalid_parameter"},
		{"query", map[string]any{"id": conv.ID, "page_size": 500}, "invalid_parameter"},
		{"aggregate", map[string]any{"id": conv.ID, "metrics": []map[string]any{{"func": "median", "column": "population"}}}, "invalid_parameter"},
		{"export_link", map[string]any{"id": conv.ID, "format": "pdf"}, "invalid_parameter"},
		{"describe", map[string]any{"id": strings.Repeat("0", 32)}, "not_found"},
		{"describe", map[string]any{"id": "../../etc/passwd"}, "not_found"},
		{"convert", map[string]any{"url": "ftp://example.org/x.csv"}, "invalid_url"},
		{"convert", map[string]any{"url": up.URL + "/communes.csv", "delimiter": "ab"}, "invalid_parameter"},
	} {
		e := c.call(tc.tool, tc.args, nil)
		if e == nil || e.Code != tc.code || e.Hint == "" {
			t.Errorf("%s(%v) = %+v, want a tool error %s with a hint", tc.tool, tc.args, e, tc.code)
		}
	}
}

// TestResources: each converted table is a resource holding its schema
// and first rows.
func TestResources(t *testing.T) {
	up := upstream(t)
	cs := connect(t, newService(t, true))
	c := newClient(t, cs)
	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": up.URL + "/communes.csv"}, &conv)
	list, err := cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Resources) != 1 || list.Resources[0].URI != "csvapi://tables/"+conv.ID {
		t.Fatalf("resources = %+v, want csvapi://tables/%s", list.Resources, conv.ID)
	}
	res, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: list.Resources[0].URI})
	if err != nil {
		t.Fatal(err)
	}
	var tr assistant.TableResource
	if err := json.Unmarshal([]byte(res.Contents[0].Text), &tr); err != nil {
		t.Fatal(err)
	}
	if tr.Rows != 5 || len(tr.Columns) != 6 || len(tr.FirstRows.Rows) != 5 || tr.FirstRows.Columns[0] != "rowid" {
		t.Errorf("resource = %+v", tr)
	}
	if _, err := cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "csvapi://tables/" + strings.Repeat("a", 32)}); err == nil {
		t.Error("reading an unknown table: no error")
	}
	p, err := cs.GetPrompt(t.Context(), &mcp.GetPromptParams{Name: "explore_table", Arguments: map[string]string{"url": "https://example.org/x.csv"}})
	if err != nil || !strings.Contains(p.Messages[0].Content.(*mcp.TextContent).Text, `convert {"url": "https://example.org/x.csv"}`) {
		t.Errorf("explore_table prompt = %v, %v", p, err)
	}
}

// TestForbiddenAddress: convert goes through the fetcher's address policy.
func TestForbiddenAddress(t *testing.T) {
	up := upstream(t)
	c := newClient(t, connect(t, newService(t, false)))
	e := c.call("convert", map[string]any{"url": up.URL + "/communes.csv"}, nil)
	if e == nil || e.Code != "forbidden_address" {
		t.Errorf("convert of a loopback URL = %+v, want forbidden_address", e)
	}
}

// TestLoading: a conversion that outlasts wait_seconds answers "loading"
// with progress; the other tools say so as a tool error; convert again
// gets the table once it is there.
func TestLoading(t *testing.T) {
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "1,2\n3,4\n")
	}))
	defer up.Close()
	defer close(release)
	c := newClient(t, connect(t, newService(t, true)))
	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": up.URL + "/slow.csv", "wait_seconds": 1}, &conv)
	if conv.Status != "loading" || conv.Progress == nil || conv.ID == "" || conv.Next == "" {
		t.Fatalf("convert of a slow file = %+v, want status loading with progress and a next step", conv)
	}
	if e := c.call("describe", map[string]any{"id": conv.ID}, nil); e == nil || e.Code != "pending" {
		t.Errorf("describe while loading = %+v, want tool error pending", e)
	}
	release <- struct{}{}
	c.mustCall("convert", map[string]any{"url": up.URL + "/slow.csv", "wait_seconds": 60}, &conv)
	if conv.Status != "ready" || conv.Rows != 2 {
		t.Errorf("convert after the upstream finished = %+v, want ready with 2 rows", conv)
	}
}

// TestLongTexts: texts over 200 characters are cut with a marker, unless
// full_text.
func TestLongTexts(t *testing.T) {
	long := strings.Repeat("é", 450)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "id,text\n1,"+long+"\n2,short\n")
	}))
	defer up.Close()
	c := newClient(t, connect(t, newService(t, true)))
	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": up.URL + "/long.csv"}, &conv)
	var q assistant.QueryOutput
	c.mustCall("query", map[string]any{"id": conv.ID}, &q)
	if got := q.Rows[0][2].(string); got != strings.Repeat("é", 200)+"…[+250 chars]" || q.Truncated != 1 {
		t.Errorf("long text = %q (%d cut), want 200 characters and a marker", got, q.Truncated)
	}
	c.mustCall("query", map[string]any{"id": conv.ID, "full_text": true, "filters": []map[string]any{{"column": "rowid", "value": 1}}}, &q)
	if got := q.Rows[0][2].(string); got != long {
		t.Errorf("full_text: %d bytes, want %d", len(got), len(long))
	}
}
