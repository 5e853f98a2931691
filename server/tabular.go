package server

// This file serves data.gouv.fr api-tabular's routes, so that its fronts
// (cdata's datagouv-components, udata-front, explore.data.gouv.fr) work
// against csvapi unchanged: /api/resources/<id>/, …/data/, …/data/csv/,
// …/data/json/, …/profile/, …/swagger/, and /health/. The grammar is
// api-tabular's, parsed here into the query.Request that csvapi's own
// routes build: one SQL builder serves both families.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// DefaultTabularPageSize is api-tabular's default page_size.
const DefaultTabularPageSize = 20

// tabularRowID is the name api-tabular gives the row number column.
const tabularRowID = "__id"

// tabularPrefix starts every path of the api-tabular family, whose errors
// have api-tabular's body.
const tabularPrefix = "/api/resources/"

// resourceIDKey is the fiber local holding the cache id an api-tabular
// route's :id resolved to.
const resourceIDKey = "csvapi.resource_id"

// uuidPattern matches a portal resource id (data.gouv.fr's are UUIDs).
var uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func (s *Server) tabularRoutes() {
	a := s.app
	a.Get("/api/resources/:id", s.resolveResource, s.handleTabularMeta)
	a.Get("/api/resources/:id/data", s.resolveResource, s.cached, s.handleTabularData)
	a.Get("/api/resources/:id/data/csv", s.resolveResource, s.handleTabularExport)
	a.Get("/api/resources/:id/data/json", s.resolveResource, s.handleTabularExport)
	a.Get("/api/resources/:id/profile", s.resolveResource, s.cached, s.handleTabularProfile)
	a.Get("/api/resources/:id/swagger", s.resolveResource, s.cached, s.handleTabularSwagger)
}

// resourceID returns the cache id of the request's resource: what
// resolveResource found for api-tabular routes, the :id parameter
// otherwise.
func (s *Server) resourceID(c *fiber.Ctx) string {
	if id, ok := c.Locals(resourceIDKey).(string); ok {
		return id
	}
	return strings.Clone(c.Params("id"))
}

// resourceURL returns the URL a portal resource id resolves to with the
// template (its "{id}" replaced), and whether id is such an id (a UUID)
// and the template is set.
func resourceURL(template, id string) (string, bool) {
	if template == "" || !uuidPattern.MatchString(id) {
		return "", false
	}
	return strings.ReplaceAll(template, "{id}", strings.ToLower(id)), true
}

// resolveResource maps the :id of an api-tabular route to a cache id. A
// csvapi id (the MD5 of a URL, or an upload's) is used as is. A portal
// resource UUID becomes a URL through --resource-url-template, whose cache
// id is the MD5 of that URL, as /apify?url= would give: the mapping is
// computed, never stored, so it survives restarts and needs no
// bookkeeping. The first access converts the resource, waiting up to
// --apify-wait; past it the answer is a 503 with Retry-After (see
// handleError), which the fronts show as a failed preview until a reload.
func (s *Server) resolveResource(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	if cache.ValidID(id) {
		c.Locals(resourceIDKey, id)
		return c.Next()
	}
	u, ok := resourceURL(s.cfg.ResourceURLTemplate, id)
	if !ok {
		return notFound("Resource not found: use a csvapi id, or a resource id when --resource-url-template is set.")
	}
	e, err := s.cache.Apify(c.UserContext(), u, cache.Options{Wait: s.cfg.ApifyWait})
	var fe *convert.FetchError
	if errors.As(err, &fe) && (fe.Status == http.StatusNotFound || fe.Status == http.StatusGone) {
		// The portal does not know the id: for the client, an unknown
		// resource (api-tabular's 404), not a failing upstream (502).
		return notFound(fmt.Sprintf("Resource not found: the portal answered HTTP %d for this resource id.", fe.Status))
	}
	if err != nil {
		return err
	}
	held, _ := c.Locals(heldKey).([]*cache.Entry)
	c.Locals(heldKey, append(held, e)) // released with the request
	c.Locals(resourceIDKey, e.ID)
	return c.Next()
}

// tabularBase is the public URL of the api-tabular routes of the
// request's resource, as the client named it (UUID or csvapi id).
func (s *Server) tabularBase(c *fiber.Ctx) string {
	return s.baseURL(c) + tabularPrefix + url.PathEscape(c.Params("id")) + "/"
}

