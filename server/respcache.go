package server

import (
	"container/list"
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/gofiber/fiber/v2"
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
	etag        string
	contentType string
	body        []byte
	gzOnce      sync.Once
	gz          []byte // body gzipped, made on the first hit that accepts it
}

func newResponseCache(max int) *responseCache {
	return &responseCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

func (rc *responseCache) get(key string) (*cachedResponse, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	el, ok := rc.items[key]
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
// the handler and keep its 200 JSON answer.
func (s *Server) cached(c *fiber.Ctx) error {
	if s.responses == nil || c.Method() != fiber.MethodGet {
		return c.Next()
	}
	e, err := s.acquire(c)
	if err != nil {
		return c.Next() // the handler answers 404, 202 … as usual
	}
	stale := "0"
	if e.Stale != nil {
		stale = "1"
	}
	if s.infos.analysis(e) != nil { // columns_infos carries the profiles
		stale += "a"
	}
	// Answers hold links built from the public base URL, which comes from
	// the request (Host, X-Forwarded-Proto) unless --base-url is set: it is
	// part of the key, so that one client's Host never reaches another.
	key := e.ID + "/" + e.Version + "/" + strconv.FormatInt(e.CheckedAt.UnixNano(), 36) + stale + "/" +
		s.baseURL(c) + c.Path() + "?" + string(c.Request().URI().QueryString())
	e.Release()

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
	r := &cachedResponse{key: key, etag: etagOf(key), contentType: ct, body: append([]byte(nil), resp.Body()...)}
	s.responses.put(r)
	c.Set(fiber.HeaderETag, r.etag)
	return nil
}

func sendCached(c *fiber.Ctx, r *cachedResponse) error {
	c.Set(fiber.HeaderETag, r.etag)
	if match := c.Get(fiber.HeaderIfNoneMatch); match != "" && strings.Contains(match, r.etag) {
		return c.SendStatus(http.StatusNotModified)
	}
	c.Set(fiber.HeaderContentType, r.contentType)
	if len(r.body) >= minCompressSize && wantsGzip(c) {
		r.gzOnce.Do(func() { r.gz = gzipBytes(r.body) })
		c.Set(fiber.HeaderContentEncoding, "gzip")
		return c.Send(r.gz)
	}
	return c.Send(r.body)
}

func etagOf(key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	return `"` + strconv.FormatUint(h.Sum64(), 36) + `"`
}
