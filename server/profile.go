package server

import (
	"context"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/query"
)

// handleProfile answers GET /api/<id>/profile: per-column statistics of
// the rows the filters select. Without filters, search or column choice,
// the profile of the version is computed once and kept (fullProfile).
func (s *Server) handleProfile(c *fiber.Ctx) error {
	start := time.Now()
	e, t, p, err := s.pageRequest(c, 0, nil)
	if err != nil {
		return err
	}
	var profile []byte
	if unfiltered(p.req) {
		pc, err := s.fullProfile(c.UserContext(), e)
		if err != nil {
			return err
		}
		profile = pc.json
	} else {
		var tp *query.TableProfile
		err = s.withQuery(c, func(ctx context.Context) (err error) {
			t.Busy = len(s.queries) > 1 // this profile holds one of the slots
			tp, err = query.Profile(ctx, s.database(), t, p.req)
			return err
		})
		if err != nil {
			return err
		}
		profile = appendJSON(nil, tp)
	}
	b := append([]byte(`{"ok":true,"query_ms":`), appendMillis(nil, time.Since(start))...)
	b = append(b, `,"profile":`...)
	b = append(b, profile...)
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}
