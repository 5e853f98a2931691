package server

import (
	"net"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
)

// ReferenceBody is the fixed answer of the reference app: a 2 KB JSON
// document, about the size of a cached first page of 20 rows.
var ReferenceBody = referenceBody(2 << 10)

// NewReferenceApp returns a bare fiber app whose every GET answers
// ReferenceBody as JSON: the ceiling that the cost of csvapi's cached pages
// is measured against (see BenchmarkCachedPageCeiling). It has no
// middleware and does no work per request beyond fiber's own.
func NewReferenceApp() *fiber.App {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(ReferenceBody)
	})
	return app
}

// ServeReference serves NewReferenceApp on ln until the listener is
// closed; for load generators that compare csvapi against fiber's ceiling.
func ServeReference(ln net.Listener) error { return NewReferenceApp().Listener(ln) }

// referenceBody builds a JSON array of rows of about n bytes.
func referenceBody(n int) []byte {
	var b strings.Builder
	b.WriteString(`{"ok":true,"rows":[`)
	for i := 0; b.Len() < n-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`[` + strconv.Itoa(i+1) + `,"Saint-Martin",` + strconv.Itoa(1000+i) + `,"2024-01-01",true]`)
	}
	b.WriteString(`],"total":1000000}`)
	return []byte(b.String())
}
