package server

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// aggParams collects the parameters of /aggregate that are not filters:
// group_by=a,b and agg=count,sum:pop (repeatable), and api-tabular's
// col__groupby and col__count|sum|avg|min|max.
type aggParams struct {
	columns map[string]bool
	groupBy []string
	aggs    []query.Agg
}

func (a *aggParams) set(key, value string) (bool, error) {
	switch key {
	case "group_by", "_group_by":
		a.groupBy = append(a.groupBy, splitNames(a.columns, value)...)
		return true, nil
	case "agg", "_agg":
		for _, spec := range strings.Split(value, ",") {
			agg, err := parseAgg(spec)
			if err != nil {
				return true, err
			}
			a.aggs = append(a.aggs, agg)
		}
		return true, nil
	}
	i := strings.LastIndex(key, "__")
	if i <= 0 {
		return false, nil
	}
	col, fn := key[:i], key[i+2:]
	switch {
	case fn == "groupby":
		a.groupBy = append(a.groupBy, col)
	case query.KnownAgg(fn):
		// api-tabular names its aggregates col__func.
		a.aggs = append(a.aggs, query.Agg{Func: query.AggFunc(fn), Column: col, As: key})
	default:
		return false, nil
	}
	return true, nil
}

// parseAgg reads "count", "count:col" or "func:col". The column name is
// everything after the first colon.
func parseAgg(spec string) (query.Agg, error) {
	fn, col, _ := strings.Cut(spec, ":")
	if !query.KnownAgg(fn) {
		return query.Agg{}, badRequest(problem.CodeInvalidParameter, "agg: unknown aggregate %q in %q (known: count, sum, avg, min, max, count_distinct; e.g. agg=count,sum:population)", fn, spec)
	}
	return query.Agg{Func: query.AggFunc(fn), Column: col}, nil
}

// splitNames splits a comma-separated list of column names, unless the
// whole value is one column's name.
func splitNames(columns map[string]bool, value string) []string {
	if columns[value] {
		return []string{value}
	}
	return strings.Split(value, ",")
}

// handleAggregate answers GET /api/<id>/aggregate: one row per group, on
// the filtered rows, paginated.
func (s *Server) handleAggregate(c *fiber.Ctx) error {
	start := time.Now()
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	t := s.table(e)
	p := newPageParams(t, s.cfg.MaxPageSize, nil)
	a := &aggParams{columns: p.columns}
	p.extra = a.set
	if err := p.parse(c); err != nil {
		return err
	}
	t = s.searchable(e, t, p.req)
	var page *query.Page
	err = s.withQuery(c, func(ctx context.Context) (err error) {
		page, err = query.Aggregate(ctx, s.database(), t, query.AggRequest{Request: p.req, GroupBy: a.groupBy, Aggs: a.aggs, MaxGroups: s.cfg.MaxGroups})
		return err
	})
	if err != nil {
		return err
	}
	b := appendPageHead(make([]byte, 0, 4096), start, page, p.objects)
	if next := p.req.Offset + len(page.Rows); p.req.Limit > 0 && int64(next) < page.Total {
		b = append(b, `,"next_url":`...)
		b = appendJSON(b, s.selfURL(c, map[string]string{"_offset": strconv.Itoa(next)}, "page"))
	}
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}
