package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/csvapi/csvapi/convert"
)

// tableAlias names the relation in the generated SQL so that the rowid
// pseudo-column can be referred to unambiguously (the select list has an
// output column called rowid too).
const tableAlias = "t"

// rowIDExpr is the 1-based row number clients see.
const rowIDExpr = "(" + tableAlias + ".rowid + 1)"

// plan is a compiled Request: SQL fragments with their bound arguments.
type plan struct {
	relation string
	names    []string       // output column names
	kinds    []convert.Kind // their kinds
	formats  []format       // how to normalise their values
	list     string         // select list
	where    string         // "" or " WHERE …"
	args     []any          // arguments of where
	orderBy  string         // "" or " ORDER BY …"
	limit    int
	offset   int
}

// column is a column a filter or sort may refer to.
type column struct {
	expr    string // quoted identifier or rowIDExpr
	sqlType string // DuckDB type name
	kind    convert.Kind
}

// quoteIdent quotes a SQL identifier: any name is safe once its double
// quotes are doubled and it is wrapped in double quotes.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func lookup(t Table, name string) (column, bool) {
	if name == RowID {
		return column{expr: rowIDExpr, sqlType: "BIGINT", kind: convert.KindInteger}, true
	}
	for _, c := range t.Columns {
		if c.Name == name {
			return column{expr: quoteIdent(c.Name), sqlType: c.Type, kind: c.Kind()}, true
		}
	}
	return column{}, false
}

// compile validates r against t and builds its SQL; errors are *InvalidError.
func compile(t Table, r Request) (*plan, error) {
	p := &plan{relation: t.Relation, limit: r.Limit, offset: r.Offset}

	var list strings.Builder
	if !r.HideRowID {
		list.WriteString(rowIDExpr + " AS " + RowID)
		p.names = append(p.names, RowID)
		p.kinds = append(p.kinds, convert.KindInteger)
		p.formats = append(p.formats, formatDefault)
	}
	for _, c := range t.Columns {
		if list.Len() > 0 {
			list.WriteString(", ")
		}
		list.WriteString(quoteIdent(c.Name))
		p.names = append(p.names, c.Name)
		p.kinds = append(p.kinds, c.Kind())
		p.formats = append(p.formats, formatOf(c.Type))
	}
	if list.Len() == 0 {
		// A table without columns and a hidden rowid: still one value per row.
		list.WriteString("NULL")
	}
	p.list = list.String()

	var where strings.Builder
	for _, f := range r.Filters {
		cond, args, err := compileFilter(t, f)
		if err != nil {
			return nil, err
		}
		if where.Len() == 0 {
			where.WriteString(" WHERE ")
		} else {
			where.WriteString(" AND ")
		}
		where.WriteString(cond)
		p.args = append(p.args, args...)
	}
	p.where = where.String()

	if len(r.Sort) > 0 {
		var order strings.Builder
		order.WriteString(" ORDER BY ")
		byRowID := false
		for i, s := range r.Sort {
			param := "_sort"
			if s.Desc {
				param = "_sort_desc"
			}
			c, ok := lookup(t, s.Column)
			if !ok {
				return nil, &InvalidError{Param: param, Message: "unknown column " + quoteValue(s.Column)}
			}
			if i > 0 {
				order.WriteString(", ")
			}
			order.WriteString(c.expr)
			if s.Desc {
				order.WriteString(" DESC")
			} else {
				order.WriteString(" ASC")
			}
			order.WriteString(" NULLS LAST")
			if s.Column == RowID {
				byRowID = true
				break // rowid is unique: later keys cannot matter
			}
		}
		if !byRowID {
			order.WriteString(", " + tableAlias + ".rowid")
		}
		p.orderBy = order.String()
	}

	if r.Offset < 0 {
		return nil, &InvalidError{Param: "_offset", Message: "must not be negative"}
	}
	return p, nil
}

func (p *plan) from() string {
	return " FROM " + p.relation + " AS " + tableAlias
}

func (p *plan) selectSQL() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(p.list)
	b.WriteString(p.from())
	b.WriteString(p.where)
	b.WriteString(p.orderBy)
	if p.limit >= 0 {
		b.WriteString(" LIMIT ?")
	}
	if p.offset > 0 {
		b.WriteString(" OFFSET ?")
	}
	return b.String()
}

func (p *plan) selectArgs() []any {
	args := make([]any, len(p.args), len(p.args)+2)
	copy(args, p.args)
	if p.limit >= 0 {
		args = append(args, int64(p.limit))
	}
	if p.offset > 0 {
		args = append(args, int64(p.offset))
	}
	return args
}

func (p *plan) countSQL() string {
	return "SELECT count(*)" + p.from() + p.where
}

// compileFilter returns the SQL condition of f and its arguments.
func compileFilter(t Table, f Filter) (string, []any, error) {
	param := f.Param()
	c, ok := lookup(t, f.Column)
	if !ok {
		return "", nil, &InvalidError{Param: param, Message: "unknown column " + quoteValue(f.Column)}
	}
	invalid := func(format string, a ...any) error {
		return &InvalidError{Param: param, Message: fmt.Sprintf(format, a...)}
	}
	if !utf8.ValidString(f.Value) {
		// DuckDB refuses to bind it, and no text in a table could match it.
		return "", nil, invalid("value is not valid UTF-8")
	}
	switch f.Op {
	case OpContains:
		// contains() rather than LIKE: % and _ in the value are literal.
		return "contains(lower(" + textExpr(c) + "), lower(?))", []any{f.Value}, nil
	case OpExact:
		return compileCompare(c, "=", f.Value, invalid)
	case OpLess:
		return compileCompare(c, "<=", f.Value, invalid)
	case OpGreater:
		return compileCompare(c, ">=", f.Value, invalid)
	}
	return "", nil, invalid("unknown operator %s (want exact, contains, less or greater)", quoteValue(string(f.Op)))
}

