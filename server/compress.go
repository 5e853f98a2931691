package server

import (
	"bytes"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/klauspost/compress/gzip"
)

// minCompressSize is the smallest answer worth compressing: below it, the
// CPU spent costs more than the bytes saved on any real link.
const minCompressSize = 8 << 10

// gzipPool reuses compressors: a new one allocates hundreds of KB.
var gzipPool = sync.Pool{New: func() any {
	w, _ := gzip.NewWriterLevel(nil, gzip.BestSpeed)
	return w
}}

// gzipBytes compresses b at the fastest level.
func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b) / 4)
	w := gzipPool.Get().(*gzip.Writer)
	w.Reset(&buf)
	w.Write(b)
	w.Close()
	gzipPool.Put(w)
	return buf.Bytes()
}

// wantsGzip reports whether the answer to c may be gzipped.
func wantsGzip(c *fiber.Ctx) bool {
	return strings.Contains(c.Get(fiber.HeaderAcceptEncoding), "gzip")
}

// compressLarge gzips large JSON answers for clients that accept it. Small
// answers (most pages) and streamed exports are sent as they are.
func compressLarge(c *fiber.Ctx) error {
	if err := c.Next(); err != nil {
		return err
	}
	resp := c.Response()
	c.Vary(fiber.HeaderAcceptEncoding)
	if resp.IsBodyStream() || len(resp.Header.Peek(fiber.HeaderContentEncoding)) > 0 ||
		len(resp.Body()) < minCompressSize || !wantsGzip(c) ||
		!strings.HasPrefix(string(resp.Header.ContentType()), fiber.MIMEApplicationJSON) {
		return nil
	}
	resp.SetBodyRaw(gzipBytes(resp.Body()))
	c.Set(fiber.HeaderContentEncoding, "gzip")
	return nil
}
