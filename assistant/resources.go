package assistant

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/query"
)

// Resource URIs: csvapi://tables/<id>.
const (
	resourcePrefix   = "csvapi://tables/"
	resourceTemplate = resourcePrefix + "{id}"
)

// TableResource is the content of a table's resource.
type TableResource struct {
	ID        string       `json:"id"`
	Title     string       `json:"title,omitempty"`
	URL       string       `json:"url,omitempty"`
	Rows      int64        `json:"rows"`
	Columns   []ColumnInfo `json:"columns"`
	FirstRows *Sample      `json:"first_rows"`
}

func (s *Service) addResources(srv *mcp.Server) {
	srv.AddResourceTemplate(&mcp.ResourceTemplate{
		Name: "table", Title: "A converted table", URITemplate: resourceTemplate, MIMEType: "application/json",
		Description: "Schema (column names and types), row count and first 10 rows of a table converted by csvapi.",
	}, s.readTable)
	// The tables change as they are converted and evicted, and the HTTP
	// transport is stateless: list them from the cache at each call
	// rather than registering each one.
	srv.AddReceivingMiddleware(func(next mcp.MethodHandler) mcp.MethodHandler {
		return func(ctx context.Context, method string, req mcp.Request) (mcp.Result, error) {
			if method == "resources/list" {
				return s.listTables(), nil
			}
			return next(ctx, method, req)
		}
	})
}

// maxListed bounds resources/list: the most recently used tables.
const maxListed = 100

func (s *Service) listTables() *mcp.ListResourcesResult {
	res := &mcp.ListResourcesResult{Resources: []*mcp.Resource{}}
	for _, info := range s.cache.List() {
		if info.State != cache.StateReady {
			continue
		}
		name := info.Filename
		if name == "" {
			name = info.URL
		}
		res.Resources = append(res.Resources, &mcp.Resource{
			URI: resourcePrefix + info.ID, Name: info.ID, Title: name, MIMEType: "application/json",
			Description: fmt.Sprintf("%d rows; source %s", info.Rows, name),
		})
		if len(res.Resources) == maxListed {
			break
		}
	}
	return res
}

func (s *Service) readTable(ctx context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
	uri := req.Params.URI
	id, ok := strings.CutPrefix(uri, resourcePrefix)
	if !ok || !cache.ValidID(id) {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	e, t, err := s.acquire(ctx, id)
	if err != nil {
		return nil, mcp.ResourceNotFoundError(uri)
	}
	defer e.Release()
	var p *query.Page
	err = s.Limit(ctx, func(ctx context.Context) (err error) {
		p, err = query.Run(ctx, s.cache.ServingDB(), t, query.Request{Limit: DefaultPreviewRows, HideTotal: true})
		return err
	})
	if err != nil {
		return nil, ErrorOf(err)
	}
	rows := p.Rows
	if rows == nil {
		rows = [][]any{}
	}
	truncateTexts(rows, s.cfg.MaxText)
	b, err := json.Marshal(TableResource{ID: e.ID, Title: title(e.Meta), URL: e.Meta.URL, Rows: e.Meta.Rows,
		Columns: columnInfos(e.Meta.Columns), FirstRows: &Sample{Columns: p.Columns, Rows: rows}})
	if err != nil {
		return nil, err
	}
	return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{URI: uri, MIMEType: "application/json", Text: string(b)}}}, nil
}

func (s *Service) addPrompts(srv *mcp.Server) {
	srv.AddPrompt(&mcp.Prompt{
		Name: "explore_table", Title: "Explore a table",
		Description: "A good first sequence of tool calls to understand a table from the web and answer a question about it.",
		Arguments: []*mcp.PromptArgument{
			{Name: "url", Description: "URL of the data file (CSV, XLSX, JSON, Parquet…)", Required: true},
			{Name: "question", Description: "what the user wants to know"},
		},
	}, explorePrompt)
}

func explorePrompt(_ context.Context, req *mcp.GetPromptRequest) (*mcp.GetPromptResult, error) {
	u, q := req.Params.Arguments["url"], req.Params.Arguments["question"]
	if q == "" {
		q = "What does this table hold, and what stands out?"
	}
	text := fmt.Sprintf(`Explore the table at %s with the csvapi tools, to answer: %s

1. convert {"url": %q}: note the id, row count and column types. If status is "loading", call convert again.
2. describe {"id": …}: learn exact column names, value ranges and frequent values before writing filters.
3. Answer with aggregate when the question is about counts, totals, averages or rankings (group_by, metrics, sort, limit), and with query (filters, sort, columns, page_size ≤ 200) to show a few example rows.
4. If the user needs the data itself, give them export_link's URL rather than pasting rows.
Quote the numbers the tools return; say which filters you used.`, u, q, u)
	return &mcp.GetPromptResult{Description: "Explore a table",
		Messages: []*mcp.PromptMessage{{Role: "user", Content: &mcp.TextContent{Text: text}}}}, nil
}
