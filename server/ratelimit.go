package server

import (
	"fmt"
	"hash/maphash"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/problem"
)

// rateShards spreads the clients of the rate limiter over locks of their
// own, so that concurrent requests rarely wait for each other.
const rateShards = 16

// rateLimiter limits each client (appendClientKey) to limit requests per fixed
// window of a minute, as fiber's limiter did: passed requests carry
// X-RateLimit-Limit, -Remaining and -Reset, refused ones are 429
// rate_limited with Retry-After. Unlike fiber's, it takes no global lock
// and builds no string for a client it knows (this runs on every
// request, cached pages included). Probes and metrics are exempt.
type rateLimiter struct {
	limit     int
	limitText []byte // limit in decimal, as X-RateLimit-Limit sends it
	window    time.Duration
	seed      maphash.Seed
	shards    [rateShards]rateShard
	now       func() time.Time // for tests
}

type rateShard struct {
	mu        sync.Mutex
	clients   map[string]*rateWindow
	lastSweep time.Time
}

// rateWindow counts the requests of one client in its current window.
type rateWindow struct {
	reset time.Time // end of the window
	hits  int
}

func newRateLimiter(limit int, window time.Duration) *rateLimiter {
	rl := &rateLimiter{limit: limit, limitText: []byte(strconv.Itoa(limit)), window: window, seed: maphash.MakeSeed(), now: time.Now}
	for i := range rl.shards {
		rl.shards[i].clients = map[string]*rateWindow{}
	}
	return rl
}

// take counts one request of the client key (not retained) and returns
// the requests left in its window (negative: refused) and when the
// window ends.
func (rl *rateLimiter) take(key []byte) (remaining int, reset time.Time) {
	now := rl.now()
	sh := &rl.shards[maphash.Bytes(rl.seed, key)%rateShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	w := sh.clients[string(key)] // no allocation for a lookup
	if w == nil {
		sh.sweep(now, rl.window)
		w = &rateWindow{}
		sh.clients[string(key)] = w
	}
	if !now.Before(w.reset) {
		w.reset, w.hits = now.Add(rl.window), 0
	}
	w.hits++
	return rl.limit - w.hits, w.reset
}

// sweep forgets the clients whose window has ended, at most once a
// window, so that the map holds about one window's clients. Called with
// sh.mu held.
func (sh *rateShard) sweep(now time.Time, window time.Duration) {
	if now.Sub(sh.lastSweep) < window {
		return
	}
	sh.lastSweep = now
	for k, w := range sh.clients {
		if !now.Before(w.reset) {
			delete(sh.clients, k)
		}
	}
}

// The rate limit headers, in fasthttp's canonical form (as fiber sent them).
var (
	headerRateLimitLimit     = []byte("X-Ratelimit-Limit")
	headerRateLimitRemaining = []byte("X-Ratelimit-Remaining")
	headerRateLimitReset     = []byte("X-Ratelimit-Reset")
)

// rateQuota is what a passed request is told of its client's window.
type rateQuota struct {
	remaining int
	resetSecs int64
}

// rateLimit is the middleware limiting each client to s.cfg.RateLimit
// requests a minute; the frame applies the same limit to the pages it
// serves itself (serveRows).
func (s *Server) rateLimit(c *fiber.Ctx) error {
	if isOpsRoute(c.Path()) || passed(c) {
		return c.Next()
	}
	q, err := s.countRequest(c)
	if err != nil {
		return err
	}
	err = c.Next()
	s.setRateHeaders(c, q)
	return err
}

// countRequest counts c in its client's window and returns what is left;
// past the limit, it sets Retry-After and returns 429 rate_limited.
func (s *Server) countRequest(c *fiber.Ctx) (rateQuota, error) {
	var kb [64]byte
	remaining, reset := s.limiter.take(s.appendClientKey(kb[:0], c))
	secs := int64(max(time.Until(reset).Round(time.Second), time.Second) / time.Second)
	if remaining < 0 {
		c.Set(fiber.HeaderRetryAfter, strconv.FormatInt(secs, 10))
		return rateQuota{}, &problem.Problem{Status: http.StatusTooManyRequests, Code: problem.CodeRateLimited,
			Message: fmt.Sprintf("Too many requests: the limit is %d a minute per client. Retry after the delay in Retry-After.", s.cfg.RateLimit)}
	}
	return rateQuota{remaining, secs}, nil
}

// setRateHeaders tells a passed request's client its limit, what is left
// of it and when its window ends.
func (s *Server) setRateHeaders(c *fiber.Ctx, q rateQuota) {
	h := &c.Response().Header
	var nb [20]byte
	h.SetCanonical(headerRateLimitLimit, s.limiter.limitText)
	h.SetCanonical(headerRateLimitRemaining, strconv.AppendInt(nb[:0], int64(q.remaining), 10))
	h.SetCanonical(headerRateLimitReset, strconv.AppendInt(nb[:0], q.resetSecs, 10))
}

// appendClientKey appends what clientAddr names the client by: the raw
// bytes of its address, or behind a reverse proxy the last address of
// the proxy header.
func (s *Server) appendClientKey(b []byte, c *fiber.Ctx) []byte {
	if s.cfg.ProxyHeader != "" {
		v := c.Get(s.cfg.ProxyHeader)
		if i := strings.LastIndexByte(v, ','); i >= 0 {
			v = v[i+1:]
		}
		if v = strings.TrimSpace(v); v != "" {
			return append(append(b, 'h'), v...)
		}
	}
	return append(append(b, 'a'), c.Context().RemoteIP()...)
}
