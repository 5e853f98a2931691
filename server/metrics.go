package server

import (
	"context"
	"database/sql"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/csvapi/csvapi/cache"
)

// metrics are the server's Prometheus collectors, on a registry of its own
// so that several servers (in tests) do not collide.
type metrics struct {
	registry *prometheus.Registry
	requests *prometheus.HistogramVec
	loads    *prometheus.HistogramVec
	profiles *prometheus.HistogramVec // computed unfiltered profiles (profilememo.go)
	handler  fiber.Handler

	// observers are the children of requests already resolved, read
	// without a lock on every request and replaced whole (under mu) when a
	// new route, method and status appear: the set is small and soon
	// complete, and the lookup avoids hashing and validating label values.
	observers atomic.Pointer[map[requestLabels]prometheus.Observer]
	mu        sync.Mutex
}

// requestLabels are the labels of csvapi_http_request_duration_seconds.
type requestLabels struct {
	route, method string
	status        int
}

func newMetrics(c *cache.Cache) *metrics {
	m := &metrics{registry: prometheus.NewRegistry()}
	m.observers.Store(&map[requestLabels]prometheus.Observer{})
	m.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "csvapi_http_request_duration_seconds",
		Help:    "HTTP requests by route and status.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"route", "method", "status"})
	m.loads = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "csvapi_loads_duration_seconds",
		Help:    "Finished loads (download and conversion) by outcome.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
	}, []string{"outcome"})
	m.profiles = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "csvapi_profile_duration_seconds",
		Help:    "Profiles of all the rows of a version computed (once per version; not those read from their sidecar), by what asked: request or background.",
		Buckets: prometheus.ExponentialBuckets(0.01, 3, 10),
	}, []string{"trigger"})
	m.registry.MustRegister(m.requests, m.loads, m.profiles,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	m.handler = adaptor.HTTPHandler(promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	if c == nil { // a server without a cache (route tests) has no cache metrics
		return m
	}
	for _, st := range cacheStats {
		value := func() float64 { return st.value(c.Stats()) }
		if st.counter {
			m.registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: st.name, Help: st.help}, value))
		} else {
			m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: st.name, Help: st.help}, value))
		}
	}
	m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "csvapi_duckdb_memory_bytes", Help: "Memory DuckDB's buffer manager uses.",
	}, func() float64 { return duckdbMemory(c.ServingDB()) }))

	c.OnLoad = func(ev cache.LoadEvent) { m.loads.WithLabelValues(ev.Outcome).Observe(ev.Duration.Seconds()) }
	return m
}

// cacheStats are the metrics read from cache.Stats when scraped: gauges,
// and counters (the _total ones).
var cacheStats = []struct {
	name, help string
	counter    bool
	value      func(cache.Stats) float64
}{
	{"csvapi_cache_entries", "Resources ready to serve.", false, func(s cache.Stats) float64 { return float64(s.Entries) }},
	{"csvapi_cache_bytes", "Size of the converted files.", false, func(s cache.Stats) float64 { return float64(s.Bytes) }},
	{"csvapi_cache_attached_files", "DuckDB files attached.", false, func(s cache.Stats) float64 { return float64(s.Attached) }},
	{"csvapi_loads_in_progress", "Loads running or queued.", false, func(s cache.Stats) float64 { return float64(s.Loading) }},
	{"csvapi_load_queue_length", "Loads waiting for a slot.", false, func(s cache.Stats) float64 { return float64(s.Queued) }},
	{"csvapi_cache_hits_total", "Requests served by a ready resource.", true, func(s cache.Stats) float64 { return float64(s.Hits) }},
	{"csvapi_cache_misses_total", "Requests that started a load.", true, func(s cache.Stats) float64 { return float64(s.Misses) }},
	{"csvapi_cache_evictions_total", "Resources evicted to fit the cache bounds.", true, func(s cache.Stats) float64 { return float64(s.Evictions) }},
	{"csvapi_cache_revalidations_total", "Revalidations with the upstream started.", true, func(s cache.Stats) float64 { return float64(s.Revalidations) }},
	{"csvapi_downloaded_bytes_total", "Bytes downloaded from upstreams.", true, func(s cache.Stats) float64 { return float64(s.BytesDownloaded) }},
	{"csvapi_loaded_rows_total", "Rows loaded into DuckDB.", true, func(s cache.Stats) float64 { return float64(s.RowsLoaded) }},
	{"csvapi_duckdb_restarts_total", "Serving DuckDB instances replaced after DuckDB invalidated them.", true, func(s cache.Stats) float64 { return float64(s.DuckDBRestarts) }},
}

// duckdbMemory sums DuckDB's memory use; -1 when it cannot be read.
func duckdbMemory(db *sql.DB) float64 {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	var n sql.NullFloat64
	if err := db.QueryRowContext(ctx, "SELECT sum(memory_usage_bytes) FROM duckdb_memory()").Scan(&n); err != nil {
		return -1
	}
	return n.Float64
}

// observer returns the histogram child of l, resolving it on first use.
func (m *metrics) observer(l requestLabels) prometheus.Observer {
	if o, ok := (*m.observers.Load())[l]; ok {
		return o
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := *m.observers.Load()
	if o, ok := old[l]; ok {
		return o
	}
	// The method is a view of the request's buffer: keep a copy.
	l.route, l.method = strings.Clone(l.route), strings.Clone(l.method)
	o := m.requests.WithLabelValues(l.route, l.method, strconv.Itoa(l.status))
	next := make(map[requestLabels]prometheus.Observer, len(old)+1)
	maps.Copy(next, old)
	next[l] = o
	m.observers.Store(&next)
	return o
}
