package query

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// benchRows is the size of the generated table of the benchmarks, the
// reference size of the targets in README.md (Performance).
const benchRows = 1_000_000

// benchTable generates a 1 M-row table shaped like French open data (codes
// with leading zeros, accented names, integers, decimals, dates,
// booleans), writes it to a DuckDB file and attaches it read-only, as the
// cache serves resources.
func benchTable(b *testing.B) (*sql.DB, Table) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "bench.duckdb")
	db := openDB(b,
		"ATTACH '"+path+"' AS gen",
		`CREATE TABLE gen.main.data AS SELECT
			printf('%05d', i % 100000) AS code_insee,
			(['Saint-Étienne','Paris','Lyon','Marseille','Évry','Orléans','Nîmes','Besançon','Cergy','Brest'])[i % 10 + 1] || ' ' || (i % 997)::VARCHAR AS nom,
			(['Auvergne-Rhône-Alpes','Île-de-France','Occitanie','Bretagne','Normandie'])[i % 5 + 1] AS region,
			(i * 7919) % 1000003 AS population,
			round(((i * 31) % 100000) / 97.0, 2) AS superficie,
			DATE '2000-01-01' + (i % 9000)::INTEGER AS date_maj,
			i % 3 = 0 AS chef_lieu
		FROM range(`+strconv.Itoa(benchRows)+`) r(i)`,
		"DETACH gen",
		"ATTACH '"+path+"' AS r_bench (READ_ONLY)")
	tbl := describe(b, db, "r_bench.main.data")
	tbl.Rows, tbl.Hints = benchRows, NewHints() // as the server serves it
	return db, tbl
}

