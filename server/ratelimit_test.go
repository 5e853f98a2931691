package server

import (
	"hash/maphash"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestRateLimitPerClient: each client has its limit a window; passed
// requests say what is left, the next one is 429 rate_limited with
// Retry-After, other clients and /health are not counted, and a new
// window starts over.
func TestRateLimitPerClient(t *testing.T) {
	s := testServer(Config{RateLimit: 3, ProxyHeader: "X-Real-Ip"})
	get := func(path, client string) (int, string, string, string) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("X-Real-Ip", client)
		resp := serveTest(t, s, req)
		code := ""
		if resp.StatusCode == 429 {
			code = errorCode(t, resp)
		}
		return resp.StatusCode, resp.Header.Get("X-RateLimit-Remaining"), resp.Header.Get("Retry-After"), code
	}
	for i, want := range []string{"2", "1", "0"} {
		status, left, _, _ := get("/openapi.json", "192.0.2.1")
		if status != 200 || left != want {
			t.Fatalf("request %d: status %d, remaining %q; want 200, %s", i+1, status, left, want)
		}
	}
	if status, _, retry, code := get("/openapi.json", "192.0.2.1"); status != 429 || code != "rate_limited" || retry == "" {
		t.Errorf("4th request: status %d, code %q, Retry-After %q; want 429 rate_limited with Retry-After", status, code, retry)
	}
	if status, left, _, _ := get("/openapi.json", "192.0.2.2"); status != 200 || left != "2" {
		t.Errorf("another client: status %d, remaining %q; want 200, 2", status, left)
	}
	if status, _, _, _ := get("/health", "192.0.2.1"); status != 200 {
		t.Errorf("/health of a limited client: %d, want 200", status)
	}

	rl := newRateLimiter(3, time.Minute)
	now := time.Unix(1_700_000_000, 0)
	rl.now = func() time.Time { return now }
	for range 4 {
		rl.take([]byte("c"))
	}
	now = now.Add(time.Minute)
	if left, reset := rl.take([]byte("c")); left != 2 || !reset.Equal(now.Add(time.Minute)) {
		t.Errorf("first request of a new window: %d left, reset %v; want 2, %v", left, reset, now.Add(time.Minute))
	}
	now = now.Add(2 * time.Minute)
	d := sameShard(rl, "c")
	rl.take(d) // a new client of its shard sweeps the ended windows
	if n := countClients(rl); n != 1 {
		t.Errorf("%d clients kept after their windows ended, want 1", n)
	}
}

// sameShard returns a key that rl puts in the shard of key.
func sameShard(rl *rateLimiter, key string) []byte {
	want := maphash.Bytes(rl.seed, []byte(key)) % rateShards
	for i := 0; ; i++ {
		k := []byte("d" + strconv.Itoa(i))
		if maphash.Bytes(rl.seed, k)%rateShards == want {
			return k
		}
	}
}

func countClients(rl *rateLimiter) int {
	n := 0
	for i := range rl.shards {
		n += len(rl.shards[i].clients)
	}
	return n
}
