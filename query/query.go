// Package query turns a validated Request on a loaded table into SQL with
// quoted identifiers and bound values, and runs it on DuckDB: one Page of rows
// with its total (Run), or a CSV stream of every matching row (Export).
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
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/duckdb/duckdb-go/v2"

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
	// Columns are the table's columns in file order; never one named rowid.
	Columns []convert.Column
}

// Op is a filter operator.
type Op string

// Filter operators, as they appear after "__" in a query string parameter.
const (
	OpExact    Op = "exact"    // equal, compared with the column's type
	OpContains Op = "contains" // case-insensitive substring of the text form
	OpLess     Op = "less"     // less than or equal (<=)
	OpGreater  Op = "greater"  // greater than or equal (>=)
)

// Filter keeps the rows whose Column satisfies Op with Value.
type Filter struct {
	Column string
	Op     Op
	Value  string
}

// Param returns the query string parameter name of the filter, e.g.
// "price__exact"; InvalidError.Param uses it.
func (f Filter) Param() string { return f.Column + "__" + string(f.Op) }

// Sort orders rows by Column, ascending unless Desc. NULLs always come last.
type Sort struct {
	Column string
	Desc   bool
}

// Request is a query on a Table: filters, order and page.
type Request struct {
	Filters   []Filter // ANDed
	Sort      []Sort   // empty: file order
	Limit     int      // rows per page; < 0 means no limit (exports)
	Offset    int
	HideRowID bool // _rowid=hide
	HideTotal bool // _total=hide: skip the count
}

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
	Columns []string       // "rowid" first unless hidden, then the table's column names
	Kinds   []convert.Kind // kind of each column, in the same order
	Rows    [][]any        // normalised values: nil, bool, int64, float64, string, json.Number
	Total   int64          // rows matching the filters, whatever the page; -1 when hidden
}

