package server

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/url"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// exportParams parses the parameters of an export that are not filters:
// format, bom, sep, decimal and values.
type exportParams struct {
	opts query.ExportOptions
}

func (x *exportParams) set(key, value string) (bool, error) {
	switch key {
	case "format", "_format":
		f := query.Format(strings.ToLower(value))
		if !knownFormat(f) {
			return true, badRequest(problem.CodeInvalidParameter, "format must be one of csv, tsv, json, ndjson, parquet, xlsx, not %q", value)
		}
		x.opts.Format = f
	case "bom":
		// A BOM is for Excel: such a file is also made formula-safe.
		x.opts.BOM = value == "1" || value == "true" || value == "yes"
		x.opts.FormulaSafe = x.opts.BOM
	case "values":
		switch value {
		case "source":
			x.opts.SourceForm = true
		case "normalized", "":
			x.opts.SourceForm = false
		default:
			return true, badRequest(problem.CodeInvalidParameter, "values must be source or normalized, not %q", value)
		}
	case "sep", "separator":
		sep, ok := separators[value]
		if !ok {
			return true, badRequest(problem.CodeInvalidParameter, `sep must be one of , ; | tab (or "\t"), not %q`, value)
		}
		x.opts.Separator = sep
	case "decimal":
		switch value {
		case ",", "comma":
			x.opts.DecimalComma = true
		case ".", "point", "dot":
			x.opts.DecimalComma = false
		default:
			return true, badRequest(problem.CodeInvalidParameter, "decimal must be , or ., not %q", value)
		}
	default:
		return false, nil
	}
	return true, nil
}

var separators = map[string]rune{",": ',', ";": ';', "|": '|', "\t": '\t', "tab": '\t', `\t`: '\t', "comma": ',', "semicolon": ';'}

func knownFormat(f query.Format) bool {
	for _, k := range query.Formats {
		if f == k {
			return true
		}
	}
	return false
}

// handleExport answers GET /api/<id>/export and /api/<id>/export.<format>:
// every row matching the filters, in the requested order and columns,
// streamed in the requested format.
func (s *Server) handleExport(c *fiber.Ctx) error {
	var x exportParams
	if f := c.Params("format"); f != "" {
		if _, err := x.set("format", f); err != nil {
			return err
		}
	}
	e, t, p, err := s.pageRequest(c, 0, x.set)
	if err != nil {
		return err
	}
	req := p.req
	req.Limit, req.Offset, req.HideTotal, req.After = -1, 0, true, ""
	req.HideRowID = true
	req.Facets = nil
	if err := req.Validate(t); err != nil {
		return err
	}
	opts := x.opts
	if opts.Format == "" {
		opts.Format = query.FormatCSV
	}
	return s.streamExport(c, e, t, req, opts, exportName(e))
}

// streamExport streams the rows req selects in opts.Format as an
// attachment named name.<format>, in one of the export slots. The entry
// stays pinned until the last row is written.
func (s *Server) streamExport(c *fiber.Ctx, e *cache.Entry, t query.Table, req query.Request, opts query.ExportOptions, name string) error {
	if !safeName.MatchString(name) {
		name = e.ID
	}
	opts.TempDir = s.cfg.ExportDir
	done, err := s.exportSlot(c.UserContext())
	if err != nil {
		return err
	}
	release := s.takeOver(c, e) // the stream outlives the handler
	c.Set(fiber.HeaderContentType, opts.Format.ContentType())
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+name+"."+string(opts.Format)+`"`)
	id, logger, timeout, db := e.ID, s.log, s.cfg.ExportTimeout, s.database()
	conn, stall := c.Context().Conn(), s.cfg.ExportStallTimeout
	// The stream writer runs after the handler returned, so it must not
	// touch c; the query runs on its own context bounded by the export timeout.
	c.Context().SetBodyStreamWriter(func(bw *bufio.Writer) {
		defer release() // the entry stays pinned until the last row is written
		defer done()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		defer cancel()
		w := &stallWriter{w: bw, conn: conn, stall: stall}
		n, err := query.Export(ctx, db, t, req, w, opts)
		if err == nil {
			w.extend()
			err = bw.Flush()
		}
		if err != nil {
			logger.Warn("export interrupted", "id", id, "rows", n, "err", err)
		}
	})
	return nil
}

// stallWriter is the progress deadline of an export: before each write it
// moves the connection's write deadline stall ahead. The server copies what
// the export writes to the connection through a small pipe, so when the
// client stops reading, the server's write fails at the deadline, the pipe
// closes, the export's next write fails and its slot is freed.
type stallWriter struct {
	w     io.Writer
	conn  net.Conn
	stall time.Duration
}

func (s *stallWriter) Write(p []byte) (int, error) {
	s.extend()
	return s.w.Write(p)
}

// extend moves the deadline; an error means the connection is gone, which
// the write that follows reports.
func (s *stallWriter) extend() { _ = s.conn.SetWriteDeadline(time.Now().Add(s.stall)) }

var safeName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,100}$`)

// exportName is the download's file name without extension: the source
// file's base name when it is plain, else the resource id.
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
