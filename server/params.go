package server

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// DefaultPageSize is csvapi's default _size.
const DefaultPageSize = 100

// maxOffset bounds page and _offset, so that offset arithmetic cannot
// overflow.
const maxOffset = 1 << 40

// pageParams are the parsed query-string parameters of a data request.
type pageParams struct {
	req     query.Request
	objects bool            // _shape=objects
	page    int             // page (1-based) when given, else 0
	columns map[string]bool // the table's column names, for plain col=value filters
	maxSize int             // largest _size; 0 means no bound
	extra   func(key, value string) (bool, error)
}

// newPageParams returns the defaults of a request on a table with the given
// columns. extra, when not nil, sees every parameter first and reports
// whether it consumed it (endpoint-specific parameters such as format).
func newPageParams(t query.Table, maxSize int, extra func(key, value string) (bool, error)) pageParams {
	cols := make(map[string]bool, len(t.Columns)+1)
	cols[query.RowID] = true
	for _, c := range t.Columns {
		cols[c.Name] = true
	}
	return pageParams{req: query.Request{Limit: DefaultPageSize}, columns: cols, maxSize: maxSize, extra: extra}
}

// parse reads and validates the whole query string once. Values from fiber
// are copied: the request's buffers are reused after the handler returns.
func (p *pageParams) parse(c *fiber.Ctx) error {
	var err error
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		if err == nil {
			err = p.set(string(k), string(v))
		}
	})
	if err != nil {
		return err
	}
	return p.finish()
}

// finish applies what depends on several parameters: page needs the page
// size, whatever the order they came in.
func (p *pageParams) finish() error {
	if p.page > 0 {
		off := int64(p.page-1) * int64(max(p.req.Limit, 0))
		if off > maxOffset {
			return badRequest(problem.CodeInvalidParameter, "page is too large")
		}
		p.req.Offset = int(off)
	}
	return nil
}

// reserved are the parameter names that are never a plain col=value
// filter, even on a table with a column of that name (use col__exact).
var reserved = map[string]bool{
	"q": true, "page": true, "page_size": true, "columns": true, "or": true, "and": true,
	"format": true, "bom": true, "sep": true, "decimal": true, "group_by": true, "agg": true,
}

func (p *pageParams) set(key, value string) error {
	if p.extra != nil {
		if done, err := p.extra(key, value); done || err != nil {
			return err
		}
	}
	switch key {
	case "_size", "page_size":
		return p.setSize(key, value)
	case "_offset":
		n, err := nonNegative(key, value)
		if err != nil {
			return err
		}
		p.req.Offset = n
	case "page":
		n, err := nonNegative(key, value)
		if err != nil || n == 0 || n > maxOffset {
			return badRequest(problem.CodeInvalidParameter, "page must be a positive integer, not %q", value)
		}
		p.page = n
	case "_sort", "_sort_desc":
		return p.setSort(key, value)
	case "_shape":
		switch value {
		case "lists":
			p.objects = false
		case "objects":
			p.objects = true
		default:
			return badRequest(problem.CodeInvalidParameter, "_shape must be lists or objects, not %q", value)
		}
	case "_rowid":
		p.req.HideRowID = value == "hide"
	case "_total":
		p.req.HideTotal = value == "hide"
	case "_col", "columns":
		p.req.Columns = append(p.req.Columns, p.names(value)...)
	case "_nocol":
		p.req.Omit = append(p.req.Omit, p.names(value)...)
	case "_next":
		p.req.After = value
	case "q", "_search":
		p.req.Search = strings.TrimSpace(p.req.Search + " " + value)
	case "_facet":
		p.req.Facets = append(p.req.Facets, value)
	case "_facet_size":
		n, err := nonNegative(key, value)
		if err != nil || n < 1 || n > query.MaxFacetSize {
			return badRequest(problem.CodeInvalidParameter, "_facet_size must be between 1 and %d, not %q", query.MaxFacetSize, value)
		}
		p.req.FacetSize = n
	case "or", "and":
		cond, err := parseGroup(key, value)
		if err != nil {
			return err
		}
		p.req.Where = append(p.req.Where, cond)
	default:
		return p.setFilter(key, value)
	}
	return nil
}