// Run validates r, then returns the page of t it selects, with the number of
// rows matching the filters in Total unless r.HideTotal. Queries run with
// ctx: when it is done, DuckDB is interrupted and the error wraps ctx.Err()
// (test with errors.Is(err, context.DeadlineExceeded)). Errors are an
// *InvalidError (errors.Is ErrInvalid) for a bad request, otherwise a wrapped
// database error.
//
// The default order (no Sort) is file order: the query then has no ORDER BY,
// which is several times faster on large tables and relies on DuckDB's
// preserve_insertion_order setting being on (its default).
func Run(ctx context.Context, db *sql.DB, t Table, r Request) (*Page, error) {
	p, err := compile(t, r)
	if err != nil {
		return nil, err
	}
	rows, err := db.QueryContext(ctx, p.selectSQL(), p.selectArgs()...)
	if err != nil {
		return nil, dbError(ctx, "query", err)
	}
	defer rows.Close()

	page := &Page{Columns: p.names, Kinds: p.kinds, Total: -1}
	if r.Limit > 0 {
		page.Rows = make([][]any, 0, min(r.Limit, 1000))
	}
	sc := newScanner(p.formats)
	for rows.Next() {
		row, err := sc.scan(rows)
		if err != nil {
			return nil, dbError(ctx, "scan", err)
		}
		page.Rows = append(page.Rows, row)
	}
	if err := rows.Err(); err != nil {
		return nil, dbError(ctx, "query", err)
	}
	rows.Close()

	if r.HideTotal {
		return page, nil
	}
	// A page that is not full (and not past the end) says the total itself.
	n := len(page.Rows)
	if (r.Limit < 0 || n < r.Limit) && (n > 0 || r.Offset == 0) {
		page.Total = int64(r.Offset + n)
		return page, nil
	}
	if err := db.QueryRowContext(ctx, p.countSQL(), p.args...).Scan(&page.Total); err != nil {
		return nil, dbError(ctx, "count", err)
	}
	return page, nil
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

// format says how a scanned value of a column is turned into its
// normalised form; only time values and UUIDs depend on the column type.
type format uint8

const (
	formatDefault format = iota
	formatDate
	formatTimestamp
	formatTimestampTZ
	formatTime
	formatTimeTZ
	formatUUID
)

func formatOf(sqlType string) format {
	t := strings.ToUpper(sqlType)
	switch {
	case t == "DATE":
		return formatDate
	case t == "TIMESTAMPTZ" || t == "TIMESTAMP WITH TIME ZONE":
		return formatTimestampTZ
	case strings.HasPrefix(t, "TIMESTAMP"):
		return formatTimestamp
	case t == "TIMETZ" || t == "TIME WITH TIME ZONE":
		return formatTimeTZ
	case t == "TIME":
		return formatTime
	case t == "UUID":
		return formatUUID
	}
	return formatDefault
}

// scanner scans rows into fresh normalised []any, reusing its buffers.
type scanner struct {
	formats []format
	vals    []any
	ptrs    []any
}

func newScanner(formats []format) *scanner {
	s := &scanner{formats: formats, vals: make([]any, len(formats)), ptrs: make([]any, len(formats))}
	for i := range s.vals {
		s.ptrs[i] = &s.vals[i]
	}
	return s
}

func (s *scanner) scan(rows *sql.Rows) ([]any, error) {
	if err := rows.Scan(s.ptrs...); err != nil {
		return nil, err
	}
	row := make([]any, len(s.vals))
	for i, v := range s.vals {
		row[i] = normalize(v, s.formats[i])
		s.vals[i] = nil
	}
	return row, nil
}

// maxSafeInt is 2^53: integers beyond ±maxSafeInt lose precision in a
// float64, hence in JavaScript, so they are emitted as strings.
const maxSafeInt = 1 << 53

var (
	bigMaxSafe = big.NewInt(maxSafeInt)
	bigMinSafe = big.NewInt(-maxSafeInt)
)

func normalizeInt(v int64) any {
	if v > maxSafeInt || v < -maxSafeInt {
		return strconv.FormatInt(v, 10)
	}
	return v
}

func normalizeFloat(v float64) any {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return v
}

// normalize turns a value scanned from DuckDB into one of nil, bool, int64,
// float64, string or json.Number.
func normalize(v any, f format) any {
	switch x := v.(type) {
	case nil, bool, string, json.Number:
		return x
	case int64:
		return normalizeInt(x)
	case int32:
		return int64(x)
	case int16:
		return int64(x)
	case int8:
		return int64(x)
	case int:
		return normalizeInt(int64(x))
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	case uint32:
		return int64(x)
	case uint64:
		if x > maxSafeInt {
			return strconv.FormatUint(x, 10)
		}
		return int64(x)
	case uint:
		return normalize(uint64(x), f)
	case *big.Int:
		if x == nil {
			return nil
		}
		if x.Cmp(bigMaxSafe) > 0 || x.Cmp(bigMinSafe) < 0 {
			return x.String()
		}
		return x.Int64()
	case float64:
		return normalizeFloat(x)
	case float32:
		// The shortest decimal of the float32, not of its float64 widening:
		// 0.1 rather than 0.10000000149011612.
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return nil
		}
		g, _ := strconv.ParseFloat(strconv.FormatFloat(float64(x), 'g', -1, 32), 64)
		return g
	case duckdb.Decimal:
		if x.Value == nil {
			return nil
		}
		return json.Number(x.String())
	case []byte:
		if f == formatUUID && len(x) == 16 {
			return formatUUIDBytes(x)
		}
		return string(x)
	case time.Time:
		return formatTimeValue(x, f)
	case fmt.Stringer:
		return x.String()
	default:
		return fmt.Sprint(x)
	}
}

func formatUUIDBytes(b []byte) string {
	var buf [36]byte
	hex.Encode(buf[0:8], b[0:4])
	buf[8] = '-'
	hex.Encode(buf[9:13], b[4:6])
	buf[13] = '-'
	hex.Encode(buf[14:18], b[6:8])
	buf[18] = '-'
	hex.Encode(buf[19:23], b[8:10])
	buf[23] = '-'
	hex.Encode(buf[24:], b[10:])
	return string(buf[:])
}

func formatTimeValue(t time.Time, f format) string {
	switch f {
	case formatDate:
		return t.Format(time.DateOnly)
	case formatTimestamp:
		return t.Format("2006-01-02T15:04:05.999999999")
	case formatTime:
		return t.Format("15:04:05.999999999")
	case formatTimeTZ:
		return t.Format("15:04:05.999999999Z07:00")
	default:
		return t.Format(time.RFC3339Nano)
	}
}