// handleTabularMeta answers GET /api/resources/<id>/: when the resource was
// fetched, its URL, and links to its profile, data and swagger.
func (s *Server) handleTabularMeta(c *fiber.Ctx) error {
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	base := s.tabularBase(c)
	var src any
	if e.Meta.URL != "" {
		src = e.Meta.URL
	}
	links := []fiber.Map{
		{"href": base + "profile/", "type": "GET", "rel": "profile"},
		{"href": base + "data/", "type": "GET", "rel": "data"},
		{"href": base + "swagger/", "type": "GET", "rel": "swagger"},
	}
	return c.JSON(fiber.Map{"created_at": e.Meta.FetchedAt.UTC().Format(time.RFC3339Nano), "url": src, "links": links})
}

// tabularParams is an api-tabular query string, parsed.
type tabularParams struct {
	req      query.Request
	page     int
	pageSize int
	groupBy  []string
	aggs     []query.Agg
	columns  bool // columns= was given
}

func (p *tabularParams) aggregating() bool { return len(p.groupBy) > 0 || len(p.aggs) > 0 }

// parseTabular reads an api-tabular query string on table t. Like
// api-tabular, it reads the raw query string and decodes each key and value
// twice: api-tabular's server decodes them once and PostgREST, which gets
// them in its own URL, once more; cdata's global search relies on it to
// send ".", "(" and ")" inside or=(…) values. Anything that is not
// api-tabular's grammar is an invalid_parameter error (400).
func parseTabular(raw string, t query.Table, maxSize int) (*tabularParams, error) {
	p := &tabularParams{page: 1, pageSize: DefaultTabularPageSize}
	kinds := make(map[string]convert.Kind, len(t.Columns)+1)
	for _, c := range t.Columns {
		kinds[c.Name] = c.Kind()
	}
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, invalidParam(k, "%q is not a valid query string parameter", k)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, invalidParam(key, "%s: the value is not valid percent-encoding", key)
		}
		if err := p.set(decodeAgain(key), value, kinds, maxSize); err != nil {
			return nil, err
		}
	}
	if p.aggregating() && p.columns {
		return nil, invalidParam("columns", "columns cannot be set alongside aggregators")
	}
	off := int64(p.page-1) * int64(p.pageSize)
	if off > maxOffset {
		return nil, invalidParam("page", "page is too large")
	}
	p.req.Limit, p.req.Offset = p.pageSize, int(off)
	p.req.RowIDName = tabularRowID
	return p, nil
}

// decodeAgain is api-tabular's second percent-decoding; text that does not
// decode (a lone "%") is kept as it is, as PostgREST does.
func decodeAgain(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	if d, err := url.PathUnescape(s); err == nil {
		return d
	}
	return s
}

// tabularColumn maps api-tabular's name of the row number to csvapi's.
func tabularColumn(name string) string {
	if name == tabularRowID {
		return query.RowID
	}
	return name
}

func (p *tabularParams) set(key, value string, kinds map[string]convert.Kind, maxSize int) error {
	switch key {
	case "page":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 || n > maxOffset {
			return invalidParam(key, "page must be a positive integer, not %q", value)
		}
		p.page = n
		return nil
	case "page_size":
		n, err := strconv.Atoi(value)
		if err != nil || n < 1 {
			return invalidParam(key, "page_size must be a positive integer, not %q", value)
		}
		if n > maxSize {
			return invalidParam(key, "Page size exceeds allowed maximum: %d", maxSize)
		}
		p.pageSize = n
		return nil
	case "columns":
		p.columns = true
		for _, name := range splitColumns(decodeAgain(value)) {
			if name != tabularRowID { // __id always comes first
				p.req.Columns = append(p.req.Columns, name)
			}
		}
		return nil
	case "or":
		cond, err := parseGroup(key, value)
		if err != nil {
			return err
		}
		if err := tabularCond(&cond, kinds); err != nil {
			return err
		}
		p.req.Where = append(p.req.Where, cond)
		return nil
	}
	i := strings.LastIndex(key, "__")
	if i <= 0 {
		return invalidParam(key, "argument %q could not be parsed: expected page, page_size, columns, or=(…), column__operator=value, column__sort=asc|desc, column__groupby or column__count|avg|min|max|sum", key)
	}
	col, op := tabularColumn(key[:i]), strings.ToLower(key[i+2:])
	switch {
	case op == "sort":
		sort, ok := sortOf(col, value, false)
		if !ok {
			return invalidParam(key, "%s must be asc or desc, not %q", key, value)
		}
		p.req.Sort = append(p.req.Sort, sort)
		return nil
	case op == "groupby":
		p.groupBy = append(p.groupBy, col)
		return nil
	case op == "count" || op == "avg" || op == "min" || op == "max" || op == "sum":
		if k, ok := kinds[col]; ok && !allowsAgg(k, query.AggFunc(op)) {
			return invalidParam(key, "%s: %s is not available on a %s column", key, op, k)
		}
		// Output keys are <col>__<op>, as api-tabular names them.
		p.aggs = append(p.aggs, query.Agg{Func: query.AggFunc(op), Column: col, As: key[:i] + "__" + op})
		return nil
	}
	f := query.Filter{Column: col, Op: query.Op(op), Value: decodeAgain(value)}
	if err := checkTabularFilter(f, kinds); err != nil {
		return err
	}
	p.req.Filters = append(p.req.Filters, f)
	return nil
}

