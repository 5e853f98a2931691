// Package query turns a validated request on a loaded table into SQL with
// quoted identifiers and bound values, and runs it on DuckDB: one Page of
// rows with its total and facets (Run, paged by offset or by Cursor),
// groups with aggregates (Aggregate), the profile of each column (Profile),
// and every matching row in one of the export Formats (Export). A
// SearchIndex keeps, per table, the folded text that `q` searches and a
// token index in memory; Hints remember which plan suited a filter shape.
//
// No user text ever reaches SQL except as a bound parameter: filter and sort
// columns are checked against the table's columns (an exact, case-sensitive
// match) before they are quoted, and filter values are parsed for the
// column's type first, so a malformed value is an *InvalidError rather than a
// DuckDB error.
//
// Clients see a 1-based "rowid" column first, DuckDB's own rowid pseudo-column
// plus one. It may also be used in filters and sorts, as an integer column.
//
// Values in a Page are normalised for JSON when they are scanned, so a Page
// holds only nil, bool, int64, float64, string and json.Number (DECIMAL):
// dates and times become strings, NaN and infinities become nil, and integers
// beyond ±2^53 become strings so that JavaScript clients do not round them.
package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"

	"github.com/csvapi/csvapi/convert"
)

// RowID is the name of the 1-based row number column clients see first.
const RowID = "rowid"

// Table is a loaded resource a query runs against.
type Table struct {
	// Relation is trusted SQL text naming the table, already quoted, e.g.
	// "r_0123abcd".main.data. It must be a table (not a view) so that DuckDB's
	// rowid pseudo-column exists.
	Relation string
	// SearchRelation, when set, is trusted SQL text naming the folded shadow
	// of Relation that a SearchIndex built (columns r: rowid, s: folded
	// text); Request.Search then uses it instead of folding every text
	// column of every row.
	SearchRelation string
	// tokens, set with SearchRelation once a SearchIndex has indexed the
	// shadow's words, answers searches without filters from Go memory.
	tokens *tokenIndex
	// Columns are the table's columns in file order; never one named rowid.
	Columns []convert.Column
	// Rows is the number of rows of the table when known (0 otherwise); with
	// Hints and Busy, it lets Run count few matching rows in the page's
	// statement.
	Rows int64
	// Hints, when set, remembers how many rows queries on this table
	// matched (see Hints); nil makes Run count in a statement of its own.
	Hints *Hints
	// Busy says other queries share the cores now (the server sets it from
	// its query slots). Profile then runs its statements one at a time, so
	// that a query slot stays one statement at a time. And only then does
	// Run count few matching rows in the page's own statement, one scan
	// fewer: alone, a page and a separate count each have the cores to
	// themselves, which measured faster (go run ./bench -only query,
	// against DuckDB alone at one and at eight clients: merging always,
	// 0.77× and 1.05×; never, 0.93× and 0.84×; only when Busy, 0.85× and
	// 1.09×: one client never merges, so 0.85–0.93× is the run-to-run
	// spread). When not Busy, Run counts a filtered page's total on a
	// second connection while the page's statement runs (countAhead).
	Busy bool
}

// Op is a filter operator, as it appears after "__" in a query string
// parameter. Several spellings mean the same test (csvapi's, Datasette's and
// api-tabular's): Filter keeps the spelling the client used, so that errors
// name the parameter as it was written.
type Op string