// BenchmarkMillion measures the scenarios of README.md (Performance) on 1 M rows:
//
//	go test -run XXX -bench Million -benchtime 20x ./query/
func BenchmarkMillion(b *testing.B) {
	db, tbl := benchTable(b)
	ctx := context.Background()
	run := func(b *testing.B, r Request) *Page {
		b.Helper()
		var p *Page
		cpu := processCPU()
		for b.Loop() {
			var err error
			if p, err = Run(ctx, db, tbl, r); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64((processCPU()-cpu).Microseconds())/1000/float64(b.N), "cpu-ms/op")
		return p
	}
	deep := func(sort []Sort) string {
		p := mustCompileB(b, tbl, Request{Sort: sort})
		return encodeCursor(p.sortSig, 900_000)
	}
	b.Run("first page", func(b *testing.B) { run(b, Request{Limit: 20}) })
	b.Run("offset 900000", func(b *testing.B) { run(b, Request{Limit: 20, Offset: 900_000, HideTotal: true}) })
	b.Run("cursor row 900000", func(b *testing.B) { run(b, Request{Limit: 20, After: deep(nil), HideTotal: true}) })
	b.Run("sorted first page", func(b *testing.B) { run(b, Request{Limit: 20, Sort: []Sort{{Column: "population"}}, HideTotal: true}) })
	b.Run("sorted cursor row 900000", func(b *testing.B) {
		sort := []Sort{{Column: "population"}}
		run(b, Request{Limit: 20, Sort: sort, After: deep(sort), HideTotal: true})
	})
	b.Run("filtered sorted total", func(b *testing.B) {
		p := run(b, Request{Limit: 20, Filters: []Filter{{Column: "region", Op: OpExact, Value: "Bretagne"}, {Column: "population", Op: OpGt, Value: "500000"}},
			Sort: []Sort{{Column: "superficie", Desc: true}}})
		if p.Total == 0 {
			b.Fatal("no rows")
		}
	})
	b.Run("q direct", func(b *testing.B) { run(b, Request{Limit: 20, Search: "etienne 12"}) })
	b.Run("q shadow", func(b *testing.B) {
		x := NewSearchIndex(db)
		defer x.Close()
		start := time.Now()
		indexed := x.Prepare(tbl, "v", benchRows)
		for indexed.SearchRelation == "" {
			time.Sleep(5 * time.Millisecond)
			indexed = x.Prepare(tbl, "v", benchRows)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "build-ms")
		for b.Loop() {
			if _, err := Run(ctx, db, indexed, Request{Limit: 20, Search: "etienne 12"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("facet", func(b *testing.B) { run(b, Request{Limit: 0, Facets: []string{"region"}, HideTotal: true}) })
	b.Run("group by", func(b *testing.B) {
		for b.Loop() {
			_, err := Aggregate(ctx, db, tbl, AggRequest{Request: Request{Limit: 100}, GroupBy: []string{"region", "chef_lieu"},
				Aggs: []Agg{{Func: AggCount}, {Func: AggSum, Column: "population"}, {Func: AggAvg, Column: "superficie"}}})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("profile", func(b *testing.B) {
		for b.Loop() {
			if _, err := Profile(ctx, db, tbl, Request{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	export := func(b *testing.B, r Request, opts ExportOptions) {
		opts.TempDir = b.TempDir()
		for b.Loop() {
			w := &countingWriter{}
			if _, err := Export(ctx, db, tbl, r, w, opts); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(w.n)
		}
	}
	all := Request{Limit: -1, HideRowID: true}
	b.Run("export csv", func(b *testing.B) { export(b, all, ExportOptions{}) })
	b.Run("export csv sorted", func(b *testing.B) {
		export(b, Request{Limit: -1, HideRowID: true, Sort: []Sort{{Column: "population"}}}, ExportOptions{})
	})
	b.Run("export ndjson", func(b *testing.B) { export(b, all, ExportOptions{Format: FormatNDJSON}) })
	b.Run("export parquet", func(b *testing.B) { export(b, all, ExportOptions{Format: FormatParquet}) })
}

func mustCompileB(b *testing.B, tbl Table, r Request) *plan {
	b.Helper()
	p, err := compile(tbl, r)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return io.Discard.Write(p)
}

// interactiveTable generates a 1 M-row table shaped like the file of
// go run ./bench (bench/gen.go): 36 communes in random order, populations up
// to 2.2 M, amounts with cents, dates, booleans; attached read-only as the
// cache serves resources.
func interactiveTable(b *testing.B) (*sql.DB, Table) {
	b.Helper()
	path := filepath.Join(b.TempDir(), "interactive.duckdb")
	db := openDB(b,
		"ATTACH '"+path+"' AS gen",
		`CREATE TABLE gen.main.data AS SELECT
			i AS id,
			printf('%05d', hash(i * 3) % 99999) AS code_commune,
			(['Paris','Marseille','Lyon','Toulouse','Nice','Nantes','Montpellier','Strasbourg','Bordeaux','Lille',
			  'Rennes','Reims','Saint-Étienne','Le Havre','Toulon','Grenoble','Dijon','Angers','Nîmes','Villeurbanne',
			  'Clermont-Ferrand','Le Mans','Aix-en-Provence','Brest','Tours','Amiens','Limoges','Annecy','Perpignan',
			  'Boulogne-Billancourt','Orléans','Besançon','Rouen','Mulhouse','Caen','Nancy'])[(hash(i) % 36)::BIGINT + 1] AS commune,
			'Dossier ' || (hash(i * 7) % 1000000)::VARCHAR AS libelle,
			(hash(i * 11) % 2200000)::BIGINT AS population,
			((hash(i * 13) % 100000000) / 100.0)::DOUBLE AS montant,
			DATE '2000-01-01' + (hash(i * 17) % 9000)::INTEGER AS date,
			hash(i * 19) % 2 = 0 AS actif
		FROM range(`+strconv.Itoa(benchRows)+`) r(i)`,
		"DETACH gen",
		"ATTACH '"+path+"' AS r_interactive (READ_ONLY)")
	tbl := describe(b, db, "r_interactive.main.data")
	tbl.Rows, tbl.Hints = benchRows, NewHints() // as the server serves it
	return db, tbl
}

// benchCommunes are the commune names of interactiveTable.
var benchCommunes = []string{"Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Montpellier", "Strasbourg",
	"Bordeaux", "Lille", "Rennes", "Reims", "Saint-Étienne", "Le Havre", "Toulon", "Grenoble", "Dijon", "Angers",
	"Nîmes", "Villeurbanne", "Clermont-Ferrand", "Le Mans", "Aix-en-Provence", "Brest", "Tours", "Amiens", "Limoges",
	"Annecy", "Perpignan", "Boulogne-Billancourt", "Orléans", "Besançon", "Rouen", "Mulhouse", "Caen", "Nancy"}

// BenchmarkMillionInteractive pairs csvapi's uncached interactive query
// (issue 15) with DuckDB alone running the same count and page statements
// on the same table, at 1 and 8 concurrent clients; every request is
// different (commune and population threshold vary):
//
//	go test -run XXX -bench MillionInteractive -benchtime 200x ./query/
//
// req/s is the throughput, p50-ms the median latency of one request.
func BenchmarkMillionInteractive(b *testing.B) {
	db, tbl := interactiveTable(b)
	request := func(i int64) (commune string, population int64) {
		return benchCommunes[i%int64(len(benchCommunes))], (i * 7919) % 2_200_000
	}
	viaRun := func(ctx context.Context, i int64) error {
		commune, population := request(i)
		_, err := Run(ctx, db, tbl, Request{Limit: 20,
			Filters: []Filter{{Column: "commune", Op: OpExact, Value: commune},
				{Column: "population", Op: "strictly_greater", Value: strconv.FormatInt(population, 10)}},
			Sort: []Sort{{Column: "montant", Desc: true}}})
		return err
	}
	// The count and the page, prepared once, as a client of DuckDB alone
	// would run them: the reference of the issue (go run ./bench's too).
	const where = ` FROM r_interactive.main.data AS t WHERE t."commune" = ? AND t."population" > ?`
	count, err := db.Prepare(`SELECT count(*)` + where)
	if err != nil {
		b.Fatal(err)
	}
	defer count.Close()
	page, err := db.Prepare(`SELECT (t.rowid + 1) AS "rowid", t.*, t.rowid` + where + ` ORDER BY t."montant" DESC NULLS LAST, (t.rowid + 1) ASC LIMIT ?`)
	if err != nil {
		b.Fatal(err)
	}
	defer page.Close()
	alone := func(ctx context.Context, i int64) error {
		commune, population := request(i)
		var total int64
		if err := count.QueryRowContext(ctx, commune, population).Scan(&total); err != nil {
			return err
		}
		rows, err := page.QueryContext(ctx, commune, population, int64(21))
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, _ := rows.Columns()
		vals, ptrs := make([]any, len(cols)), make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				return err
			}
		}
		return rows.Err()
	}
	db.SetMaxIdleConns(8) // as many as clients, so that prepared statements stay prepared
	for _, n := range []int{1, 8} {
		tbl.Busy = n > 1 // as the server sets it from its query slots
		b.Run(fmt.Sprintf("filtered page %d clients", n), func(b *testing.B) { benchClients(b, n, viaRun) })
		b.Run(fmt.Sprintf("filtered page %d clients duckdb alone", n), func(b *testing.B) { benchClients(b, n, alone) })
	}
}

// benchClients runs do b.N times from n goroutines, each call with its own
// index, and reports the throughput, the median latency and the CPU time
// of the process per call (DuckDB's threads included), which a machine
// shared with other work disturbs less than wall-clock times.
func benchClients(b *testing.B, n int, do func(ctx context.Context, i int64) error) {
	ctx := context.Background()
	var next atomic.Int64
	latencies := make([]time.Duration, b.N)
	cpu := processCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				start := time.Now()
				if err := do(ctx, i); err != nil {
					b.Error(err)
					return
				}
				latencies[i] = time.Since(start)
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	cpu = processCPU() - cpu
	slices.Sort(latencies)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
	b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/op")
}

// processCPU returns the user and system CPU time of this process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
