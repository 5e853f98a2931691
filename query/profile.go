package query

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/csvapi/csvapi/convert"
)

// Knobs of Profile.
const (
	// ExactDistinctRows is the number of filtered rows up to which distinct
	// counts are exact; above, they are DuckDB's HyperLogLog estimate
	// (a few percent off) and flagged as approximate.
	ExactDistinctRows = 100_000
	// HistogramBins is the number of equal-width bins of numeric columns.
	HistogramBins = 10
	// TopValues is the number of most frequent values of each column.
	TopValues = 10
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
	Distinct       int64        `json:"distinct"`
	DistinctApprox bool         `json:"distinct_approx"`
	Min            any          `json:"min"`
	Max            any          `json:"max"`
	Mean           any          `json:"mean,omitempty"`      // numbers
	Std            any          `json:"std,omitempty"`       // numbers: sample standard deviation
	Median         any          `json:"median,omitempty"`    // numbers and dates
	Quartiles      []any        `json:"quartiles,omitempty"` // 25th, 50th, 75th percentiles; approximate (t-digest) when DistinctApprox
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
	tops, err := p.profileStats(ctx, db, cols, tp)
	if err != nil {
		return nil, err
	}
	for i, c := range cols {
		// Small tables, or a column the sample did not see (a filter that
		// keeps rows of a few blocks): exact top values, a GROUP BY.
		if tops == nil || len(tops[i].texts) == 0 {
			f, err := p.facet(ctx, db, c, TopValues)
			if err != nil {
				return nil, err
			}
			tp.Columns[i].Top = f.Values
		}
	}
	if err := p.profileCounts(ctx, db, cols, tp, tops); err != nil {
		return nil, err
	}
	return tp, nil
}

func numeric(k convert.Kind) bool { return k == convert.KindInteger || k == convert.KindNumber }

// candidates are the values that may be a column's most frequent: from
// DuckDB's approx_top_k on large tables, counted exactly afterwards.
type candidates struct {
	values []any    // normalised, as clients see them
	texts  []string // the same as DuckDB's VARCHAR casts, to count them
}

