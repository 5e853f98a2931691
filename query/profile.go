package query

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/csvapi/csvapi/convert"
)

// Knobs of Profile.
const (
	// HistogramBins is the number of equal-width bins of numeric columns.
	HistogramBins = 10
	// TopValues is the number of most frequent values of each column.
	TopValues = 10
	// profileQueries is the number of a profile's statements run at once
	// when it has the cores to itself (one when Table.Busy): a statement's
	// last phase (top-N, quantiles) runs on one thread, the other's scan
	// fills the second core.
	profileQueries = 3
)

// TableProfile describes the rows a Request selects, column by column.
type TableProfile struct {
	Rows    int64           `json:"rows"`
	Columns []ColumnProfile `json:"columns"`
}

// ColumnProfile is the statistics of one column on the selected rows.
// Values are normalised as in Page.Rows (dates as strings).
type ColumnProfile struct {
	Name           string       `json:"name"`
	Type           convert.Kind `json:"type"`
	Count          int64        `json:"count"` // non-NULL values
	Nulls          int64        `json:"nulls"`
	Distinct       int64        `json:"distinct"`        // exact, NULL not counted
	DistinctApprox bool         `json:"distinct_approx"` // always false: distinct counts are exact
	Min            any          `json:"min"`
	Max            any          `json:"max"`
	Mean           any          `json:"mean,omitempty"`      // numbers
	Std            any          `json:"std,omitempty"`       // numbers: sample standard deviation
	Median         any          `json:"median,omitempty"`    // numbers and dates
	Quartiles      []any        `json:"quartiles,omitempty"` // 25th, 50th, 75th percentiles
	Top            []FacetValue `json:"top"`
	Histogram      []Bin        `json:"histogram,omitempty"` // numbers: equal widths; dates: months or years
}

// Bin is one bar of a histogram: the values in [From, To) (the last bin
// includes To), or the month or year From for dates.
type Bin struct {
	From  any   `json:"from"`
	To    any   `json:"to,omitempty"`
	Count int64 `json:"count"`
}

// Profile validates r, then computes the TableProfile of the rows r
// selects (filters and search; the page, sort and facets are ignored; the
// columns are r.Columns, all when empty). Errors are as Run's.
func Profile(ctx context.Context, db *sql.DB, t Table, r Request) (*TableProfile, error) {
	base := r
	base.Sort, base.After, base.Facets, base.Limit, base.Offset, base.HideRowID = nil, "", nil, -1, 0, true
	p, err := compile(t, base)
	if err != nil {
		return nil, err
	}
	tp := &TableProfile{}
	c := p.countStmt()
	if err := db.QueryRowContext(ctx, c.sql, c.args...).Scan(&tp.Rows); err != nil {
		return nil, dbError(ctx, "profile", err)
	}
	var cols []column
	for _, name := range p.names {
		c, _ := lookup(t, name)
		cols = append(cols, c)
		tp.Columns = append(tp.Columns, ColumnProfile{Name: name, Type: c.kind, Top: []FacetValue{}})
	}
	if len(cols) == 0 {
		return tp, nil
	}
	// The statistics, then the histograms that need their extremes, run
	// beside the top values of every column.
	n := profileQueries
	if t.Busy { // other queries share the cores: one statement at a time, as they have
		n = 1
	}
	g := newProfileGroup(ctx, n)
	g.run(func(ctx context.Context) error {
		if err := p.profileStats(ctx, db, cols, tp); err != nil {
			return err
		}
		for i, c := range cols {
			g.run(func(ctx context.Context) (err error) {
				tp.Columns[i].Histogram, err = p.histogram(ctx, db, c, &tp.Columns[i])
				return err
			})
		}
		return nil
	})
	for i, c := range cols {
		g.run(func(ctx context.Context) error {
			return p.profileTop(ctx, db, c, &tp.Columns[i])
		})
	}
	if err := g.wait(); err != nil {
		return nil, err
	}
	return tp, nil
}

// profileGroup runs a profile's statements, at most n at a time; the first
// error cancels the others.
type profileGroup struct {
	ctx    context.Context
	cancel context.CancelFunc
	sem    chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	err    error
}

