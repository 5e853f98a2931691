package query

// This file compiles filters: each operator, and the parsing of filter
// values for the column's type.

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/csvapi/csvapi/convert"
)

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
	op, ok := canonicalOps[f.Op]
	if !ok {
		return "", nil, invalid("unknown operator %s (known: %s)", quoteValue(string(f.Op)), strings.Join(OpNames(), ", "))
	}
	text := textExpr(c)
	switch op {
	case OpContains:
		// contains() rather than LIKE: % and _ in the value are literal.
		return "contains(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpNotContains:
		return "NOT contains(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpIContains:
		return "contains(" + fold(text) + ", ?)", []any{foldText(f.Value)}, nil
	case OpStartsWith:
		return "starts_with(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpEndsWith:
		return "suffix(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpExact, OpNot, OpDiffers, OpLess, OpGreater, OpLt, OpGt:
		return compileCompare(c, comparisons[op], f.Value, invalid)
	case OpIn, OpNotIn:
		return compileIn(c, op == OpNotIn, f.Value, invalid)
	case OpBetween:
		return compileBetween(c, f.Value, invalid)
	}
	yes, ok := parseFlag(f.Value)
	if !ok {
		return "", nil, invalid("expects nothing, 1 or 0 (true or false), got %s", quoteValue(f.Value))
	}
	if op == OpNotNull || op == OpNotBlank {
		yes = !yes
	}
	var cond string
	switch op {
	case OpIsNull, OpNotNull:
		cond = c.expr + " IS NULL"
	default: // isblank, notblank
		cond = c.expr + " IS NULL"
		if c.kind == convert.KindString {
			cond = "(" + c.expr + " IS NULL OR " + text + " = '')"
		}
	}
	if !yes {
		cond = "NOT " + cond
	}
	return cond, nil, nil
}

// parseFlag reads the value of isnull and the like: empty or true-ish is
// true, false-ish negates.
func parseFlag(s string) (bool, bool) {
	if strings.TrimSpace(s) == "" {
		return true, true
	}
	return parseBool(strings.TrimSpace(s))
}

// compileIn builds in (any of the values) and notin (none of them, and not
// NULL), each value compared with the column's type.
func compileIn(c column, negate bool, value string, invalid func(string, ...any) error) (string, []any, error) {
	values, err := splitList(value)
	if err != nil {
		return "", nil, invalid("%v", err)
	}
	if len(values) == 0 || len(values) > maxListValues {
		return "", nil, invalid("expects 1 to %d comma-separated values (or a JSON array), got %d", maxListValues, len(values))
	}
	parts := make([]string, len(values))
	var args []any
	for i, v := range values {
		cond, a, err := compileCompare(c, "=", v, invalid)
		if err != nil {
			return "", nil, err
		}
		parts[i] = cond
		args = append(args, a...)
	}
	cond := "(" + strings.Join(parts, " OR ") + ")"
	if negate {
		cond = "(" + c.expr + " IS NOT NULL AND NOT " + cond + ")"
	}
	return cond, args, nil
}

// compileBetween builds a <= col <= b.
func compileBetween(c column, value string, invalid func(string, ...any) error) (string, []any, error) {
	values, err := splitList(value)
	if err != nil {
		return "", nil, invalid("%v", err)
	}
	if len(values) != 2 {
		return "", nil, invalid(`expects two values, "low,high" (or a JSON array ["low","high"]), got %s`, quoteValue(value))
	}
	lo, loArgs, err := compileCompare(c, ">=", values[0], invalid)
	if err != nil {
		return "", nil, err
	}
	hi, hiArgs, err := compileCompare(c, "<=", values[1], invalid)
	if err != nil {
		return "", nil, err
	}
	return "(" + lo + " AND " + hi + ")", append(loArgs, hiArgs...), nil
}

// splitList reads the values of in, notin and between: a JSON array when
// the value starts with "[" (for values holding commas), else
// comma-separated.
func splitList(value string) ([]string, error) {
	v := strings.TrimSpace(value)
	if !strings.HasPrefix(v, "[") {
		return strings.Split(value, ","), nil
	}
	var items []any
	d := json.NewDecoder(strings.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&items); err != nil || d.More() {
		return nil, fmt.Errorf("expects a JSON array of strings or numbers, got %s", quoteValue(value))
	}
	out := make([]string, len(items))
	for i, it := range items {
		switch x := it.(type) {
		case string:
			out[i] = x
		case json.Number:
			out[i] = x.String()
		case bool:
			out[i] = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("expects a JSON array of strings or numbers, got %s", quoteValue(value))
		}
	}
	return out, nil
}

// textExpr is the text form of a column.
func textExpr(c column) string {
	if strings.EqualFold(c.sqlType, "VARCHAR") {
		return c.expr
	}
	return "CAST(" + c.expr + " AS VARCHAR)"
}

// comparisons are the SQL operators of the comparison filters.
var comparisons = map[Op]string{
	OpExact: "=", OpNot: "!=", OpDiffers: "IS DISTINCT FROM",
	OpLess: "<=", OpGreater: ">=", OpLt: "<", OpGt: ">",
}

// compileCompare builds "col op value", comparing with the column's type;
// op is =, !=, IS DISTINCT FROM, <, <=, > or >=. It is the one place that
// parses a filter value for a column's type.
func compileCompare(c column, op, value string, invalid func(string, ...any) error) (string, []any, error) {
	exact := op == "=" || op == "!=" || op == "IS DISTINCT FROM"
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
		x, ok := parseFloat(v)
		if !ok {
			if exact {
				return "", nil, invalid("expects an integer, got %s", quoteValue(value))
			}
			return "", nil, invalid("expects a number, got %s", quoteValue(value))
		}
		if exact && x != math.Trunc(x) {
			// No integer equals 4.5: a global search sending a decimal
			// to every number column must not fail on the integer ones.
			switch op {
			case "=":
				return "FALSE", nil, nil
			case "!=":
				return c.expr + " IS NOT NULL", nil, nil
			}
			return "TRUE", nil, nil // IS DISTINCT FROM
		}
		return c.expr + " " + op + " ?", []any{x}, nil

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
			return c.expr + " " + op + " ?", []any{b}, nil
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
		if formOf(c.sqlType) == formTimestampTZ {
			return c.expr + " " + op + " CAST(? AS TIMESTAMPTZ)", []any{ts.UTC().Format("2006-01-02 15:04:05.999999Z07:00")}, nil
		}
		return c.expr + " " + op + " CAST(? AS TIMESTAMP)", []any{ts.UTC().Format("2006-01-02 15:04:05.999999")}, nil

	case convert.KindTime:
		tm, ok := parseTime(v)
		if !ok {
			return "", nil, invalid("expects a time (HH:MM:SS), got %s", quoteValue(value))
		}
		typ := "TIME"
		if formOf(c.sqlType) == formTimeTZ {
			typ = "TIMETZ"
		}
		return c.expr + " " + op + " CAST(? AS " + typ + ")", []any{tm}, nil
	}

	// Text (and any other type): exact compares the text, ordered
	// comparisons compare the values that read as numbers.
	if exact {
		return textExpr(c) + " " + op + " ?", []any{value}, nil
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
