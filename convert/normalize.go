package convert

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
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
	Path     string // UTF-8 text DuckDB can read; may be the source itself
	Encoding string // encoding of the source text, e.g. "utf-8", "windows-1252"
	// EncodingConfidence is how sure the detection of Encoding is, 0–100
	// (0 when it was forced).
	EncodingConfidence int
	Compression        string // "gzip" or ""
	Size               int64  // bytes of UTF-8 text at Path
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
// clearly not a delimited text table (HTML, JSON, binary files), and ctx's
// error when ctx is done before it finishes.
func Normalize(ctx context.Context, src, dir, encodingName string, maxSize int64) (*Normalized, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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
		plain, err := gunzipFile(ctx, src, dir, maxSize)
		if err != nil {
			return nil, err
		}
		n.Path, n.Compression = plain, "gzip"
		if head, err = readHead(plain); err != nil {
			return nil, err
		}
	}

	det, err := detectEncoding(n.Path, head)
	if err != nil {
		return nil, err
	}
	enc, name := det.enc, det.name
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
	if encodingName == "" {
		n.EncodingConfidence = det.confidence
	}
	if enc != nil && det.ends == nil && asciiCompatible(name) {
		// The scan stopped at the first invalid UTF-8 byte: count the line
		// ends of the whole file for the cleaner.
		if det.ends, err = countLineEnds(n.Path); err != nil {
			return nil, err
		}
	}
	clean := cleaner{}
	if det.ends != nil {
		clean = det.ends.cleaner()
	}
	if enc != nil || det.nul || needsCleaning(head) || clean.unify {
		out, err := transcodeFile(ctx, n.Path, dir, enc, clean)
		if err != nil {
			return nil, err
		}
		n.Path = out
	}
	if det.ends != nil && det.ends.quotes%2 == 1 {
		out, err := writeTemp(ctx, dir, "resync-*.csv", func(w io.Writer) error { return resyncFile(n.Path, w) })
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
	// The detection scans read the whole file without writing: a load
	// that ended meanwhile gets its error here.
	if err := ctx.Err(); err != nil {
		return nil, err
	}
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

// detection is what detectEncoding learned of a file.
type detection struct {
	enc  encoding.Encoding // nil: UTF-8 already
	name string
	nul  bool       // a UTF-8 file holds NUL bytes
	ends *textStats // line ends of the whole file, when a full scan counted them
	// confidence (0–100) in name: 100 for a BOM or a whole file of valid
	// UTF-8, the detector's for other encodings (see charset.go).
	confidence int
}

// detectEncoding returns the decoder needed to turn the file into UTF-8 (nil
// when it already is), the name of its encoding, whether a UTF-8 file
// holds NUL bytes, and the line ends of a UTF-8 file. Only a full scan can
// tell UTF-8 from Windows-1252: one accented byte on the last line decides.
func detectEncoding(path string, head []byte) (detection, error) {
	switch {
	case bytes.HasPrefix(head, []byte{0xEF, 0xBB, 0xBF}):
		valid, nul, ends, err := isUTF8File(path)
		d := detection{name: EncodingUTF8BOM, nul: nul, ends: ends, confidence: 100}
		if err != nil || !valid {
			d.ends = nil // the line ends of a partial scan are not the file's
		}
		if err == nil && !valid {
			// A BOM does not make the rest UTF-8: decoding turns invalid
			// sequences into U+FFFD rather than let them reach DuckDB.
			d.enc = unicode.UTF8
		}
		return d, err
	case bytes.HasPrefix(head, []byte{0xFF, 0xFE}):
		return detection{enc: unicode.UTF16(unicode.LittleEndian, unicode.ExpectBOM), name: EncodingUTF16LE, confidence: 100}, nil
	case bytes.HasPrefix(head, []byte{0xFE, 0xFF}):
		return detection{enc: unicode.UTF16(unicode.BigEndian, unicode.ExpectBOM), name: EncodingUTF16BE, confidence: 100}, nil
	}
	if enc, name := detectUTF16(head); enc != nil {
		return detection{enc: enc, name: name, confidence: 90}, nil
	}
	valid, nul, ends, err := isUTF8File(path)
	if err != nil {
		return detection{}, err
	}
	if valid {
		return detection{name: EncodingUTF8, nul: nul, ends: ends, confidence: 100}, nil
	}
	big, _, err := readHeadN(path, headLen)
	if err != nil {
		return detection{}, err
	}
	enc, name, confidence := detectLegacy(big)
	return detection{enc: enc, name: name, confidence: confidence}, nil
}

// isUTF8File reports whether the whole file is valid UTF-8, whether it
// holds NUL bytes, and its line ends, reading it in large chunks and
// carrying an incomplete trailing rune to the next one.
func isUTF8File(path string) (valid, nul bool, ends *textStats, err error) {
	f, err := os.Open(path)
	if err != nil {
		return false, false, nil, err
	}
	defer f.Close()
	ends = &textStats{}
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
			return false, false, nil, nil
		}
		nul = nul || bytes.IndexByte(buf[:end], 0) >= 0
		ends.add(buf[:end])
		carry = copy(buf, buf[end:n])
		if errors.Is(err, io.EOF) {
			return carry == 0 || utf8.Valid(buf[:carry]), nul, ends, nil
		}
		if err != nil {
			return false, false, nil, err
		}
	}
}