func newProfileGroup(ctx context.Context, n int) *profileGroup {
	ctx, cancel := context.WithCancel(ctx)
	return &profileGroup{ctx: ctx, cancel: cancel, sem: make(chan struct{}, n)}
}

// run runs f in a goroutine once a slot is free; f may call run.
func (g *profileGroup) run(f func(ctx context.Context) error) {
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.sem <- struct{}{}
		err := f(g.ctx)
		<-g.sem
		if err != nil {
			g.once.Do(func() { g.err = err; g.cancel() })
		}
	}()
}

// wait returns the first error once every statement is done.
func (g *profileGroup) wait() error {
	g.wg.Wait()
	g.cancel()
	return g.err
}

func numeric(k convert.Kind) bool { return k == convert.KindInteger || k == convert.KindNumber }

// profileTop sets the most frequent values of c and the exact number of
// its distinct values, both from one grouping of the column: counting
// distinct values in the statistics' scan (HyperLogLog above 100,000 rows)
// cost about as much as all their other aggregates together.
//
// Columns without quantiles or histograms (text, booleans) get their
// extremes here too: over the groups rather than every row of the
// statistics' scan (min and max of three text columns of 1 M rows were a
// sixth of that scan).
func (p *plan) profileTop(ctx context.Context, db *sql.DB, c column, cp *ColumnProfile) error {
	extremes := ", NULL, NULL"
	if extremesFromTop(c) {
		extremes = ", (SELECT min(v) FROM g), (SELECT max(v) FROM g)"
	}
	q := "WITH g AS MATERIALIZED (SELECT " + c.expr + " AS v, count(*) AS n" + p.from() + p.where + " GROUP BY ALL)" +
		" SELECT v, n, (SELECT count(v) FROM g)" + extremes + " FROM g ORDER BY n DESC, v ASC NULLS LAST LIMIT ?"
	rows, err := db.QueryContext(ctx, q, append(slices.Clip(p.args), int64(TopValues))...)
	if err != nil {
		return dbError(ctx, "profile", err)
	}
	defer rows.Close()
	fmtv := formOf(c.sqlType)
	cp.Top = []FacetValue{}
	for rows.Next() {
		var v, lo, hi any
		var n int64
		if err := rows.Scan(&v, &n, &cp.Distinct, &lo, &hi); err != nil {
			return dbError(ctx, "profile", err)
		}
		cp.Top = append(cp.Top, FacetValue{Value: normalize(v, fmtv), Count: n})
		if extremesFromTop(c) {
			cp.Min, cp.Max = normalize(lo, fmtv), normalize(hi, fmtv)
		}
	}
	if err := rows.Err(); err != nil {
		return dbError(ctx, "profile", err)
	}
	return nil
}

// extremesFromTop says whether profileTop, rather than profileStats, finds
// the minimum and maximum of c: those of columns without histograms, which
// need them first.
func extremesFromTop(c column) bool {
	return !numeric(c.kind) && c.kind != convert.KindDate && c.kind != convert.KindTimestamp
}

// profileStats computes counts, extremes (see extremesFromTop) and
// quantiles of every column in one scan.
func (p *plan) profileStats(ctx context.Context, db *sql.DB, cols []column, tp *TableProfile) error {
	var list []string
	for _, c := range cols {
		if extremesFromTop(c) {
			list = append(list, "count("+c.expr+")", "NULL", "NULL")
		} else {
			list = append(list, "count("+c.expr+")", "min("+c.expr+")", "max("+c.expr+")")
		}
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
	const per = 6
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
		f := formOf(c.sqlType)
		cp.Count = toInt64(v[0])
		cp.Nulls = tp.Rows - cp.Count
		if !extremesFromTop(c) {
			cp.Min, cp.Max = normalize(v[1], f), normalize(v[2], f)
		}
		cp.Mean = normalize(v[3], formDefault)
		cp.Std = normalize(v[5], formDefault)
		if qs, ok := v[4].([]any); ok && len(qs) == 3 {
			for _, x := range qs {
				cp.Quartiles = append(cp.Quartiles, normalize(x, f))
			}
			cp.Median = cp.Quartiles[1]
		}
	}
	return nil
}