// profileStats computes counts, distinct counts, extremes and quantiles of
// every column in one scan. On tables of more than ExactDistinctRows rows
// it also returns each column's candidate top values (approx_top_k), in
// the same scan; nil on smaller tables.
func (p *plan) profileStats(ctx context.Context, db *sql.DB, cols []column, tp *TableProfile) ([]candidates, error) {
	approx := tp.Rows > ExactDistinctRows
	var list []string
	for _, c := range cols {
		distinct := "count(DISTINCT " + c.expr + ")"
		if approx {
			distinct = "approx_count_distinct(" + c.expr + ")"
		}
		list = append(list, "count("+c.expr+")", distinct, "min("+c.expr+")", "max("+c.expr+")")
		switch {
		case numeric(c.kind):
			quantile := "quantile_cont"
			if approx {
				quantile = "approx_quantile" // t-digest: no sort of the whole column
			}
			list = append(list, "avg("+c.expr+")::DOUBLE", quantile+"("+c.expr+", [0.25, 0.5, 0.75])::DOUBLE[]",
				"stddev_samp("+c.expr+")::DOUBLE")
		case c.kind == convert.KindDate || c.kind == convert.KindTimestamp:
			quantile := "quantile_disc"
			if approx {
				quantile = "approx_quantile"
			}
			list = append(list, "NULL", quantile+"("+c.expr+", [0.25, 0.5, 0.75])", "NULL")
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
		return nil, dbError(ctx, "profile", err)
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
	if !approx {
		return nil, nil
	}
	return p.topCandidates(ctx, db, cols)
}

// TopSample is the share of a large table's storage blocks whose values
// propose each column's candidate top values; their exact counts are then
// taken on every row. A value frequent enough to be in the top is all but
// certain to be frequent in a tenth of the blocks.
const TopSample = "10%"

// topCandidates proposes each column's candidate top values with DuckDB's
// approx_top_k on a sample of the table, in one statement.
func (p *plan) topCandidates(ctx context.Context, db *sql.DB, cols []column) ([]candidates, error) {
	var list []string
	for _, c := range cols {
		// Twice the size asked, so that exact counting can reorder them.
		top := "approx_top_k(" + c.expr + ", " + strconv.Itoa(2*TopValues) + ")"
		list = append(list, top, "list_transform("+top+", x -> CAST(x AS VARCHAR))")
	}
	vals := make([]any, len(list))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	q := "SELECT " + strings.Join(list, ", ") + p.from() + " TABLESAMPLE " + TopSample + p.where
	if err := db.QueryRowContext(ctx, q, p.args...).Scan(ptrs...); err != nil {
		return nil, dbError(ctx, "profile", err)
	}
	tops := make([]candidates, len(cols))
	for i, c := range cols {
		values, _ := vals[2*i].([]any)
		texts, _ := vals[2*i+1].([]any)
		f := formatOf(c.sqlType)
		for j := range min(len(values), len(texts)) {
			if t, ok := texts[j].(string); ok {
				tops[i].values = append(tops[i].values, normalize(values[j], f))
				tops[i].texts = append(tops[i].texts, t)
			}
		}
	}
	return tops, nil
}

func toInt64(v any) int64 {
	switch x := normalize(v, formatDefault).(type) {
	case int64:
		return x
	case float64:
		return int64(x)
	}
	return 0
}

// profileCounts computes, in one scan, the histograms of numeric and date
// columns and, with tops, the exact counts of each column's candidate top
// values, which become its Top (NULL counted as a value, as facets do).
func (p *plan) profileCounts(ctx context.Context, db *sql.DB, cols []column, tp *TableProfile, tops []candidates) error {
	var list []string
	var args []any
	type slot struct{ col, kind, first, n int } // kind: 0 top counts, 1 numeric bins, 2 date bins
	var slots []slot
	bins := make([][]Bin, len(cols))
	for i, c := range cols {
		cp := &tp.Columns[i]
		if tops != nil && len(tops[i].texts) > 0 {
			// One hash per row for all candidates (a FILTER per candidate
			// costs a comparison per row each); the text is cast back to
			// the column's type once.
			in := strings.Repeat("CAST(? AS "+c.sqlType+"), ", len(tops[i].texts))
			slots = append(slots, slot{col: i, kind: 0, first: len(list), n: 1})
			list = append(list, "map_entries(histogram("+c.expr+") FILTER (WHERE "+c.expr+" IN ("+strings.TrimSuffix(in, ", ")+")))")
			for _, t := range tops[i].texts {
				args = append(args, t)
			}
		}
		if cp.Count == 0 {
			continue
		}
		switch {
		case numeric(c.kind):
			var expr string
			var bargs []any
			if bins[i], expr, bargs = numericBins(c, cp); expr != "" {
				slots = append(slots, slot{col: i, kind: 1, first: len(list), n: 1})
				list, args = append(list, expr), append(args, bargs...)
			}
		case c.kind == convert.KindDate || c.kind == convert.KindTimestamp:
			slots = append(slots, slot{col: i, kind: 2, first: len(list), n: 1})
			list = append(list, "map_entries(histogram(strftime(date_trunc('"+dateUnit(cp)+"', "+c.expr+"), '%Y-%m')))")
		}
	}
	if len(list) == 0 {
		return nil
	}
	vals := make([]any, len(list))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	q := "SELECT " + strings.Join(list, ", ") + p.from() + p.where
	if err := db.QueryRowContext(ctx, q, append(args, p.args...)...).Scan(ptrs...); err != nil {
		return dbError(ctx, "profile", err)
	}
	for _, sl := range slots {
		cp := &tp.Columns[sl.col]
		switch sl.kind {
		case 0:
			cp.Top = exactTop(tops[sl.col].values, binCounts(vals[sl.first], formatOf(cols[sl.col].sqlType)), cp.Nulls)
		case 1:
			counts := binCounts(vals[sl.first], formatDefault)
			for j := range bins[sl.col] {
				bins[sl.col][j].Count = counts[fmt.Sprint(int64(j))]
			}
			cp.Histogram = bins[sl.col]
		case 2:
			counts := binCounts(vals[sl.first], formatDefault)
			keys := make([]string, 0, len(counts))
			for k := range counts {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			n := 7
			if dateUnit(cp) == "year" {
				n = 4
			}
			for _, k := range keys {
				cp.Histogram = append(cp.Histogram, Bin{From: k[:min(n, len(k))], Count: counts[k]})
			}
		}
	}
	for i, c := range cols {
		if numeric(c.kind) && tp.Columns[i].Histogram == nil && bins[i] != nil {
			tp.Columns[i].Histogram = bins[i] // one bin: counted already
		}
	}
	return nil
}

// numericBins returns the HistogramBins equal-width bins between a numeric
// column's minimum and maximum (one bin per value for integers with a small
// range), and the aggregate that counts them with its arguments; no
// aggregate when one bin holds every value.
func numericBins(c column, cp *ColumnProfile) ([]Bin, string, []any) {
	lo, ok1 := asFloat(cp.Min)
	hi, ok2 := asFloat(cp.Max)
	if !ok1 || !ok2 {
		return nil, "", nil
	}
	bins := HistogramBins
	width := (hi - lo) / float64(bins)
	if c.kind == convert.KindInteger && hi-lo < float64(2*HistogramBins) {
		bins, width = int(hi-lo)+1, 1
	}
	if width == 0 {
		return []Bin{{From: cp.Min, To: cp.Max, Count: cp.Count}}, "", nil
	}
	out := make([]Bin, bins)
	for i := range out {
		out[i] = Bin{From: roundBound(lo + float64(i)*width), To: roundBound(lo + float64(i+1)*width)}
		if c.kind == convert.KindInteger && width == 1 {
			out[i].To = nil
			out[i].From = int64(lo) + int64(i)
		}
	}
	expr := "map_entries(histogram(least(floor((" + c.expr + "::DOUBLE - ?) / ?)::BIGINT, ?)))"
	return out, expr, []any{lo, width, int64(bins - 1)}
}

// dateUnit is the width of a date histogram's bins: months when the values
// span at most two years, years otherwise.
func dateUnit(cp *ColumnProfile) string {
	lo, _ := cp.Min.(string)
	hi, _ := cp.Max.(string)
	if len(lo) < 4 || len(hi) < 4 || lo[:4] != hi[:4] && atoiPrefix(hi[:4])-atoiPrefix(lo[:4]) >= 2 {
		return "year"
	}
	return "month"
}

// binCounts reads the entries of the MAP that DuckDB's histogram
// aggregate returns (map_entries: a list of {key, value} structs).
func binCounts(v any, f format) map[string]int64 {
	counts := map[string]int64{}
	entries, _ := v.([]any)
	for _, e := range entries {
		if kv, ok := e.(map[string]any); ok {
			counts[fmt.Sprint(normalize(kv["key"], f))] = toInt64(kv["value"])
		}
	}
	return counts
}

// exactTop orders candidate values by their exact counts (then by value,
// as facets do) and keeps TopValues of them; NULL competes as a value.
func exactTop(values []any, counts map[string]int64, nulls int64) []FacetValue {
	top := make([]FacetValue, 0, len(values)+1)
	for _, v := range values {
		if n := counts[fmt.Sprint(v)]; n > 0 {
			top = append(top, FacetValue{Value: v, Count: n})
		}
	}
	if nulls > 0 {
		top = append(top, FacetValue{Value: nil, Count: nulls})
	}
	slices.SortStableFunc(top, func(a, b FacetValue) int {
		if a.Count != b.Count {
			return cmp.Compare(b.Count, a.Count)
		}
		switch {
		case a.Value == nil:
			return 1
		case b.Value == nil:
			return -1
		}
		return cmp.Compare(fmt.Sprint(a.Value), fmt.Sprint(b.Value))
	})
	return top[:min(len(top), TopValues)]
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
