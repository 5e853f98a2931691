package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/assistant"
	"github.com/csvapi/csvapi/cache"
)

// mcpClient calls tools over a session and checks each structured answer
// against the tool's output schema.
type mcpClient struct {
	t       *testing.T
	cs      *mcp.ClientSession
	schemas map[string]*jsonschema.Resolved
}

func newMCPClient(t *testing.T, transport mcp.Transport) *mcpClient {
	t.Helper()
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "test"}, nil).Connect(t.Context(), transport, nil)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	c := &mcpClient{t: t, cs: cs, schemas: map[string]*jsonschema.Resolved{}}
	res, err := cs.ListTools(t.Context(), nil)
	if err != nil {
		t.Fatalf("list tools: %v", err)
	}
	for _, tool := range res.Tools {
		b, _ := json.Marshal(tool.OutputSchema)
		var s jsonschema.Schema
		if err := json.Unmarshal(b, &s); err != nil {
			t.Fatal(err)
		}
		if c.schemas[tool.Name], err = s.Resolve(nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(c.schemas) != 5 {
		t.Fatalf("%d tools listed, want 5", len(c.schemas))
	}
	return c
}

// call returns the tool's structured output decoded into out, or its tool
// error; a transport error fails the test.
func (c *mcpClient) call(name string, args, out any) *assistant.Error {
	c.t.Helper()
	res, err := c.cs.CallTool(c.t.Context(), &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		c.t.Fatalf("%s: transport error: %v", name, err)
	}
	if res.IsError {
		var e assistant.Error
		if err := json.Unmarshal([]byte(res.Content[0].(*mcp.TextContent).Text), &e); err != nil || e.Code == "" {
			c.t.Fatalf("%s: tool error without a code: %v", name, res.Content[0])
		}
		return &e
	}
	b, _ := json.Marshal(res.StructuredContent)
	var v any
	json.Unmarshal(b, &v)
	if err := c.schemas[name].Validate(v); err != nil {
		c.t.Errorf("%s: output does not match its schema: %v", name, err)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			c.t.Fatal(err)
		}
	}
	return nil
}

func (c *mcpClient) mustCall(name string, args, out any) {
	c.t.Helper()
	if e := c.call(name, args, out); e != nil {
		c.t.Fatalf("%s: tool error %s: %s", name, e.Code, e.Message)
	}
}

// exerciseTools runs convert, describe, query, aggregate and export_link on
// testdata/communes.csv, and an invalid filter; base is the HTTP API the
// export link must point to.
func exerciseTools(t *testing.T, c *mcpClient, fileURL, base string) {
	t.Helper()
	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": fileURL}, &conv)
	if conv.Status != "ready" || conv.Rows != 5 || conv.ID != cache.ID(fileURL) {
		t.Fatalf("convert = %+v", conv)
	}
	list, err := c.cs.ListResources(t.Context(), nil)
	if err != nil {
		t.Fatalf("list resources: %v", err)
	}
	if !slices.ContainsFunc(list.Resources, func(r *mcp.Resource) bool { return r.URI == "csvapi://tables/"+conv.ID }) {
		t.Errorf("resources = %v, want csvapi://tables/%s among them", list.Resources, conv.ID)
	}
	res, err := c.cs.ReadResource(t.Context(), &mcp.ReadResourceParams{URI: "csvapi://tables/" + conv.ID})
	if err != nil || !strings.Contains(res.Contents[0].Text, `"first_rows"`) {
		t.Errorf("read resource: %v, %v", res, err)
	}
	var desc assistant.DescribeOutput
	c.mustCall("describe", map[string]any{"id": conv.ID}, &desc)
	if desc.Rows != 5 || len(desc.Columns) != 6 {
		t.Errorf("describe = %+v", desc)
	}
	var q assistant.QueryOutput
	c.mustCall("query", map[string]any{"id": conv.ID,
		"filters": []map[string]any{{"column": "population", "op": "greater", "value": 100000}},
		"sort":    []map[string]any{{"column": "population"}}, "columns": []string{"nom"}}, &q)
	if got, _ := json.Marshal(q.Rows); string(got) != `[[3,"Saint-Étienne"],[5,"Marseille"],[4,"Paris"]]` || q.Total != 3 {
		t.Errorf("query rows = %s (total %d)", got, q.Total)
	}
	c.mustCall("query", map[string]any{"id": conv.ID, "search": "etienne", "columns": []string{"nom"}}, &q)
	if got, _ := json.Marshal(q.Rows); string(got) != `[[3,"Saint-Étienne"]]` {
		t.Errorf("search etienne = %s, want Saint-Étienne (accents ignored)", got)
	}
	var agg assistant.AggregateOutput
	c.mustCall("aggregate", map[string]any{"id": conv.ID, "group_by": []string{"chef_lieu"}}, &agg)
	if got, _ := json.Marshal(agg.Rows); string(got) != `[[false,1],[true,4]]` {
		t.Errorf("aggregate rows = %s", got)
	}
	var link assistant.ExportOutput
	c.mustCall("export_link", map[string]any{"id": conv.ID, "filters": []map[string]any{{"column": "chef_lieu", "value": "true"}}}, &link)
	if !strings.HasPrefix(link.URL, base+"/api/"+conv.ID+"/export?") || link.Rows != 4 {
		t.Fatalf("export_link = %+v, want a link under %s and 4 rows", link, base)
	}
	// The link works: the HTTP API reads the filters it carries.
	resp, err := http.Get(link.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Count(strings.TrimSpace(string(body)), "\n") != 4 {
		t.Errorf("GET export link: %d, %q; want 200 and a header plus 4 rows", resp.StatusCode, body)
	}
	if e := c.call("query", map[string]any{"id": conv.ID, "filters": []map[string]any{{"column": "population", "op": "less", "value": "lots"}}}, nil); e == nil || e.Code != "invalid_parameter" || e.Hint == "" {
		t.Errorf("invalid filter = %+v, want tool error invalid_parameter with a hint", e)
	}
}

// TestMCPOverHTTP talks to /mcp of a csvapi process with the SDK's
// Streamable HTTP client.
func TestMCPOverHTTP(t *testing.T) {
	up := newUpstream(t)
	base, _, _ := startProcessArgs(t, t.TempDir())
	c := newMCPClient(t, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true})
	exerciseTools(t, c, up.URL+"/communes.csv", base)

	// A table still loading: convert answers "loading", describe a tool
	// error with the same code as the HTTP API's wait.
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "1,2\n")
	}))
	defer slow.Close()
	defer close(release)
	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": slow.URL + "/slow.csv", "wait_seconds": 1}, &conv)
	if conv.Status != "loading" || conv.Progress == nil {
		t.Errorf("convert of a slow file = %+v, want loading with progress", conv)
	}
	if e := c.call("query", map[string]any{"id": conv.ID}, nil); e == nil || e.Code != "pending" {
		t.Errorf("query while loading = %+v, want tool error pending", e)
	}

	// Stateless: a GET (standalone event stream) is refused, a POST needs
	// no session.
	resp, err := http.Get(base + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /mcp: %d, want 405 (stateless server)", resp.StatusCode)
	}
}