// countLineEnds counts the line ends of a file in an ASCII-compatible
// encoding (CR and LF bytes are line ends in all of them).
func countLineEnds(path string) (*textStats, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ends := &textStats{}
	buf := make([]byte, 1<<20)
	for {
		n, err := f.Read(buf)
		ends.add(buf[:n])
		if errors.Is(err, io.EOF) {
			return ends, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// asciiCompatible reports whether the bytes CR and LF are line ends in
// text of the encoding (not in UTF-16).
func asciiCompatible(name string) bool { return !strings.HasPrefix(name, "utf-16") }

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
		return fmt.Errorf("%w: the content is an HTML or XML page (it starts with %s), not a table", ErrNotTabular, firstTag(h))
	case markupKind(lower) != "":
		return fmt.Errorf("%w: the content is %s (it starts with %s), not a table", ErrNotTabular, markupKind(lower), firstTag(h))
	case (h[0] == '{' || h[0] == '[') && jsonStart(h): // not "[Code],[Nom]" headers
		return fmt.Errorf("%w: the content looks like JSON", ErrNotTabular)
	case bytes.HasPrefix(h, []byte("PK\x03\x04")):
		return fmt.Errorf("%w: the content is a zip archive or an Office document", ErrNotTabular)
	case nonTableKind(h) != "": // PDF, images, other archives: see prepare.go
		return fmt.Errorf("%w: the content is %s, not a table", ErrNotTabular, nonTableKind(h))
	case looksBinary(h):
		return fmt.Errorf("%w: the content is binary", ErrNotTabular)
	}
	return nil
}

// htmlTags are the elements that start an HTML fragment served instead of
// a file (an error message, a table copied from a page).
var htmlTags = []string{"table", "div", "tr", "td", "th", "thead", "tbody", "p", "span", "a", "ul", "li", "form", "script", "style", "meta", "link", "title", "h1", "h2", "h3", "pre", "br", "img", "iframe"}

// markupKind names the markup the lowercase head starts with: an HTML
// fragment, an HTML comment, an RSS or Atom feed, or XML (a tag closed
// further on); "" for anything else. A header such as "<id>;<nom>" is not
// markup: it has no closing tag.
func markupKind(lower []byte) string {
	if len(lower) < 2 || lower[0] != '<' {
		return ""
	}
	if bytes.HasPrefix(lower, []byte("<!--")) {
		return "an HTML or XML comment"
	}
	name := lower[1:]
	end := bytes.IndexFunc(name, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == ':' || r == '-' || r == '_')
	})
	if end <= 0 || (name[end] != '>' && name[end] != ' ' && name[end] != '/' && name[end] != '\n' && name[end] != '\r' && name[end] != '\t') {
		return ""
	}
	tag := string(name[:end])
	closed := bytes.Contains(lower, []byte("</")) || bytes.Contains(lower, []byte("/>"))
	switch {
	case tag == "rss" || tag == "feed" || tag == "rdf:rdf":
		return "an RSS or Atom feed"
	case !closed:
		return ""
	case slices.Contains(htmlTags, tag):
		return "an HTML fragment"
	}
	return "XML"
}

// firstTag returns the first line of h, cut to 60 bytes and quoted, to say
// what was received.
func firstTag(h []byte) string {
	line, _, _ := bytes.Cut(h, []byte("\n"))
	line = bytes.TrimRight(line, "\r")
	if len(line) > 60 {
		line = append(line[:completeRunes(line[:60]):completeRunes(line[:60])], "…"...)
	}
	return strconv.Quote(string(line))
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

func gunzipFile(ctx context.Context, src, dir string, maxSize int64) (string, error) {
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
	return writeTemp(ctx, dir, "plain-*.csv", func(w io.Writer) error {
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
// file, cleaned by clean (NUL bytes, CR CR LF, mixed line ends).
func transcodeFile(ctx context.Context, src, dir string, enc encoding.Encoding, clean cleaner) (string, error) {
	in, err := os.Open(src)
	if err != nil {
		return "", err
	}
	defer in.Close()
	var t transform.Transformer = clean
	if d, ok := newSingleByteDecoder(enc); ok {
		t = transform.Chain(d, clean)
	} else if enc != nil {
		t = transform.Chain(enc.NewDecoder(), clean)
	}
	return writeTemp(ctx, dir, "utf8-*.csv", func(w io.Writer) error {
		r := transform.NewReader(bufio.NewReaderSize(in, 1<<20), t)
		_, err := io.Copy(w, r)
		return err
	})
}

// writeTemp creates a file in dir, fills it with write and closes it,
// removing it on any error. Writes fail once ctx is done, and then ctx's
// error is returned.
func writeTemp(ctx context.Context, dir, pattern string, write func(io.Writer) error) (string, error) {
	f, err := os.CreateTemp(dir, pattern)
	if err != nil {
		return "", err
	}
	bw := bufio.NewWriterSize(ctxWriter{ctx, f}, 1<<20)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(f.Name())
		if ctx.Err() != nil {
			return "", ctx.Err() // not a reader's wrapping of it
		}
		return "", err
	}
	return f.Name(), nil
}

// ctxWriter fails once ctx is done, so that a long copy, decompression or
// transcoding into a temporary file stops with the load that asked for it.
type ctxWriter struct {
	ctx context.Context
	w   io.Writer
}

func (c ctxWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.w.Write(p)
}
