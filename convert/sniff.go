package convert

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// Limits of the dialect sniffer. The head is parsed once per candidate
// delimiter, so it stays small; types are not decided on it (see types.go),
// it only proposes a guess per column that the whole-column check confirms.
var (
	headLen        = 1 << 20 // a variable so that tests can make files longer than the head
	headMaxRecords = 2000
)

// candidateDelimiters are tried in this order; on equal scores the first wins.
var candidateDelimiters = []byte{',', ';', '\t', '|'}

// Dialect is how a delimited text file is written, as csvapi detected it
// (or as Options forced it).
type Dialect struct {
	Delimiter byte
	Quote     byte   // 0: no quoting
	Escape    byte   // escapes a quote inside a quoted field: Quote (doubled quotes) or a backslash
	NewLine   string // "\n", "\r\n" or "\r"
	// Start is the number of rows (blank lines included, as DuckDB's skip
	// counts them) above the header row, or above the first data row when
	// there is no header.
	Start   int
	Header  bool
	Names   []string // header fields as written (nil without header), one per column
	Columns int      // number of columns
	// QuotedNewLines is set when a quoted field of the head spans lines:
	// DuckDB's parallel reader refuses those with null_padding.
	QuotedNewLines bool
	Sample         [][]string // data rows of the head, padded or cut to Columns, for type guesses
	// RepeatedHeaders counts the rows of the head below the header that
	// repeat it (page breaks of an export, a header written twice): they
	// are not data, and the reader skips them in the whole file.
	RepeatedHeaders int
}

// record is one row of the head as the sniffer parses it.
type record struct {
	fields []string
	blank  bool // an empty line
}

// readHeadN returns up to n bytes from the start of the file at path, and
// whether that is the whole file.
func readHeadN(path string, n int) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	buf := make([]byte, n+1)
	m, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, false, err
	}
	if m > n {
		return buf[:n], false, nil
	}
	return buf[:m], true, nil
}

// SniffDialect detects the dialect of the UTF-8 text head (the start of a
// file; complete says whether it is the whole file), honouring the
// delimiter, quote, header and skip overrides of o. The delimiter is the
// candidate that splits the most rows into the same number (> 1) of fields;
// the header is the first row with that number of fields (rows above it are
// a preamble: titles, notes, blank lines), unless its values look like the
// data below them.
//
// It returns ErrNotTabular for text without rows, or a single line without
// any delimiter, and an *OptionError for invalid overrides.
func SniffDialect(head []byte, complete bool, o Options) (*Dialect, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	quote, _ := o.quote()
	forced, _ := o.delimiter()
	d := &Dialect{Quote: quote, NewLine: detectNewLine(head, quote)}
	cands := candidateDelimiters
	if forced != 0 {
		cands = []byte{forced}
	}
	var recs []record
	bestScore, bestWidth := -1, 0
	escape, forcedEscape := o.escapeFor(quote)
	if !forcedEscape && quote == '"' {
		escape = detectEscape(head, cands, quote, complete)
	}
	d.Escape = escape
	for _, c := range cands {
		r, nl, _ := parseRecords(head, c, quote, escape, complete, headMaxRecords)
		score, width := consistency(r)
		if score > bestScore || (score == bestScore && width > bestWidth) {
			d.Delimiter, recs, bestScore, bestWidth, d.QuotedNewLines = c, r, score, width, nl
		}
	}
	nonBlank := 0
	for _, r := range recs {
		if !r.blank {
			nonBlank++
		}
	}
	switch {
	case nonBlank == 0:
		return nil, fmt.Errorf("%w: the file holds no rows", ErrNotTabular)
	case nonBlank == 1 && bestWidth < 2 && forced == 0:
		return nil, fmt.Errorf("%w: the file is a single line of text without any delimiter", ErrNotTabular)
	}
	d.Start = startRow(recs, bestWidth, o)
	if _, forcedHeader, _ := o.header(); !forcedHeader && !o.SkipSet {
		d.Start = headerAbove(recs, d.Start, bestWidth)
	}
	if d.Start >= len(recs) {
		d.Start = len(recs) // only blank or skipped rows: header-only table
	}
	d.Header = hasHeader(recs, d.Start, o) && d.Start < len(recs) // a forced header row past the end is none
	d.fill(recs)
	return d, nil
}

