package query

import (
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"
)

// AppendRowsJSON appends the JSON array of p's rows to dst and returns the
// extended buffer: an array of arrays ([[1,"a"],…]) or, when objects is
// true, an array of objects keyed by column name ([{"rowid":1,"a":"a"},…]).
// It never fails: values outside the normalised set are encoded as their
// fmt string, and invalid UTF-8 is replaced with U+FFFD.
func (p *Page) AppendRowsJSON(dst []byte, objects bool) []byte {
	var keys [][]byte
	if objects {
		keys = make([][]byte, len(p.Columns))
		for i, name := range p.Columns {
			keys[i] = append(appendString(nil, name), ':')
		}
	}
	dst = append(dst, '[')
	for i, row := range p.Rows {
		if i > 0 {
			dst = append(dst, ',')
		}
		if objects {
			dst = append(dst, '{')
		} else {
			dst = append(dst, '[')
		}
		for j, v := range row {
			if j > 0 {
				dst = append(dst, ',')
			}
			if objects {
				if j < len(keys) {
					dst = append(dst, keys[j]...)
				} else {
					dst = append(appendString(dst, strconv.Itoa(j)), ':')
				}
			}
			dst = appendValue(dst, v)
		}
		if objects {
			dst = append(dst, '}')
		} else {
			dst = append(dst, ']')
		}
	}
	return append(dst, ']')
}

// AppendValueJSON appends the JSON encoding of one value of a Page (or of
// a Facet) to dst and returns the extended buffer.
func AppendValueJSON(dst []byte, v any) []byte { return appendValue(dst, v) }

// appendValue appends the JSON encoding of a normalised value.
func appendValue(dst []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...)
	case bool:
		return strconv.AppendBool(dst, x)
	case int64:
		if x > maxSafeInt || x < -maxSafeInt {
			return strconv.AppendQuote(dst, strconv.FormatInt(x, 10))
		}
		return strconv.AppendInt(dst, x, 10)
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return append(dst, "null"...)
		}
		return appendFloat(dst, x)
	case string:
		return appendString(dst, x)
	case json.Number:
		if x == "" {
			return append(dst, '0')
		}
		return append(dst, x...)
	}
	// Not normalised (a Page built by hand): normalize returns one of the
	// types above, at worst a string, so this recursion ends.
	return appendValue(dst, normalize(v, formDefault))
}

// appendFloat formats like encoding/json: the shortest representation that
// reads back as the same float64, with an exponent only for very small or
// very large magnitudes.
func appendFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	fmt := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmt = 'e'
	}
	dst = strconv.AppendFloat(dst, f, fmt, -1, 64)
	if fmt == 'e' {
		// Clean up e-09 to e-9, as encoding/json does.
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, U+2028 and U+2029 escaped (JavaScript line
// terminators), invalid UTF-8 replaced with U+FFFD. <, > and & stay as is.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '"', '\\':
				dst = append(dst, '\\', b)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
