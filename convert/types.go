package convert

import (
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// How a column's type is chosen
//
// DuckDB reads every column as text; csvapi then picks, per column, the
// first reading in the ladder below that fits every non-empty value of the
// whole column, and casts in the CREATE TABLE. A guess made on the head of
// the file (in Go) is confirmed on the whole column by one aggregate query
// (in SQL) that costs one TRY_CAST or regexp per typed cell; only columns
// whose guess a later value contradicts, or that are empty in the head, are
// checked against the whole ladder. The SQL predicates are the truth; the Go
// ones only make the guess.

// reading is one way of reading a text column: a type and the text forms
// it accepts (a column of "12,5" is read asDecComma).
type reading int

const (
	asUnknown reading = iota // no non-empty value seen yet
	asBoolTrueFalse
	asBoolOuiNon
	asBoolVraiFaux
	asBoolYesNo
	asInt       // 42, -7; no leading zero, |v| ≤ 2^53
	asIntSpaced // 1 234 567 (space, NBSP or narrow NBSP thousands)
	asDecDot    // 12.5
	asDecExp    // 1e5, 2.5E-3 (and plain decimals beside them)
	asDecComma  // 12,5 and 1 234,56
	asDecDotGrp // 1.234,56: dot thousands, comma decimals
	asDateYMD8  // 20230115, only in a column named like a date
	asDateISO   // 2023-01-15
	asDateDMY   // 15/01/2023
	asDateDMYDash
	asDateMDY // 01/15/2023, only when no value fits day-first
	asTimestampISO
	asTimestampDMY
	asTimestampTZ // 2023-01-15T10:30:00+02:00, 2023-01-15 10:30:00Z
	asText
)

// ladder is the order in which readings are tried: the first that fits
// the whole column wins. Booleans before integers, so 0/1 stay integers
// (they are not in any pair); integers before decimals; day-first before
// month-first.
var ladder = []reading{
	asBoolTrueFalse, asBoolOuiNon, asBoolVraiFaux, asBoolYesNo,
	asDateYMD8, asInt, asIntSpaced, asDecDot, asDecExp, asDecComma, asDecDotGrp,
	asDateISO, asDateDMY, asDateDMYDash, asDateMDY,
	asTimestampISO, asTimestampDMY, asTimestampTZ,
}

// maxSafeInt is 2^53: integers beyond it lose digits in JavaScript, so a
// column holding one stays text (served as strings, all of them).
const maxSafeInt = 1 << 53

// Thousands separators of French numbers: space, NBSP, narrow NBSP.
const thousands = " \u00a0\u202f"

var (
	reInt       = regexp.MustCompile(`^-?(0|[1-9][0-9]*)$`)
	reIntSpaced = regexp.MustCompile(`^-?[1-9][0-9]{0,2}([ \x{a0}\x{202f}][0-9]{3})+$`)
	reDecDot    = regexp.MustCompile(`^(?:` + sqlDecDot + `)$`)
	reDecComma  = regexp.MustCompile(`^(?:` + sqlDecComma + `)$`)
	reDecExp    = regexp.MustCompile(`^(?:` + sqlDecExp + `)$`)
	reDecDotGrp = regexp.MustCompile(`^(?:` + sqlDecDotGrp + `)$`)
	reTsTZ      = regexp.MustCompile(`^(?:` + sqlTsTZ + `)$`)
	reYMD8      = regexp.MustCompile(`^(19|20)[0-9]{6}$`)
	reDateISO   = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}$`)
	reDateSlash = regexp.MustCompile(`^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}$`)
	reDateDash  = regexp.MustCompile(`^[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}$`)
	reTsISO     = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?$`)
	reTsDMY     = regexp.MustCompile(`^[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{2}:[0-9]{2}(:[0-9]{2})?$`)
)

