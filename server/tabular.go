package server

import (
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/query"
)

// DefaultTabularPageSize is api-tabular's default page_size.
const DefaultTabularPageSize = 20

// handleTabular answers GET /api/<id>/data with data.gouv.fr api-tabular's
// envelope: {"data":[{…}],"links":{"profile","next","prev"},
// "meta":{"page","page_size","total"}}. Rows are objects; the row number
// is "__id", as api-tabular names it. Same filters as /api/<id>.
func (s *Server) handleTabular(c *fiber.Ctx) error {
	sizeSet := false
	_, t, p, err := s.pageRequest(c, s.cfg.MaxPageSize, func(k, _ string) (bool, error) {
		if k == "page_size" || k == "_size" {
			sizeSet = true
		}
		return false, nil
	})
	if err != nil {
		return err
	}
	if !sizeSet {
		p.req.Limit = DefaultTabularPageSize
		if err := p.finish(); err != nil {
			return err
		}
	}
	page, err := s.run(c, t, p.req)
	if err != nil {
		return err
	}
	if len(page.Columns) > 0 && page.Columns[0] == query.RowID {
		page.Columns = append([]string{"__id"}, page.Columns[1:]...)
	}
	size := p.req.Limit
	num := 1
	if size > 0 {
		num = p.req.Offset/size + 1
	}
	b := make([]byte, 0, 4096)
	b = append(b, `{"data":`...)
	b = page.AppendRowsJSON(b, true)
	b = append(b, `,"links":{"profile":`...)
	b = appendJSON(b, s.urlFor(c, "/api/"+c.Params("id")+"/profile", nil, "page", "page_size", "_size", "_offset", "_next"))
	b = append(b, `,"next":`...)
	if page.Next != "" || (page.Total >= 0 && int64(p.req.Offset+len(page.Rows)) < page.Total) {
		b = appendJSON(b, s.selfURL(c, map[string]string{"page": strconv.Itoa(num + 1), "page_size": strconv.Itoa(size)}, "_offset", "_size", "_next"))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"prev":`...)
	if num > 1 {
		b = appendJSON(b, s.selfURL(c, map[string]string{"page": strconv.Itoa(num - 1), "page_size": strconv.Itoa(size)}, "_offset", "_size", "_next"))
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"meta":{"page":`...)
	b = strconv.AppendInt(b, int64(num), 10)
	b = append(b, `,"page_size":`...)
	b = strconv.AppendInt(b, int64(size), 10)
	b = append(b, `,"total":`...)
	if page.Total >= 0 {
		b = strconv.AppendInt(b, page.Total, 10)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `}}`...)
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}