// Filter operators. Comparisons follow the column's type: numbers compare as
// numbers, dates and timestamps as dates; text comparisons with lt/gt read
// the text as a number. Negative operators (not, notcontains, notin) never
// match NULL, as in SQL, except differs, which keeps NULLs as api-tabular's
// does (Postgres' IS DISTINCT FROM).
const (
	OpExact       Op = "exact"       // equal (also plain col=value)
	OpNot         Op = "not"         // different, never NULL (SQL's !=)
	OpDiffers     Op = "differs"     // different or NULL (SQL's IS DISTINCT FROM), as api-tabular
	OpContains    Op = "contains"    // case-insensitive substring of the text form
	OpNotContains Op = "notcontains" // not a case-insensitive substring
	OpIContains   Op = "icontains"   // case- and accent-insensitive substring
	OpStartsWith  Op = "startswith"  // case-insensitive prefix
	OpEndsWith    Op = "endswith"    // case-insensitive suffix
	OpLess        Op = "less"        // <=, csvapi; alias lte
	OpGreater     Op = "greater"     // >=, csvapi; alias gte
	OpLt          Op = "lt"          // <; alias strictly_less
	OpGt          Op = "gt"          // >; alias strictly_greater
	OpIn          Op = "in"          // one of a list: a,b,c or ["a,1","b"]
	OpNotIn       Op = "notin"       // none of a list
	OpBetween     Op = "between"     // a <= col <= b: a,b or ["a","b"]
	OpIsNull      Op = "isnull"      // NULL (value ignored, or 0/false to negate)
	OpNotNull     Op = "notnull"     // not NULL; alias isnotnull
	OpIsBlank     Op = "isblank"     // NULL or empty text
	OpNotBlank    Op = "notblank"    // neither NULL nor empty text
)

// canonicalOps maps every accepted spelling to the operator it means.
var canonicalOps = map[Op]Op{
	OpExact: OpExact,
	OpNot:   OpNot, OpDiffers: OpDiffers,
	OpContains: OpContains, OpNotContains: OpNotContains, OpIContains: OpIContains,
	OpStartsWith: OpStartsWith, OpEndsWith: OpEndsWith,
	OpLess: OpLess, "lte": OpLess, OpGreater: OpGreater, "gte": OpGreater,
	OpLt: OpLt, "strictly_less": OpLt, OpGt: OpGt, "strictly_greater": OpGt,
	OpIn: OpIn, OpNotIn: OpNotIn, OpBetween: OpBetween,
	OpIsNull: OpIsNull, OpNotNull: OpNotNull, "isnotnull": OpNotNull,
	OpIsBlank: OpIsBlank, OpNotBlank: OpNotBlank,
}

// KnownOp reports whether name is an operator spelling Filter accepts.
func KnownOp(name string) bool {
	_, ok := canonicalOps[Op(name)]
	return ok
}

// OpNames returns every accepted operator spelling, sorted, for messages
// and documentation.
func OpNames() []string {
	names := make([]string, 0, len(canonicalOps))
	for op := range canonicalOps {
		names = append(names, string(op))
	}
	slices.Sort(names)
	return names
}

// Filter keeps the rows whose Column satisfies Op with Value.
type Filter struct {
	Column string
	Op     Op
	Value  string
}

// Param returns the query string parameter name of the filter, e.g.
// "price__exact"; InvalidError.Param uses it.
func (f Filter) Param() string { return f.Column + "__" + string(f.Op) }

// Cond is a node of a boolean tree of filters: a single Filter (leaf), or
// Conds combined with OR (Or true) or AND. It is what or=(…) and and=(…)
// parse into.
type Cond struct {
	Filter *Filter
	Or     bool
	Conds  []Cond
}

// Sort orders rows by Column, ascending unless Desc. NULLs always come last.
type Sort struct {
	Column string
	Desc   bool
}

// Request is a query on a Table: filters, order, columns and page.
type Request struct {
	Filters   []Filter // ANDed
	Where     []Cond   // ANDed with Filters: OR/AND groups
	Search    string   // q: every word must appear in some text column, ignoring case and accents
	Sort      []Sort   // empty: file order; ties are always broken by rowid
	Columns   []string // columns to return, in this order; empty: all
	Omit      []string // columns not to return
	Limit     int      // rows per page; < 0 means no limit (exports)
	Offset    int      // rows to skip (after the cursor, if any)
	After     string   // cursor: a Page.Next token; the page starts after its row
	HideRowID bool     // _rowid=hide
	RowIDName string   // output name of the row number column; RowID when empty (api-tabular: "__id")
	HideTotal bool     // _total=hide: skip the count
	Facets    []string // columns whose value counts are returned in Page.Facets
	FacetSize int      // values per facet; DefaultFacetSize when 0
}

// DefaultFacetSize is the number of values per facet when
// Request.FacetSize is 0.
const DefaultFacetSize = 10

// MaxFacetSize bounds Request.FacetSize.
const MaxFacetSize = 1000

// ErrInvalid is the category of every error caused by a bad Request; the
// errors returned are *InvalidError, test them with errors.Is(err, ErrInvalid).
var ErrInvalid = errors.New("invalid query")

