package server

import (
	"bytes"
	"container/list"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
)

// DefaultResponseCacheSize bounds the memory of rendered responses.
const DefaultResponseCacheSize = 64 << 20

// maxCachedResponse is the largest body kept: big pages are rare and
// cheap to rebuild relative to their size.
const maxCachedResponse = 1 << 20

// responseCache keeps rendered JSON answers of data routes. A loaded
// resource version never changes, so an answer is keyed by the resource's
// version, its last revalidation and the exact query string, and stays
// right until the version changes; LRU within a byte budget.
type responseCache struct {
	mu    sync.Mutex
	max   int
	size  int
	order *list.List // front: most recent
	items map[string]*list.Element
}

type cachedResponse struct {
	key         string
	etag        []byte // quoted, as sent
	contentType []byte
	body        []byte
	gzOnce      sync.Once
	gz          []byte // body gzipped, made on the first hit that accepts it
}

func newResponseCache(max int) *responseCache {
	return &responseCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the answer kept under key; key is not retained (the
// conversion in the map index does not allocate).
func (rc *responseCache) get(key []byte) (*cachedResponse, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	el, ok := rc.items[string(key)]
	if !ok {
		return nil, false
	}
	rc.order.MoveToFront(el)
	return el.Value.(*cachedResponse), true
}

func (rc *responseCache) put(r *cachedResponse) {
	n := len(r.body) + len(r.key)
	if n > maxCachedResponse || n > rc.max {
		return
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if el, ok := rc.items[r.key]; ok {
		rc.size -= len(el.Value.(*cachedResponse).body) + len(r.key)
		rc.order.Remove(el)
	}
	rc.items[r.key] = rc.order.PushFront(r)
	rc.size += n
	for rc.size > rc.max {
		old := rc.order.Back()
		o := old.Value.(*cachedResponse)
		rc.order.Remove(old)
		delete(rc.items, o.key)
		rc.size -= len(o.body) + len(o.key)
	}
}

// cached serves GET answers of a resource's data routes from the response
// cache, with an ETag and 304 for clients that have it already; misses run
// the handler and keep its 200 JSON answer. A hit costs a lookup of the
// resource's stamp, a key written into a pooled buffer and a map lookup:
// no allocation, no DuckDB, nothing attached.
func (s *Server) cached(c *fiber.Ctx) error {
	if s.responses == nil || c.Method() != fiber.MethodGet {
		return c.Next()
	}
	id, ok := c.Locals(resourceIDKey).(string) // api-tabular routes resolve theirs
	if !ok {
		id = c.Params("id") // not retained: Peek only looks it up
	}
	st, ok := c.Locals(stampKey).(cache.Stamp) // peeked by serveRows already
	if !ok {
		if st, ok = s.cache.Peek(id); !ok {
			return c.Next() // the handler answers 404, 202 … as usual
		}
	}
	buf := keyBuffers.Get().(*[]byte)
	defer keyBuffers.Put(buf)
	key := s.appendResponseKey((*buf)[:0], c, id, st)
	*buf = key

	if r, ok := s.responses.get(key); ok {
		return sendCached(c, r)
	}
	if err := c.Next(); err != nil {
		return err
	}
	resp := c.Response()
	ct := string(resp.Header.ContentType())
	if resp.StatusCode() != http.StatusOK || !strings.HasPrefix(ct, fiber.MIMEApplicationJSON) || resp.IsBodyStream() {
		return nil
	}
	r := newCachedResponse(string(key), ct, resp.Body())
	s.responses.put(r)
	resp.Header.SetCanonical(headerETag, r.etag)
	return nil
}

// stampKey is the fiber local holding the stamp serveRows peeked, so that
// the cache counts the request's access once.
const stampKey = "csvapi.stamp"

// keyBuffers holds the buffers response keys are written into.
var keyBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// appendResponseKey appends the response cache key of c's request for
// the resource id at st. A resource version never changes, so the key
// holds the version, its last revalidation and whether it failed, whether
// an analysis fills columns_infos, and the exact path and query string.
// Answers hold links built from the public base URL, which comes from the
// request (Host, X-Forwarded-Proto) unless --base-url is set: it is part
// of the key, so that one client's Host never reaches another.
func (s *Server) appendResponseKey(b []byte, c *fiber.Ctx, id string, st cache.Stamp) []byte {
	b = append(b, id...)
	b = append(b, '/')
	b = append(b, st.Version...)
	b = append(b, '/')
	b = strconv.AppendInt(b, st.CheckedAt.UnixNano(), 36)
	if st.Stale {
		b = append(b, '1')
	} else {
		b = append(b, '0')
	}
	if s.infos.analyzed(id, st.Version) { // columns_infos carries the profiles
		b = append(b, 'a')
	}
	b = append(b, '/')
	b = s.appendBaseURL(b, c)
	b = append(b, c.Path()...)
	b = append(b, '?')
	return append(b, c.Request().URI().QueryString()...)
}

// Header names written on every cached hit, in fasthttp's canonical form
// so that they need no normalizing.
var (
	headerETag            = []byte(fiber.HeaderETag)
	headerContentEncoding = []byte(fiber.HeaderContentEncoding)
	headerIfNoneMatch     = []byte(fiber.HeaderIfNoneMatch)
	gzipValue             = []byte("gzip")
)

func newCachedResponse(key, contentType string, body []byte) *cachedResponse {
	return &cachedResponse{key: key, etag: etagOf(key), contentType: []byte(contentType), body: append([]byte(nil), body...)}
}

func sendCached(c *fiber.Ctx, r *cachedResponse) error {
	h := &c.Response().Header
	h.SetCanonical(headerETag, r.etag)
	if match := c.Request().Header.PeekBytes(headerIfNoneMatch); len(match) > 0 && bytes.Contains(match, r.etag) {
		return c.SendStatus(http.StatusNotModified)
	}
	h.SetContentTypeBytes(r.contentType)
	if len(r.body) >= minCompressSize && wantsGzip(c) {
		r.gzOnce.Do(func() { r.gz = gzipBytes(r.body) })
		h.SetCanonical(headerContentEncoding, gzipValue)
		c.Response().SetBodyRaw(r.gz)
		return nil
	}
	c.Response().SetBodyRaw(r.body)
	return nil
}

func etagOf(key string) []byte {
	h := fnv.New64a()
	h.Write([]byte(key))
	return []byte(`"` + strconv.FormatUint(h.Sum64(), 36) + `"`)
}