func toInt64(v any) int64 {
	switch x := normalize(v, formDefault).(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// histogram returns the bins of a numeric or date column; nil for others.
func (p *plan) histogram(ctx context.Context, db *sql.DB, c column, cp *ColumnProfile) ([]Bin, error) {
	if cp.Count == 0 {
		return nil, nil
	}
	switch {
	case numeric(c.kind):
		return p.numericHistogram(ctx, db, c, cp)
	case c.kind == convert.KindDate || c.kind == convert.KindTimestamp:
		return p.dateHistogram(ctx, db, c, cp)
	}
	return nil, nil
}

// numericHistogram counts values in HistogramBins equal-width bins between
// the minimum and the maximum; integers with a small range get one bin per
// value.
func (p *plan) numericHistogram(ctx context.Context, db *sql.DB, c column, cp *ColumnProfile) ([]Bin, error) {
	lo, ok1 := asFloat(cp.Min)
	hi, ok2 := asFloat(cp.Max)
	if !ok1 || !ok2 {
		return nil, nil
	}
	bins := HistogramBins
	width := (hi - lo) / float64(bins)
	if c.kind == convert.KindInteger && hi-lo < float64(2*HistogramBins) {
		bins, width = int(hi-lo)+1, 1
	}
	if width == 0 {
		return []Bin{{From: cp.Min, To: cp.Max, Count: cp.Count}}, nil
	}
	q := "SELECT least(floor((" + c.expr + "::DOUBLE - ?) / ?)::BIGINT, ?) AS b, count(*)" + p.from() + p.where
	// By position: GROUP BY b would name a column b of the table, if any.
	q += condJoin(p.where, c.expr+" IS NOT NULL") + " GROUP BY 1 ORDER BY 1"
	args := append([]any{lo, width, int64(bins - 1)}, p.args...)
	counts, err := p.countBins(ctx, db, q, args)
	if err != nil {
		return nil, err
	}
	out := make([]Bin, bins)
	for i := range out {
		out[i] = Bin{From: roundBound(lo + float64(i)*width), To: roundBound(lo + float64(i+1)*width)}
		if c.kind == convert.KindInteger && width == 1 {
			out[i].To = nil
			out[i].From = int64(lo) + int64(i)
		}
		out[i].Count = counts[fmt.Sprint(int64(i))]
	}
	return out, nil
}

func roundBound(x float64) float64 { return math.Round(x*1e9) / 1e9 }

func asFloat(v any) (float64, bool) {
	switch x := v.(type) {
	case int64:
		return float64(x), true
	case float64:
		return x, true
	case fmt.Stringer:
		var f float64
		_, err := fmt.Sscan(x.String(), &f)
		return f, err == nil
	case string:
		var f float64
		_, err := fmt.Sscan(x, &f)
		return f, err == nil
	}
	return 0, false
}

// dateHistogram counts values by month when they span at most two years,
// by year otherwise.
func (p *plan) dateHistogram(ctx context.Context, db *sql.DB, c column, cp *ColumnProfile) ([]Bin, error) {
	lo, _ := cp.Min.(string)
	hi, _ := cp.Max.(string)
	unit, n := "month", 7
	if len(lo) < 4 || len(hi) < 4 || lo[:4] != hi[:4] && atoiPrefix(hi[:4])-atoiPrefix(lo[:4]) >= 2 {
		unit, n = "year", 4
	}
	// Bins are grouped as dates and only they are formatted: strftime on
	// every row cost more than the grouping.
	q := "SELECT strftime(b, '%Y-%m'), n FROM (SELECT date_trunc('" + unit + "', " + c.expr + ") AS b, count(*) AS n" +
		p.from() + p.where + condJoin(p.where, c.expr+" IS NOT NULL") + " GROUP BY 1) ORDER BY b"
	counts, keys, err := p.countBinsOrdered(ctx, db, q, p.args)
	if err != nil {
		return nil, err
	}
	out := make([]Bin, 0, len(keys))
	for _, k := range keys {
		out = append(out, Bin{From: k[:n], Count: counts[k]})
	}
	return out, nil
}

func atoiPrefix(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			break
		}
		n = n*10 + int(r-'0')
	}
	return n
}

