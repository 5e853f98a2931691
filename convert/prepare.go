package convert

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// File types reported in Meta.Filetype (general_infos.filetype).
const (
	FiletypeCSV     = "csv"
	FiletypeXLSX    = "xlsx"
	FiletypeXLS     = "xls"
	FiletypeODS     = "ods"
	FiletypeJSON    = "json"
	FiletypeNDJSON  = "ndjson"
	FiletypeParquet = "parquet"
)

// maxNesting bounds how many containers may wrap the table (a gzip inside
// a zip is two), so that a quine-like archive cannot loop forever.
const maxNesting = 4

// PrepareOptions are the per-request choices that Prepare applies.
type PrepareOptions struct {
	Encoding string // forces the text encoding; empty means detect
	Sheet    string // spreadsheet sheet, by name or 1-based index; empty: the first visible one
	File     string // member of a zip archive; empty: the only table it holds
}

// Prepared describes the file Prepare produced: what Load reads, and how it
// was obtained.
type Prepared struct {
	Path        string // file Load reads: UTF-8 CSV text, JSON, NDJSON or Parquet
	Filetype    string // Filetype* constant: what the table was stored as
	Compression string // containers unwrapped, outermost first: "gzip", "zip", "zip+gzip" …
	File        string // the archive member loaded, if any
	Sheet       string // the sheet loaded, if any
	Encoding    string // encoding of the source text (CSV only)
	Size        int64  // bytes at Path

	// EncodingConfidence is how sure the detection of Encoding is (0–100,
	// CSV only; 0 when forced).
	EncodingConfidence int
}

// Apply records in m what Prepare found, so that Load dispatches on
// m.Filetype and general_infos reports it.
func (p *Prepared) Apply(m *Meta) {
	m.Filetype, m.Compression, m.File, m.Sheet, m.Encoding = p.Filetype, p.Compression, p.File, p.Sheet, p.Encoding
	m.EncodingConfidence = p.EncodingConfidence
}

// ChoiceError reports that the file holds several tables and the request
// did not say which one to load (Value empty), or named one that does not
// exist. Param is "file" (zip members) or "sheet" (spreadsheet sheets).
type ChoiceError struct {
	Param   string
	Value   string
	Choices []string // the names that can be given, at most maxChoices
}

const maxChoices = 100

func (e *ChoiceError) Error() string {
	what := map[string]string{"file": "file in the archive", "sheet": "sheet in the workbook"}[e.Param]
	if e.Value == "" {
		return fmt.Sprintf("the archive holds %d tables: pick one with the %s parameter (%s)",
			len(e.Choices), e.Param, strings.Join(e.Choices, ", "))
	}
	return fmt.Sprintf("no %s named %q (parameter %s); choices: %s", what, e.Value, e.Param, strings.Join(e.Choices, ", "))
}

// Prepare turns the downloaded file at src into a file that Load can read,
// writing intermediate files into dir (removed by the caller). The format is
// detected from the content, never from a name or a Content-Type: gzip and
// zstd streams and zip archives are unwrapped (each capped at maxSize
// decompressed bytes, whatever their headers claim), spreadsheets (xlsx,
// xls, ods) are converted to UTF-8 CSV, JSON, NDJSON and Parquet are left
// for DuckDB to read natively, and anything else is text handed to
// Normalize.
//
// It returns ErrTooLarge when decompressed content exceeds maxSize,
// ErrNotTabular for content that is not a table (HTML, PDF, images, a JSON
// object, an empty file …), ErrUnreadable for a corrupt spreadsheet,
// *ChoiceError when a zip holds several tables and opts.File does not pick
// one (or a named sheet or file is missing), the errors of Normalize, and
// ctx's error when ctx is done before it finishes: every copy,
// decompression and sheet conversion writes through writeTemp, which stops
// at ctx's end.
func Prepare(ctx context.Context, src, dir string, opts PrepareOptions, maxSize int64) (*Prepared, error) {
	p := &Prepared{Path: src}
	var containers []string
	pickFile := opts.File
	for depth := 0; ; depth++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if depth > maxNesting {
			return nil, fmt.Errorf("%w: archives nested more than %d deep", ErrNotTabular, maxNesting)
		}
		f, err := sniffFormat(p.Path)
		if err != nil {
			return nil, err
		}
		p.Compression = strings.Join(containers, "+")
		switch f {
		case formatGzip:
			p.Path, err = gunzipFile(ctx, p.Path, dir, maxSize)
			containers = append(containers, "gzip")
		case formatZstd:
			p.Path, err = unzstdFile(ctx, p.Path, dir, maxSize)
			containers = append(containers, "zstd")
		case formatZip:
			var member string
			p.Path, member, err = extractZip(ctx, p.Path, dir, pickFile, maxSize)
			if p.File == "" {
				p.File = member
			}
			pickFile = "" // the choice applies to the outermost archive only
			containers = append(containers, "zip")
		case formatXLSX, formatXLS, formatODS:
			return p.spreadsheet(ctx, f, dir, opts.Sheet, maxSize)
		case formatJSON, formatNDJSON:
			p.Filetype = map[format]string{formatJSON: FiletypeJSON, formatNDJSON: FiletypeNDJSON}[f]
			if p.Path, err = withoutBOM(ctx, p.Path, dir); err != nil {
				return nil, err
			}
			return p, p.stat()
		case formatParquet:
			p.Filetype = FiletypeParquet
			return p, p.stat()
		default:
			return p.text(ctx, dir, opts.Encoding, maxSize)
		}
		if err != nil {
			return nil, cmp.Or(ctx.Err(), err)
		}
	}
}

