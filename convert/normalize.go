package convert

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"

	"github.com/klauspost/compress/gzip"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/htmlindex"
	"golang.org/x/text/encoding/unicode"
	"golang.org/x/text/transform"
)

// Encoding names reported in general_infos and accepted by ?encoding=.
const (
	EncodingUTF8    = "utf-8"
	EncodingUTF8BOM = "utf-8-sig"
	EncodingUTF16LE = "utf-16le"
	EncodingUTF16BE = "utf-16be"
	EncodingCP1252  = "windows-1252"
)

// sniffLen is how much of the start of a file is inspected for magic bytes
// and markup.
const sniffLen = 8 << 10

// Normalized describes the UTF-8 file Normalize produced.
type Normalized struct {
	Path        string // UTF-8 text DuckDB can read; may be the source itself
	Encoding    string // encoding of the source text, e.g. "utf-8", "windows-1252"
	Compression string // "gzip" or ""
	Size        int64  // bytes of UTF-8 text at Path
}

// Normalize turns the downloaded file at src into UTF-8 text that DuckDB can
// read, writing intermediate files into dir (removed by the caller with the
// rest of the load's temporary files). Gzip input is detected by its magic
// bytes and decompressed, capped at maxSize decompressed bytes. The encoding
// is encodingName when not empty, else detected: a UTF-8 or UTF-16 BOM, or
// UTF-8 when every byte of the file is valid UTF-8, or Windows-1252 (a
// superset of Latin-1 for text) otherwise.
//
// It returns ErrUnsupportedEncoding for an unknown encodingName, ErrTooLarge
// when decompression exceeds maxSize and ErrNotTabular for content that is
// clearly not a delimited text table (HTML, JSON, binary files).
func Normalize(src, dir, encodingName string, maxSize int64) (*Normalized, error) {
	var forced encoding.Encoding
	if encodingName != "" {
		enc, name, err := LookupEncoding(encodingName)
		if err != nil {
			return nil, err
		}
		forced, encodingName = enc, name
	}

	n := &Normalized{Path: src}
	head, err := readHead(src)
	if err != nil {
		return nil, err
	}
	if bytes.HasPrefix(head, []byte{0x1f, 0x8b}) {
		plain, err := gunzipFile(src, dir, maxSize)
		if err != nil {
			return nil, err
		}
		n.Path, n.Compression = plain, "gzip"
		if head, err = readHead(plain); err != nil {
			return nil, err
		}
	}

	enc, name, nul, err := detectEncoding(n.Path, head)
	if err != nil {
		return nil, err
	}
	if encodingName != "" {
		if forced == nil && enc != nil {
			// UTF-8 forced on bytes that are not: decode them as UTF-8 all
			// the same, so that invalid sequences become U+FFFD rather than
			// reach DuckDB.
			forced = unicode.UTF8
		}
		enc, name = forced, encodingName
	}
	if err := checkTabular(head, name); err != nil {
		return nil, err
	}
	n.Encoding = name
	if enc != nil || nul || needsCleaning(head) {
		out, err := transcodeFile(n.Path, dir, enc)
		if err != nil {
			return nil, err
		}
		n.Path = out
	}
	st, err := os.Stat(n.Path)
	if err != nil {
		return nil, err
	}
	n.Size = st.Size()
	return n, nil
}

// LookupEncoding resolves an encoding label (WHATWG names and aliases such as
// "latin1", "cp1252", "iso-8859-15", "utf-16le", "macintosh") to a decoder and
// its canonical name. A nil Encoding means the text is UTF-8 already, which
// DuckDB reads as is (it skips a UTF-8 BOM itself). It returns
// ErrUnsupportedEncoding for unknown labels.
func LookupEncoding(label string) (encoding.Encoding, string, error) {
	l := strings.ToLower(strings.TrimSpace(label))
	switch l {
	case "utf-8", "utf8":
		return nil, EncodingUTF8, nil
	case "utf-8-sig", "utf8-sig":
		return nil, EncodingUTF8BOM, nil
	case "utf-16", "utf16":
		return unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), "utf-16", nil
	case "cp1252":
		l = "windows-1252"
	case "latin-1", "latin_1", "iso8859-1", "iso_8859_1":
		l = "latin1"
	case "mac-roman", "macroman", "mac_roman":
		l = "macintosh"
	}
	enc, err := htmlindex.Get(l)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %q", ErrUnsupportedEncoding, label)
	}
	name, _ := htmlindex.Name(enc)
	if name == "utf-8" {
		return nil, EncodingUTF8, nil
	}
	return enc, name, nil
}

func readHead(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	buf := make([]byte, sniffLen)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, err
	}
	return buf[:n], nil
}

// detectEncoding returns the decoder needed to turn the file into UTF-8 (nil
// when it already is), the name of its encoding, and whether a UTF-8 file
// holds NUL bytes. Only a full scan can tell UTF-8 from Windows-1252: one
// accented byte on the last line decides.
func detectEncoding(path string, head []byte) (encoding.Encoding, string, bool, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		valid, nul, err := isUTF8File(path)
		if err != nil || valid {
			return nil, EncodingUTF8BOM, nul, err
		}
		// A BOM does not make the rest UTF-8: decoding turns invalid
		// sequences into U+FFFD.
		return unicode.UTF8, EncodingUTF8BOM, nul, nil
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), EncodingUTF16LE, false, nil
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), EncodingUTF16BE, false, nil
	}
	valid, nul, err := isUTF8File(path)
	if err != nil {
		return nil, "", false, err
	}
	if valid {
		return nil, EncodingUTF8, nul, nil
	}
	enc, name, _ := LookupEncoding(EncodingCP1252)
	return enc, name, false, nil
}

