package query

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"
)

// BenchmarkMillionSearch measures q (two words, with the total) on the 1 M
// rows of benchTable through the folded shadow alone (the previous way)
// and through the token index, alternated request by request in the same
// run, and reports the median, minimum and maximum of each (index-hyphen:
// the index with a word that has punctuation, saint-etienne):
//
//	go test -run XXX -bench MillionSearch -benchtime 200x ./query/
func BenchmarkMillionSearch(b *testing.B) {
	db, tbl := benchTable(b)
	ctx := context.Background()
	x := NewSearchIndex(db)
	defer x.Close()
	start := time.Now()
	indexed := indexedTable(b, x, tbl, benchRows)
	build := time.Since(start)
	shadow := indexed
	shadow.tokens = nil
	names := []string{"etienne", "paris", "lyon", "marseille", "evry", "orleans", "nimes", "besancon", "cergy", "brest"}
	var times [3][]time.Duration
	for i := 0; b.Loop(); i++ {
		r := Request{Limit: 20, Search: fmt.Sprintf("%s %d", names[i%len(names)], 10+i%90)}
		for j := range 3 {
			k := (i + j) % 3 // alternate which goes first
			t := []Table{shadow, indexed, indexed}[k]
			if k == 2 { // a word with punctuation: candidates checked against the texts
				r.Search = fmt.Sprintf("saint-etienne %d", 10+i%90)
			}
			t0 := time.Now()
			p, err := Run(ctx, db, t, r)
			if err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], time.Since(t0))
			if p.Total <= 0 {
				b.Fatalf("q=%q: total %d", r.Search, p.Total)
			}
		}
	}
	// Reported after the loop: b.Loop drops earlier metrics.
	b.ReportMetric(float64(build.Milliseconds()), "build-ms")
	b.ReportMetric(float64(indexed.tokens.bytes())/(1<<20), "index-MB")
	for k, name := range []string{"shadow", "index", "index-hyphen"} {
		ts := times[k]
		slices.Sort(ts)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(ts[0]), name+"-min-ms")
		b.ReportMetric(ms(ts[len(ts)/2]), name+"-p50-ms")
		b.ReportMetric(ms(ts[len(ts)-1]), name+"-max-ms")
	}
}
