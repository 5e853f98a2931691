// Package convert turns a tabular file on the web into a DuckDB table.
//
// It is the only package that knows file formats and encodings. The pipeline
// is Fetch (download with size caps and an SSRF guard), Prepare (detect the
// format from the content; unwrap gzip, zstd and zip; convert xlsx, xls and
// ods sheets to CSV; leave JSON, NDJSON and Parquet to DuckDB), Normalize
// (for CSV text: detect the encoding, hand DuckDB UTF-8) and Load (DuckDB's
// read_csv, read_json or read_parquet into a resource's own database file,
// built under a temporary name and renamed into place only when complete).
//
// The parsers of hostile input that need no DuckDB live in packages of
// their own under convert/internal: xls (legacy Excel), ods (OpenDocument),
// numfmt (spreadsheet number formats) and urlpolicy (URL checks and the
// SSRF guard). Their tests and fuzz targets build in seconds; convert maps
// their errors to its sentinels.
package convert

import (
	"errors"
	"fmt"
	"strings"

	"github.com/csvapi/csvapi/convert/internal/urlpolicy"
)

// Sentinel errors callers branch on. They are wrapped with context, so test
// them with errors.Is.
var (
	// ErrTooLarge is returned when a download or its decompressed content
	// exceeds the configured size limit.
	ErrTooLarge = errors.New("file too large")
	// ErrForbiddenAddress is returned when a URL resolves to an address the
	// SSRF guard refuses (loopback, private, link-local, metadata …), or
	// uses a port or host the Fetcher does not allow. It is the error of
	// convert/internal/urlpolicy, where the guard lives.
	ErrForbiddenAddress = urlpolicy.ErrForbidden
	// ErrInvalidURL is returned for URLs that are not absolute http(s) URLs.
	ErrInvalidURL = errors.New("invalid url")
	// ErrNotTabular is returned when the content is recognisably not a
	// table csvapi can read (an HTML page, a binary file, JSON …).
	ErrNotTabular = errors.New("not a tabular file")
	// ErrUnreadable is returned when the content looked like text but could
	// not be read as a table.
	ErrUnreadable = errors.New("the file could not be read as a table")
	// ErrTooManyColumns is returned for a table wider than the configured
	// limit.
	ErrTooManyColumns = errors.New("too many columns")
	// ErrUnsupportedEncoding is returned for an unknown ?encoding= value.
	ErrUnsupportedEncoding = errors.New("unsupported encoding")
	// ErrTooSlow is wrapped by the *FetchError of a download cut because
	// the upstream sent less than Fetcher.MinRate bytes a second over a
	// Fetcher.RateWindow.
	ErrTooSlow = errors.New("download too slow")
	// ErrInvalidOption is the category of *OptionError: an override such
	// as delimiter or header that cannot be used.
	ErrInvalidOption = errors.New("invalid option")
)

// FetchError reports an upstream failure: the server could not be reached,
// or it answered with a non-2xx status.
type FetchError struct {
	URL    string
	Status int   // upstream HTTP status, 0 when no answer was received
	Err    error // underlying network error, if any
}

func (e *FetchError) Error() string {
	if e.Status != 0 {
		return fmt.Sprintf("upstream answered HTTP %d", e.Status)
	}
	return fmt.Sprintf("upstream unreachable: %v", e.Err)
}

func (e *FetchError) Unwrap() error { return e.Err }

// Kind is the JSON-level family of a column type, the one clients and the
// query package reason about.
type Kind string

// Column kinds.
const (
	KindInteger   Kind = "integer"
	KindNumber    Kind = "number"
	KindBoolean   Kind = "boolean"
	KindDate      Kind = "date"
	KindTimestamp Kind = "datetime"
	KindTime      Kind = "time"
	KindString    Kind = "string"
)

// KindOf maps a DuckDB SQL type name (as DESCRIBE prints it) to its Kind.
func KindOf(sqlType string) Kind {
	t := strings.ToUpper(sqlType)
	switch {
	case t == "TINYINT", t == "SMALLINT", t == "INTEGER", t == "BIGINT", t == "HUGEINT",
		t == "UTINYINT", t == "USMALLINT", t == "UINTEGER", t == "UBIGINT", t == "UHUGEINT":
		return KindInteger
	case t == "FLOAT", t == "DOUBLE", t == "REAL", strings.HasPrefix(t, "DECIMAL"):
		return KindNumber
	case t == "BOOLEAN":
		return KindBoolean
	case t == "DATE":
		return KindDate
	case strings.HasPrefix(t, "TIMESTAMP"):
		return KindTimestamp
	case strings.HasPrefix(t, "TIME"):
		return KindTime
	default:
		return KindString
	}
}

// Column describes one column of a loaded table.
type Column struct {
	Name     string `json:"name"`              // name in table data (unique, never "rowid")
	Original string `json:"original"`          // header text as found in the file
	Type     string `json:"sql_type"`          // DuckDB type, e.g. BIGINT, DOUBLE, DATE, VARCHAR
	Format   string `json:"format,omitempty"`  // strptime format the dates were read with, e.g. %d/%m/%Y
	Decimal  string `json:"decimal,omitempty"` // decimal separator the numbers were read with
	// Bools are the words the file wrote for true and false (e.g. oui,
	// non), for exports in the source's form.
	Bools []string `json:"bools,omitempty"`
}

// Kind returns the column's Kind.
func (c Column) Kind() Kind { return KindOf(c.Type) }
