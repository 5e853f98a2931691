package query

import (
	"context"
	"database/sql"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// BenchmarkMillionProfile measures Profile of the 7 columns of benchTable
// against the previous way (one statement after the other, dates formatted
// before grouping), alternated in the same run, and checks that both give
// the same profile:
//
//	go test -run XXX -bench MillionProfile -benchtime 10x ./query/
func BenchmarkMillionProfile(b *testing.B) {
	db, tbl := benchTable(b)
	ctx := context.Background()
	var times [2][]time.Duration
	for i := 0; b.Loop(); i++ {
		var got [2]*TableProfile
		for j := range 2 {
			k := (i + j) % 2
			t0 := time.Now()
			var err error
			if k == 0 {
				got[k], err = profileSequential(ctx, db, tbl, Request{})
			} else {
				got[k], err = Profile(ctx, db, tbl, Request{})
			}
			if err != nil {
				b.Fatal(err)
			}
			times[k] = append(times[k], time.Since(t0))
		}
		if !reflect.DeepEqual(comparable(got[0]), comparable(got[1])) {
			b.Fatalf("profiles differ:\n%+v\n%+v", got[0], got[1])
		}
	}
	for k, name := range []string{"sequential", "profile"} {
		ts := times[k]
		slices.Sort(ts)
		ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
		b.ReportMetric(ms(ts[0]), name+"-min-ms")
		b.ReportMetric(ms(ts[len(ts)/2]), name+"-p50-ms")
		b.ReportMetric(ms(ts[len(ts)-1]), name+"-max-ms")
	}
}

// comparable rounds means and deviations to 12 significant digits (DuckDB
// adds floating-point numbers in the order its threads finish, so their
// last digits vary from one run to the next) and clears distinct counts
// (estimated before above 100,000 rows, exact now: TestProfileLargeTable
// checks them).
func comparable(tp *TableProfile) *TableProfile {
	out := *tp
	out.Columns = slices.Clone(tp.Columns)
	for i := range out.Columns {
		out.Columns[i].Distinct, out.Columns[i].DistinctApprox = 0, false
		for _, v := range []*any{&out.Columns[i].Mean, &out.Columns[i].Std} {
			if f, ok := (*v).(float64); ok {
				*v = strconv.FormatFloat(f, 'g', 12, 64)
			}
		}
	}
	return &out
}

// profileSequential is Profile as it was before statements ran
// concurrently and date bins were grouped before formatting, the
// reference of BenchmarkMillionProfile.
func profileSequential(ctx context.Context, db *sql.DB, t Table, r Request) (*TableProfile, error) {
	base := r
	base.Sort, base.After, base.Facets, base.Limit, base.Offset, base.HideRowID = nil, "", nil, -1, 0, true
	p, err := compile(t, base)
	if err != nil {
		return nil, err
	}
	tp := &TableProfile{}
	c := p.countStmt()
	if err := db.QueryRowContext(ctx, c.sql, c.args...).Scan(&tp.Rows); err != nil {
		return nil, err
	}
	var cols []column
	for _, name := range p.names {
		c, _ := lookup(t, name)
		cols = append(cols, c)
		tp.Columns = append(tp.Columns, ColumnProfile{Name: name, Type: c.kind, Top: []FacetValue{}})
	}
	if err := p.profileStatsSequential(ctx, db, cols, tp); err != nil {
		return nil, err
	}
	for i, c := range cols {
		f, err := p.facet(ctx, db, c, TopValues)
		if err != nil {
			return nil, err
		}
		tp.Columns[i].Top = f.Values
		cp := &tp.Columns[i]
		switch {
		case cp.Count == 0:
		case c.kind == convert.KindDate || c.kind == convert.KindTimestamp:
			lo, _ := cp.Min.(string)
			hi, _ := cp.Max.(string)
			unit, n := "month", 7
			if len(lo) < 4 || len(hi) < 4 || lo[:4] != hi[:4] && atoiPrefix(hi[:4])-atoiPrefix(lo[:4]) >= 2 {
				unit, n = "year", 4
			}
			q := "SELECT strftime(date_trunc('" + unit + "', " + c.expr + "), '%Y-%m') AS b, count(*)" + p.from() + p.where +
				condJoin(p.where, c.expr+" IS NOT NULL") + " GROUP BY b ORDER BY b"
			counts, keys, err := p.countBinsOrdered(ctx, db, q, p.args)
			if err != nil {
				return nil, err
			}
			for _, k := range keys {
				cp.Histogram = append(cp.Histogram, Bin{From: k[:n], Count: counts[k]})
			}
		default:
			if cp.Histogram, err = p.histogram(ctx, db, c, cp); err != nil {
				return nil, err
			}
		}
	}
	return tp, nil
}

// profileStatsSequential is profileStats as it was, with distinct counts
// (estimated above 100,000 rows), extremes and quantiles of
// every column in one scan.
func (p *plan) profileStatsSequential(ctx context.Context, db *sql.DB, cols []column, tp *TableProfile) error {
	approx := tp.Rows > 100_000
	var list []string
	for _, c := range cols {
		distinct := "count(DISTINCT " + c.expr + ")"
		if approx {
			distinct = "approx_count_distinct(" + c.expr + ")"
		}
		list = append(list, "count("+c.expr+")", distinct, "min("+c.expr+")", "max("+c.expr+")")
		switch {
		case numeric(c.kind):
			list = append(list, "avg("+c.expr+")::DOUBLE", "quantile_cont("+c.expr+", [0.25, 0.5, 0.75])::DOUBLE[]",
				"stddev_samp("+c.expr+")::DOUBLE")
		case c.kind == convert.KindDate || c.kind == convert.KindTimestamp:
			list = append(list, "NULL", "quantile_disc("+c.expr+", [0.25, 0.5, 0.75])", "NULL")
		default:
			list = append(list, "NULL", "NULL", "NULL")
		}
	}
	const per = 7
	vals := make([]any, len(cols)*per)
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	q := "SELECT " + strings.Join(list, ", ") + p.from() + p.where
	if err := db.QueryRowContext(ctx, q, p.args...).Scan(ptrs...); err != nil {
		return dbError(ctx, "profile", err)
	}
	for i, c := range cols {
		cp := &tp.Columns[i]
		v := vals[i*per : i*per+per]
		f := formatOf(c.sqlType)
		cp.Count = toInt64(v[0])
		cp.Nulls = tp.Rows - cp.Count
		cp.Distinct = toInt64(v[1])
		cp.DistinctApprox = approx
		cp.Min, cp.Max = normalize(v[2], f), normalize(v[3], f)
		cp.Mean = normalize(v[4], formatDefault)
		cp.Std = normalize(v[6], formatDefault)
		if qs, ok := v[5].([]any); ok && len(qs) == 3 {
			for _, x := range qs {
				cp.Quartiles = append(cp.Quartiles, normalize(x, f))
			}
			cp.Median = cp.Quartiles[1]
		}
	}
	return nil
}
