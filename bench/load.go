package main

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// stats are the figures of one serving measure.
type stats struct {
	rps      float64
	p50, p99 time.Duration
	errors   int64
}

func (s stats) String() string {
	out := fmt.Sprintf("%.0f req/s, p50 %s, p99 %s", s.rps, round(s.p50), round(s.p99))
	if s.errors > 0 {
		out += fmt.Sprintf(", %d errors", s.errors)
	}
	return out
}

func round(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

func generatorName() string {
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk, 2 threads"
	}
	return "built-in Go client (install wrk for higher ceilings)"
}

// generatorThreads names the generator of the cached-page measure.
func generatorThreads() string {
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk 2 threads"
	}
	return "Go client"
}

// load drives u with conns connections for d, with wrk when it is installed.
func load(u string, conns int, d time.Duration) (stats, error) {
	if _, err := exec.LookPath("wrk"); err == nil {
		return loadWrk(u, conns, d)
	}
	return loadHTTP(func(int64) string { return u }, conns, d)
}

// loadHTTP drives the URL next(i), a different one each request when the
// caller wants it, with the closed-loop generator; an answer other than 200
// counts as an error.
func loadHTTP(next func(int64) string, conns int, d time.Duration) (stats, error) {
	client := &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: conns}}
	defer client.CloseIdleConnections()
	return loadFunc(func(i int64) error {
		resp, err := client.Get(next(i))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	}, conns, d)
}

var (
	wrkLatency = regexp.MustCompile(`(?m)^\s+50(?:\.000)?%\s+(\S+)\s*$`)
	wrkP99     = regexp.MustCompile(`(?m)^\s+99(?:\.000)?%\s+(\S+)\s*$`)
	wrkRPS     = regexp.MustCompile(`Requests/sec:\s+(\S+)`)
	wrkErrors  = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)|Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
)

func loadWrk(u string, conns int, d time.Duration) (stats, error) {
	out, err := exec.Command("wrk", "-t2", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", u).CombinedOutput()
	if err != nil {
		return stats{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	var s stats
	if m := wrkRPS.FindSubmatch(out); m != nil {
		s.rps, _ = strconv.ParseFloat(string(m[1]), 64)
	}
	if m := wrkLatency.FindSubmatch(out); m != nil {
		s.p50 = parseWrkDuration(string(m[1]))
	}
	if m := wrkP99.FindSubmatch(out); m != nil {
		s.p99 = parseWrkDuration(string(m[1]))
	}
	for _, m := range wrkErrors.FindAllSubmatch(out, -1) {
		for _, g := range m[1:] {
			n, _ := strconv.ParseInt(string(g), 10, 64)
			s.errors += n
		}
	}
	return s, nil
}

// parseWrkDuration reads wrk's "1.23ms", "456.00us", "2.01s".
func parseWrkDuration(s string) time.Duration {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0
	}
	return d
}

// loadFunc is a small closed-loop load generator: conns goroutines, each
// calling do with the next sequence number when the previous call
// returned, for d. A failed call counts as an error, not as an answer.
func loadFunc(do func(i int64) error, conns int, d time.Duration) (stats, error) {
	deadline := time.Now().Add(d)
	var seq, errs atomic.Int64
	var firstErr atomic.Value
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	for range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var mine []time.Duration
			for time.Now().Before(deadline) {
				start := time.Now()
				if err := do(seq.Add(1)); err != nil {
					errs.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(lat) == 0 {
		return stats{}, fmt.Errorf("no answer in %s (%d errors, first: %v)", d, errs.Load(), firstErr.Load())
	}
	slices.Sort(lat)
	return stats{
		rps:    float64(len(lat)) / d.Seconds(),
		p50:    lat[len(lat)/2],
		p99:    lat[len(lat)*99/100],
		errors: errs.Load(),
	}, nil
}