// isUTF8File reports whether the whole file is valid UTF-8, and whether it
// holds NUL bytes, reading it in large chunks and carrying an incomplete
// trailing rune to the next one.
func isUTF8File(path string) (valid, nul bool, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, false, err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	carry := 0
	for {
		n, err := f.Read(buf[carry:])
		n += carry
		end := n
		if err == nil {
			// Hold back up to 3 bytes that may start a rune split by the chunk boundary.
			end = completeRunes(buf[:n])
		}
		if !utf8.Valid(buf[:end]) {
			return false, false, nil
		}
		nul = nul || bytes.IndexByte(buf[:end], 0) >= 0
		carry = copy(buf, buf[end:n])
		if errors.Is(err, io.EOF) {
			return carry == 0 || utf8.Valid(buf[:carry]), nul, nil
		}
		if err != nil {
			return false, false, err
		}
	}
}

// completeRunes returns the length of b without a trailing incomplete UTF-8
// sequence.
func completeRunes(b []byte) int {
	for i := len(b) - 1; i >= 0 && i >= len(b)-utf8.UTFMax; i-- {
		if utf8.RuneStart(b[i]) {
			if utf8.FullRune(b[i:]) {
				return len(b)
			}
			return i
		}
	}
	return len(b)
}

// checkTabular refuses content that is obviously not a delimited text
// table, so that users get a clear 415 instead of a one-column table of
// HTML.
func checkTabular(head []byte, encodingName string) error {
	if strings.HasPrefix(encodingName, "utf-16") {
		return nil // NUL bytes are expected; the decoded text is checked by DuckDB
	}
	h := bytes.TrimLeft(bytes.TrimPrefix(head, []byte{0xEF, 0xBB, 0xBF}), " \t\r\n")
	lower := bytes.ToLower(h[:min(len(h), 512)])
	switch {
	case len(h) == 0:
		return fmt.Errorf("%w: the file is empty", ErrNotTabular)
	case bytes.HasPrefix(lower, []byte("<!doctype")), bytes.HasPrefix(lower, []byte("<html")),
		bytes.HasPrefix(lower, []byte("<?xml")), bytes.HasPrefix(lower, []byte("<head")), bytes.HasPrefix(lower, []byte("<body")):
		return fmt.Errorf("%w: the content is an HTML or XML page, not a table", ErrNotTabular)
	case (h[0] == '{' || h[0] == '[') && jsonStart(h): // not "[Code],[Nom]" headers
		return fmt.Errorf("%w: the content looks like JSON", ErrNotTabular)
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		return fmt.Errorf("%w: the content is a zip archive or an Office document", ErrNotTabular)
	case nonTableKind(h) != "": // PDF, images, other archives: see formats.go
		return fmt.Errorf("%w: the content is %s, not a table", ErrNotTabular, nonTableKind(h))
	case looksBinary(h):
		return fmt.Errorf("%w: the content is binary", ErrNotTabular)
	}
	return nil
}

// looksBinary reports whether the head of a file is binary: many NUL bytes
// (a few are padding, removed by the cleaner), or control characters that
// text tables do not hold in more than 1% of the bytes.
func looksBinary(h []byte) bool {
	nul, ctl := 0, 0
	for _, c := range h {
		switch {
		case c == 0:
			nul++
		case c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' && c != 0x1a:
			ctl++
		}
	}
	return nul > max(16, len(h)/10) || ctl*100 > len(h)
}

func gunzipFile(src, dir string, maxSize int64) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(in, 1<<20))
	if err != nil {
		return "", fmt.Errorf("%w: corrupt gzip stream: %v", ErrNotTabular, err)
	}
	defer zr.Close()
	return writeTemp(dir, "plain-*.csv", func(w io.Writer) error {
		n, err := io.Copy(w, io.LimitReader(zr, maxSize+1))
		if err != nil {
			return fmt.Errorf("%w: corrupt gzip stream: %v", ErrNotTabular, err)
		}
		if n > maxSize {
			return fmt.Errorf("%w: more than %d bytes once decompressed", ErrTooLarge, maxSize)
		}
		return nil
	})
}

// transcodeFile decodes src with enc (nil: UTF-8 already) into a UTF-8
// file, without NUL bytes and CR CR LF line ends (see cleaner).
func transcodeFile(src, dir string, enc encoding.Encoding) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	var t transform.Transformer = cleaner{}
	if enc != nil {
		t = transform.Chain(enc.NewDecoder(), cleaner{})
	}
	return writeTemp(dir, "utf8-*.csv", func(w io.Writer) error {
		r := transform.NewReader(bufio.NewReaderSize(in, 1<<20), t)
		_, err := io.Copy(w, r)
		return err
	})
}

// writeTemp creates a file in dir, fills it with write and closes it,
// removing it on any error.
func writeTemp(dir, pattern string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(f, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