// TestMCPForbiddenAddress: without --allow-private, convert refuses
// loopback URLs as /apify does.
func TestMCPForbiddenAddress(t *testing.T) {
	up := newUpstream(t)
	_, base := startService(t)
	c := newMCPClient(t, &mcp.StreamableClientTransport{Endpoint: base + "/mcp", DisableStandaloneSSE: true})
	if e := c.call("convert", map[string]any{"url": up.URL + "/communes.csv"}, nil); e == nil || e.Code != "forbidden_address" {
		t.Errorf("convert of a loopback URL = %+v, want forbidden_address", e)
	}
}

// TestMCPStdio runs csvapi mcp as desktop clients do: locally on a cache
// directory, then as a proxy of a remote csvapi given by --endpoint.
func TestMCPStdio(t *testing.T) {
	up := newUpstream(t)
	t.Run("local", func(t *testing.T) {
		cmd := exec.Command(os.Args[0], "mcp", "--cache-dir", t.TempDir(), "--allow-private", "--log-format", "json")
		cmd.Env = append(os.Environ(), "CSVAPI_TEST_MAIN=1")
		c := newMCPClient(t, &mcp.CommandTransport{Command: cmd})
		// Export links point to the HTTP API this process serves.
		var conv assistant.ConvertOutput
		c.mustCall("convert", map[string]any{"url": up.URL + "/communes.csv"}, &conv)
		var link assistant.ExportOutput
		c.mustCall("export_link", map[string]any{"id": conv.ID}, &link)
		base, _, _ := strings.Cut(link.URL, "/api/")
		exerciseTools(t, c, up.URL+"/communes.csv", base)
	})
	t.Run("remote", func(t *testing.T) {
		base, _, _ := startProcessArgs(t, t.TempDir())
		cmd := exec.Command(os.Args[0], "mcp", "--endpoint", base)
		cmd.Env = append(os.Environ(), "CSVAPI_TEST_MAIN=1")
		c := newMCPClient(t, &mcp.CommandTransport{Command: cmd})
		exerciseTools(t, c, up.URL+"/communes.csv", base)
	})
}

// TestMCPRateLimit: /mcp counts against --rate-limit like every API route.
func TestMCPRateLimit(t *testing.T) {
	_, base := startService(t, "--rate-limit", "2")
	ping := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	var statuses []int
	for range 3 {
		req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(ping))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[2] != http.StatusTooManyRequests {
		t.Errorf("statuses of 3 POST /mcp with --rate-limit 2 = %v, want 200 first and 429 last", statuses)
	}
}
