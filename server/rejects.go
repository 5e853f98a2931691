package server

import (
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// rejectColumns are the columns of a resource's rejects table.
var rejectColumns = []convert.Column{
	{Name: "line", Type: "BIGINT"},    // 1-based line number in the source text
	{Name: "reason", Type: "VARCHAR"}, // e.g. "too many columns", "unquoted value"
	{Name: "message", Type: "VARCHAR"},
	{Name: "raw", Type: "VARCHAR"}, // the line as written
}

// handleRejects serves the lines of a resource that could not be read as
// rows, paginated with _size and _offset like a data page.
func (s *Server) handleRejects(c *fiber.Ctx) error {
	start := time.Now()
	e, err := s.hold(c)
	if err != nil {
		return err
	}
	// The rejects table sits beside data in the resource's file.
	t := query.Table{Relation: strings.TrimSuffix(e.Relation, ".data") + ".rejects", Columns: rejectColumns}
	p := newPageParams(t, s.cfg.MaxPageSize, nil)
	if err := p.parse(c); err != nil {
		return err
	}
	req := query.Request{Limit: p.req.Limit, Offset: p.req.Offset, HideRowID: true}
	page := &query.Page{Columns: []string{"line", "reason", "message", "raw"}}
	if e.Meta.Rejects {
		if page, err = s.run(c, t, req); err != nil {
			return err
		}
	}
	b := appendPageHead(make([]byte, 0, 1024), start, page, p.objects)
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}
