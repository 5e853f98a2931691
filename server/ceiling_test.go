package server

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp"

	"github.com/csvapi/csvapi/cache"
	"github.com/csvapi/csvapi/convert"
)

// BenchmarkCachedPageCeiling measures the throughput of a cached first page
// (/api/<id>?_size=20) against a bare fiber app answering a fixed 2 KB
// JSON (NewReferenceApp), both served by this process on loopback and
// driven alternately by the same load generator (wrk -t2 -c32 when it is
// installed, else a Go client with 32 connections), and reports both
// medians and their ratio. CSVAPI_CEILING_ROUNDS (3) and
// CSVAPI_CEILING_SECONDS (5) set the measure:
//
//	go test -run '^$' -bench CachedPageCeiling -benchtime 1x ./server/
//
// "bench" runs the service as go run ./bench does (--log-level warn,
// --rate-limit 0); "defaults" with the service's defaults: an access line
// per request (JSON, written to /dev/null: one write per line, as to
// stderr) and the rate limiter on (with a limit the load never reaches).
// Beside the rates it logs this process's CPU time per request (the
// servers' side, wrk excluded), which a machine busy with other work
// disturbs less than the rates.
func BenchmarkCachedPageCeiling(b *testing.B) {
	rounds := envInt("CSVAPI_CEILING_ROUNDS", 3)
	d := time.Duration(envInt("CSVAPI_CEILING_SECONDS", 5)) * time.Second
	for _, tc := range []struct {
		name  string
		level slog.Level
		rate  int
	}{
		{"bench", slog.LevelWarn, 0},
		{"defaults", slog.LevelInfo, 1 << 30},
	} {
		b.Run(tc.name, func(b *testing.B) {
			null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer null.Close()
			logger := slog.New(slog.NewJSONHandler(null, &slog.HandlerOptions{Level: tc.level}))
			s, id := pageServer(b, Config{RateLimit: tc.rate, ResponseCacheSize: DefaultResponseCacheSize}, logger)
			page := serveOn(b, s.App()) + "/api/" + id + "?_size=20"
			ref := serveOn(b, NewReferenceApp()) + "/"
			n := len(get(b, page))
			b.Logf("cached page %d bytes, reference %d bytes, load: %s", n, len(ReferenceBody), loadName())
			var csv, fib, ratios, fibCPU, csvCPU []float64
			for range b.N {
				for range rounds {
					if only := os.Getenv("CSVAPI_CEILING_ONLY"); only != "" { // to profile one side
						u := map[string]string{"fiber": ref, "csvapi": page}[only]
						rps, cpu := drive(b, u, d)
						b.Logf("%s only: %.5g req/s, server CPU %.3g µs/request", only, rps, cpu)
						continue
					}
					r, rc := drive(b, ref, d)
					c, cc := drive(b, page, d)
					fib, csv, ratios = append(fib, r), append(csv, c), append(ratios, c/r)
					fibCPU, csvCPU = append(fibCPU, rc), append(csvCPU, cc)
				}
			}
			if len(fib) == 0 {
				return
			}
			b.Logf("fiber  req/s min/median/max: %s; server CPU µs/request: %s", spread(fib), spread(fibCPU))
			b.Logf("csvapi req/s min/median/max: %s; server CPU µs/request: %s", spread(csv), spread(csvCPU))
			b.Logf("ratio  per round min/median/max: %s", spread(ratios))
			b.ReportMetric(median(fib), "fiber-req/s")
			b.ReportMetric(median(csv), "csvapi-req/s")
			b.ReportMetric(median(ratios), "ratio")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// pageServer returns a Server over a real cache holding one converted
// resource of 1,000 rows and 8 columns, like the bench's file, and its id.
func pageServer(tb testing.TB, cfg Config, logger *slog.Logger) (*Server, string) {
	tb.Helper()
	db, err := convert.OpenDB(convert.DBConfig{Threads: 2})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	c, err := cache.New(tb.TempDir(), db, &convert.Fetcher{AllowPrivate: true, MaxSize: 1 << 30}, logger)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	c.Start()
	var csv bytes.Buffer
	csv.WriteString("id,commune,code,date,population,surface,active,note\n")
	for i := range 1000 {
		fmt.Fprintf(&csv, "%d,Saint-Martin-%d,%05d,2024-%02d-%02d,%d,%d.%02d,%t,\"a \"\"note\"\", number %d\"\n",
			i+1, i%97, i*7%100000, i%12+1, i%28+1, i*13, i%1000, i%100, i%2 == 0, i)
	}
	e, err := c.Upload(context.Background(), &csv, "communes.csv", cache.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	e.Release()
	return New(cfg, c, db, logger), e.ID
}

// serveOn serves app on a loopback port until the benchmark ends.
func serveOn(tb testing.TB, app *fiber.App) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go app.Listener(ln)
	tb.Cleanup(func() { app.Shutdown() })
	return "http://" + ln.Addr().String()
}

// get returns the body of a 200 answer to u.
func get(tb testing.TB, u string) []byte {
	tb.Helper()
	status, body, err := fasthttp.Get(nil, u)
	if err != nil || status != 200 {
		tb.Fatalf("GET %s: %d %v %s", u, status, err, body)
	}
	return body
}

func loadName() string {
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk -t2 -c32"
	}
	return "Go client, 32 connections (install wrk for the reference figures)"
}

var wrkRPS = regexp.MustCompile(`Requests/sec:\s+(\S+)`)

// drive loads u with 32 connections for d and returns the requests a
// second and this process's CPU time per request in µs (with the Go
// client, its CPU too); any answer but 200 fails the benchmark.
func drive(tb testing.TB, u string, d time.Duration) (rps, cpuPerRequest float64) {
	tb.Helper()
	cpu := cpuTime()
	if _, err := exec.LookPath("wrk"); err == nil {
		out, err := exec.Command("wrk", "-t2", "-c32", "-d"+d.String(), u).CombinedOutput()
		m := wrkRPS.FindSubmatch(out)
		if err != nil || m == nil || bytes.Contains(out, []byte("Non-2xx")) {
			tb.Fatalf("wrk %s: %v\n%s", u, err, out)
		}
		rps, _ = strconv.ParseFloat(string(m[1]), 64)
	} else {
		rps = driveGo(tb, u, d)
	}
	return rps, float64((cpuTime() - cpu).Microseconds()) / (rps * d.Seconds())
}

// driveGo is drive without wrk: 32 goroutines, one keep-alive connection
// each.
func driveGo(tb testing.TB, u string, d time.Duration) float64 {
	tb.Helper()
	addr := strings.TrimPrefix(u, "http://")
	addr, _, _ = strings.Cut(addr, "/")
	client := &fasthttp.HostClient{Addr: addr, MaxConns: 32}
	var n, bad atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			defer fasthttp.ReleaseRequest(req)
			defer fasthttp.ReleaseResponse(resp)
			req.SetRequestURI(u)
			for time.Now().Before(deadline) {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != 200 {
					bad.Add(1)
					continue
				}
				n.Add(1)
			}
		})
	}
	wg.Wait()
	if bad.Load() > 0 {
		tb.Fatalf("%s: %d failed requests", u, bad.Load())
	}
	return float64(n.Load()) / d.Seconds()
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

func median(v []float64) float64 {
	s := slices.Sorted(slices.Values(v))
	return s[len(s)/2]
}

func spread(v []float64) string {
	s := slices.Sorted(slices.Values(v))
	return fmt.Sprintf("%.5g / %.5g / %.5g", s[0], s[len(s)/2], s[len(s)-1])
}

// BenchmarkCachedPageHandler runs a cached first page through the app's
// handler in memory (no network, no syscalls), beside the reference app:
// the per-request cost of csvapi's middleware and cache lookup alone.
// cpu-ns/op is the process's CPU time per request (getrusage), which a
// machine shared with other work disturbs less than ns/op.
//
//	go test -run '^$' -bench CachedPageHandler -benchmem ./server/
func BenchmarkCachedPageHandler(b *testing.B) {
	quiet := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	logged := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	bench, id := pageServer(b, Config{ResponseCacheSize: DefaultResponseCacheSize}, quiet)
	defaults, id2 := pageServer(b, Config{RateLimit: 1 << 30, ResponseCacheSize: DefaultResponseCacheSize}, logged)
	for _, tc := range []struct {
		name string
		h    fasthttp.RequestHandler
		uri  string
	}{
		{"reference", NewReferenceApp().Handler(), "/"},
		{"bench", bench.App().Handler(), "/api/" + id + "?_size=20"},
		{"defaults", defaults.App().Handler(), "/api/" + id2 + "?_size=20"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var ctx fasthttp.RequestCtx
			remote := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
			ctx.Init(&fasthttp.Request{}, remote, nil)
			ctx.Request.SetRequestURI(tc.uri)
			ctx.Request.Header.SetHost("127.0.0.1:8001")
			tc.h(&ctx)
			if ctx.Response.StatusCode() != 200 {
				b.Fatalf("%s: %d %s", tc.uri, ctx.Response.StatusCode(), ctx.Response.Body())
			}
			b.ReportAllocs()
			cpu := cpuTime()
			for b.Loop() {
				ctx.Response.Reset()
				tc.h(&ctx)
			}
			b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the CPU time this process has used, user and system.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
