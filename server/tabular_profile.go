package server

import (
	"encoding/json"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// maxCategorical is the most distinct values a column of a profile may
// have to be listed as categorical (csv-detective's default bound).
const maxCategorical = 25

// kindNames are a column kind's names in api-tabular's answers:
// csv-detective's python_type in the profile, which the fronts map to their
// display types (int, float: number; date, datetime: date; bool: boolean;
// else text), and the JSON Schema type in the swagger. Kinds not listed are
// "string" in both.
var kindNames = map[convert.Kind]struct{ python, schema string }{
	convert.KindInteger:   {"int", "integer"},
	convert.KindNumber:    {"float", "number"},
	convert.KindBoolean:   {"bool", "boolean"},
	convert.KindDate:      {"date", "string"},
	convert.KindTimestamp: {"datetime", "string"},
}

// pythonType is csv-detective's python_type of a column kind.
func pythonType(k convert.Kind) string {
	if n, ok := kindNames[k]; ok {
		return n.python
	}
	return "string"
}

// detectiveFormat is csv-detective's format of a column: csvapi detects no
// semantic formats (SIREN, code postal…), so it is the generic one of the
// type, which the fronts display by type.
func detectiveFormat(c convert.Column) string {
	switch c.Kind() {
	case convert.KindBoolean:
		return "booleen"
	case convert.KindTimestamp:
		if formatIsTZ(c.Type) {
			return "datetime_aware"
		}
		return "datetime_naive"
	}
	return pythonType(c.Kind())
}

func formatIsTZ(sqlType string) bool {
	return sqlType == "TIMESTAMPTZ" || sqlType == "TIMESTAMP WITH TIME ZONE"
}

// detectiveProfile renders a resource's profile in csv-detective's shape,
// as hydra stores it and api-tabular serves it: header, columns (and their
// copies columns_fields and columns_labels), formats, profile (tops,
// nb_distinct, nb_missing_values, and min, max, mean, std of numbers),
// categorical, total_lines, encoding, separator, header_row_idx.
func detectiveProfile(m *convert.Meta, tp *query.TableProfile) fiber.Map {
	header := make([]string, 0, len(m.Columns))
	var columns, profile orderedObject
	formats := map[string][]string{}
	categorical := []string{}
	stats := map[string]*query.ColumnProfile{}
	var rows int64
	if tp != nil {
		rows = tp.Rows
		for i := range tp.Columns {
			stats[tp.Columns[i].Name] = &tp.Columns[i]
		}
	}
	for _, c := range m.Columns {
		header = append(header, c.Name)
		cp := stats[c.Name]
		f := detectiveFormat(c)
		if isYears(c, cp) {
			f = "year" // the fronts show such columns as years, not numbers
		}
		columns = append(columns, member{c.Name, fiber.Map{"python_type": pythonType(c.Kind()), "format": f, "score": 1.0}})
		formats[f] = append(formats[f], c.Name)
		if cp == nil {
			continue
		}
		tops := make([]fiber.Map, 0, len(cp.Top))
		for _, v := range cp.Top {
			if v.Value != nil { // csv-detective counts values, not missing ones
				tops = append(tops, fiber.Map{"value": topText(v.Value), "count": v.Count})
			}
		}
		p := fiber.Map{"tops": tops, "nb_distinct": cp.Distinct, "nb_missing_values": cp.Nulls}
		if k := c.Kind(); k == convert.KindInteger || k == convert.KindNumber {
			p["min"], p["max"], p["mean"], p["std"] = cp.Min, cp.Max, cp.Mean, cp.Std
		} else if cp.Distinct > 0 && cp.Distinct <= maxCategorical && cp.Distinct*2 <= rows {
			categorical = append(categorical, c.Name)
		}
		profile = append(profile, member{c.Name, p})
	}
	return fiber.Map{
		"header":           header,
		"columns":          columns,
		"columns_fields":   columns,
		"columns_labels":   columns,
		"formats":          formats,
		"profile":          profile,
		"categorical":      categorical,
		"total_lines":      rows,
		"encoding":         m.Encoding,
		"separator":        m.Delimiter,
		"header_row_idx":   m.HeaderRowIdx,
		"heading_columns":  0,
		"trailing_columns": 0,
	}
}

// isYears reports whether an integer column holds only years, as
// csv-detective's year format does: every value between 1800 and 2100.
func isYears(c convert.Column, cp *query.ColumnProfile) bool {
	if c.Kind() != convert.KindInteger || cp == nil || cp.Count == 0 {
		return false
	}
	lo, ok1 := cp.Min.(int64)
	hi, ok2 := cp.Max.(int64)
	return ok1 && ok2 && lo >= 1800 && hi <= 2100
}

// orderedObject is a JSON object whose members keep their order: the
// columns of a profile in file order, where a Go map would sort them
// (DataStructure.vue lists Object.keys(profile.columns)).
type orderedObject []member

type member struct {
	key   string
	value any
}

// MarshalJSON writes the members in order.
func (o orderedObject) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, m := range o {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSON(b, m.key)
		b = append(b, ':')
		v, err := json.Marshal(m.value)
		if err != nil {
			return nil, err
		}
		b = append(b, v...)
	}
	return append(b, '}'), nil
}

// topText is a top value as csv-detective writes it: the text of the cell.
func topText(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case bool:
		return strconv.FormatBool(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return string(query.AppendValueJSON(nil, v))
}

// tabularOpDescriptions are api-tabular's swagger descriptions of its
// operators; %[1]s is the column name.
var tabularOpDescriptions = map[string]string{
	"exact":            "Exact match in column: %[1]s (%[1]s__exact=value)",
	"differs":          "Differs from in column: %[1]s (%[1]s__differs=value)",
	"isnull":           "Is `NULL` in column: %[1]s (%[1]s__isnull)",
	"isnotnull":        "Is not `NULL` in column: %[1]s (%[1]s__isnotnull)",
	"contains":         "String contains in column: %[1]s (%[1]s__contains=value)",
	"notcontains":      "String does not contain in column: %[1]s (%[1]s__notcontains=value)",
	"in":               "Value in list in column: %[1]s (%[1]s__in=value1,value2,...)",
	"notin":            "Value not in list in column: %[1]s (%[1]s__notin=value1,value2,...)",
	"less":             "Less than in column: %[1]s (%[1]s__less=value)",
	"greater":          "Greater than in column: %[1]s (%[1]s__greater=value)",
	"strictly_less":    "Strictly less than in column: %[1]s (%[1]s__strictly_less=value)",
	"strictly_greater": "Strictly greater than in column: %[1]s (%[1]s__strictly_greater=value)",
	"groupby":          "Performs `group by values` operation in column: %[1]s",
	"count":            "Performs `count values` operation in column: %[1]s",
	"avg":              "Performs `mean` operation in column: %[1]s",
	"min":              "Performs `minimum` operation in column: %[1]s",
	"max":              "Performs `maximum` operation in column: %[1]s",
	"sum":              "Performs `sum` operation in column: %[1]s",
}
