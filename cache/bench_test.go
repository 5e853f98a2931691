package cache

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkApifyHit measures /apify's work on a resource already converted.
func BenchmarkApifyHit(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer up.Close()
	c := newTestCache(b)
	if _, err := c.Apify(b.Context(), up.URL+"/x.csv", Options{}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		e, err := c.Apify(b.Context(), up.URL+"/x.csv", Options{})
		if err != nil {
			b.Fatal(err)
		}
		e.Release()
	}
}

// BenchmarkRevalidateNotModified measures a revalidation that the upstream
// answers with 304: a conditional GET over loopback and the bookkeeping.
func BenchmarkRevalidateNotModified(b *testing.B) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("If-None-Match") == `"v1"` {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", `"v1"`)
		io.WriteString(w, "a,b\n1,2\n")
	}))
	defer up.Close()
	c := newTestCache(b)
	e, err := c.Apify(b.Context(), up.URL+"/x.csv", Options{})
	if err != nil {
		b.Fatal(err)
	}
	e.Release()
	rec := c.records[e.ID]
	b.ResetTimer()
	for b.Loop() {
		c.mu.Lock()
		l := c.startLoad(rec, source{url: rec.url, conditional: true})
		c.mu.Unlock()
		<-l.done
		if l.err != nil {
			b.Fatal(l.err)
		}
	}
}
