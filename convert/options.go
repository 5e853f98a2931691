package convert

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// HeaderNone is the Options.Header value of a file without a header row.
const HeaderNone = "none"

// Options override what Load (and Normalize, for Encoding) would detect.
// The zero value detects everything. Validate checks values that come from
// users before any work is done.
type Options struct {
	Encoding  string // source encoding label, e.g. "latin1"; empty: detect
	Delimiter string // one character, or "tab"; empty: detect among , ; tab |
	Quote     string // one character, or "none"; empty: "
	// Escape is the character that escapes a quote inside a quoted field:
	// one character (\ for \"); empty: detected, the quote itself ("")
	// unless the head escapes quotes with backslashes consistently.
	Escape string
	// Header is "none" (no header row: columns are named column1…), or the
	// 0-based index of the header row (the rows above it are skipped);
	// empty: detect.
	Header string
	// Skip is the number of rows to skip at the top of the file before the
	// header (or the data, with Header "none"), when SkipSet. Preamble rows
	// are detected only when neither Skip nor a header index is set.
	Skip    int
	SkipSet bool
	Decimal string // "." or ","; empty: decided per column

	// MaxColumns, when positive, is the most columns a table may have: a
	// wider file is refused with ErrTooManyColumns before DuckDB reads it.
	// It is the operator's limit, not a user's option.
	MaxColumns int
}

// OptionError names the option that is invalid. Its Unwrap returns
// ErrInvalidOption.
type OptionError struct {
	Option  string // "delimiter", "quote", "escape", "header", "skip", "decimal", "encoding"
	Message string
}

func (e *OptionError) Error() string { return e.Option + ": " + e.Message }

// Unwrap returns ErrInvalidOption.
func (e *OptionError) Unwrap() error { return ErrInvalidOption }

// ParseSkip parses the skip option: a number of rows, 0 to 100000.
func ParseSkip(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 0 || n > 100_000 {
		return 0, &OptionError{"skip", fmt.Sprintf("expects a number of rows between 0 and 100000, got %q", s)}
	}
	return n, nil
}

// Validate checks every option and returns an *OptionError naming the first
// invalid one (or ErrUnsupportedEncoding for an unknown encoding).
func (o Options) Validate() error {
	if o.Encoding != "" {
		if _, _, err := LookupEncoding(o.Encoding); err != nil {
			return err
		}
	}
	if o.Delimiter != "" {
		if _, err := o.delimiter(); err != nil {
			return err
		}
	}
	if o.Quote != "" {
		if _, err := o.quote(); err != nil {
			return err
		}
	}
	if o.Escape != "" {
		if _, err := o.escape(); err != nil {
			return err
		}
	}
	if _, _, err := o.header(); err != nil {
		return err
	}
	if o.SkipSet && (o.Skip < 0 || o.Skip > 100_000) {
		return &OptionError{"skip", fmt.Sprintf("expects a number of rows between 0 and 100000, got %d", o.Skip)}
	}
	if idx, ok, _ := o.header(); ok && idx >= 0 && o.SkipSet {
		return &OptionError{"skip", "cannot be combined with a header row index (the rows above the header are skipped already)"}
	}
	if o.Decimal != "" && o.Decimal != "." && o.Decimal != "," {
		return &OptionError{"decimal", fmt.Sprintf(`expects "." or ",", got %q`, o.Decimal)}
	}
	return nil
}

// delimiter returns the forced delimiter byte, 0 when not forced.
func (o Options) delimiter() (byte, error) {
	switch d := o.Delimiter; {
	case d == "":
		return 0, nil
	case strings.EqualFold(d, "tab") || d == `\t` || d == "\t":
		return '\t', nil
	case len(d) == 1 && validSeparator(d[0]):
		return d[0], nil
	}
	return 0, &OptionError{"delimiter", fmt.Sprintf(`expects one ASCII punctuation character or "tab", got %q`, o.Delimiter)}
}

// quote returns the quote byte: '"' by default, 0 for "none".
func (o Options) quote() (byte, error) {
	switch q := o.Quote; {
	case q == "":
		return '"', nil
	case strings.EqualFold(q, "none"):
		return 0, nil
	case len(q) == 1 && validSeparator(q[0]):
		return q[0], nil
	}
	return 0, &OptionError{"quote", fmt.Sprintf(`expects one ASCII punctuation character or "none", got %q`, o.Quote)}
}

// escape returns the forced escape byte, 0 when not forced.
func (o Options) escape() (byte, error) {
	if e := o.Escape; e == "" || len(e) == 1 && validSeparator(e[0]) {
		if e == "" {
			return 0, nil
		}
		return e[0], nil
	}
	return 0, &OptionError{"escape", fmt.Sprintf(`expects one ASCII punctuation character, such as \ or ", got %q`, o.Escape)}
}

// escapeFor returns the escape character for quote: the forced one, else
// the quote itself (RFC 4180 doubled quotes), and whether it was forced.
func (o Options) escapeFor(quote byte) (byte, bool) {
	if e, _ := o.escape(); e != 0 {
		return e, true
	}
	return quote, false
}

// header returns the forced header row index (-1 for "none") and whether
// the header is forced at all.
func (o Options) header() (int, bool, error) {
	switch h := strings.TrimSpace(o.Header); {
	case h == "":
		return 0, false, nil
	case strings.EqualFold(h, HeaderNone):
		return -1, true, nil
	default:
		n, err := strconv.Atoi(h)
		if err != nil || n < 0 || n > 100_000 {
			return 0, false, &OptionError{"header", fmt.Sprintf(`expects "none" or a row index between 0 and 100000, got %q`, o.Header)}
		}
		return n, true, nil
	}
}

// validSeparator accepts printable ASCII punctuation and tab: letters,
// digits, spaces and line ends would make every row ambiguous.
func validSeparator(c byte) bool {
	switch {
	case c == '\t':
		return true
	case c <= ' ' || c >= 0x7f:
		return false
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return false
	}
	return true
}

// Canonical returns the overrides o sets in one canonical form (sorted
// name=value pairs, URL-encoded; encodings by their canonical name), or ""
// when o sets none. Two requests with the same overrides get the same
// string: the cache makes it part of the resource id, so that a client's
// overrides give another table rather than change the one others see.
func (o Options) Canonical() string {
	set := o.applied()
	if len(set) == 0 {
		return ""
	}
	if e, ok := set["encoding"]; ok {
		if _, name, err := LookupEncoding(e); err == nil {
			set["encoding"] = name
		}
	}
	v := url.Values{}
	for k, val := range set {
		v.Set(k, val)
	}
	return v.Encode()
}
