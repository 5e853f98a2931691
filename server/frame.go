package server

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
)

// rowsRoute is the route of a resource's pages, the one the frame serves
// from the response cache without fiber's routing.
const rowsRoute = "/api/:id"

// frame is the first handler of every request and the last to touch its
// answer. It gives the request its id, serves a cached page itself
// (serveRows) or runs the routes, turns an error into its answer, and
// finishes what every answer shares: held entries released, Vary and
// compression, security headers, metrics and the access line. These were
// six middlewares (fiber's recover and requestid, then the access log,
// the release of held entries, the security headers and compression),
// which every request passed through one call of fiber's router each; a
// cached page now passes through none (BenchmarkCachedPageHandler).
func (s *Server) frame(c *fiber.Ctx) error {
	setRequestID(c)
	route, err := s.dispatch(c)
	// The steps of the six middlewares, innermost first.
	if err == nil {
		compressLarge(c)
	}
	setSecurityHeaders(c)
	releaseHeld(c)
	if err != nil {
		if herr := s.app.ErrorHandler(c, err); herr != nil {
			return herr
		}
	}
	if route == "" {
		route = c.Route().Path
	}
	s.logRequest(c, route)
	return nil
}

// dispatch answers c: a page of a resource through serveRows, anything
// else through the routes. A panic is returned as an error, as fiber's
// recover middleware did. route is the pattern the request is recorded
// under, "" for the route fiber matched.
func (s *Server) dispatch(c *fiber.Ctx) (route string, err error) {
	defer func() {
		if r := recover(); r != nil {
			var ok bool
			if err, ok = r.(error); !ok {
				err = fmt.Errorf("%v", r)
			}
		}
	}()
	if id, ok := s.rowsID(c); ok {
		return s.serveRows(c, id)
	}
	return "", c.Next()
}

// rowsID returns the id of a request fiber would route to GET /api/:id
// when the response cache might answer it: a GET without Origin (CORS
// requests take the routes, through the CORS middleware), its path
// exactly /api/<id> (other spellings that fiber routes there, a trailing
// slash or another case, take the routes too), not /api/cache (a route
// of its own, registered before).
func (s *Server) rowsID(c *fiber.Ctx) (string, bool) {
	if s.responses == nil || s.cache == nil || c.Method() != fiber.MethodGet {
		return "", false
	}
	id, ok := strings.CutPrefix(c.Path(), "/api/")
	if !ok || id == "" || strings.IndexByte(id, '/') >= 0 || strings.EqualFold(id, "cache") ||
		len(c.Request().Header.PeekBytes(headerOrigin)) > 0 {
		return "", false
	}
	return id, true
}

var headerOrigin = []byte(fiber.HeaderOrigin)

// serveRows does for GET /api/<id> what the middlewares between the frame
// and the route, then the route's cached handler, would do: the CORS
// middleware's Vary (no Origin here), the rate limit, the referrer filter,
// and the answer from the response cache. When the cache has no answer,
// the routes take the request on (fiber's routing, handleRows), knowing
// that the rate limit and referrer filter have been applied (passedKey)
// and, when the resource is ready, its stamp (stampKey), so that neither
// counts twice.
func (s *Server) serveRows(c *fiber.Ctx, id string) (route string, err error) {
	if s.cfg.CORSOrigins != "*" {
		c.Vary(fiber.HeaderOrigin) // as the CORS middleware does without Origin
	}
	var q rateQuota
	if s.limiter != nil {
		if q, err = s.countRequest(c); err != nil {
			return rowsRoute, err
		}
		defer s.setRateHeaders(c, q)
	}
	if len(s.cfg.Referrers) > 0 && !s.referrerAllowed(c) {
		return rowsRoute, forbiddenReferrer()
	}
	st, ready := s.cache.Peek(id)
	if ready {
		buf := keyBuffers.Get().(*[]byte)
		defer keyBuffers.Put(buf)
		key := s.appendResponseKey((*buf)[:0], c, id, st)
		*buf = key
		if r, ok := s.responses.get(key); ok {
			return rowsRoute, sendCached(c, r)
		}
		c.Locals(stampKey, st)
	}
	c.Locals(passedKey, true)
	return "", c.Next()
}

