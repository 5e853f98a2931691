package server

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/csvapi/csvapi/linkcheck"
	"github.com/csvapi/csvapi/problem"
)

// Defaults of ChecksConfig.
const (
	DefaultChecksRate          = 60    // requests a minute per client
	DefaultChecksURLsPerCall   = 1000  // URLs in one POST /check/many
	DefaultChecksURLsPerClient = 10000 // URLs submitted an hour per client
)

// ChecksConfig turns on the croquemort-compatible link checker routes.
// Zero numbers mean their Default* value.
type ChecksConfig struct {
	Service *linkcheck.Service // nil: no link checker routes
	// Token, when set, is the bearer token every link checker route needs.
	Token string
	// Rate is how many requests a minute one client may make to these routes.
	Rate int
	// MaxURLsPerRequest caps the URLs of one POST /check/many.
	MaxURLsPerRequest int
	// MaxURLsPerClient caps the URLs one client may submit in an hour: an
	// open link checker is an amplifier.
	MaxURLsPerClient int
}

// checkRoutes registers the link checker routes.
func (s *Server) checkRoutes(a *fiber.App) {
	cfg := &s.cfg.Checks
	if cfg.Rate <= 0 {
		cfg.Rate = DefaultChecksRate
	}
	orDefault(&cfg.MaxURLsPerRequest, DefaultChecksURLsPerCall)
	orDefault(&cfg.MaxURLsPerClient, DefaultChecksURLsPerClient)
	q := &checkQuota{rate: cfg.Rate, urls: cfg.MaxURLsPerClient, clients: map[string]*clientQuota{}}
	s.metrics.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "csvapi_link_checks_pending",
		Help: "URLs queued or being checked here, or waiting for another replica's check.",
	}, func() float64 { return float64(cfg.Service.Pending()) }))
	guard := func(c *fiber.Ctx) error { return s.checkGuard(c, q) }
	a.Post("/check/one", guard, func(c *fiber.Ctx) error { return s.handleCheckOne(c, q) })
	a.Post("/check/many", guard, func(c *fiber.Ctx) error { return s.handleCheckMany(c, q) })
	a.Get("/url", guard, s.handleCheckedURL)
	a.Get("/url/:hash", guard, s.handleCheckedURL)
	a.Get("/group", guard, s.handleCheckedGroup)
	a.Get("/group/:hash", guard, s.handleCheckedGroup)
	a.Get("/checks", guard, s.handleChecksPage)
	a.Get("/checks.csv", guard, s.handleChecksCSV)
}

// checkGuard applies the token and the per-client request rate.
func (s *Server) checkGuard(c *fiber.Ctx, q *checkQuota) error {
	if tok := s.cfg.Checks.Token; tok != "" {
		got, _ := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
		if subtle.ConstantTimeCompare([]byte(got), []byte(tok)) != 1 {
			return &problem.Problem{Status: http.StatusUnauthorized, Code: "unauthorized",
				Message: "The link checker needs its token: Authorization: Bearer <token>."}
		}
	}
	if !q.allow(strings.Clone(c.IP()), 0, time.Now()) {
		c.Set(fiber.HeaderRetryAfter, "60")
		return &problem.Problem{Status: http.StatusTooManyRequests, Code: "rate_limited",
			Message: fmt.Sprintf("Too many requests: the link checker allows %d a minute per client.", q.rate)}
	}
	return c.Next()
}

// checkRequest is the body of POST /check/one and /check/many, croquemort's
// field names.
type checkRequest struct {
	URL         string   `json:"url"`
	URLs        []string `json:"urls"`
	Group       string   `json:"group"`
	Frequency   string   `json:"frequency"`
	CallbackURL string   `json:"callback_url"`
}

func parseCheckRequest(c *fiber.Ctx) (checkRequest, error) {
	var req checkRequest
	if err := json.Unmarshal(c.Body(), &req); err != nil {
		return req, badRequest("invalid_parameter", "The body must be a JSON object: %s.", "{\"url\": \"https://…\"}")
	}
	return req, nil
}

func (s *Server) handleCheckOne(c *fiber.Ctx, q *checkQuota) error {
	req, err := parseCheckRequest(c)
	if err != nil {
		return err
	}
	if req.URL == "" {
		return badRequest("missing_parameter", "url is required.")
	}
	if err := s.submitChecks(c, q, linkcheck.Request{URLs: []string{req.URL}, Group: req.Group,
		Frequency: req.Frequency, CallbackURL: req.CallbackURL}); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"url-hash": linkcheck.URLHash(req.URL)})
}

func (s *Server) handleCheckMany(c *fiber.Ctx, q *checkQuota) error {
	req, err := parseCheckRequest(c)
	if err != nil {
		return err
	}
	if len(req.URLs) == 0 || req.Group == "" {
		return badRequest("missing_parameter", "urls and group are required.")
	}
	if max := s.cfg.Checks.MaxURLsPerRequest; len(req.URLs) > max {
		return &problem.Problem{Status: http.StatusRequestEntityTooLarge, Code: "too_many_urls",
			Message: fmt.Sprintf("Too many URLs: at most %d per request.", max)}
	}
	if err := s.submitChecks(c, q, linkcheck.Request{URLs: req.URLs, Group: req.Group,
		Frequency: req.Frequency, CallbackURL: req.CallbackURL}); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"group-hash": linkcheck.GroupHash(req.Group)})
}