// spreadsheet converts the workbook at p.Path to UTF-8 CSV.
func (p *Prepared) spreadsheet(ctx context.Context, f format, dir, sheet string, maxSize int64) (*Prepared, error) {
	var err error
	switch f {
	case formatXLSX:
		p.Filetype = FiletypeXLSX
		p.Path, p.Sheet, err = xlsxToCSV(ctx, p.Path, dir, sheet, maxSize)
	case formatXLS:
		p.Filetype = FiletypeXLS
		p.Path, p.Sheet, err = xlsToCSV(ctx, p.Path, dir, sheet, maxSize)
	case formatODS:
		p.Filetype = FiletypeODS
		p.Path, p.Sheet, err = odsToCSV(ctx, p.Path, dir, sheet, maxSize)
	}
	if err != nil {
		return nil, cmp.Or(ctx.Err(), err) // the readers wrap what stopped them
	}
	p.Encoding = EncodingUTF8
	return p, p.stat()
}

// text hands delimited text to Normalize (encoding detection, refusals).
func (p *Prepared) text(ctx context.Context, dir, encodingName string, maxSize int64) (*Prepared, error) {
	norm, err := Normalize(ctx, p.Path, dir, encodingName, maxSize)
	if err != nil {
		return nil, err
	}
	p.Path, p.Encoding, p.Size, p.Filetype = norm.Path, norm.Encoding, norm.Size, FiletypeCSV
	p.EncodingConfidence = norm.EncodingConfidence
	if norm.Compression != "" && p.Compression == "" {
		p.Compression = norm.Compression
	}
	return p, nil
}

func (p *Prepared) stat() error {
	st, err := os.Stat(p.Path)
	if err != nil {
		return err
	}
	p.Size = st.Size()
	return nil
}

// format is what sniffFormat recognised.
type format int

const (
	formatText format = iota
	formatGzip
	formatZstd
	formatZip
	formatXLSX
	formatODS
	formatXLS
	formatParquet
	formatJSON
	formatNDJSON
)

// Magic numbers of the formats recognised from their first bytes.
var (
	magicGzip    = []byte{0x1f, 0x8b}
	magicZstd    = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicZip     = []byte("PK\x03\x04")
	magicZipEnd  = []byte("PK\x05\x06") // an empty zip is only its end record
	magicOLE2    = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}
	magicParquet = []byte("PAR1")
)

// sniffFormat recognises the file's format from its content: magic bytes,
// the members of a zip, the structure of JSON. Content that is recognisably
// not a table, and that Normalize would not describe well (JSON that is not
// an array of objects, legacy Office files that are not workbooks), is
// refused here with ErrNotTabular.
func sniffFormat(path string) (format, error) {
	head, err := readHead(path)
	if err != nil {
		return 0, err
	}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		return formatGzip, nil
	case bytes.HasPrefix(head, magicZstd):
		return formatZstd, nil
	case bytes.HasPrefix(head, magicZip), bytes.HasPrefix(head, magicZipEnd):
		return sniffZip(path)
	case bytes.HasPrefix(head, magicOLE2):
		return formatXLS, nil
	case bytes.HasPrefix(head, magicParquet):
		return formatParquet, nil
	}
	h := bytes.TrimLeft(bytes.TrimPrefix(head, bom), " \t\r\n")
	if len(h) > 0 && (h[0] == '[' || h[0] == '{') && jsonStart(h) {
		return sniffJSON(path)
	}
	if k := nonTableKind(head); k != "" {
		return 0, fmt.Errorf("%w: the content is %s, not a table", ErrNotTabular, k)
	}
	return formatText, nil
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// nonTableKind names binary formats that are recognisably not tables (for
// error messages), or returns "".
func nonTableKind(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("%PDF")):
		return "a PDF document"
	case bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")):
		return "a PNG image"
	case bytes.HasPrefix(head, []byte{0xFF, 0xD8, 0xFF}):
		return "a JPEG image"
	case bytes.HasPrefix(head, []byte("GIF87a")), bytes.HasPrefix(head, []byte("GIF89a")):
		return "a GIF image"
	case len(head) >= 12 && bytes.Equal(head[:4], []byte("RIFF")) && bytes.Equal(head[8:12], []byte("WEBP")):
		return "a WebP image"
	case len(head) > 262 && bytes.Equal(head[257:262], []byte("ustar")):
		return "a tar archive (unsupported: use zip or a single gzip file)"
	case bytes.HasPrefix(head, []byte("7z\xBC\xAF\x27\x1C")):
		return "a 7z archive (unsupported: use zip)"
	case bytes.HasPrefix(head, []byte("Rar!\x1A\x07")):
		return "a RAR archive (unsupported: use zip)"
	case bytes.HasPrefix(head, []byte("BZh")) && len(head) > 3 && '1' <= head[3] && head[3] <= '9':
		return "a bzip2 stream (unsupported: use gzip or zstd)"
	case bytes.HasPrefix(head, []byte{0xFD, '7', 'z', 'X', 'Z', 0x00}):
		return "an xz stream (unsupported: use gzip or zstd)"
	}
	return ""
}

