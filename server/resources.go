package server

import (
	"crypto/subtle"
	"errors"
	"net/http"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/linkcheck"
	"github.com/csvapi/csvapi/problem"
)

// acquire pins the resource named by the :id route parameter; the caller
// must Release it. A resource still loading is a *cache.PendingError, which
// handleError answers with 202 and the load's status.
func (s *Server) acquire(c *fiber.Ctx) (*cache.Entry, error) {
	return s.cache.Acquire(c.UserContext(), s.resourceID(c))
}

// heldKey is the fiber local listing the entries a request holds.
const heldKey = "csvapi.held"

// hold is acquire for the rest of the request: releaseHeld releases the
// entry when the handler has returned.
func (s *Server) hold(c *fiber.Ctx) (*cache.Entry, error) {
	e, err := s.acquire(c)
	if err != nil {
		return nil, err
	}
	held, _ := c.Locals(heldKey).([]*cache.Entry)
	c.Locals(heldKey, append(held, e))
	return e, nil
}

// takeOver hands a held entry to code that outlives the handler (a
// streamed body), which must call the returned release.
func (s *Server) takeOver(c *fiber.Ctx, e *cache.Entry) func() {
	held, _ := c.Locals(heldKey).([]*cache.Entry)
	for i, h := range held {
		if h == e {
			c.Locals(heldKey, append(held[:i:i], held[i+1:]...))
		}
	}
	return e.Release
}

// releaseHeld releases the entries held by the request; the frame calls
// it once the request is handled.
func releaseHeld(c *fiber.Ctx) {
	held, _ := c.Locals(heldKey).([]*cache.Entry)
	for _, e := range held {
		e.Release()
	}
}

// statusBody is the JSON of GET /api/<id>/status, and of the 202 answers of
// /apify and /api/<id> while a resource loads.
type statusBody struct {
	OK              bool        `json:"ok"`
	ID              string      `json:"id"`
	Status          cache.State `json:"status"`
	Refreshing      bool        `json:"refreshing,omitempty"`
	Endpoint        string      `json:"endpoint"`
	StatusURL       string      `json:"status_url"`
	BytesDownloaded int64       `json:"bytes_downloaded"`
	BytesTotal      *int64      `json:"bytes_total"` // null when the upstream did not say
	Rows            int64       `json:"rows"`
	ElapsedMS       int64       `json:"elapsed_ms"`
	Error           *statusErr  `json:"error,omitempty"`
	Replica         string      `json:"replica,omitempty"` // with a shared store: where the load runs
	// LinkCheck is the last check of the resource's URL (--checks).
	LinkCheck linkcheck.Result `json:"link_check,omitempty"`
}

type statusErr struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// sendStatus answers with where the load of id stands.
func (s *Server) sendStatus(c *fiber.Ctx, id string, status int) error {
	st, err := s.cache.Status(id)
	if err != nil {
		return err
	}
	base := s.baseURL(c) + "/api/" + id
	body := statusBody{
		OK: true, ID: id, Status: st.State, Refreshing: st.Refreshing,
		Endpoint: base, StatusURL: base + "/status",
		BytesDownloaded: st.BytesDownloaded, Rows: st.Rows, ElapsedMS: st.Elapsed.Milliseconds(),
		Replica: st.Replica,
	}
	if st.BytesTotal >= 0 {
		body.BytesTotal = &st.BytesTotal
	}
	body.LinkCheck = s.lastCheck(st.URL)
	if st.Err != nil {
		ae := classify(st.Err)
		body.Error = &statusErr{Code: ae.Code, Message: ae.Message, Status: ae.Status}
	}
	if status == http.StatusAccepted {
		c.Set(fiber.HeaderLocation, body.StatusURL)
		c.Set(fiber.HeaderRetryAfter, "1")
	}
	return c.Status(status).JSON(body)
}

func (s *Server) handleStatus(c *fiber.Ctx) error {
	return s.sendStatus(c, strings.Clone(c.Params("id")), http.StatusOK)
}

// requireAdmin lets through requests that carry --admin-token as a bearer
// token. Without a configured token the admin routes do not exist.
func (s *Server) requireAdmin(c *fiber.Ctx) error {
	if s.cfg.AdminToken == "" {
		return &problem.Problem{Status: http.StatusNotFound, Code: problem.CodeNotFound, Message: "No such endpoint: " + c.Path()}
	}
	got, bearer := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	if !bearer || subtle.ConstantTimeCompare([]byte(got), []byte(s.cfg.AdminToken)) != 1 {
		return &problem.Problem{Status: http.StatusUnauthorized, Code: problem.CodeUnauthorized,
			Message: "This endpoint needs the admin token: Authorization: Bearer <token>."}
	}
	return c.Next()
}

func (s *Server) handleCacheList(c *fiber.Ctx) error {
	entries := s.cache.List()
	return c.JSON(fiber.Map{"ok": true, "total": len(entries), "entries": entries})
}

func (s *Server) handlePurge(c *fiber.Ctx) error {
	id := strings.Clone(c.Params("id"))
	s.stopBackground(id) // it holds the version: its files would outlive the answer
	if err := s.cache.Purge(id); err != nil {
		return err
	}
	return c.JSON(fiber.Map{"ok": true})
}

// pendingID returns the id of a resource still loading, if err says so.
func pendingID(err error) (string, bool) {
	var p *cache.PendingError
	if errors.As(err, &p) {
		return p.ID, true
	}
	return "", false
}