// checkTabularFilter refuses the operators api-tabular does not have, and
// those it does not offer on the column's type. Unknown columns are left
// to query, which names them.
func checkTabularFilter(f query.Filter, kinds map[string]convert.Kind) error {
	k, ok := kinds[f.Column]
	if f.Column == query.RowID {
		k, ok = convert.KindInteger, true
	}
	if !ok {
		k = convert.KindString
	}
	if !query.TabularAllows(k, f.Op) {
		names := make([]string, 0, 12)
		for _, o := range query.TabularOps(k) {
			names = append(names, string(o))
		}
		return invalidParam(f.Param(), "%s: operator %q is not available on a %s column (available: %s)", f.Param(), f.Op, k, strings.Join(names, ", "))
	}
	return nil
}

func allowsAgg(k convert.Kind, fn query.AggFunc) bool {
	for _, a := range query.TabularAggs(k) {
		if a == fn {
			return true
		}
	}
	return false
}

// tabularCond decodes the names and values of an or=(…) group a second
// time and checks their operators.
func tabularCond(c *query.Cond, kinds map[string]convert.Kind) error {
	if c.Filter != nil {
		f := c.Filter
		f.Column = tabularColumn(decodeAgain(f.Column))
		f.Value = decodeAgain(f.Value)
		return checkTabularFilter(*f, kinds)
	}
	for i := range c.Conds {
		if err := tabularCond(&c.Conds[i], kinds); err != nil {
			return err
		}
	}
	return nil
}

// splitColumns splits columns=a,"b,c",d: names holding commas are
// double-quoted, as in PostgREST's select.
func splitColumns(value string) []string {
	var out []string
	var b strings.Builder
	quoted := false
	for i := 0; i < len(value); i++ {
		ch := value[i]
		switch {
		case ch == '"':
			quoted = !quoted
		case ch == ',' && !quoted:
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(ch)
		}
	}
	return append(out, b.String())
}