// The same shapes for DuckDB's regexp_full_match (RE2, anchored by the
// function). Kept next to their Go twins so that they change together.
const (
	sqlIntSpaced = `-?[1-9][0-9]{0,2}([ \x{a0}\x{202f}][0-9]{3})+`
	// Decimals: no leading zero (01400 is a code), at most 15 digits without
	// a fraction (beyond, a float64 changes the integer).
	sqlDecDot   = `-?(0|[1-9][0-9]*)\.[0-9]+|-?(0|[1-9][0-9]{0,14})`
	sqlDecComma = `-?([1-9][0-9]{0,2}([ \x{a0}\x{202f}][0-9]{3})+|0|[1-9][0-9]*),[0-9]+|-?([1-9][0-9]{0,2}([ \x{a0}\x{202f}][0-9]{3})+|0|[1-9][0-9]{0,14})`
	// Exponents: the mantissa as sqlDecDot, one exponent of up to 3 digits.
	sqlDecExp = `-?(0|[1-9][0-9]*)(\.[0-9]+)?[eE][+-]?[0-9]{1,3}|` + sqlDecDot
	// Dot thousands, comma decimals (1.234,56); plain 12,5 and 1234 beside
	// them. 1.234 alone reads as a decimal dot first (asDecDot).
	sqlDecDotGrp = `-?([1-9][0-9]{0,2}(\.[0-9]{3})+|0|[1-9][0-9]{0,14})(,[0-9]+)?`
	sqlTsTZ      = `[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)? ?(Z|[+-][0-9]{2}(:?[0-9]{2})?)`
	sqlYMD8      = `(19|20)[0-9]{6}`
	sqlDateISO   = `[0-9]{4}-[0-9]{2}-[0-9]{2}`
	sqlDateSlash = `[0-9]{1,2}/[0-9]{1,2}/[0-9]{4}`
	sqlDateDash  = `[0-9]{1,2}-[0-9]{1,2}-[0-9]{4}`
	sqlTsISO     = `[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?`
	sqlTsDMY     = `[0-9]{1,2}/[0-9]{1,2}/[0-9]{4} [0-9]{2}:[0-9]{2}(:[0-9]{2})?`
)

var boolPairs = map[reading][2]string{
	asBoolTrueFalse: {"true", "false"},
	asBoolOuiNon:    {"oui", "non"},
	asBoolVraiFaux:  {"vrai", "faux"},
	asBoolYesNo:     {"yes", "no"},
}

// bools returns the words of a boolean reading (true first), nil for
// other readings.
func (k reading) bools() []string {
	if p, ok := boolPairs[k]; ok {
		return p[:]
	}
	return nil
}

// fits reports whether the non-empty, trimmed value s fits reading k.
func (k reading) fits(s string) bool {
	switch k {
	case asBoolTrueFalse, asBoolOuiNon, asBoolVraiFaux, asBoolYesNo:
		p := boolPairs[k]
		return strings.EqualFold(s, p[0]) || strings.EqualFold(s, p[1])
	case asInt:
		return reInt.MatchString(s) && safeInt(s)
	case asIntSpaced:
		return (reInt.MatchString(s) || reIntSpaced.MatchString(s)) && safeInt(stripThousands(s))
	case asDecDot:
		return reDecDot.MatchString(s)
	case asDecComma:
		return reDecComma.MatchString(s)
	case asDecExp:
		_, err := strconv.ParseFloat(s, 64) // 1e999 overflows
		return reDecExp.MatchString(s) && err == nil
	case asDecDotGrp:
		return reDecDotGrp.MatchString(s)
	case asTimestampTZ:
		return reTsTZ.MatchString(s) && validDate(s[:10], "2006-01-02")
	case asDateYMD8:
		return reYMD8.MatchString(s) && validDate(s, "20060102")
	case asDateISO:
		return reDateISO.MatchString(s) && validDate(s, "2006-01-02")
	case asDateDMY:
		return reDateSlash.MatchString(s) && validDate(s, "2/1/2006")
	case asDateDMYDash:
		return reDateDash.MatchString(s) && validDate(s, "2-1-2006")
	case asDateMDY:
		return reDateSlash.MatchString(s) && validDate(s, "1/2/2006")
	case asTimestampISO:
		return reTsISO.MatchString(s) && validDate(s[:10], "2006-01-02")
	case asTimestampDMY:
		return reTsDMY.MatchString(s) && validDate(s[:strings.IndexByte(s, ' ')], "2/1/2006")
	case asText:
		return true
	}
	return false
}

func safeInt(s string) bool {
	n, err := strconv.ParseInt(s, 10, 64)
	return err == nil && n >= -maxSafeInt && n <= maxSafeInt
}

func stripThousands(s string) string {
	return strings.Map(func(r rune) rune {
		if strings.ContainsRune(thousands, r) {
			return -1
		}
		return r
	}, s)
}

