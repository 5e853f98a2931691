package assistant

import (
	"context"
	"errors"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// ColumnInfo names a column and its type: integer, number, boolean, date,
// datetime, time or string.
type ColumnInfo struct {
	Name string `json:"name"`
	Type string `json:"type" jsonschema:"integer, number, boolean, date, datetime, time or string"`
}

// ConvertInput are convert's arguments: a URL and optional parsing
// overrides (all detected when left out).
type ConvertInput struct {
	URL         string `json:"url" jsonschema:"absolute http(s) URL of the data file itself"`
	Encoding    string `json:"encoding,omitempty" jsonschema:"override: source encoding, e.g. utf-8, windows-1252, latin1"`
	Delimiter   string `json:"delimiter,omitempty" jsonschema:"override: one character, or tab"`
	Quote       string `json:"quote,omitempty" jsonschema:"override: one character, or none"`
	Header      string `json:"header,omitempty" jsonschema:"override: none (no header row), or the 0-based index of the header row"`
	Skip        *int   `json:"skip,omitempty" jsonschema:"override: rows to skip above the header"`
	Decimal     string `json:"decimal,omitempty" jsonschema:"override: decimal separator, . or ,"`
	Sheet       string `json:"sheet,omitempty" jsonschema:"spreadsheet sheet, by name or 1-based index"`
	File        string `json:"file,omitempty" jsonschema:"member of a zip archive"`
	Refresh     bool   `json:"refresh,omitempty" jsonschema:"download again even if the cached copy is fresh"`
	WaitSeconds int    `json:"wait_seconds,omitempty" jsonschema:"how long to wait for the conversion before answering status loading (default 20, at most 60)"`
}

// Detection is what convert found out about the file.
type Detection struct {
	Format       string            `json:"format"`
	Encoding     string            `json:"encoding,omitempty"`
	Delimiter    string            `json:"delimiter,omitempty"`
	Decimal      string            `json:"decimal,omitempty"`
	Header       bool              `json:"header"`
	SkippedRows  int               `json:"skipped_rows,omitempty"`
	Sheet        string            `json:"sheet,omitempty"`
	File         string            `json:"file,omitempty"`
	RejectedRows int64             `json:"rejected_rows,omitempty"`
	Overrides    map[string]string `json:"overrides,omitempty"`
}

// Progress is where a conversion still running stands.
type Progress struct {
	State           string `json:"state"`
	BytesDownloaded int64  `json:"bytes_downloaded"`
	BytesTotal      int64  `json:"bytes_total" jsonschema:"-1 when unknown"`
	ElapsedMS       int64  `json:"elapsed_ms"`
}

// ConvertOutput is convert's answer.
type ConvertOutput struct {
	ID        string       `json:"id" jsonschema:"the table id to pass to the other tools"`
	Status    string       `json:"status" jsonschema:"ready, or loading (call convert again with the same arguments to keep waiting)"`
	Title     string       `json:"title,omitempty"`
	Rows      int64        `json:"rows"`
	Columns   []ColumnInfo `json:"columns,omitempty"`
	Detection *Detection   `json:"detection,omitempty"`
	Progress  *Progress    `json:"progress,omitempty"`
	Next      string       `json:"next" jsonschema:"what to call next"`
}

// FilterArg is one filter; several filters are ANDed.
type FilterArg struct {
	Column string `json:"column" jsonschema:"exact column name, as describe returns it (rowid is also accepted)"`
	Op     string `json:"op,omitempty" jsonschema:"operator; exact when left out"`
	Value  any    `json:"value,omitempty" jsonschema:"a string or number; for in/notin a list; for between a list of two; ignored by isnull/notnull/isblank/notblank"`
}

// SortArg orders rows by a column.
type SortArg struct {
	Column string `json:"column"`
	Desc   bool   `json:"desc,omitempty" jsonschema:"descending; NULLs always come last"`
}

// QueryInput are query's arguments.
type QueryInput struct {
	ID       string      `json:"id" jsonschema:"table id from convert"`
	Filters  []FilterArg `json:"filters,omitempty"`
	Search   string      `json:"search,omitempty" jsonschema:"full-text search: every word must appear in some text column (case and accents ignored)"`
	Sort     []SortArg   `json:"sort,omitempty" jsonschema:"file order when left out"`
	Columns  []string    `json:"columns,omitempty" jsonschema:"columns to return, in this order; all when left out"`
	Page     int         `json:"page,omitempty" jsonschema:"1-based page number (default 1)"`
	PageSize int         `json:"page_size,omitempty" jsonschema:"rows per page (default 20, at most 200)"`
	FullText bool        `json:"full_text,omitempty" jsonschema:"return long texts whole instead of cut"`
	Objects  bool        `json:"objects,omitempty" jsonschema:"return rows as objects keyed by column name (in records) instead of arrays; costs more tokens"`
}

// QueryOutput is one page of rows.
type QueryOutput struct {
	Columns   []string         `json:"columns" jsonschema:"column names, rowid first; each row is an array in this order"`
	Rows      [][]any          `json:"rows" jsonschema:"empty when objects was asked: see records"`
	Records   []map[string]any `json:"records,omitempty" jsonschema:"rows as objects, only when objects was asked"`
	Total     int64            `json:"total" jsonschema:"rows matching the filters, all pages together"`
	Page      int              `json:"page"`
	PageSize  int              `json:"page_size"`
	HasMore   bool             `json:"has_more"`
	Truncated int              `json:"truncated_values,omitempty" jsonschema:"number of text values cut (they end with …[+N chars])"`
	Next      string           `json:"next,omitempty"`
}

// MetricArg is one aggregate of aggregate's result.
type MetricArg struct {
	Func   string `json:"func" jsonschema:"count, count_distinct, sum, avg, min or max"`
	Column string `json:"column,omitempty" jsonschema:"the column aggregated; left out for count (number of rows)"`
	As     string `json:"as,omitempty" jsonschema:"output column name; default func_column, e.g. sum_population, or count"`
}

// AggregateInput are aggregate's arguments.
type AggregateInput struct {
	ID      string      `json:"id"`
	GroupBy []string    `json:"group_by,omitempty" jsonschema:"columns to group by; one row in all when left out"`
	Metrics []MetricArg `json:"metrics,omitempty" jsonschema:"aggregates; a count of rows when left out"`
	Filters []FilterArg `json:"filters,omitempty" jsonschema:"applied to the rows before grouping"`
	Sort    []SortArg   `json:"sort,omitempty" jsonschema:"by output columns (group columns or metric names); by the group columns when left out"`
	Limit   int         `json:"limit,omitempty" jsonschema:"groups returned (default 50, at most 200)"`
	Offset  int         `json:"offset,omitempty" jsonschema:"groups skipped, to page through"`
}

// AggregateOutput is the grouped result.
type AggregateOutput struct {
	Columns []string `json:"columns" jsonschema:"group columns, then metrics; each row is an array in this order"`
	Rows    [][]any  `json:"rows"`
	Groups  int64    `json:"groups" jsonschema:"number of groups in all"`
	HasMore bool     `json:"has_more"`
	Next    string   `json:"next,omitempty"`
}

// ExportInput are export_link's arguments.
type ExportInput struct {
	ID      string      `json:"id"`
	Format  string      `json:"format,omitempty" jsonschema:"csv (default), tsv, json, ndjson, parquet or xlsx"`
	Filters []FilterArg `json:"filters,omitempty"`
	Search  string      `json:"search,omitempty"`
	Sort    []SortArg   `json:"sort,omitempty"`
	Columns []string    `json:"columns,omitempty"`
}

// ExportOutput is a link to the full filtered data.
type ExportOutput struct {
	URL    string `json:"url" jsonschema:"give it to the user; do not fetch it yourself"`
	Format string `json:"format"`
	Rows   int64  `json:"rows" jsonschema:"rows the file will hold"`
}

// Operators, for descriptions and hints.
const opList = "exact, differs, contains, notcontains, icontains (ignores case and accents), startswith, endswith, less (<=), greater (>=), lt (<), gt (>), in, notin, between, isnull, notnull, isblank, notblank"

const filterDoc = `Filters are a list of {"column","op","value"} objects, ANDed. Operators: ` + opList + `.
Values are strings or numbers; in/notin take a list, between a list of two. Numbers and dates compare by value (dates as "2024-01-31").
Examples: [{"column":"departement","op":"exact","value":"69"}], [{"column":"population","op":"greater","value":10000}], [{"column":"commune","op":"icontains","value":"saint"}], [{"column":"code","op":"in","value":["69123","69266"]}].`

const (
	descConvert = `Convert a tabular file from the web (CSV, TSV, XLS/XLSX, ODS, JSON, NDJSON, Parquet; zip/gzip too) into a queryable table. Returns its id, row count, columns with types and what was detected (encoding, delimiter, header…). Call it first. Already converted URLs answer at once from the cache.
Large files may take longer than wait_seconds: the answer then has status "loading" with progress; call convert again with the same arguments to keep waiting.
Parsing is detected; give overrides (delimiter, encoding, header, skip, decimal, sheet, file) only when the columns look wrong. Only public http(s) URLs are allowed.
Next: describe(id), then aggregate or query.`
	descDescribe = `Describe a converted table: row count, and per column its type, null count, distinct count, min, max, mean (numbers), the most frequent values as [value, count] pairs (not for unique or high-cardinality numeric columns) and 3 sample rows. About 40–80 tokens per column: call it once per table before writing filters, to learn exact column names and values.`
	descQuery    = `Read rows of a table: filters, full-text search, sort, column selection, pages. Returns {columns, rows, total, has_more}: column names once, each row an array in that order, rowid first. page_size is 20 by default, at most 200; texts longer than 200 characters are cut with a marker "…[+N chars]" (pass full_text=true with a rowid filter to get one whole); objects=true returns rows as objects instead (more tokens).
To answer questions about many rows (counts, sums, top N per group), use aggregate instead of paging; to give the user all matching rows, use export_link.
` + filterDoc + `
Sort example: [{"column":"population","desc":true}].`
	descAggregate = `Group the rows of a table and compute metrics per group (count, count_distinct, sum, avg, min, max), after filters. Returns {columns, rows, groups}: group columns then metrics, one array per group. Use it for "how many", "total", "average", "top N by" questions: it answers in a few hundred tokens where paging rows would cost thousands.
Example: top 5 departments by population: group_by ["departement"], metrics [{"func":"sum","column":"population"}], sort [{"column":"sum_population","desc":true}], limit 5. Metric output names are func_column (sum_population) or as.
Without group_by: one row of metrics over all filtered rows. limit is 50 by default, at most 200; page with offset.
` + filterDoc
	descExport = `Build a download link for all rows matching filters (no page limit), in csv, tsv, json, ndjson, parquet or xlsx, and count them. Returns {url, format, rows}. Give the link to the user instead of pulling many rows through the conversation.
` + filterDoc
)

func (s *Service) addTools(srv *mcp.Server) {
	readOnly := &mcp.ToolAnnotations{ReadOnlyHint: true, OpenWorldHint: ptr(false)}
	addTool(s, srv, &mcp.Tool{Name: "convert", Title: "Convert a file from a URL", Description: descConvert,
		Annotations: &mcp.ToolAnnotations{OpenWorldHint: ptr(true), IdempotentHint: true}}, s.convert)
	addTool(s, srv, &mcp.Tool{Name: "describe", Title: "Describe a table", Description: descDescribe, Annotations: readOnly}, s.describe)
	addTool(s, srv, &mcp.Tool{Name: "query", Title: "Query rows", Description: descQuery, Annotations: readOnly}, s.query)
	addTool(s, srv, &mcp.Tool{Name: "aggregate", Title: "Group and aggregate", Description: descAggregate, Annotations: readOnly}, s.aggregate)
	addTool(s, srv, &mcp.Tool{Name: "export_link", Title: "Link to a full export", Description: descExport, Annotations: readOnly}, s.exportLink)
}

func ptr[T any](v T) *T { return &v }

// addTool registers h; its errors become tool errors (IsError, with the
// text of an *Error), never protocol errors.
func addTool[In, Out any](s *Service, srv *mcp.Server, t *mcp.Tool, h func(context.Context, *mcp.CallToolRequest, In) (*Out, error)) {
	mcp.AddTool(srv, t, func(ctx context.Context, req *mcp.CallToolRequest, in In) (*mcp.CallToolResult, *Out, error) {
		out, err := h(ctx, req, in)
		if err != nil {
			if s.cache.Heal(ctx, err) && s.Logger != nil {
				s.Logger.Warn("DuckDB was invalidated by a query and has been replaced", "tool", t.Name)
			}
			te := ErrorOf(err)
			if te.Code == "internal_error" && s.Logger != nil {
				s.Logger.Error("mcp tool failed", "tool", t.Name, "err", err)
			}
			return nil, nil, te
		}
		return nil, out, nil
	})
}

func (s *Service) convert(ctx context.Context, req *mcp.CallToolRequest, in ConvertInput) (*ConvertOutput, error) {
	if err := checkURL(in.URL); err != nil {
		return nil, err
	}
	opts := cache.Options{Sheet: in.Sheet, File: in.File, Refresh: in.Refresh, Wait: s.cfg.ConvertWait,
		Client: header(req, ClientHeader)}
	opts.Encoding, opts.Delimiter, opts.Quote, opts.Header, opts.Decimal = in.Encoding, in.Delimiter, in.Quote, in.Header, in.Decimal
	if in.Skip != nil {
		opts.Skip, opts.SkipSet = *in.Skip, true
	}
	if in.WaitSeconds > 0 {
		opts.Wait = min(time.Duration(in.WaitSeconds)*time.Second, MaxConvertWait)
	}
	for _, p := range []struct{ name, value string }{{"sheet", opts.Sheet}, {"file", opts.File}} {
		if !convert.ValidChoice(p.value) {
			return nil, invalid(p.name, "Give a sheet or file name from the choices of an earlier error.", "a name of at most 1024 bytes without control characters is expected")
		}
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	e, err := s.cache.Apify(ctx, in.URL, opts)
	var pending *cache.PendingError
	if errors.As(err, &pending) {
		return s.loading(pending.ID), nil
	}
	if err != nil {
		return nil, err
	}
	defer e.Release()
	m := e.Meta
	out := &ConvertOutput{ID: e.ID, Status: "ready", Title: title(m), Rows: m.Rows, Columns: columnInfos(m.Columns),
		Detection: &Detection{Format: m.Filetype, Encoding: m.Encoding, Delimiter: m.Delimiter, Decimal: m.DecimalSeparator,
			Header: m.HasHeader, SkippedRows: m.HeaderRowIdx, Sheet: m.Sheet, File: m.File, RejectedRows: m.RejectedRows, Overrides: m.Overrides},
		Next: `describe {"id":"` + e.ID + `"} for value ranges and top values, then aggregate or query.`}
	if m.Filetype != convert.FiletypeCSV {
		out.Detection.Delimiter = ""
	}
	return out, nil
}

// header returns a header of the HTTP request that carried req; "" over
// stdio.
func header(req *mcp.CallToolRequest, name string) string {
	if req == nil || req.Extra == nil || req.Extra.Header == nil {
		return ""
	}
	return req.Extra.Header.Get(name)
}

// loading is convert's answer for a load that did not finish in time.
func (s *Service) loading(id string) *ConvertOutput {
	out := &ConvertOutput{ID: id, Status: "loading",
		Next: "The conversion goes on in the background: call convert again with the same arguments to keep waiting."}
	if st, err := s.cache.Status(id); err == nil {
		out.Progress = &Progress{State: string(st.State), BytesDownloaded: st.BytesDownloaded, BytesTotal: st.BytesTotal,
			ElapsedMS: st.Elapsed.Milliseconds()}
		out.Rows = st.Rows
	}
	return out
}

// checkURL accepts absolute http(s) URLs with a host, as /apify does; the
// fetcher enforces the address policy at connect time.
func checkURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" {
		return &Error{Code: problem.CodeInvalidUrl, Message: "url: an absolute http or https URL is expected.",
			Hint: "Give the URL of the data file itself, e.g. https://example.org/data.csv."}
	}
	return nil
}

