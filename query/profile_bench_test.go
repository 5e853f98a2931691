package query

import (
	"context"
	"database/sql"
	"slices"
	"testing"
	"time"
)

// BenchmarkMillionProfile measures Profile of the 7 columns of benchTable
// beside DuckDB's own SUMMARIZE of the same table (one scan: extremes,
// approximate distinct counts, mean, quartiles, nulls; no top values or
// histograms), alternated in the same run:
//
//	go test -run XXX -bench MillionProfile -benchtime 10x ./query/
func BenchmarkMillionProfile(b *testing.B) {
	db, tbl := benchTable(b)
	ctx := context.Background()
	var times [2][]time.Duration
	for i := 0; b.Loop(); i++ {
		for j := range 2 {
			k := (i + j) % 2
			t0 := time.Now()
			var err error
			if k == 0 {
				err = summarize(ctx, db, tbl.Relation)
			} else {
				_, err = Profile(ctx, db, tbl, Request{})
			}
			if err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], time.Since(t0))
		}
	}
	for k, name := range []string{"summarize", "profile"} {
		ts := times[k]
		slices.Sort(ts)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(ts[0]), name+"-min-ms")
		b.ReportMetric(ms(ts[len(ts)/2]), name+"-p50-ms")
		b.ReportMetric(ms(ts[len(ts)-1]), name+"-max-ms")
	}
}

// summarize runs DuckDB's SUMMARIZE of relation and reads its rows.
func summarize(ctx context.Context, db *sql.DB, relation string) error {
	rows, err := db.QueryContext(ctx, "SUMMARIZE "+relation)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
	}
	return rows.Err()
}
