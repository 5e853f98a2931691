package server

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/query"
)

// table returns the queryable table of a loaded resource.
func (s *Server) table(e *cache.Entry) query.Table {
	return query.Table{Relation: e.Relation, Columns: e.Meta.Columns, Rows: e.Meta.Rows, Hints: s.hints}
}

// searchable returns t with its search shadow when one is ready (and
// starts building it otherwise), for requests that use q.
func (s *Server) searchable(e *cache.Entry, t query.Table, r query.Request) query.Table {
	if r.Search == "" {
		return t
	}
	return s.search.Prepare(t, e.Meta.FetchedAt.String(), e.Meta.Rows)
}

// pageRequest loads the resource of the request and parses its query
// string; extra sees endpoint-specific parameters first.
func (s *Server) pageRequest(c *fiber.Ctx, maxSize int, extra func(k, v string) (bool, error)) (*cache.Entry, query.Table, pageParams, error) {
	e, err := s.hold(c)
	if err != nil {
		return nil, query.Table{}, pageParams{}, err
	}
	t := s.table(e)
	p := newPageParams(t, maxSize, extra)
	if err := p.parse(c); err != nil {
		return nil, t, p, err
	}
	return e, s.searchable(e, t, p.req), p, nil
}

// run runs r under the query timeout, in one of the query slots.
func (s *Server) run(c *fiber.Ctx, t query.Table, r query.Request) (page *query.Page, err error) {
	err = s.withQuery(c, func(ctx context.Context) error {
		t.Busy = len(s.queries) > 1 // this query holds one of the slots
		page, err = query.Run(ctx, s.database(), t, r)
		return err
	})
	return page, err
}

// withQuery runs f with a context bounded by the query timeout, once one
// of the query slots is free.
func (s *Server) withQuery(c *fiber.Ctx, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.QueryTimeout)
	defer cancel()
	done, err := s.querySlot(ctx)
	if err != nil {
		return err
	}
	defer done()
	return f(ctx)
}

// handleRows answers GET /api/<id>: csvapi's page, plus next, next_url and
// facets.
func (s *Server) handleRows(c *fiber.Ctx) error {
	start := time.Now()
	e, t, p, err := s.pageRequest(c, s.cfg.MaxPageSize, nil)
	if err != nil {
		return err
	}
	page, err := s.run(c, t, p.req)
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	b := make([]byte, 0, 4096)
	b = append(b, `{"ok":true,"query_ms":`...)
	b = appendMillis(b, elapsed)
	b = append(b, `,"columns":`...)
	b = appendJSON(b, page.Columns)
	b = append(b, `,"rows":`...)
	b = page.AppendRowsJSON(b, p.objects)
	if page.Total >= 0 {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, page.Total, 10)
	}
	if page.Next != "" {
		b = append(b, `,"next":`...)
		b = appendJSON(b, page.Next)
		b = append(b, `,"next_url":`...)
		b = appendJSON(b, s.selfURL(c, map[string]string{"_next": page.Next}, "_offset", "page"))
	}
	if len(p.req.Facets) > 0 {
		b = append(b, `,"facets":`...)
		b = appendFacets(b, page.Facets)
	}
	b = s.infos.appendInfos(b, e)
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

// appendFacets renders facets as an object keyed by column, in request
// order: {"col":{"values":[{"value":v,"count":n},…],"truncated":false}}.
func appendFacets(b []byte, facets []query.Facet) []byte {
	b = append(b, '{')
	for i, f := range facets {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(b, f.Column)
		b = append(b, `:{"values":[`...)
		for j, v := range f.Values {
			if j > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"value":`...)
			b = query.AppendValueJSON(b, v.Value)
			b = append(b, `,"count":`...)
			b = strconv.AppendInt(b, v.Count, 10)
			b = append(b, '}')
		}
		b = append(b, `],"truncated":`...)
		b = strconv.AppendBool(b, f.Truncated)
		b = append(b, '}')
	}
	return append(b, '}')
}

// selfURL returns the URL of this request with the parameters of set
// replaced (or added) and those of drop removed; the other parameters keep
// their order.
func (s *Server) selfURL(c *fiber.Ctx, set map[string]string, drop ...string) string {
	return s.urlFor(c, c.Path(), set, drop...)
}

// urlFor is selfURL on another path of the same resource.
func (s *Server) urlFor(c *fiber.Ctx, path string, set map[string]string, drop ...string) string {
	var q strings.Builder
	add := func(k, v string) {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(k))
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(v))
	}
	c.Context().QueryArgs().VisitAll(func(k, v []byte) {
		key := string(k)
		if _, ok := set[key]; ok {
			return
		}
		for _, d := range drop {
			if key == d {
				return
			}
		}
		add(key, string(v))
	})
	for _, k := range slices.Sorted(maps.Keys(set)) {
		add(k, set[k])
	}
	u := s.baseURL(c) + path
	if q.Len() > 0 {
		u += "?" + q.String()
	}
	return u
}