// fill sets Columns, Names and Sample from the rows from Start on.
func (d *Dialect) fill(recs []record) {
	var data []record
	if d.Start < len(recs) {
		data = recs[d.Start:]
	}
	if d.Header && len(data) > 0 {
		d.Names = data[0].fields
		data = data[1:]
	}
	var rows []record
	for _, r := range data {
		switch {
		case r.blank:
		case d.Header && slices.Equal(r.fields, d.Names):
			d.RepeatedHeaders++
		default:
			rows = append(rows, r)
		}
	}
	_, width := consistency(rows)
	if d.Header && width > len(d.Names) && !widensHeader(rows, len(d.Names)) {
		width = len(d.Names) // the wider rows go to rejects
	}
	d.Columns = max(width, len(d.Names), 1)
	for len(d.Names) > 0 && len(d.Names) < d.Columns {
		d.Names = append(d.Names, "")
	}
	for _, r := range rows {
		if len(r.fields) > d.Columns {
			continue // DuckDB rejects these rows; they say nothing of types
		}
		f := r.fields
		for len(f) < d.Columns {
			f = append(f, "")
		}
		d.Sample = append(d.Sample, f)
	}
}

// detectEscape returns a backslash when the head escapes quotes with
// backslashes consistently: it holds a backslash before a quote, and read
// with RFC 4180 doubled quotes some field has text after its closing quote,
// while read with backslash escapes none has. Otherwise it returns quote.
func detectEscape(head []byte, cands []byte, quote byte, complete bool) byte {
	if !bytes.Contains(head, []byte{'\\', quote}) {
		return quote
	}
	for _, c := range cands {
		_, _, rfc := parseRecords(head, c, quote, quote, complete, headMaxRecords)
		_, _, bs := parseRecords(head, c, quote, '\\', complete, headMaxRecords)
		if rfc > 0 && bs == 0 {
			return '\\'
		}
	}
	return quote
}

// startRow returns the index of the header row (or first data row).
func startRow(recs []record, width int, o Options) int {
	if idx, ok, _ := o.header(); ok && idx >= 0 {
		return idx
	}
	if o.SkipSet {
		return o.Skip
	}
	return firstOfWidth(recs, width)
}

// firstOfWidth returns the index of the first non-blank row with width
// fields, or of the first non-blank row when width < 2. A row of that width
// with at most one non-blank cell (a title padded with delimiters,
// "Temperature;;;;;", or a line of delimiters only) is preamble when the
// next row of the width with more cells reads as names (no number nor
// date, or years): below a sparse header such as "nom;;" come data rows.
func firstOfWidth(recs []record, width int) int {
	first := -1
	for i, r := range recs {
		if r.blank || (width >= 2 && len(r.fields) != width) {
			continue
		}
		if first < 0 {
			first = i
		}
		if width < 3 || nonBlankCells(r.fields) >= 2 {
			if first < i && !looksLikeNames(r.fields) {
				return first // data here: the sparse row above is its header
			}
			return i
		}
	}
	return max(first, 0)
}

// looksLikeNames reports whether a row reads as a header: none of its
// values is a number or a date, or its values are years (2019;2020;2021).
func looksLikeNames(fields []string) bool {
	if _, ok := yearsRow(fields); ok {
		return true
	}
	for _, f := range fields {
		if valueTyped(f) {
			return false
		}
	}
	return true
}

// headerAbove returns the index of the header when a narrower row right
// above the first row of the common width start is it: that row has
// several names, none of them a number or a date, while row start holds
// typed values, so it is data wider than its header ("a;b;c" above
// "1;2;3;4"). A wider data row never replaces the header. Otherwise it
// returns start.
func headerAbove(recs []record, start, width int) int {
	if start <= 0 || start >= len(recs) || width < 2 {
		return start
	}
	p := start - 1
	if recs[p].blank || len(recs[p].fields) < 2 || len(recs[p].fields) >= width || nonBlankCells(recs[p].fields) < 2 {
		return start
	}
	for _, f := range recs[p].fields {
		if valueTyped(f) {
			return start
		}
	}
	typed := false
	for _, f := range recs[start].fields {
		typed = typed || valueTyped(f)
	}
	if !typed {
		return start
	}
	// Several rows wider with values in their extra cells are a table
	// without header below a note ("Source;INSEE" above "1;2;3").
	var rows []record
	for _, r := range recs[start:] {
		if !r.blank {
			rows = append(rows, r)
		}
	}
	if wider, blankExtra := widerRows(rows, len(recs[p].fields)); wider > 1 && !blankExtra {
		return start
	}
	return p
}