// passedKey is the fiber local set on a request that serveRows passed
// through the rate limit and the referrer filter before handing it to
// the routes: their middlewares let it through.
const passedKey = "csvapi.passed"

// passed reports whether serveRows already applied the rate limit and the
// referrer filter to c.
func passed(c *fiber.Ctx) bool { return c.Locals(passedKey) != nil }

// headerXRequestID is X-Request-Id in fasthttp's canonical form (fiber's
// constant spells it X-Request-ID).
var headerXRequestID = []byte("X-Request-Id")

// setRequestID gives the answer the request's id: the client's
// X-Request-Id when it sent one (as fiber's requestid middleware did, so a
// proxy's id carries through), else a new one. The id lives in the
// answer's header, where the error handler and the access line read it.
func setRequestID(c *fiber.Ctx) {
	h := &c.Response().Header
	if rid := c.Request().Header.PeekBytes(headerXRequestID); len(rid) > 0 {
		h.SetCanonical(headerXRequestID, rid)
		return
	}
	var b [36]byte
	h.SetCanonical(headerXRequestID, requestIDs.next(&b))
}

// requestID returns the id setRequestID gave c's answer; it is a view of
// the answer's header.
func requestID(c *fiber.Ctx) []byte { return c.Response().Header.PeekBytes(headerXRequestID) }

// requestIDs makes the request ids of this process.
var requestIDs = newIDSource()

// idSource makes request ids shaped as version 4 UUIDs, as fiber's
// requestid middleware did (utils.UUID, which it builds the same way):
// 8 bytes of a counter and 8 random bytes drawn once per process. They
// are unique within a process and unlikely to meet another process's, but
// guessable: an id names a log line, it grants nothing. Unlike
// utils.UUID, an id is written into the caller's buffer, not allocated.
type idSource struct {
	seed    [16]byte
	counter atomic.Uint64
}

func newIDSource() *idSource {
	s := &idSource{}
	rand.Read(s.seed[:]) // never fails (crypto/rand's doc)
	s.counter.Store(binary.LittleEndian.Uint64(s.seed[:8]))
	return s
}

// next writes the next id into b and returns it.
func (s *idSource) next(b *[36]byte) []byte {
	u := s.seed
	binary.LittleEndian.PutUint64(u[:8], s.counter.Add(1))
	u[6], u[9] = u[9], u[6] // the counter's byte 6 moves out of the version byte
	u[6] = u[6]&0x0f | 0x40 // version 4
	u[8] = u[8]&0x3f | 0x80 // RFC 4122 variant
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return b[:]
}

// logRequest records a finished request in the metrics under route, never
// the raw path (ids would make the label set unbounded), and logs its
// access line. The line's attributes are built only when Info is
// enabled, as typed attributes (no boxing): this runs on every request,
// cached pages included. The duration runs from fasthttp's reading of
// the request's header (RequestCtx.Time).
func (s *Server) logRequest(c *fiber.Ctx, route string) {
	now := time.Now()
	elapsed := now.Sub(c.Context().Time())
	if route == "/" && c.Path() != "/" {
		route = "unmatched"
	}
	status := c.Response().StatusCode()
	s.metrics.observer(requestLabels{route, c.Method(), status}).Observe(elapsed.Seconds())
	if !s.log.Handler().Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	// A record for the handler, not Logger.LogAttrs, which would also walk
	// the stack for a source position that the access line does not need.
	// Its strings are copies: fasthttp reuses the request's memory before
	// the line is written (see accessLines).
	r := slog.NewRecord(now, slog.LevelInfo, "request", 0)
	r.AddAttrs(slog.String("method", strings.Clone(c.Method())), slog.String("path", strings.Clone(c.Path())),
		slog.Int("status", status), slog.Duration("duration", elapsed),
		slog.String("request_id", string(requestID(c))), slog.String("client", s.clientAddr(c)))
	s.access.log(r)
}