func (p *pageParams) setSize(key, value string) error {
	n, err := nonNegative(key, value)
	if err != nil {
		return err
	}
	if p.maxSize > 0 && n > p.maxSize {
		return &problem.Problem{Status: http.StatusBadRequest, Code: problem.CodeInvalidParameter,
			Message: key + " must be at most " + strconv.Itoa(p.maxSize) + "; use the export endpoint (/api/ID/export?format=csv) to get every row",
			Details: map[string]any{"parameter": key, "max": p.maxSize, "export": "/api/{id}/export"}}
	}
	p.req.Limit = n
	return nil
}

// setSort reads _sort=col, _sort=a,-b and _sort_desc=col. A value that is
// exactly a column name is that column, even if it holds commas.
func (p *pageParams) setSort(key, value string) error {
	if value == "" {
		return badRequest(problem.CodeInvalidParameter, "%s needs a column name", key)
	}
	desc := key == "_sort_desc"
	if p.columns[value] || p.columns == nil {
		p.req.Sort = append(p.req.Sort, query.Sort{Column: value, Desc: desc})
		return nil
	}
	for _, part := range strings.Split(value, ",") {
		d := desc
		if name, ok := strings.CutPrefix(part, "-"); ok && !p.columns[part] {
			part, d = name, !desc
		}
		if part == "" {
			return badRequest(problem.CodeInvalidParameter, "%s: empty column name in %q", key, value)
		}
		p.req.Sort = append(p.req.Sort, query.Sort{Column: part, Desc: d})
	}
	return nil
}

// names splits a comma-separated list of column names, unless the whole
// value is one column's name.
func (p *pageParams) names(value string) []string {
	if p.columns[value] || p.columns == nil {
		return []string{value}
	}
	return strings.Split(value, ",")
}

// setFilter reads col__op=value, col__sort=asc|desc and plain col=value.
// Column names may themselves contain "__": the operator is what follows
// the last one.
func (p *pageParams) setFilter(key, value string) error {
	i := strings.LastIndex(key, "__")
	if i <= 0 {
		if p.columns[key] && !reserved[key] && key != query.RowID {
			p.req.Filters = append(p.req.Filters, query.Filter{Column: key, Op: query.OpExact, Value: value})
		}
		return nil // not a filter: ignored, as csvapi does (cache busters, tracking tags)
	}
	col, op := key[:i], key[i+2:]
	if op == "sort" {
		sort, ok := sortOf(col, value, true)
		if !ok {
			return badRequest(problem.CodeInvalidParameter, "%s must be asc or desc, not %q", key, value)
		}
		p.req.Sort = append(p.req.Sort, sort)
		return nil
	}
	if !query.KnownOp(op) {
		return badRequest(problem.CodeInvalidParameter, "%s: unknown filter operator %q (known: %s)", key, op, strings.Join(query.OpNames(), ", "))
	}
	p.req.Filters = append(p.req.Filters, query.Filter{Column: col, Op: query.Op(op), Value: value})
	return nil
}

func nonNegative(key, value string) (int, error) {
	n, err := strconv.Atoi(value)
	if err != nil || n < 0 || n > maxOffset {
		return 0, badRequest(problem.CodeInvalidParameter, "%s must be a non-negative integer, not %q", key, value)
	}
	return n, nil
}

// sortOf reads the direction of col__sort=value (asc or desc, any case;
// empty means asc when emptyAsc, as csvapi's grammar allows).
func sortOf(col, value string, emptyAsc bool) (query.Sort, bool) {
	switch strings.ToLower(value) {
	case "asc":
		return query.Sort{Column: col}, true
	case "desc":
		return query.Sort{Column: col, Desc: true}, true
	case "":
		return query.Sort{Column: col}, emptyAsc
	}
	return query.Sort{}, false
}