// valueTyped reports whether a single value reads as a number, a date or
// a timestamp.
func valueTyped(v string) bool {
	k := guessKind([]string{v}, "", "")
	return k != asText && k != asUnknown
}

// nonBlankCells counts the fields that hold more than spaces.
func nonBlankCells(fields []string) int {
	n := 0
	for _, f := range fields {
		if !isBlank(f) {
			n++
		}
	}
	return n
}

// widensHeader reports whether the data rows wider than a header of n
// names make columns of their own: when their extra cells are all blank (a
// trailing delimiter on every data line, dropped later with the empty
// column), or when most rows, and more than one, are wider (a header
// missing its last names). A few wider rows do not widen the header.
func widensHeader(rows []record, n int) bool {
	wider, blankExtra := widerRows(rows, n)
	return wider > 0 && (blankExtra || (wider > 1 && 2*wider > len(rows)))
}

// widerRows counts the rows with more than n fields, and reports whether
// all their extra cells are blank.
func widerRows(rows []record, n int) (wider int, blankExtra bool) {
	blankExtra = true
	for _, r := range rows {
		if len(r.fields) > n {
			wider++
			blankExtra = blankExtra && nonBlankCells(r.fields[n:]) == 0
		}
	}
	return wider, blankExtra
}

// hasHeader decides whether row start is a header: forced by o, else true
// unless every one of its values fits the type its column has in the rows
// below and at least one of them is typed (a number, a date …). Codes
// count as typed: a value with digits shaped like every value below it
// (01001 above 75056, 2A004) fits, while a name without digits above codes
// is a header. A row of distinct years above numbers is a header of years.
func hasHeader(recs []record, start int, o Options) bool {
	if idx, ok, _ := o.header(); ok {
		return idx >= 0
	}
	if start >= len(recs) {
		return false
	}
	first := recs[start].fields
	var rows [][]string
	for _, r := range recs[start+1:] {
		if !r.blank && len(r.fields) == len(first) && !slices.Equal(r.fields, first) {
			rows = append(rows, r.fields)
		}
	}
	if len(rows) == 0 {
		return true // a lone row is a header-only table, not one row without names
	}
	if yearsHeader(first, rows) {
		return true
	}
	typed := false
	for j, h := range first {
		col := make([]string, len(rows))
		for i, r := range rows {
			col[i] = r[j]
		}
		k := guessKind(col, "", "")
		if k == asUnknown {
			continue
		}
		if k == asText {
			switch codeFit(trimSpace(h), col) {
			case fitYes:
				typed = true
			case fitNo:
				return true
			}
			continue
		}
		if isBlank(h) {
			return true // a typed column with a blank name: a header with a missing name
		}
		if !k.fits(trimSpace(h)) {
			return true
		}
		typed = true
	}
	return !typed
}

// fit is codeFit's answer.
type fit int

const (
	fitUndecided fit = iota
	fitYes
	fitNo
)

// codeFit tells whether the value h, above the text column col, is one of
// its codes: every non-empty value of col has digits and one shape (digits
// as 9, letters as a: 01001 and 2A004 are 99999 and 9a999); h fits when it
// has a shape of the column, and is a name when it has no digit at all.
func codeFit(h string, col []string) fit {
	shapes := map[string]bool{}
	for _, v := range col {
		if v = trimSpace(v); v == "" {
			continue
		}
		if !strings.ContainsAny(v, "0123456789") {
			return fitUndecided
		}
		shapes[shape(v)] = true
	}
	switch {
	case len(shapes) == 0 || len(shapes) > 3:
		return fitUndecided
	case h == "":
		return fitNo // a blank name above codes
	case shapes[shape(h)]:
		return fitYes
	case !strings.ContainsAny(h, "0123456789"):
		return fitNo
	}
	return fitUndecided
}

// shape maps digits to 9 and letters to a, keeping other characters.
func shape(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= '0' && r <= '9':
			return '9'
		case unicode.IsLetter(r):
			return 'a'
		}
		return r
	}, s)
}

// yearsHeader reports whether first is a header of years (see yearsRow)
// above columns whose values are not all years.
func yearsHeader(first []string, rows [][]string) bool {
	cols, ok := yearsRow(first)
	if !ok {
		return false
	}
	for _, j := range cols {
		for _, r := range rows {
			v := trimSpace(r[j])
			if v == "" {
				continue
			}
			if y, err := strconv.Atoi(v); err != nil || y < 1800 || y > 2100 {
				return true // a value below is not a year: the years name columns
			}
		}
	}
	return false
}