// InvalidError says which parameter of a Request is wrong and why. Its
// Unwrap returns ErrInvalid.
type InvalidError struct {
	Param   string // query string parameter, e.g. "price__exact", "_sort", "_offset"
	Message string // human explanation, e.g. `expects an integer, got "abc"`
}

// Error returns "param: message".
func (e *InvalidError) Error() string { return e.Param + ": " + e.Message }

// Unwrap returns ErrInvalid.
func (e *InvalidError) Unwrap() error { return ErrInvalid }

// Validate checks r against t without touching the database. It returns an
// *InvalidError for a filter or sort on a column t does not have, an unknown
// operator, a filter value that cannot be parsed for the column's type, or a
// negative Offset; nil otherwise.
func (r Request) Validate(t Table) error {
	_, err := compile(t, r)
	return err
}

// Page is one page of a query's result.
type Page struct {
	Columns []string       // "rowid" first unless hidden, then the selected column names
	Kinds   []convert.Kind // kind of each column, in the same order
	Rows    [][]any        // normalised values: nil, bool, int64, float64, string, json.Number
	Total   int64          // rows matching the filters, whatever the page; -1 when hidden
	Next    string         // cursor of the next page (Request.After); "" on the last page
	Facets  []Facet        // one per Request.Facets, in the same order
}

// Facet is the value counts of one column on the filtered rows, most
// frequent first (ties by value), NULL counted as a value (nil).
type Facet struct {
	Column    string
	Values    []FacetValue
	Truncated bool // more distinct values than were returned
}

// FacetValue is one value of a Facet and the number of rows holding it.
type FacetValue struct {
	Value any   `json:"value"` // normalised as in Page.Rows
	Count int64 `json:"count"`
}

// Run validates r, then returns the page of t it selects, with the number of
// rows matching the filters in Total unless r.HideTotal, the cursor of the
// next page in Next when there is one, and the facets r asks for. Queries run
// with ctx: when it is done, DuckDB is interrupted and the error wraps
// ctx.Err() (test with errors.Is(err, context.DeadlineExceeded)). Errors are
// an *InvalidError (errors.Is ErrInvalid) for a bad request, otherwise a
// wrapped database error.
//
// The default order (no Sort) is file order: the query then has no ORDER BY,
// which is several times faster on large tables and relies on DuckDB's
// preserve_insertion_order setting being on (its default), except a search
// through a shadow, sorted by rowid (its semi-join does not keep file order).
func Run(ctx context.Context, db *sql.DB, t Table, r Request) (*Page, error) {
	if page, ok, err := runIndexed(ctx, db, t, r); ok {
		return page, err
	}
	p, err := compile(t, r)
	if err != nil {
		return nil, err
	}
	hint := t.Hints.key(t, p)
	p.withTotal = t.Busy && p.mergeableTotal() && t.Hints.few(hint, t.Rows)
	ahead := p.countAhead(ctx, db, t, hint)
	defer ahead.stop()
	page, last, err := p.fetch(ctx, db)
	if err != nil {
		return nil, err
	}
	n := len(page.Rows)
	hasNext := p.limit >= 0 && n > p.limit
	if hasNext {
		page.Rows = page.Rows[:p.limit]
		if p.limit > 0 {
			page.Next = encodeCursor(p.sortSig, last[p.limit-1])
		}
		n = p.limit
	}
	if !r.HideTotal {
		if page.Total, err = p.total(ctx, db, ahead, n, hasNext); err != nil {
			return nil, err
		}
		t.Hints.record(hint, page.Total)
	}
	for _, f := range p.facets {
		facet, err := p.facet(ctx, db, f, p.facetSize)
		if err != nil {
			return nil, err
		}
		page.Facets = append(page.Facets, facet)
	}
	return page, nil
}