// handleTabularData answers GET /api/resources/<id>/data/ with
// api-tabular's envelope: {"data":[{"__id":1,…}],"links":{"profile",
// "swagger","next","prev"},"meta":{"page","page_size","total"}}. With
// col__groupby or col__count|avg|min|max|sum, data holds one object per
// group and total the number of groups.
func (s *Server) handleTabularData(c *fiber.Ctx) error {
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	t := s.table(e)
	p, err := parseTabular(string(c.Request().URI().QueryString()), t, s.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	var page *query.Page
	if p.aggregating() {
		ar := query.AggRequest{Request: p.req, GroupBy: p.groupBy, Aggs: p.aggs, GroupsOnly: true, MaxGroups: s.cfg.MaxGroups}
		err = s.withQuery(c, func(ctx context.Context) (err error) {
			page, err = query.Aggregate(ctx, s.database(), t, ar)
			return err
		})
	} else {
		page, err = s.run(c, t, p.req)
	}
	if err != nil {
		return err
	}
	base := s.tabularBase(c)
	b := make([]byte, 0, 4096)
	b = append(b, `{"data":`...)
	b = page.AppendRowsJSON(b, true)
	b = append(b, `,"links":{"profile":`...)
	b = appendJSON(b, base+"profile/")
	b = append(b, `,"swagger":`...)
	b = appendJSON(b, base+"swagger/")
	b = append(b, `,"next":`...)
	pageLink := func(n int) string {
		return s.selfURL(c, map[string]string{"page": strconv.Itoa(n), "page_size": strconv.Itoa(p.pageSize)})
	}
	if page.Total >= 0 && int64(p.req.Offset+p.pageSize) < page.Total {
		b = appendJSON(b, pageLink(p.page+1))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"prev":`...)
	if p.page > 1 {
		b = appendJSON(b, pageLink(p.page-1))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"meta":{"page":`...)
	b = strconv.AppendInt(b, int64(p.page), 10)
	b = append(b, `,"page_size":`...)
	b = strconv.AppendInt(b, int64(p.pageSize), 10)
	if page.Total >= 0 {
		b = append(b, `,"total":`...)
		b = strconv.AppendInt(b, page.Total, 10)
	}
	b = append(b, `}}`...)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

// handleTabularExport answers GET /api/resources/<id>/data/csv/ and
// /data/json/: every row the filters select, in their order, streamed; the
// row number comes first as __id.
func (s *Server) handleTabularExport(c *fiber.Ctx) error {
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	t := s.table(e)
	p, err := parseTabular(string(c.Request().URI().QueryString()), t, maxOffset)
	if err != nil {
		return err
	}
	if p.aggregating() {
		return invalidParam("groupby", "aggregation is only available on data/, not in the CSV or JSON export")
	}
	req := p.req
	req.Limit, req.Offset, req.HideTotal = -1, 0, true
	opts := query.ExportOptions{Format: query.FormatCSV}
	if strings.HasSuffix(strings.TrimSuffix(c.Path(), "/"), "/json") {
		opts.Format = query.FormatJSON
	}
	return s.streamExport(c, e, t, req, opts, c.Params("id"))
}

// handleTabularProfile answers GET /api/resources/<id>/profile/ with
// csv-detective's shape, as hydra stores it and the fronts read it.
func (s *Server) handleTabularProfile(c *fiber.Ctx) error {
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	if err := s.analyze(c, e); err != nil {
		return err
	}
	b := appendJSON(nil, fiber.Map{
		"profile":    detectiveProfile(e.Meta, s.infos.analysis(e)),
		"deleted_at": nil,
		"dataset_id": nil,
		"indexes":    nil,
	})
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

// handleTabularHealth answers GET /health/ with api-tabular's keys.
func (s *Server) handleTabularHealth(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{
		"status":         "ok",
		"version":        s.cfg.Version,
		"uptime_since":   s.started.UTC().Format(time.RFC3339),
		"uptime_seconds": time.Since(s.started).Seconds(),
	})
}

// tabularError writes err with api-tabular's error body,
// {"errors":[{"code","title","detail":{"message",…}}]}. api-tabular puts a
// Sentry event id (or null) in code; csvapi puts its stable code. detail is
// an object with message, as api-tabular relays PostgREST's errors:
// data.gouv.fr's MCP server reads errors[].detail.message (the fronts read
// only the status); the parameter at fault is named when known. A resource
// still converting is a 503 with Retry-After: the fronts treat any non-2xx
// as a failed preview, while a 202 would be read as data and break them.
func tabularError(c *fiber.Ctx, ae *problem.Problem) error {
	if ae.Code == problem.CodePending {
		c.Set(fiber.HeaderRetryAfter, "5")
	}
	detail := fiber.Map{"message": ae.Message}
	if d, ok := ae.Details.(map[string]string); ok && d["parameter"] != "" {
		detail["parameter"] = d["parameter"]
	}
	body := fiber.Map{"errors": []fiber.Map{{"code": ae.Code, "title": tabularTitle(ae.Status), "detail": detail}}}
	return c.Status(ae.Status).JSON(body)
}

// tabularTitle is api-tabular's title for an error status.
func tabularTitle(status int) string {
	switch {
	case status == http.StatusBadRequest:
		return "Invalid query string"
	case status == http.StatusNotFound:
		return "Resource not found"
	case status == http.StatusServiceUnavailable:
		return "Service unavailable"
	case status >= 500:
		return "Server error"
	}
	return http.StatusText(status)
}