func validDate(s, layout string) bool {
	_, err := time.Parse(layout, s)
	return err == nil
}

// allowed reports whether reading k may be used for a column named name
// with the decimal override dec ("", "." or ",").
func (k reading) allowed(name, dec string) bool {
	switch k {
	case asDateYMD8:
		return namedLikeDate(name) // 8 digits are an integer unless the name says date
	case asDecDot, asDecExp:
		return dec != ","
	case asDecComma, asDecDotGrp:
		return dec != "."
	}
	return true
}

// guessKind returns the first reading of the ladder that fits every
// non-empty value of values; asUnknown when all are empty.
func guessKind(values []string, name, dec string) reading {
	any := false
	cands := make([]reading, 0, len(ladder))
	for _, k := range ladder {
		if k.allowed(name, dec) {
			cands = append(cands, k)
		}
	}
	for _, v := range values {
		v = trimSpace(v)
		if v == "" {
			continue
		}
		any = true
		kept := cands[:0]
		for _, k := range cands {
			if k.fits(v) {
				kept = append(kept, k)
			}
		}
		cands = kept
		if len(cands) == 0 {
			return asText
		}
	}
	if !any {
		return asUnknown
	}
	return cands[0]
}

// trimSpace trims ASCII spaces, as DuckDB's trim() does.
func trimSpace(s string) string { return strings.Trim(s, " ") }

// sqlPredicate returns a SQL boolean expression, true when the non-empty
// trimmed text x fits reading k. Never NULL for a non-NULL x.
func (k reading) sqlPredicate(x string) string {
	re := func(pattern string) string {
		return "regexp_full_match(" + x + ", " + QuoteLiteral(pattern) + ")"
	}
	switch k {
	case asBoolTrueFalse, asBoolOuiNon, asBoolVraiFaux, asBoolYesNo:
		p := boolPairs[k]
		return "lower(" + x + ") IN (" + QuoteLiteral(p[0]) + ", " + QuoteLiteral(p[1]) + ")"
	case asInt:
		// The round trip refuses what DuckDB's lax cast accepts: 007, +5,
		// 1_000, 1.5 (rounded!), 0x1F, 1e3.
		return "coalesce(TRY_CAST(" + x + " AS BIGINT)::VARCHAR = " + x + " AND TRY_CAST(" + x +
			" AS BIGINT) BETWEEN -9007199254740992 AND 9007199254740992, false)"
	case asIntSpaced:
		c := "TRY_CAST(" + stripThousandsSQL(x) + " AS BIGINT)"
		return "coalesce((" + re(sqlIntSpaced) + " OR " + c + "::VARCHAR = " + x + ") AND " + c +
			" BETWEEN -9007199254740992 AND 9007199254740992, false)"
	case asDecDot:
		return re(sqlDecDot)
	case asDecComma:
		return re(sqlDecComma)
	case asDecExp:
		return re(sqlDecExp) + " AND coalesce(isfinite(TRY_CAST(" + x + " AS DOUBLE)), false)"
	case asDecDotGrp:
		return re(sqlDecDotGrp)
	case asTimestampTZ:
		return re(sqlTsTZ) + " AND TRY_CAST(" + x + " AS TIMESTAMPTZ) IS NOT NULL"
	case asDateYMD8:
		return re(sqlYMD8) + " AND try_strptime(" + x + ", '%Y%m%d') IS NOT NULL"
	case asDateISO:
		return re(sqlDateISO) + " AND TRY_CAST(" + x + " AS DATE) IS NOT NULL"
	case asDateDMY, asDateMDY:
		return re(sqlDateSlash) + " AND try_strptime(" + x + ", " + QuoteLiteral(k.format()) + ") IS NOT NULL"
	case asDateDMYDash:
		return re(sqlDateDash) + " AND try_strptime(" + x + ", " + QuoteLiteral(k.format()) + ") IS NOT NULL"
	case asTimestampISO:
		return re(sqlTsISO) + " AND TRY_CAST(" + x + " AS TIMESTAMP) IS NOT NULL"
	case asTimestampDMY:
		return re(sqlTsDMY) + " AND try_strptime(" + x + ", ['%d/%m/%Y %H:%M:%S', '%d/%m/%Y %H:%M']) IS NOT NULL"
	}
	return "true"
}

