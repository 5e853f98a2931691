// Command fiberref is the reference the bench compares csvapi's cached
// pages with: a bare fiber handler answering every GET with the same 2 KB
// JSON document, with fiber's default settings. It prints the address it
// listens on, then serves until it is killed.
//
//	go build -o fiberref ./bench/fiberref && ./fiberref -addr 127.0.0.1:0
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"strings"

	"github.com/gofiber/fiber/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on (loopback)")
	size := flag.Int("size", 2048, "bytes of the JSON answer")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(ln.Addr().String())
	body := fixedJSON(*size)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get("/*", func(c *fiber.Ctx) error {
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(body)
	})
	log.Fatal(app.Listener(ln))
}

// fixedJSON is a page-like JSON document of exactly size bytes.
func fixedJSON(size int) []byte {
	const head, end = `{"ok":true,"rows":[`, `"]}`
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(`"`)
	for b.Len() < size-len(end) {
		b.WriteByte('x')
	}
	b.WriteString(end)
	return []byte(b.String())
}
