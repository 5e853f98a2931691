package server

import (
	"bufio"
	"context"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/query"
)

func (s *Server) handleData(c *fiber.Ctx) error {
	start := time.Now()
	e, err := s.acquire(c)
	if err != nil {
		return err
	}
	defer e.Release()
	p, err := parsePageParams(c, s.cfg.MaxPageSize)
	if err != nil {
		return err
	}
	t := query.Table{Relation: e.Relation, Columns: e.Meta.Columns}
	ctx, cancel := context.WithTimeout(c.UserContext(), s.cfg.QueryTimeout)
	defer cancel()
	done, err := s.querySlot(ctx)
	if err != nil {
		return err
	}
	page, err := query.Run(ctx, s.db, t, p.req)
	done()
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
		b = appendJSON(b, page.Total)
	}
	b = s.infos.appendInfos(b, e)
	b = append(b, '}')
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(b)
}

func (s *Server) handleExport(c *fiber.Ctx) error {
	e, err := s.acquire(c)
	if err != nil {
		return err
	}
	p, err := parsePageParams(c, 0)
	if err != nil {
		e.Release()
		return err
	}
	req := p.req
	req.Limit, req.Offset, req.HideTotal = -1, 0, true
	req.HideRowID = true
	t := query.Table{Relation: e.Relation, Columns: e.Meta.Columns}
	if err := req.Validate(t); err != nil {
		e.Release()
		return err
	}
	done, err := s.querySlot(c.UserContext())
	if err != nil {
		e.Release()
		return err
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+exportName(e)+`.csv"`)
	id, logger, timeout, db := e.ID, s.log, s.cfg.ExportTimeout, s.db
	// The stream writer runs after the handler returned, so it must not
	// touch c; the query runs on its own context bounded by the export timeout.
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer e.Release() // the entry stays pinned until the last row is written
		defer done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		n, err := query.Export(ctx, db, t, req, w)
		if err != nil {
			logger.Warn("export interrupted", "id", id, "rows", n, "err", err)
		}
	})
	return nil
}

var safeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// exportName is the download's file name: the source file's base name when
// it is plain, else the resource id.
func exportName(e *cache.Entry) string {
	name := e.Meta.Filename
	if e.Meta.URL != "" {
		if u, err := url.Parse(e.Meta.URL); err == nil {
			name = path.Base(u.Path)
		}
	}
	name = strings.TrimSuffix(strings.TrimSuffix(name, ".gz"), path.Ext(strings.TrimSuffix(name, ".gz")))
	if !safeName.MatchString(name) {
		return e.ID
	}
	return name
}
