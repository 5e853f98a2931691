package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// TestErrorBodies maps domain errors to what each API family answers: the
// status and code, in csvapi's body {"ok":false,"error","code"} and in
// api-tabular's {"errors":[{"code","title","detail"}]}.
func TestErrorBodies(t *testing.T) {
	s := New(Config{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var current error
	app := fiber.New(fiber.Config{ErrorHandler: s.handleError})
	fail := func(c *fiber.Ctx) error { return current }
	app.Get("/api/:id", fail)
	app.Get("/api/resources/:id/data", fail)

	tests := []struct {
		err    error
		status int
		code   string
	}{
		{&query.InvalidError{Param: "x__exact", Message: "expects an integer"}, 400, problem.CodeInvalidParameter},
		{invalidParam("limit", "argument %q could not be parsed", "limit"), 400, problem.CodeInvalidParameter},
		{cache.ErrNotFound, 404, problem.CodeNotFound},
		{fmt.Errorf("load: %w", convert.ErrTooLarge), 413, problem.CodeTooLarge},
		{convert.ErrNotTabular, 415, problem.CodeNotTabular},
		{convert.ErrUnreadable, 422, problem.CodeUnreadable},
		{&convert.FetchError{Status: 404}, 502, problem.CodeUpstreamStatus},
		{context.DeadlineExceeded, 504, problem.CodeTimeout},
		{cache.ErrConflict, 409, problem.CodeConflict},
		{fmt.Errorf("duckdb: SELECT secret FROM /var/cache"), 500, problem.CodeInternalError},
	}
	for _, tt := range tests {
		current = tt.err
		t.Run(fmt.Sprint(tt.err), func(t *testing.T) {
			status, body := errorBody(t, app, "/api/"+cache.ID("x"))
			if status != tt.status || body["ok"] != false || body["code"] != tt.code || body["error"] == "" {
				t.Errorf("csvapi: status %d body %v, want %d with ok:false, code %s and error", status, body, tt.status, tt.code)
			}
			status, body = errorBody(t, app, "/api/resources/"+cache.ID("x")+"/data/")
			errs, _ := body["errors"].([]any)
			e, _ := errs[0].(map[string]any)
			detail, _ := e["detail"].(map[string]any)
			msg, _ := detail["message"].(string)
			if status != tt.status || len(body) != 1 || len(errs) != 1 || e["code"] != tt.code || e["title"] == "" || msg == "" {
				t.Errorf("api-tabular: status %d body %v, want %d with errors[{code %s, title, detail.message}]", status, body, tt.status, tt.code)
			}
			if tt.status == 500 && strings.Contains(msg, "secret") {
				t.Errorf("api-tabular 500 leaks the error: %v", msg)
			}
		})
	}

	// A resource still converting: api-tabular's routes answer 503 with
	// Retry-After (csvapi's answer 202 with the load's status, which needs
	// a cache: see cmd/csvapi's tests).
	current = &cache.PendingError{ID: cache.ID("x")}
	resp, err := app.Test(httptest.NewRequest("GET", "/api/resources/"+cache.ID("x")+"/data/", nil), -1)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("pending on api-tabular routes: %v %v, want 503 with Retry-After", resp, err)
	}
}

func errorBody(t *testing.T, app *fiber.App, path string) (int, map[string]any) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest("GET", path, nil), -1) // no 1 s timeout: a loaded machine can be slower
	if err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("GET %s: invalid JSON %q", path, raw)
	}
	return resp.StatusCode, body
}

func TestClassifyRememberedFailure(t *testing.T) {
	at := time.Now().Add(-20 * time.Second).UTC().Truncate(time.Second)
	err := fmt.Errorf("load: %w", &cache.RememberedError{
		Err: &convert.FetchError{URL: "http://x", Status: 503}, At: at, RetryAt: at.Add(time.Minute)})
	ae := classify(err)
	if ae.Status != http.StatusBadGateway || ae.Code != problem.CodeUpstreamStatus {
		t.Fatalf("status %d code %s, want 502 %s", ae.Status, ae.Code, problem.CodeUpstreamStatus)
	}
	d, ok := ae.Details.(map[string]any)
	if !ok || d["upstream_status"] != 503 || d["failed_at"] != at.Format(time.RFC3339) ||
		d["retry_at"] != at.Add(time.Minute).Format(time.RFC3339) {
		t.Errorf("details %v, want upstream_status, failed_at and retry_at", ae.Details)
	}
	if ae.RetryAfter < time.Second || ae.RetryAfter > time.Minute {
		t.Errorf("Retry-After %v, want between 1 s and 1 min", ae.RetryAfter)
	}
	if !strings.Contains(ae.Message, "refresh=yes") {
		t.Errorf("message %q does not say how to retry", ae.Message)
	}
	if fresh := classify(&convert.FetchError{URL: "http://x", Status: 503}); fresh.RetryAfter != 0 {
		t.Errorf("a fresh failure has Retry-After %v", fresh.RetryAfter)
	}
}