// submitChecks charges the client's URL quota and queues the checks.
func (s *Server) submitChecks(c *fiber.Ctx, q *checkQuota, req linkcheck.Request) error {
	if !q.allow(strings.Clone(c.IP()), len(req.URLs), time.Now()) {
		c.Set(fiber.HeaderRetryAfter, "3600")
		return &problem.Problem{Status: http.StatusTooManyRequests, Code: "too_many_urls",
			Message: fmt.Sprintf("Too many URLs: a client may submit %d an hour.", q.urls)}
	}
	err := s.cfg.Checks.Service.Submit(req)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, linkcheck.ErrInvalidRequest):
		return badRequest("invalid_parameter", "%s.", problem.Capitalize(err.Error()))
	case errors.Is(err, linkcheck.ErrForbidden):
		return &problem.Problem{Status: http.StatusForbidden, Code: "forbidden_address",
			Message: "A URL or the callback_url points to an address or port this service may not reach (loopback, private or link-local network)."}
	case errors.Is(err, linkcheck.ErrQueueFull):
		c.Set(fiber.HeaderRetryAfter, "60")
		return &problem.Problem{Status: http.StatusServiceUnavailable, Code: "busy",
			Message: "Too many checks are waiting; retry later."}
	}
	return err
}

// handleCheckedURL answers GET /url/<hash> and GET /url?url=: the last
// result of a URL, croquemort's flat object.
func (s *Server) handleCheckedURL(c *fiber.Ctx) error {
	h, err := hashParam(c, "url", linkcheck.URLHash)
	if err != nil {
		return err
	}
	r, ok := s.cfg.Checks.Service.URL(h)
	if !ok {
		return &problem.Problem{Status: http.StatusNotFound, Code: "not_found", Message: "No such URL: submit it to POST /check/one first."}
	}
	return c.JSON(r)
}

// handleCheckedGroup answers GET /group/<hash> and GET /group?group=:
// {"name", "urls": [results]} filtered by filter_<key>= and exclude_<key>=.
func (s *Server) handleCheckedGroup(c *fiber.Ctx) error {
	h, err := hashParam(c, "group", linkcheck.GroupHash)
	if err != nil {
		return err
	}
	name, results, ok := s.cfg.Checks.Service.Group(h)
	if !ok {
		return &problem.Problem{Status: http.StatusNotFound, Code: "not_found", Message: "No such group: submit it to POST /check/many first."}
	}
	filters, excludes := map[string]string{}, map[string]string{}
	for k, v := range c.Queries() {
		if key, ok := strings.CutPrefix(k, "filter_"); ok {
			filters[key] = v
		} else if key, ok := strings.CutPrefix(k, "exclude_"); ok {
			excludes[key] = v
		}
	}
	results = linkcheck.Filter(results, filters, excludes)
	if results == nil {
		results = []linkcheck.Result{}
	}
	return c.JSON(fiber.Map{"name": name, "urls": results})
}

// hashParam returns the :hash path parameter, or the hash of the query
// parameter param.
func hashParam(c *fiber.Ctx, param string, hash func(string) string) (string, error) {
	if p := c.Params("hash"); p != "" {
		h, err := url.PathUnescape(p)
		if err != nil {
			return "", badRequest("invalid_parameter", "The hash is not a valid path segment.")
		}
		return h, nil
	}
	v := c.Query(param)
	if v == "" {
		return "", badRequest("missing_parameter", "%s is required.", param)
	}
	return hash(v), nil
}

// checkQuota counts, per client address, requests in the current minute and
// URLs submitted in the current hour.
type checkQuota struct {
	rate, urls int
	mu         sync.Mutex
	clients    map[string]*clientQuota
}

type clientQuota struct {
	minute, hour   time.Time
	requests, urls int
}

// allow charges one request (when n is 0) or n URLs to client and reports
// whether the client is within its quota.
func (q *checkQuota) allow(client string, n int, now time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	cq := q.clients[client]
	if cq == nil {
		if len(q.clients) > 100000 {
			q.prune(now)
		}
		cq = &clientQuota{minute: now, hour: now}
		q.clients[client] = cq
	}
	if now.Sub(cq.minute) >= time.Minute {
		cq.minute, cq.requests = now, 0
	}
	if now.Sub(cq.hour) >= time.Hour {
		cq.hour, cq.urls = now, 0
	}
	if n == 0 {
		cq.requests++
		return cq.requests <= q.rate
	}
	if cq.urls+n > q.urls {
		return false
	}
	cq.urls += n
	return true
}

// prune forgets the clients whose windows are over, so that the map stays
// bounded under a spray of addresses.
func (q *checkQuota) prune(now time.Time) {
	for k, cq := range q.clients {
		if now.Sub(cq.hour) >= time.Hour {
			delete(q.clients, k)
		}
	}
}

// lastCheck returns the last check of rawURL, or nil when the link checker
// is off or has not checked it.
func (s *Server) lastCheck(rawURL string) linkcheck.Result {
	if s.cfg.Checks.Service == nil || rawURL == "" {
		return nil
	}
	r, ok := s.cfg.Checks.Service.URL(linkcheck.URLHash(rawURL))
	if !ok || r["updated"] == "" {
		return nil
	}
	return r
}

// checksDegraded returns the "degraded" entries of /ready for the link
// checker: "checks" while the store it shares with other replicas cannot be
// reached (it then checks here alone). The map is never nil.
func (s *Server) checksDegraded() map[string]string {
	d := map[string]string{}
	if svc := s.cfg.Checks.Service; svc != nil && svc.StoreErr() != nil {
		d["checks"] = "the shared store is unreachable: links are checked here alone, results are shared when it returns"
	}
	return d
}
