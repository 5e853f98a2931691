package query

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/csvapi/csvapi/convert"
)

// AggFunc is an aggregate function of Aggregate.
type AggFunc string

// Aggregate functions. Sum and avg need a numeric column; count needs no
// column (it counts rows); the others take any column.
const (
	AggCount         AggFunc = "count"
	AggSum           AggFunc = "sum"
	AggAvg           AggFunc = "avg"
	AggMin           AggFunc = "min"
	AggMax           AggFunc = "max"
	AggCountDistinct AggFunc = "count_distinct"
)

var aggSQL = map[AggFunc]string{
	AggCount: "count", AggSum: "sum", AggAvg: "avg", AggMin: "min", AggMax: "max", AggCountDistinct: "count(DISTINCT",
}

// KnownAgg reports whether name is an aggregate function.
func KnownAgg(name string) bool {
	_, ok := aggSQL[AggFunc(name)]
	return ok
}

// Agg is one aggregate of Aggregate's result.
type Agg struct {
	Func   AggFunc
	Column string // "" for count: the number of rows
	As     string // output column name; Name() when empty
}

// Name returns the output column name: As, or func_column ("sum_population",
// "count" for a count of rows).
func (a Agg) Name() string {
	switch {
	case a.As != "":
		return a.As
	case a.Column == "":
		return string(a.Func)
	}
	return string(a.Func) + "_" + a.Column
}

// DefaultMaxGroups is AggRequest.MaxGroups when it is 0.
const DefaultMaxGroups = 10_000

// AggRequest is a grouped aggregation on the rows a Request selects.
// Request.Sort names output columns (group columns or aggregate names);
// Limit and Offset page through the groups; Columns, Omit, After and
// Facets are not used.
type AggRequest struct {
	Request
	GroupBy []string
	Aggs    []Agg // count of rows when empty, unless GroupsOnly
	// GroupsOnly, with no Aggs, returns the groups alone: the distinct
	// values of GroupBy (api-tabular's col__groupby without aggregate).
	GroupsOnly bool
	MaxGroups  int // more groups than this is an *InvalidError
}

// Aggregate validates r, then returns one row per group of r.GroupBy (one
// row in all without groups) with the group columns then the aggregates,
// ordered by r.Sort (by the group columns when empty, NULLs last), and the
// number of groups in Total. Errors are as Run's; an *InvalidError on
// "group_by" when there are more than MaxGroups groups.
func Aggregate(ctx context.Context, db *sql.DB, t Table, r AggRequest) (*Page, error) {
	a, err := compileAggregate(t, r)
	if err != nil {
		return nil, err
	}
	page := a.page
	rows, err := db.QueryContext(ctx, a.query, a.queryArgs()...)
	if err != nil {
		return nil, dbError(ctx, "aggregate", err)
	}
	defer rows.Close()
	forms := make([]valueForm, 0, len(page.Kinds)+1)
	for _, k := range page.Kinds {
		forms = append(forms, formOfKind(k))
	}
	forms = append(forms, formDefault)
	sc := newScanner(forms)
	page.Total = 0
	for rows.Next() {
		row, err := sc.scan(rows)
		if err != nil {
			return nil, dbError(ctx, "aggregate", err)
		}
		page.Total, _ = row[len(row)-1].(int64)
		page.Rows = append(page.Rows, row[:len(row)-1])
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(ctx, "aggregate", err)
	}
	if len(page.Rows) == 0 {
		// An empty page (past the last group, or a limit of 0): no row
		// carries the window count.
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM ("+a.inner+")", a.args...).Scan(&page.Total); err != nil {
			return nil, dbError(ctx, "aggregate", err)
		}
	}
	maxGroups := r.MaxGroups
	if maxGroups <= 0 {
		maxGroups = DefaultMaxGroups
	}
	if page.Total > int64(maxGroups) {
		return nil, &InvalidError{Param: "group_by", Message: fmt.Sprintf("%d groups, more than the %d allowed: filter first, or group by fewer columns", page.Total, maxGroups)}
	}
	return page, nil
}

// formOfKind returns the value form of an output column of a kind: min
// and max of a date column are dates, and so on.
func formOfKind(k convert.Kind) valueForm {
	switch k {
	case convert.KindDate:
		return formDate
	case convert.KindTimestamp:
		return formTimestamp
	case convert.KindTime:
		return formTime
	}
	return formDefault
}

// aggPlan is a compiled AggRequest.
type aggPlan struct {
	inner         string // grouped query, with the window count of groups
	query         string // inner, ordered and paged
	args          []any  // arguments of inner
	limit, offset int64
	page          *Page // no rows yet: the output columns
}

func (a *aggPlan) queryArgs() []any {
	return append(append([]any{}, a.args...), a.limit, a.offset)
}

