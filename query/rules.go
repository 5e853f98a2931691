package query

import "github.com/csvapi/csvapi/convert"

// api-tabular documents, column type by column type, the operators its
// swagger offers (api_tabular/core/swagger.py, TYPE_POSSIBILITIES); its
// routes refuse the others. Tabular holds the same table so that csvapi's
// api-tabular routes accept and refuse what api-tabular does, while the
// csvapi routes keep accepting every operator on every column.

// TabularOps returns the filter operators api-tabular offers on a column of
// kind k, in its swagger's order: the comparisons (less, greater,
// strictly_less, strictly_greater) on everything but booleans, contains and
// notcontains on text and dates only.
func TabularOps(k convert.Kind) []Op {
	ops := []Op{OpIsNull, "isnotnull"}
	switch k {
	case convert.KindBoolean:
		return append(ops, OpDiffers, OpExact)
	case convert.KindInteger, convert.KindNumber:
		ops = append(ops, OpDiffers, OpExact, OpIn, OpNotIn)
	default: // string, date, datetime, time
		ops = append(ops, OpContains, OpNotContains, OpDiffers, OpExact, OpIn, OpNotIn)
	}
	return append(ops, OpLess, OpGreater, "strictly_less", "strictly_greater")
}

// TabularAggs returns the aggregates api-tabular offers on a column of kind
// k (besides groupby, offered on every column): count everywhere, and avg,
// max, min and sum on numbers.
func TabularAggs(k convert.Kind) []AggFunc {
	if k == convert.KindInteger || k == convert.KindNumber {
		return []AggFunc{AggCount, AggAvg, AggMax, AggMin, AggSum}
	}
	return []AggFunc{AggCount}
}

// TabularAllows reports whether api-tabular accepts the filter operator op
// (any spelling of it) on a column of kind k.
func TabularAllows(k convert.Kind, op Op) bool {
	want, ok := canonicalOps[op]
	if !ok {
		return false
	}
	for _, o := range TabularOps(k) {
		if canonicalOps[o] == want {
			return true
		}
	}
	return false
}
