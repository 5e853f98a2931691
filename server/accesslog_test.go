package server

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http/httptest"
	"testing"
)

// TestAccessLine: every request has its access line, written by the
// access log's goroutine once the request is answered, with the request
// id the client got, and Shutdown writes the lines still queued.
func TestAccessLine(t *testing.T) {
	var buf bytes.Buffer
	s := New(Config{}, nil, nil, slog.New(slog.NewJSONHandler(&buf, nil)))
	var ids []string
	for range 50 {
		resp := serveTest(t, s, httptest.NewRequest("GET", "/health?x=1", nil))
		ids = append(ids, resp.Header.Get("X-Request-Id"))
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, line := range bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n")) {
		var l map[string]any
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if l["msg"] == "request" {
			got = append(got, l)
		}
	}
	if len(got) != len(ids) {
		t.Fatalf("%d access lines, want %d:\n%s", len(got), len(ids), buf.Bytes())
	}
	for i, l := range got {
		if l["request_id"] != ids[i] || l["path"] != "/health" || l["method"] != "GET" || l["status"] != float64(200) {
			t.Errorf("line %d: %v, want GET /health 200 with request_id %s", i, l, ids[i])
		}
	}
}