// compileAggregate builds the aggregate query and the empty page that
// describes its output columns.
func compileAggregate(t Table, r AggRequest) (*aggPlan, error) {
	base := r.Request
	base.Sort, base.After, base.Facets, base.Columns, base.Omit = nil, "", nil, nil, nil
	p, err := compile(t, base)
	if err != nil {
		return nil, err
	}
	page := &Page{Total: -1}
	var list, groups []string
	names := map[string]bool{}
	addName := func(param, name string) error {
		if names[name] {
			return &InvalidError{Param: param, Message: "two output columns are named " + quoteValue(name)}
		}
		names[name] = true
		return nil
	}
	for _, g := range r.GroupBy {
		c, ok := lookup(t, g)
		if !ok {
			return nil, &InvalidError{Param: "group_by", Message: "unknown column " + quoteValue(g)}
		}
		if err := addName("group_by", g); err != nil {
			return nil, err
		}
		list = append(list, c.expr+" AS "+quoteIdent(g))
		groups = append(groups, c.expr)
		page.Columns = append(page.Columns, g)
		page.Kinds = append(page.Kinds, c.kind)
	}
	aggs := r.Aggs
	if len(aggs) == 0 && !(r.GroupsOnly && len(r.GroupBy) > 0) {
		aggs = []Agg{{Func: AggCount}}
	}
	for _, a := range aggs {
		expr, kind, err := compileAgg(t, a)
		if err != nil {
			return nil, err
		}
		if err := addName("agg", a.Name()); err != nil {
			return nil, err
		}
		list = append(list, expr+" AS "+quoteIdent(a.Name()))
		page.Columns = append(page.Columns, a.Name())
		page.Kinds = append(page.Kinds, kind)
	}
	var order []string
	for _, s := range r.Sort {
		if !names[s.Column] {
			return nil, &InvalidError{Param: "_sort", Message: "unknown output column " + quoteValue(s.Column) + " (sort by a group column or an aggregate name)"}
		}
		dir := " ASC"
		if s.Desc {
			dir = " DESC"
		}
		order = append(order, "g."+quoteIdent(s.Column)+dir+" NULLS LAST")
	}
	for _, g := range r.GroupBy {
		order = append(order, "g."+quoteIdent(g)+" ASC NULLS LAST")
	}
	inner := "SELECT " + strings.Join(list, ", ") + ", count(*) OVER () AS __csvapi_groups" + p.from() + p.where
	if len(groups) > 0 {
		inner += " GROUP BY " + strings.Join(groups, ", ")
	}
	q := "SELECT * FROM (" + inner + ") AS g"
	if len(order) > 0 {
		q += " ORDER BY " + strings.Join(order, ", ")
	}
	a := &aggPlan{inner: inner, query: q + " LIMIT ? OFFSET ?", args: p.args, limit: int64(r.Limit), offset: int64(r.Offset), page: page}
	if a.limit < 0 {
		a.limit = 1 << 62
	}
	return a, nil
}

// compileAgg returns the SQL of one aggregate and the kind of its result.
func compileAgg(t Table, a Agg) (string, convert.Kind, error) {
	param := "agg"
	fn, ok := aggSQL[a.Func]
	if !ok {
		return "", "", &InvalidError{Param: param, Message: fmt.Sprintf("unknown aggregate %s (known: count, sum, avg, min, max, count_distinct)", quoteValue(string(a.Func)))}
	}
	if a.Column == "" {
		if a.Func != AggCount {
			return "", "", &InvalidError{Param: param, Message: string(a.Func) + " needs a column, e.g. " + string(a.Func) + ":population"}
		}
		return "count(*)", convert.KindInteger, nil
	}
	c, ok := lookup(t, a.Column)
	if !ok {
		return "", "", &InvalidError{Param: param, Message: "unknown column " + quoteValue(a.Column)}
	}
	switch a.Func {
	case AggSum, AggAvg:
		if c.kind != convert.KindInteger && c.kind != convert.KindNumber {
			return "", "", &InvalidError{Param: param, Message: fmt.Sprintf("%s needs a numeric column; %s is %s", a.Func, quoteValue(a.Column), c.kind)}
		}
	}
	switch a.Func {
	case AggCount, AggCountDistinct:
		if a.Func == AggCountDistinct {
			return fn + " " + c.expr + ")", convert.KindInteger, nil
		}
		return "count(" + c.expr + ")", convert.KindInteger, nil
	case AggAvg:
		return "avg(" + c.expr + ")", convert.KindNumber, nil
	case AggSum:
		return "sum(" + c.expr + ")", c.kind, nil
	}
	return fn + "(" + c.expr + ")", c.kind, nil
}