// canonicalBranches returns CASE branches ("WHEN … THEN …") that read the
// untrimmed text raw when it is written in the canonical form of reading k,
// the form DuckDB itself prints: 42, 2023-01-15, 15/01/2023, 12.50 with
// scale fraction digits (12,50 for a decimal comma), the lowercase words of
// a boolean pair. Each condition implies sqlPredicate of the trimmed text
// and each value equals its sqlCast, so these branches change no result:
// they spare the common case the trim, the regular expressions and the
// repeated casts (a round trip through DuckDB's own cast is several times
// cheaper), and every other value falls through to the exact rule.
// Readings without a cheap canonical form return nil.
func (k reading) canonicalBranches(raw string, scale int) []string {
	const safe = " BETWEEN -9007199254740992 AND 9007199254740992"
	// Round trips through DECIMAL print -?(0|[1-9][0-9]*)\.[0-9]{scale}:
	// the first form of sqlDecDot and sqlDecComma, which bound neither the
	// integer digits nor the fraction's.
	dec := "DECIMAL(18, " + strconv.Itoa(scale) + ")"
	switch k {
	case asBoolTrueFalse, asBoolOuiNon, asBoolVraiFaux, asBoolYesNo:
		p := boolPairs[k]
		return []string{
			"WHEN " + raw + " = " + QuoteLiteral(p[0]) + " THEN true",
			"WHEN " + raw + " = " + QuoteLiteral(p[1]) + " THEN false",
		}
	case asInt, asIntSpaced:
		// A plain integer fits both (asIntSpaced also reads 1 234).
		c := "TRY_CAST(" + raw + " AS BIGINT)"
		return []string{"WHEN " + c + "::VARCHAR = " + raw + " AND " + c + safe + " THEN " + c}
	case asDecDot, asDecExp:
		if scale < 1 {
			return nil
		}
		return []string{"WHEN TRY_CAST(" + raw + " AS " + dec + ")::VARCHAR = " + raw + " THEN CAST(" + raw + " AS DOUBLE)"}
	case asDecComma:
		if scale < 1 {
			return nil
		}
		// The text with its commas made dots prints as itself, and had a
		// comma: that comma was the one dot, so the text had no dot.
		dot := "replace(" + raw + ", ',', '.')"
		return []string{"WHEN TRY_CAST(" + dot + " AS " + dec + ")::VARCHAR = " + dot + " AND contains(" + raw + ", ',')" +
			" THEN CAST(" + dot + " AS DOUBLE)"}
	case asDateISO:
		// Ten bytes: years beyond 9999 and BC dates print otherwise.
		c := "TRY_CAST(" + raw + " AS DATE)"
		return []string{"WHEN strlen(" + raw + ") = 10 AND " + c + "::VARCHAR = " + raw + " THEN " + c}
	case asDateDMY, asDateDMYDash, asDateMDY:
		f := QuoteLiteral(k.format())
		c := "try_strptime(" + raw + ", " + f + ")"
		return []string{"WHEN strlen(" + raw + ") = 10 AND strftime(" + c + ", " + f + ") = " + raw + " THEN CAST(" + c + " AS DATE)"}
	}
	return nil
}

// fractionDigits returns the most common number of digits after the
// decimal separator sep among values, 0 when none has any.
func fractionDigits(values []string, sep string) int {
	counts := map[int]int{}
	best, most := 0, 0
	for _, v := range values {
		i := strings.LastIndex(trimSpace(v), sep)
		if i < 0 {
			continue
		}
		n := len(trimSpace(v)) - i - 1
		counts[n]++
		if counts[n] > most || counts[n] == most && n < best {
			best, most = n, counts[n]
		}
	}
	return min(best, 17)
}

