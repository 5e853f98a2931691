package server

import (
	_ "embed"

	"github.com/gofiber/fiber/v2"
)

// openAPIDoc is the hand-written OpenAPI 3.1 document of the API. A test
// checks that it documents every route and that it is valid.
//
//go:embed web/openapi.json
var openAPIDoc []byte

// docsPage renders openAPIDoc in the browser with inline script and
// style only: it loads nothing from the internet.
//
//go:embed web/docs.html
var docsPage []byte

func (s *Server) handleOpenAPI(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSONCharsetUTF8)
	return c.Send(openAPIDoc)
}

func (s *Server) handleDocs(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
	return c.Send(docsPage)
}