func (p *plan) countBins(ctx context.Context, db *sql.DB, q string, args []any) (map[string]int64, error) {
	counts, _, err := p.countBinsOrdered(ctx, db, q, args)
	return counts, err
}

// countBinsOrdered runs a query of (bin, count) rows.
func (p *plan) countBinsOrdered(ctx context.Context, db *sql.DB, q string, args []any) (map[string]int64, []string, error) {
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, dbError(ctx, "profile", err)
	}
	defer rows.Close()
	counts := map[string]int64{}
	var keys []string
	for rows.Next() {
		var b any
		var n int64
		if err := rows.Scan(&b, &n); err != nil {
			return nil, nil, dbError(ctx, "profile", err)
		}
		k := fmt.Sprint(normalize(b, formDefault))
		counts[k] = n
		keys = append(keys, k)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError(ctx, "profile", err)
	}
	return counts, keys, nil
}

// DecodeProfile reads a profile of t from its JSON (as json.Marshal
// writes a TableProfile), each value of the Go type Profile gives it:
// extremes and top values of integer columns as int64, of decimal columns
// as json.Number (12.50 stays 12.50), of other numbers as float64; means,
// deviations, quartiles and bounds of bins as float64 (int64 for the bins
// of one integer each). Marshalled again it gives the same JSON, so a
// profile kept on disk answers as the one computed. Errors are the JSON
// decoder's, or name a column t does not have.
func DecodeProfile(b []byte, t Table) (*TableProfile, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var tp TableProfile
	if err := d.Decode(&tp); err != nil {
		return nil, err
	}
	for i := range tp.Columns {
		cp := &tp.Columns[i]
		c, ok := lookup(t, cp.Name)
		if !ok {
			return nil, fmt.Errorf("profile of a column %q the table does not have", cp.Name)
		}
		cp.Min, cp.Max = columnNumber(cp.Min, c), columnNumber(cp.Max, c)
		for j := range cp.Top {
			cp.Top[j].Value = columnNumber(cp.Top[j].Value, c)
		}
		cp.Mean, cp.Std, cp.Median = floatNumber(cp.Mean), floatNumber(cp.Std), floatNumber(cp.Median)
		for j := range cp.Quartiles {
			cp.Quartiles[j] = floatNumber(cp.Quartiles[j])
		}
		for j := range cp.Histogram {
			h := &cp.Histogram[j]
			if c.kind == convert.KindInteger && h.To == nil {
				h.From = intNumber(h.From)
			} else {
				h.From, h.To = floatNumber(h.From), floatNumber(h.To)
			}
		}
	}
	return &tp, nil
}

// columnNumber is a number of column c (an extreme, a top value) as
// Profile types it: see DecodeProfile.
func columnNumber(v any, c column) any {
	switch {
	case c.kind == convert.KindInteger:
		return intNumber(v)
	case isDecimal(c.sqlType):
		return v
	}
	return floatNumber(v)
}

func isDecimal(sqlType string) bool {
	t := strings.ToUpper(sqlType)
	return strings.HasPrefix(t, "DECIMAL") || strings.HasPrefix(t, "NUMERIC")
}

// intNumber turns a json.Number into the int64 it writes, if any; other
// values are returned as they are.
func intNumber(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if i, err := strconv.ParseInt(string(n), 10, 64); err == nil && strconv.FormatInt(i, 10) == string(n) {
		return i
	}
	return floatNumber(n)
}

// floatNumber turns a json.Number into the float64 that writes the same
// JSON, if any; other values are returned as they are.
func floatNumber(v any) any {
	n, ok := v.(json.Number)
	if !ok {
		return v
	}
	if f, err := strconv.ParseFloat(string(n), 64); err == nil {
		if b, err := json.Marshal(f); err == nil && string(b) == string(n) {
			return f
		}
	}
	return n
}
