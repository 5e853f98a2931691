package server

import (
	"embed"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// staticFiles are the scripts and styles of the HTML pages, embedded so
// that the binary needs nothing else and pages load nothing from elsewhere.
//
//go:embed web/static
var staticFiles embed.FS

// handleStatic serves GET /static/<file>.
func (s *Server) handleStatic(c *fiber.Ctx) error {
	name := strings.Clone(c.Params("*"))
	if name == "" || strings.Contains(name, "..") {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such file."}
	}
	b, err := fs.ReadFile(staticFiles, path.Join("web/static", name))
	if err != nil {
		return &apiError{Status: http.StatusNotFound, Code: CodeNotFound, Message: "No such file: " + name}
	}
	ct := mime.TypeByExtension(path.Ext(name))
	if ct == "" {
		ct = "application/octet-stream"
	}
	c.Set(fiber.HeaderContentType, ct)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	return c.Send(b)
}
