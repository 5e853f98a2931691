// Package numfmt reads spreadsheet number formats and values the way Excel
// and LibreOffice display them: whether a format shows a date, a time or a
// number, serial dates as times, and numbers as plain text. It is shared by
// the xlsx, xls and ods readers and needs nothing but the standard library.
package numfmt

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Kind is what a spreadsheet number format displays.
type Kind int

const (
	General  Kind = iota // the value as is
	Number               // a number with decorations: 1 234,50 €, 12 %, 1E+03
	Date                 // a day
	DateTime             // a day and a time of day
	Time                 // a time of day
	Text                 // "@"
)

// BuiltIn returns the format code of the built-in number formats that
// matter to Classify ("" for the others). Codes 27–36 and 50–58 are East
// Asian date formats whose codes depend on the locale: they are dates.
func BuiltIn(id int) string {
	switch {
	case id == 0:
		return "General"
	case 1 <= id && id <= 13, 37 <= id && id <= 44, id == 48:
		return "0.00" // some number format; the exact code does not matter
	case 14 <= id && id <= 17, 27 <= id && id <= 36, 50 <= id && id <= 58:
		return "yyyy-mm-dd"
	case 18 <= id && id <= 21, id == 45, id == 47:
		return "hh:mm:ss"
	case id == 22:
		return "yyyy-mm-dd hh:mm"
	case id == 46:
		return "[h]:mm:ss"
	case id == 49:
		return "@"
	}
	return ""
}

// Classify tells what a number format displays, from its code: a date when
// it shows years or days (or months without hours), a time when it shows
// only hours, minutes or seconds, a datetime when both. Elapsed durations
// ([h]:mm) are numbers of days, not times of day. Quoted text, escaped
// characters and bracketed locale or colour tags are ignored.
func Classify(code string) Kind {
	if code == "" {
		return General
	}
	first, _, _ := strings.Cut(code, ";")
	lower := strings.ToLower(first)
	if lower == "general" {
		return General
	}
	if lower == "@" {
		return Text
	}
	if strings.Contains(lower, "[h") || strings.Contains(lower, "[m") || strings.Contains(lower, "[s") {
		return Number
	}
	var b strings.Builder
	quoted, bracket := false, false
	for i := 0; i < len(lower); i++ {
		c := lower[i]
		switch {
		case quoted:
			quoted = c != '"'
		case bracket:
			bracket = c != ']'
		case c == '"':
			quoted = true
		case c == '[':
			bracket = true
		case c == '\\' || c == '_' || c == '*':
			i++ // the next character is literal (or padding)
		default:
			b.WriteByte(c)
		}
	}
	s := strings.ReplaceAll(strings.ReplaceAll(b.String(), "am/pm", ""), "a/p", "")
	hasDate := strings.ContainsAny(s, "yd")
	hasTime := strings.ContainsAny(s, "hs")
	switch {
	case hasDate && hasTime:
		return DateTime
	case hasDate, strings.Contains(s, "m") && !hasTime:
		return Date
	case hasTime:
		return Time
	}
	return Number
}

// Plain renders v as Excel displays it in General format: rounded to 15
// significant digits, without exponent or grouping. NaN and infinities,
// which no cell holds, are "".
func Plain(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 15, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// SerialTime converts a serial date (days since 1899-12-30, or 1904-01-01
// in the 1904 system) to a time, rounded to the second. Serials before 61
// in the 1900 system are shifted by a day: Excel counts 1900-02-29, which
// did not exist. It reports false for serials before day 0 or after
// 9999-12-31.
func SerialTime(serial float64, date1904 bool) (time.Time, bool) {
	if serial < 0 || serial > 2958466 { // after 9999-12-31
		return time.Time{}, false
	}
	base := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if date1904 {
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if serial < 61 {
		base = base.AddDate(0, 0, 1)
	}
	secs := math.Round(serial * 86400)
	return base.Add(time.Duration(secs) * time.Second), true
}
