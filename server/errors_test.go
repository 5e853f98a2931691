package server

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
)

func TestClassifyRememberedFailure(t *testing.T) {
	at := time.Now().Add(-20 * time.Second).UTC().Truncate(time.Second)
	err := fmt.Errorf("load: %w", &cache.RememberedError{
		Err: &convert.FetchError{URL: "http://x", Status: 503}, At: at, RetryAt: at.Add(time.Minute)})
	ae := classify(err)
	if ae.Status != http.StatusBadGateway || ae.Code != "upstream_status" {
		t.Fatalf("status %d code %s, want 502 upstream_status", ae.Status, ae.Code)
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
