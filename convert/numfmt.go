package convert

import "strings"

// numFmtKind is what a spreadsheet number format displays.
type numFmtKind int

const (
	numFmtGeneral numFmtKind = iota // the value as is
	numFmtNumber                    // a number with decorations: 1 234,50 €, 12 %, 1E+03
	numFmtDate
	numFmtDateTime
	numFmtTime
	numFmtText // "@"
)

// builtInNumFmt returns the format code of the built-in number formats that
// matter to classifyNumFmt ("" for the others). Codes 27–36 and 50–58 are
// East Asian date formats whose codes depend on the locale: they are dates.
func builtInNumFmt(id int) string {
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

// classifyNumFmt tells what a number format displays, from its code: a
// date when it shows years or days (or months without hours), a time when
// it shows only hours, minutes or seconds, a datetime when both. Elapsed
// durations ([h]:mm) are numbers of days, not times of day. Quoted text,
// escaped characters and bracketed locale or colour tags are ignored.
func classifyNumFmt(id int, code string) numFmtKind {
	if code == "" {
		return numFmtGeneral
	}
	first, _, _ := strings.Cut(code, ";")
	lower := strings.ToLower(first)
	if lower == "general" {
		return numFmtGeneral
	}
	if lower == "@" {
		return numFmtText
	}
	if strings.Contains(lower, "[h") || strings.Contains(lower, "[m") || strings.Contains(lower, "[s") {
		return numFmtNumber
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
		return numFmtDateTime
	case hasDate, strings.Contains(s, "m") && !hasTime:
		return numFmtDate
	case hasTime:
		return numFmtTime
	}
	return numFmtNumber
}
