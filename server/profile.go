package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/query"
)

// handleProfile answers GET /api/<id>/profile: per-column statistics of
// the rows the filters select.
func (s *Server) handleProfile(c *fiber.Ctx) error {
	start := time.Now()
	_, t, p, err := s.pageRequest(c, 0, nil)
	if err != nil {
		return err
	}
	var tp *query.TableProfile
	err = s.withQuery(c, func(ctx context.Context) (err error) {
		t.Busy = len(s.queries) > 1 // this profile holds one of the slots
		tp, err = query.Profile(ctx, s.database(), t, p.req)
		return err
	})
	if err != nil {
		return err
	}
	b := append([]byte(`{"ok":true,"query_ms":`), appendMillis(nil, time.Since(start))...)
	b = append(b, `,"profile":`...)
	b = appendJSON(b, tp)
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}
