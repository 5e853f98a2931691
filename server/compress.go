package server

import (
	"bytes"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
	"github.com/klauspost/compress/gzip"
	"github.com/valyala/fasthttp"
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

// compressLarge gzips a large JSON answer for a client that accepts it,
// once the route has answered without error, and says in Vary that the
// answer depends on Accept-Encoding. Small answers (most pages) and
// streamed exports are sent as they are.
func compressLarge(c *fiber.Ctx) {
	resp := c.Response()
	varyAcceptEncoding(&resp.Header)
	if resp.IsBodyStream() || len(resp.Body()) < minCompressSize ||
		len(resp.Header.PeekBytes(headerContentEncoding)) > 0 || !wantsGzip(c) ||
		!bytes.HasPrefix(resp.Header.ContentType(), mimeJSON) {
		return
	}
	resp.SetBodyRaw(gzipBytes(resp.Body()))
	resp.Header.SetCanonical(headerContentEncoding, gzipValue)
}

var (
	headerVary     = []byte(fiber.HeaderVary)
	acceptEncoding = []byte(fiber.HeaderAcceptEncoding)
	mimeJSON       = []byte(fiber.MIMEApplicationJSON)
)

// varyAcceptEncoding adds Accept-Encoding to the Vary header, as fiber's
// Ctx.Vary does, without its splitting and string building in the usual
// case where no other Vary is set.
func varyAcceptEncoding(h *fasthttp.ResponseHeader) {
	v := h.PeekBytes(headerVary)
	switch {
	case len(v) == 0:
		h.SetCanonical(headerVary, acceptEncoding)
	case !bytes.Contains(v, acceptEncoding):
		h.SetCanonical(headerVary, append(append(append([]byte(nil), v...), ", "...), acceptEncoding...))
	}
}