// fetch runs the page query; it returns the rows (one more than the limit
// when there is a next page) and the table rowid of each. With p.withTotal,
// the statement also counts the rows matching the filters, into p.merged.
func (p *plan) fetch(ctx context.Context, db *sql.DB) (*Page, []int64, error) {
	if found, err := p.resolveCursor(ctx, db); err != nil {
		return nil, nil, err
	} else if !found {
		return &Page{Columns: p.names, Kinds: p.kinds, Total: -1}, nil, nil
	}
	q, forms := p.pageStmt(), p.forms
	if p.withTotal {
		q, forms = p.pageTotalStmt(), append(slices.Clip(forms), formDefault)
	}
	rows, err := db.QueryContext(ctx, q.sql, q.args...)
	if err != nil {
		return nil, nil, dbError(ctx, "query", err)
	}
	defer rows.Close()
	page := &Page{Columns: p.names, Kinds: p.kinds, Total: -1}
	if p.limit > 0 {
		page.Rows = make([][]any, 0, min(p.limit+1, 1001))
	}
	var rowids []int64
	sc := newScanner(forms)
	for rows.Next() {
		row, err := sc.scan(rows)
		if err != nil {
			return nil, nil, dbError(ctx, "scan", err)
		}
		if p.withTotal {
			p.merged, _ = row[len(row)-1].(int64)
			row = row[:len(row)-1]
		}
		// The last value is the table's raw rowid, for the cursor.
		id, _ := row[len(row)-1].(int64)
		rowids = append(rowids, id)
		page.Rows = append(page.Rows, row[:len(row)-1])
	}
	if err := rows.Err(); err != nil {
		return nil, nil, dbError(ctx, "query", err)
	}
	return page, rowids, nil
}

// total returns the number of rows matching the filters; n rows were
// returned, and hasNext says whether more follow. The page's own statement
// may have counted them (p.withTotal), or the page may say it itself
// (pageTotal: ahead's count is then cancelled); otherwise ahead's count,
// or a count statement run now when there is none.
func (p *plan) total(ctx context.Context, db *sql.DB, ahead *countAhead, n int, hasNext bool) (int64, error) {
	if p.withTotal && n > 0 {
		return p.merged, nil
	}
	if total, ok := p.pageTotal(n, hasNext); ok {
		ahead.stop()
		return total, nil
	}
	if ahead != nil {
		return ahead.wait()
	}
	return p.count(ctx, db)
}

// pageTotal returns the total when the page says it: a first page that
// holds every matching row, or a last page reached by offset alone.
func (p *plan) pageTotal(n int, hasNext bool) (int64, bool) {
	if !hasNext && p.after < 0 && (n > 0 || p.offset == 0) {
		return int64(p.offset + n), true
	}
	return 0, false
}

// count runs the count statement.
func (p *plan) count(ctx context.Context, db *sql.DB) (int64, error) {
	return countRows(ctx, db, p.countStmt())
}

// countRows runs c, a count statement.
func countRows(ctx context.Context, db *sql.DB, c stmt) (int64, error) {
	var total int64
	if err := db.QueryRowContext(ctx, c.sql, c.args...).Scan(&total); err != nil {
		return 0, dbError(ctx, "count", err)
	}
	return total, nil
}

// facet counts the values of c on the filtered rows; size values at most.
func (p *plan) facet(ctx context.Context, db *sql.DB, c column, size int) (Facet, error) {
	f := Facet{Column: c.name}
	q := "SELECT " + c.expr + " AS v, count(*) AS n" + p.from() + p.where +
		" GROUP BY ALL ORDER BY n DESC, v ASC NULLS LAST LIMIT ?"
	args := append(slices.Clip(p.args), int64(size+1))
	rows, err := db.QueryContext(ctx, q, args...)
	if err != nil {
		return f, dbError(ctx, "facet", err)
	}
	defer rows.Close()
	fmtv := formOf(c.sqlType)
	for rows.Next() {
		var v any
		var n int64
		if err := rows.Scan(&v, &n); err != nil {
			return f, dbError(ctx, "facet", err)
		}
		if len(f.Values) == size {
			f.Truncated = true
			break
		}
		f.Values = append(f.Values, FacetValue{Value: normalize(v, fmtv), Count: n})
	}
	if err := rows.Err(); err != nil {
		return f, dbError(ctx, "facet", err)
	}
	return f, nil
}

// dbError wraps a database error; when ctx is done, it wraps ctx.Err()
// instead, so callers can tell a timeout from a failure without reading
// DuckDB's message.
func dbError(ctx context.Context, op string, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("%s: %w", op, cerr)
	}
	return fmt.Errorf("%s: %w", op, err)
}