// title names a table for people: its file name, or the last segment of
// its URL.
func title(m *convert.Meta) string {
	t := m.Filename
	if t == "" && m.URL != "" {
		if u, err := url.Parse(m.URL); err == nil {
			t = path.Base(u.Path)
		}
	}
	if t == "." || t == "/" {
		t = ""
	}
	if m.Sheet != "" {
		t += " (" + m.Sheet + ")"
	}
	return strings.TrimSpace(t)
}

func columnInfos(cols []convert.Column) []ColumnInfo {
	out := make([]ColumnInfo, len(cols))
	for i, c := range cols {
		out[i] = ColumnInfo{Name: c.Name, Type: string(c.Kind())}
	}
	return out
}

// acquire pins the table id for the caller, who must Release the entry.
func (s *Service) acquire(ctx context.Context, id string) (*cache.Entry, query.Table, error) {
	e, err := s.cache.Acquire(ctx, strings.TrimSpace(id))
	if err != nil {
		return nil, query.Table{}, err
	}
	return e, query.Table{Relation: e.Relation, Columns: e.Meta.Columns}, nil
}

func (s *Service) query(ctx context.Context, _ *mcp.CallToolRequest, in QueryInput) (*QueryOutput, error) {
	size, err := s.pageSize("page_size", in.PageSize, DefaultPageSize)
	if err != nil {
		return nil, err
	}
	if in.Page < 0 {
		return nil, invalid("page", "Pages start at 1.", "must be 1 or more, got %d", in.Page)
	}
	page := max(in.Page, 1)
	if (page-1)*size > 1_000_000 {
		return nil, invalid("page", "Use filters, sort or aggregate to reach the rows you need, or export_link for all of them.", "too deep: at most row 1,000,000 can be reached by paging")
	}
	req, err := request(in.Filters, in.Sort, in.Columns, in.Search)
	if err != nil {
		return nil, err
	}
	req.Limit, req.Offset = size, (page-1)*size
	e, t, err := s.acquire(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	defer e.Release()
	t = s.searchable(e, t, req)
	var p *query.Page
	err = s.Limit(ctx, func(ctx context.Context) (err error) {
		p, err = query.Run(ctx, s.cache.ServingDB(), t, req)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &QueryOutput{Columns: p.Columns, Rows: p.Rows, Total: p.Total, Page: page, PageSize: size,
		HasMore: int64(req.Offset+len(p.Rows)) < p.Total}
	if out.Rows == nil {
		out.Rows = [][]any{}
	}
	if !in.FullText {
		out.Truncated = truncateTexts(out.Rows, s.cfg.MaxText)
	}
	if in.Objects {
		out.Records = records(out.Columns, out.Rows)
		out.Rows = [][]any{}
	}
	if out.HasMore {
		out.Next = "More rows: call query again with page " + itoa(page+1) + ", or aggregate to summarise them, or export_link to give the user all of them."
	}
	return out, nil
}

// searchable returns t with its search shadow when r searches and the
// HTTP layer provides one.
func (s *Service) searchable(e *cache.Entry, t query.Table, r query.Request) query.Table {
	if r.Search == "" || s.Searchable == nil {
		return t
	}
	return s.Searchable(e, t)
}

// pageSize checks a page size or limit against the configured maximum.
func (s *Service) pageSize(name string, n, def int) (int, error) {
	switch {
	case n == 0:
		return min(def, s.cfg.MaxPageSize), nil
	case n < 0 || n > s.cfg.MaxPageSize:
		return 0, invalid(name, "Use aggregate to summarise many rows, or export_link to give the user all of them.",
			"must be between 1 and %d, got %d", s.cfg.MaxPageSize, n)
	}
	return n, nil
}

func (s *Service) aggregate(ctx context.Context, _ *mcp.CallToolRequest, in AggregateInput) (*AggregateOutput, error) {
	limit, err := s.pageSize("limit", in.Limit, DefaultAggLimit)
	if err != nil {
		return nil, err
	}
	if in.Offset < 0 {
		return nil, invalid("offset", "", "must not be negative, got %d", in.Offset)
	}
	req, err := request(in.Filters, in.Sort, nil, "")
	if err != nil {
		return nil, err
	}
	req.Limit, req.Offset = limit, in.Offset
	ar := query.AggRequest{Request: req, GroupBy: in.GroupBy, MaxGroups: s.cfg.MaxGroups}
	for i, m := range in.Metrics {
		if !query.KnownAgg(m.Func) {
			return nil, invalid("metrics["+itoa(i)+"].func", "Use count, count_distinct, sum, avg, min or max.", "unknown aggregate %q", m.Func)
		}
		ar.Aggs = append(ar.Aggs, query.Agg{Func: query.AggFunc(m.Func), Column: m.Column, As: m.As})
	}
	e, t, err := s.acquire(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	defer e.Release()
	var p *query.Page
	err = s.Limit(ctx, func(ctx context.Context) (err error) {
		p, err = query.Aggregate(ctx, s.cache.ServingDB(), t, ar)
		return err
	})
	if err != nil {
		return nil, err
	}
	out := &AggregateOutput{Columns: p.Columns, Rows: p.Rows, Groups: p.Total, HasMore: int64(in.Offset+len(p.Rows)) < p.Total}
	if out.Rows == nil {
		out.Rows = [][]any{}
	}
	truncateTexts(out.Rows, s.cfg.MaxText)
	if out.HasMore {
		out.Next = "More groups: call aggregate again with offset " + itoa(in.Offset+len(p.Rows)) + ", or add filters."
	}
	return out, nil
}

func (s *Service) exportLink(ctx context.Context, req *mcp.CallToolRequest, in ExportInput) (*ExportOutput, error) {
	format := strings.ToLower(in.Format)
	if format == "" {
		format = string(query.FormatCSV)
	}
	switch query.Format(format) {
	case query.FormatCSV, query.FormatTSV, query.FormatJSON, query.FormatNDJSON, query.FormatParquet, query.FormatXLSX:
	default:
		return nil, invalid("format", "Use csv, tsv, json, ndjson, parquet or xlsx.", "unknown format %q", in.Format)
	}
	base := s.cfg.BaseURL
	if h := header(req, BaseURLHeader); h != "" {
		base = h
	}
	if base == "" {
		return nil, &Error{Code: "no_base_url", Message: "This csvapi does not know its public URL, so it cannot build download links.",
			Hint: "Start csvapi mcp with --base-url, or give the user the filters to apply on the web page instead."}
	}
	qr, err := request(in.Filters, in.Sort, in.Columns, in.Search)
	if err != nil {
		return nil, err
	}
	e, t, err := s.acquire(ctx, in.ID)
	if err != nil {
		return nil, err
	}
	defer e.Release()
	t = s.searchable(e, t, qr)
	// Counting also validates the filters, so that the link never leads
	// to an error page.
	qr.Limit = 0
	var p *query.Page
	err = s.Limit(ctx, func(ctx context.Context) (err error) {
		p, err = query.Run(ctx, s.cache.ServingDB(), t, qr)
		return err
	})
	if err != nil {
		return nil, err
	}
	if format == string(query.FormatXLSX) && p.Total > query.MaxXLSXRows {
		return nil, invalid("format", "Use csv or parquet for this many rows, or add filters.",
			"xlsx holds at most %d rows; %d match", query.MaxXLSXRows, p.Total)
	}
	return &ExportOutput{URL: strings.TrimRight(base, "/") + "/api/" + e.ID + "/export?" + exportQuery(format, in),
		Format: format, Rows: p.Total}, nil
}