// sniffJSON tells a JSON array of objects from NDJSON, and refuses other
// JSON documents (a single object, an array of scalars or arrays) with a
// message saying what was found. sniffFormat calls it only for content
// whose first two tokens are JSON: "[Code],[Nom]" headers, as SQL Server
// exports write them, are CSV. It reads tokens, never a whole value, so a
// huge document costs no memory.
func sniffJSON(path string) (format, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if err := skipBOM(f); err != nil {
		return 0, err
	}
	dec := json.NewDecoder(f)
	tok, err := dec.Token()
	if err != nil {
		return 0, fmt.Errorf("%w: the content starts like JSON but is not valid JSON", ErrNotTabular)
	}
	if tok == json.Delim('[') {
		if !dec.More() {
			return 0, fmt.Errorf("%w: the content is an empty JSON array", ErrNotTabular)
		}
		first, err := dec.Token()
		if err != nil {
			return 0, fmt.Errorf("%w: the content starts like JSON but is not valid JSON", ErrNotTabular)
		}
		if first != json.Delim('{') {
			return 0, fmt.Errorf("%w: the content is a JSON array of %s, not of objects", ErrNotTabular, jsonKind(first))
		}
		return formatJSON, nil
	}
	// An object: NDJSON when another object follows it.
	if err := skipValue(dec, 1); err != nil {
		return 0, fmt.Errorf("%w: the content starts like JSON but is not valid JSON", ErrNotTabular)
	}
	next, err := dec.Token()
	switch {
	case errors.Is(err, io.EOF):
		return 0, fmt.Errorf("%w: the content is a single JSON object, not an array of objects", ErrNotTabular)
	case err == nil && next == json.Delim('{'):
		return formatNDJSON, nil
	}
	return 0, fmt.Errorf("%w: the content starts like JSON but is neither an array of objects nor NDJSON", ErrNotTabular)
}

// skipValue consumes tokens until depth open delimiters are closed.
func skipValue(dec *json.Decoder, depth int) error {
	for depth > 0 {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
	}
	return nil
}

func jsonKind(tok json.Token) string {
	switch tok.(type) {
	case json.Delim:
		return "arrays"
	case string:
		return "strings"
	case float64:
		return "numbers"
	case bool:
		return "booleans"
	}
	return "nulls"
}

// withoutBOM returns path, or a copy of it in dir without its UTF-8 byte
// order mark: DuckDB's NDJSON reader refuses one.
func withoutBOM(ctx context.Context, path, dir string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	b := make([]byte, len(bom))
	if n, _ := io.ReadFull(f, b); n < len(bom) || !bytes.Equal(b, bom) {
		return path, nil
	}
	return writeTemp(ctx, dir, "json-*", func(w io.Writer) error {
		_, err := io.Copy(w, f)
		return err
	})
}

// skipBOM advances f past a UTF-8 byte order mark, if any.
func skipBOM(f *os.File) error {
	b := make([]byte, len(bom))
	n, _ := io.ReadFull(f, b)
	if n == len(bom) && bytes.Equal(b, bom) {
		return nil
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// sheetIndex returns the index in names of the sheet named or numbered
// (from 1) by want, or a *ChoiceError listing names.
func sheetIndex(names []string, want string) (int, error) {
	name, err := pickName(names, "sheet", want)
	if err != nil {
		return 0, err
	}
	return slices.Index(names, name), nil
}

// pickName resolves a sheet parameter: an exact name first (a sheet may be
// called "2023"), then a 1-based index.
func pickName(names []string, param, value string) (string, error) {
	for _, n := range names {
		if n == value {
			return n, nil
		}
	}
	if i, err := strconv.Atoi(value); err == nil && 1 <= i && i <= len(names) {
		return names[i-1], nil
	}
	return "", &ChoiceError{Param: param, Value: value, Choices: truncate(names)}
}

func truncate(names []string) []string {
	if len(names) > maxChoices {
		return names[:maxChoices]
	}
	return names
}

// ValidChoice reports whether v is acceptable as a sheet or file parameter:
// valid UTF-8 without control characters, at most 1024 bytes. The server
// checks it before starting a load.
func ValidChoice(v string) bool {
	if len(v) > 1024 || !utf8.ValidString(v) {
		return false
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// jsonStart reports whether head begins with two valid JSON tokens, as
// JSON documents do and CSV text starting with "[" or "{" does not.
func jsonStart(head []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(head))
	for range 2 {
		if _, err := dec.Token(); err != nil {
			return false
		}
	}
	return true
}