// yearsRow reports whether the non-blank values of fields, at least two,
// are distinct years (1800–2100) in increasing or decreasing order, and
// returns their positions.
func yearsRow(fields []string) ([]int, bool) {
	var years, cols []int
	for j, h := range fields {
		if isBlank(h) {
			continue
		}
		y, err := strconv.Atoi(trimSpace(h))
		if err != nil || y < 1800 || y > 2100 {
			return nil, false
		}
		years = append(years, y)
		cols = append(cols, j)
	}
	if len(years) < 2 {
		return nil, false
	}
	up, down := true, true
	for i := 1; i < len(years); i++ {
		up = up && years[i] > years[i-1]
		down = down && years[i] < years[i-1]
	}
	return cols, up || down
}

// consistency returns how many non-blank records have the most common
// number of fields above one, and that number (0 when every record has a
// single field). Ties go to the wider count.
func consistency(recs []record) (score, width int) {
	counts := map[int]int{}
	for _, r := range recs {
		if !r.blank && len(r.fields) > 1 {
			counts[len(r.fields)]++
		}
	}
	for w, n := range counts {
		if n > score || (n == score && w > width) {
			score, width = n, w
		}
	}
	return score, width
}

// detectNewLine returns the line end DuckDB must be told about: CRLF when
// any line ends so, CR when lines end with a lone CR only, else LF. Line
// ends inside quoted fields do not count.
func detectNewLine(head []byte, quote byte) string {
	var crlf, cr, lf int
	in := false
	for i := 0; i < len(head); i++ {
		switch c := head[i]; {
		case quote != 0 && c == quote:
			in = !in // a doubled quote toggles twice
		case in:
		case c == '\r' && i+1 < len(head) && head[i+1] == '\n':
			crlf++
			i++
		case c == '\r':
			cr++
		case c == '\n':
			lf++
		}
	}
	switch {
	case crlf > 0 && crlf >= lf:
		return "\r\n"
	case cr > 0 && lf == 0 && crlf == 0:
		return "\r"
	}
	return "\n"
}

// parseRecords splits b into at most max records of fields separated by
// delim, honouring RFC 4180 quoting with quote (0: none): a field that
// starts with the quote runs to the matching quote, doubled quotes inside
// are one quote, and delimiters and line ends inside are data. Lines end
// with LF, CRLF or CR. When complete is false the last record, which may be
// cut, is dropped; so is an unterminated quoted record.
func parseRecords(b []byte, delim, quote, escape byte, complete bool, max int) (recs []record, quotedNL bool, strays int) {
	var field []byte
	i := 0
	for i < len(b) && len(recs) < max {
		var fields []string
		start := i
		atStart, inQuotes, ended, recNL, closed := true, false, false, false, false
		for i < len(b) {
			c := b[i]
			if inQuotes {
				if c == '\n' || c == '\r' {
					recNL = true
				}
				if escape != quote && c == escape && i+1 < len(b) && (b[i+1] == quote || b[i+1] == escape) {
					field = append(field, b[i+1])
					i += 2
					continue
				}
				if c == quote {
					if i+1 < len(b) && b[i+1] == quote {
						field = append(field, quote)
						i += 2
						continue
					}
					inQuotes, closed = false, true
				} else {
					field = append(field, c)
				}
				i++
				continue
			}
			if closed && c != delim && c != '\n' && c != '\r' {
				strays++ // text after a closing quote: DuckDB's strict mode rejects the row
			}
			closed = false
			if atStart && quote != 0 && c == quote {
				inQuotes, atStart = true, false
				i++
				continue
			}
			if c == '\n' || c == '\r' {
				i++
				if c == '\r' && i < len(b) && b[i] == '\n' {
					i++
				}
				ended = true
				break
			}
			if c == delim {
				fields = append(fields, string(field))
				field, atStart = field[:0], true
			} else {
				field, atStart = append(field, c), false
			}
			i++
		}
		fields = append(fields, string(field))
		field = field[:0]
		if inQuotes || (!ended && !complete) {
			break
		}
		blank := len(fields) == 1 && fields[0] == "" && (i-start <= 2) && b[start] != quote
		recs = append(recs, record{fields: fields, blank: blank})
		quotedNL = quotedNL || recNL // an unterminated quote does not count: DuckDB rejects it
	}
	return recs, quotedNL, strays
}

func isBlank(s string) bool { return trimSpace(s) == "" }