// sqlCast returns the SQL expression converting the non-empty trimmed text
// x, known to fit reading k, to the column's type.
func (k reading) sqlCast(x string) string {
	switch k {
	case asBoolTrueFalse, asBoolOuiNon, asBoolVraiFaux, asBoolYesNo:
		return "lower(" + x + ") = " + QuoteLiteral(boolPairs[k][0])
	case asInt:
		return "CAST(" + x + " AS BIGINT)"
	case asIntSpaced:
		return "CAST(" + stripThousandsSQL(x) + " AS BIGINT)"
	case asDecDot:
		return "CAST(" + x + " AS DOUBLE)"
	case asDecComma:
		return "CAST(replace(" + stripThousandsSQL(x) + ", ',', '.') AS DOUBLE)"
	case asDecExp:
		return "CAST(" + x + " AS DOUBLE)"
	case asDecDotGrp:
		return "CAST(replace(replace(" + x + ", '.', ''), ',', '.') AS DOUBLE)"
	case asTimestampTZ:
		return "CAST(" + x + " AS TIMESTAMPTZ)"
	case asDateISO:
		return "CAST(" + x + " AS DATE)"
	case asDateYMD8, asDateDMY, asDateDMYDash, asDateMDY:
		return "CAST(strptime(" + x + ", " + QuoteLiteral(k.format()) + ") AS DATE)"
	case asTimestampISO:
		return "CAST(" + x + " AS TIMESTAMP)"
	case asTimestampDMY:
		return "strptime(" + x + ", ['%d/%m/%Y %H:%M:%S', '%d/%m/%Y %H:%M'])"
	}
	return x
}

// stripThousandsSQL removes thousands separators; nested replace() is
// several times cheaper than regexp_replace on the load's hot path.
func stripThousandsSQL(x string) string {
	return "replace(replace(replace(" + x + ", ' ', ''), '\u00a0', ''), '\u202f', '')"
}

// sqlType is the DuckDB type of a column read with k.
func (k reading) sqlType() string {
	switch k {
	case asBoolTrueFalse, asBoolOuiNon, asBoolVraiFaux, asBoolYesNo:
		return "BOOLEAN"
	case asInt, asIntSpaced:
		return "BIGINT"
	case asDecDot, asDecExp, asDecComma, asDecDotGrp:
		return "DOUBLE"
	case asDateYMD8, asDateISO, asDateDMY, asDateDMYDash, asDateMDY:
		return "DATE"
	case asTimestampISO, asTimestampDMY:
		return "TIMESTAMP"
	case asTimestampTZ:
		return "TIMESTAMPTZ"
	}
	return "VARCHAR"
}

// format is the strptime format of a date or timestamp reading, reported in
// columns_infos.
func (k reading) format() string {
	switch k {
	case asDateYMD8:
		return "%Y%m%d"
	case asDateISO:
		return "%Y-%m-%d"
	case asDateDMY:
		return "%d/%m/%Y"
	case asDateDMYDash:
		return "%d-%m-%Y"
	case asDateMDY:
		return "%m/%d/%Y"
	case asTimestampISO:
		return "%Y-%m-%dT%H:%M:%S"
	case asTimestampDMY:
		return "%d/%m/%Y %H:%M:%S"
	case asTimestampTZ:
		return "%Y-%m-%dT%H:%M:%S%z"
	}
	return ""
}

// decimal is the decimal separator of a number reading.
func (k reading) decimal() string {
	switch k {
	case asDecDot, asDecExp:
		return "."
	case asDecComma, asDecDotGrp:
		return ","
	}
	return ""
}

// nameTokens splits a header into lowercase words of letters.
func nameTokens(name string) []string {
	return strings.FieldsFunc(strings.ToLower(name), func(r rune) bool { return !unicode.IsLetter(r) })
}

// codeWords name columns of identifiers that look like integers but are
// codes: their values must keep their exact text (INSEE and postcodes,
// SIREN/SIRET, phone numbers …).
var codeWords = map[string]bool{
	"code": true, "codes": true, "cp": true, "insee": true, "siren": true, "siret": true,
	"postal": true, "codepostal": true, "codgeo": true, "depcom": true, "tel": true,
	"telephone": true, "téléphone": true, "phone": true, "fax": true, "nic": true, "finess": true,
	"uai": true, "rna": true, "iris": true, "zip": true, "zipcode": true, "ean": true,
}

// namedLikeCode reports whether a column's name says it holds codes.
func namedLikeCode(name string) bool {
	for _, t := range nameTokens(name) {
		if codeWords[t] || strings.HasPrefix(t, "code") || strings.HasPrefix(t, "num") && strings.HasSuffix(t, "tel") {
			return true
		}
	}
	return false
}

// namedLikeDate reports whether a column's name says it holds dates, the
// condition for reading 8-digit values (20230115) as dates.
func namedLikeDate(name string) bool {
	for _, t := range nameTokens(name) {
		switch t {
		case "date", "dt", "jour", "day", "datum":
			return true
		}
		if strings.HasPrefix(t, "date") {
			return true
		}
	}
	return false
}
