package query

// This file scans DuckDB values into the normalised values of a Page.

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/duckdb/duckdb-go/v2"
)

// valueForm says how a scanned value of a column is turned into its
// normalised form; only time values and UUIDs depend on the column type.
type valueForm uint8

const (
	formDefault valueForm = iota
	formDate
	formTimestamp
	formTimestampTZ
	formTime
	formTimeTZ
	formUUID
)

func formOf(sqlType string) valueForm {
	t := strings.ToUpper(sqlType)
	switch {
	case t == "DATE":
		return formDate
	case t == "TIMESTAMPTZ" || t == "TIMESTAMP WITH TIME ZONE":
		return formTimestampTZ
	case strings.HasPrefix(t, "TIMESTAMP"):
		return formTimestamp
	case t == "TIMETZ" || t == "TIME WITH TIME ZONE":
		return formTimeTZ
	case t == "TIME":
		return formTime
	case t == "UUID":
		return formUUID
	}
	return formDefault
}

// scanner scans rows into fresh normalised []any, reusing its buffers.
type scanner struct {
	forms []valueForm
	vals  []any
	ptrs  []any
}

func newScanner(forms []valueForm) *scanner {
	s := &scanner{forms: forms, vals: make([]any, len(forms)), ptrs: make([]any, len(forms))}
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
		row[i] = normalize(v, s.forms[i])
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
func normalize(v any, f valueForm) any {
	switch x := v.(type) {
	case nil, bool, string, json.Number:
		return x
	case int64:
		return normalizeInt(x)
	case int8, int16, int32:
		return reflect.ValueOf(x).Int()
	case uint8, uint16, uint32:
		return int64(reflect.ValueOf(x).Uint())
	case int:
		return normalizeInt(int64(x))
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
		if f == formUUID && len(x) == 16 {
			return uuid.UUID(x).String()
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

func formatTimeValue(t time.Time, f valueForm) string {
	switch f {
	case formDate:
		return t.Format(time.DateOnly)
	case formTimestamp:
		return t.Format("2006-01-02T15:04:05.999999999")
	case formTime:
		return t.Format("15:04:05.999999999")
	case formTimeTZ:
		return t.Format("15:04:05.999999999Z07:00")
	default:
		return t.Format(time.RFC3339Nano)
	}
}
