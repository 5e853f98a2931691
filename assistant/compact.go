package assistant

import (
	"encoding/json"
	"net/url"
	"strconv"
	"unicode/utf8"

	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// request maps the tools' structured arguments to a query.Request. It
// returns an *Error for an unknown operator or a value of the wrong shape;
// columns are checked by the query package.
func request(filters []FilterArg, sort []SortArg, columns []string, search string) (query.Request, error) {
	r := query.Request{Columns: columns, Search: search}
	for i, f := range filters {
		op := f.Op
		if op == "" {
			op = string(query.OpExact)
		}
		param := "filters[" + itoa(i) + "]"
		if f.Column == "" {
			return r, invalid(param+".column", hintColumns, "missing column name")
		}
		if !query.KnownOp(op) {
			return r, invalid(param+".op", "Operators: "+opList+".", "unknown operator %q", op)
		}
		v, err := filterValue(f.Value)
		if err != nil {
			return r, invalid(param+".value", `Give a string, a number, or for in/notin/between a list, e.g. ["a","b"].`, "%s", err.Error())
		}
		r.Filters = append(r.Filters, query.Filter{Column: f.Column, Op: query.Op(op), Value: v})
	}
	for i, s := range sort {
		if s.Column == "" {
			return r, invalid("sort["+itoa(i)+"].column", hintColumns, "missing column name")
		}
		r.Sort = append(r.Sort, query.Sort{Column: s.Column, Desc: s.Desc})
	}
	return r, nil
}

// filterValue renders a JSON value as the filter text the query package
// parses: strings as they are, numbers in their shortest form, lists as a
// JSON array of strings (which in, notin and between accept).
func filterValue(v any) (string, error) {
	switch x := v.(type) {
	case []any:
		items := make([]string, len(x))
		for i, item := range x {
			s, err := scalar(item)
			if err != nil {
				return "", err
			}
			items[i] = s
		}
		b, _ := json.Marshal(items)
		return string(b), nil
	}
	return scalar(v)
}

func scalar(v any) (string, error) {
	switch x := v.(type) {
	case nil:
		return "", nil
	case string:
		return x, nil
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), nil
	case json.Number:
		return x.String(), nil
	case bool:
		return strconv.FormatBool(x), nil
	}
	return "", errNotScalar
}

var errNotScalar = &Error{Code: problem.CodeInvalidParameter, Message: "expects a string, a number or a boolean (or a list of them)"}

// truncateTexts cuts, in place, the text values longer than max
// characters, marking each with "…[+N chars]"; it returns how many it cut.
func truncateTexts(rows [][]any, max int) int {
	n := 0
	for _, row := range rows {
		for j, v := range row {
			s, ok := v.(string)
			if !ok || len(s) <= max {
				continue
			}
			if c := utf8.RuneCountInString(s); c > max {
				cut := 0
				for i := range s {
					if cut == max {
						row[j] = s[:i] + "…[+" + strconv.Itoa(c-max) + " chars]"
						break
					}
					cut++
				}
				n++
			}
		}
	}
	return n
}

// exportQuery is the query string of /api/<id>/export for in, in the HTTP
// API's grammar: format, col__op=value filters, _sort/_sort_desc, columns
// and q, each repeated rather than comma-joined so that names holding
// commas survive. The filters were validated by request.
func exportQuery(format string, in ExportInput) string {
	q := url.Values{}
	q.Set("format", format)
	for _, f := range in.Filters {
		op := f.Op
		if op == "" {
			op = string(query.OpExact)
		}
		v, _ := filterValue(f.Value)
		q.Add(f.Column+"__"+op, v)
	}
	for _, s := range in.Sort {
		key := "_sort"
		if s.Desc {
			key = "_sort_desc"
		}
		q.Add(key, s.Column)
	}
	for _, c := range in.Columns {
		q.Add("columns", c)
	}
	if in.Search != "" {
		q.Set("q", in.Search)
	}
	return q.Encode()
}

// records turns rows into objects keyed by column name.
func records(columns []string, rows [][]any) []map[string]any {
	out := make([]map[string]any, len(rows))
	for i, row := range rows {
		m := make(map[string]any, len(columns))
		for j, c := range columns {
			m[c] = row[j]
		}
		out[i] = m
	}
	return out
}

func itoa(n int) string { return strconv.Itoa(n) }