// textExpr is the text form of a column.
func textExpr(c column) string {
	if strings.EqualFold(c.sqlType, "VARCHAR") {
		return c.expr
	}
	return "CAST(" + c.expr + " AS VARCHAR)"
}

// compileCompare builds "col op value" for exact (=), less (<=) and
// greater (>=), comparing with the column's type.
func compileCompare(c column, op, value string, invalid func(string, ...any) error) (string, []any, error) {
	exact := op == "="
	v := strings.TrimSpace(value)
	switch c.kind {
	case convert.KindInteger:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return c.expr + " " + op + " ?", []any{n}, nil
		}
		if _, err := strconv.ParseUint(v, 10, 64); err == nil {
			// Beyond int64 (UBIGINT, HUGEINT columns): database/sql cannot
			// bind such a uint64, so let DuckDB parse the digits.
			return c.expr + " " + op + " CAST(? AS HUGEINT)", []any{v}, nil
		}
		if exact {
			return "", nil, invalid("expects an integer, got %s", quoteValue(value))
		}
		if x, ok := parseFloat(v); ok {
			return c.expr + " " + op + " ?", []any{x}, nil
		}
		return "", nil, invalid("expects a number, got %s", quoteValue(value))

	case convert.KindNumber:
		if x, ok := parseFloat(v); ok {
			return c.expr + " " + op + " ?", []any{x}, nil
		}
		return "", nil, invalid("expects a number, got %s", quoteValue(value))

	case convert.KindBoolean:
		if !exact {
			return "", nil, invalid("cannot compare a boolean column")
		}
		if b, ok := parseBool(v); ok {
			return c.expr + " = ?", []any{b}, nil
		}
		return "", nil, invalid("expects a boolean (true, false, 1, 0), got %s", quoteValue(value))

	case convert.KindDate:
		if d, ok := parseDate(v); ok {
			return c.expr + " " + op + " CAST(? AS DATE)", []any{d}, nil
		}
		return "", nil, invalid("expects a date (YYYY-MM-DD or DD/MM/YYYY), got %s", quoteValue(value))

	case convert.KindTimestamp:
		// A date alone compares with the day of each timestamp.
		if d, ok := parseDate(v); ok {
			return "CAST(" + c.expr + " AS DATE) " + op + " CAST(? AS DATE)", []any{d}, nil
		}
		ts, ok := parseTimestamp(v)
		if !ok {
			return "", nil, invalid("expects a date or a timestamp (YYYY-MM-DDTHH:MM:SS), got %s", quoteValue(value))
		}
		// Naive timestamps compare in UTC, whatever DuckDB's TimeZone setting.
		if formatOf(c.sqlType) == formatTimestampTZ {
			return c.expr + " " + op + " CAST(? AS TIMESTAMPTZ)", []any{ts.UTC().Format("2006-01-02 15:04:05.999999Z07:00")}, nil
		}
		return c.expr + " " + op + " CAST(? AS TIMESTAMP)", []any{ts.UTC().Format("2006-01-02 15:04:05.999999")}, nil

	case convert.KindTime:
		tm, ok := parseTime(v)
		if !ok {
			return "", nil, invalid("expects a time (HH:MM:SS), got %s", quoteValue(value))
		}
		typ := "TIME"
		if formatOf(c.sqlType) == formatTimeTZ {
			typ = "TIMETZ"
		}
		return c.expr + " " + op + " CAST(? AS " + typ + ")", []any{tm}, nil
	}

	// Text (and any other type): exact compares the text, less and greater
	// compare the values that read as numbers.
	if exact {
		return textExpr(c) + " = ?", []any{value}, nil
	}
	if x, ok := parseFloat(v); ok {
		return "TRY_CAST(" + textExpr(c) + " AS DOUBLE) " + op + " ?", []any{x}, nil
	}
	return "", nil, invalid("expects a number, got %s", quoteValue(value))
}

// parseFloat parses a finite decimal number; a decimal comma ("12,5") is
// accepted, as in French data.
func parseFloat(s string) (float64, bool) {
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	if s == "" || strings.ContainsAny(s, "xX_pP") {
		return 0, false // no hexadecimal floats or digit separators
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1", "oui", "vrai", "yes":
		return true, true
	case "false", "0", "non", "faux", "no":
		return false, true
	}
	return false, false
}

// parseDate parses YYYY-MM-DD or DD/MM/YYYY and returns it as YYYY-MM-DD.
func parseDate(s string) (string, bool) {
	for _, layout := range []string{time.DateOnly, "2/1/2006"} {
		if d, err := time.Parse(layout, s); err == nil {
			return d.Format(time.DateOnly), true
		}
	}
	return "", false
}

// timestampLayouts are the ISO 8601 forms a timestamp value may take;
// fractional seconds are accepted after the seconds by time.Parse.
var timestampLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04",
}

func parseTimestamp(s string) (time.Time, bool) {
	for _, layout := range timestampLayouts {
		if ts, err := time.Parse(layout, s); err == nil {
			return ts, true
		}
	}
	return time.Time{}, false
}

// parseTime parses HH:MM[:SS[.fff]] and returns it as HH:MM:SS[.ffffff].
func parseTime(s string) (string, bool) {
	for _, layout := range []string{"15:04:05", "15:04"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.Format("15:04:05.999999"), true
		}
	}
	return "", false
}

// quoteValue quotes user text for an error message, cut to a readable length.
func quoteValue(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}
