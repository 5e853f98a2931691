package convert

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/unicode"
)

func writeFile(t testing.TB, dir, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, content, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

func utf16LE(t *testing.T, s string) []byte {
	t.Helper()
	b, err := unicode.UTF16(unicode.LittleEndian, unicode.UseBOM).NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func cp1252(t *testing.T, s string) []byte {
	t.Helper()
	b, err := charmap.Windows1252.NewEncoder().Bytes([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestNormalize(t *testing.T) {
	// An accented byte far down an otherwise ASCII file decides the encoding.
	var late strings.Builder
	late.WriteString("id;ville\n")
	for i := 0; i < 50_000; i++ {
		late.WriteString("1;Paris\n")
	}
	late.WriteString("2;Orléans\n")
	// A 2-byte rune straddling the 1 MiB read boundary must not look invalid.
	straddle := append(bytes.Repeat([]byte("a"), 1<<20-1), "é,x\n"...)
	straddle = append([]byte("h,x\n"), straddle[4:]...)

	tests := []struct {
		name, force string
		in          []byte
		encoding    string
		compression string
		want        string // UTF-8 content DuckDB gets; "" to skip
		sameFile    bool   // no copy was needed
	}{
		{name: "utf-8", in: []byte("a,b\n1,é\n"), encoding: "utf-8", want: "a,b\n1,é\n", sameFile: true},
		{name: "utf-8 with BOM", in: []byte("\xEF\xBB\xBFa,b\n1,é\n"), encoding: "utf-8-sig", sameFile: true},
		{name: "utf-16le", in: utf16LE(t, "a;b\n1;œ€\n"), encoding: "utf-16le", want: "a;b\n1;œ€\n"},
		{name: "windows-1252", in: cp1252(t, "a;b\nœufs;2 €\n"), encoding: "windows-1252", want: "a;b\nœufs;2 €\n"},
		{name: "latin-1 read as windows-1252", in: []byte("a;b\nch\xe2teau;\xe0\n"), encoding: "windows-1252", want: "a;b\nchâteau;à\n"},
		{name: "late accent", in: cp1252(t, late.String()), encoding: "windows-1252", want: late.String()},
		{name: "rune across chunks", in: straddle, encoding: "utf-8", sameFile: true},
		{name: "gzip", in: gzipBytes(t, cp1252(t, "a;b\n1;é\n")), encoding: "windows-1252", compression: "gzip", want: "a;b\n1;é\n"},
		{name: "forced latin1", force: "latin1", in: []byte("a,b\n1,caf\xe9\n"), encoding: "windows-1252", want: "a,b\n1,café\n"},
		{name: "forced iso-8859-15", force: "ISO-8859-15", in: []byte("a,b\n1,\xa4\n"), encoding: "iso-8859-15", want: "a,b\n1,€\n"},
		{name: "forced utf-8", force: "utf8", in: []byte("a,b\n1,é\n"), encoding: "utf-8", sameFile: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeFile(t, dir, "src", tt.in)
			n, err := Normalize(context.Background(), src, dir, tt.force, 1<<30)
			if err != nil {
				t.Fatalf("Normalize: %v", err)
			}
			if n.Encoding != tt.encoding || n.Compression != tt.compression {
				t.Errorf("encoding, compression = %q, %q; want %q, %q", n.Encoding, n.Compression, tt.encoding, tt.compression)
			}
			if (n.Path == src) != tt.sameFile {
				t.Errorf("path %s, source %s: same file = %v, want %v", n.Path, src, n.Path == src, tt.sameFile)
			}
			got, err := os.ReadFile(n.Path)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && string(got) != tt.want {
				t.Errorf("content = %.80q…, want %.80q…", got, tt.want)
			}
			if n.Size != int64(len(got)) {
				t.Errorf("Size = %d, want %d", n.Size, len(got))
			}
		})
	}
}

func TestNormalizeRefuses(t *testing.T) {
	tests := []struct {
		name, force string
		in          []byte
		max         int64
		want        error
	}{
		{name: "html", in: []byte("\n  <!DOCTYPE html><html><body>a,b</body></html>"), want: ErrNotTabular},
		{name: "html without doctype", in: []byte("<html lang=fr>\n<p>x</p>"), want: ErrNotTabular},
		{name: "xml", in: []byte("<?xml version=\"1.0\"?><a/>"), want: ErrNotTabular},
		{name: "json object", in: []byte(`{"a": 1}`), want: ErrNotTabular},
		{name: "json array", in: []byte(`[{"a": 1}]`), want: ErrNotTabular},
		{name: "zip", in: []byte("PK\x03\x04\x14\x00rest"), want: ErrNotTabular},
		{name: "pdf", in: []byte("%PDF-1.7\n..."), want: ErrNotTabular},
		{name: "binary", in: []byte("a,b\x00\x01\x02"), want: ErrNotTabular},
		{name: "empty", in: []byte(""), want: ErrNotTabular},
		{name: "blank", in: []byte("\n\n  \n"), want: ErrNotTabular},
		{name: "corrupt gzip", in: []byte{0x1f, 0x8b, 0x08, 0x00, 1, 2, 3}, want: ErrNotTabular},
		{name: "gzip bomb", in: gzipBytes(t, bytes.Repeat([]byte("a,b\n"), 1<<20)), max: 1 << 20, want: ErrTooLarge},
		{name: "unknown encoding", force: "klingon", in: []byte("a,b\n"), want: ErrUnsupportedEncoding},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			src := writeFile(t, dir, "src", tt.in)
			max := tt.max
			if max == 0 {
				max = 1 << 30
			}
			_, err := Normalize(context.Background(), src, dir, tt.force, max)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Normalize: err = %v, want %v", err, tt.want)
			}
			files, _ := os.ReadDir(dir)
			if len(files) != 1 {
				t.Errorf("%d files left in the work directory, want only the source", len(files))
			}
		})
	}
}

// A CSV cell may contain HTML; only a document that starts as markup is refused.
func TestNormalizeAcceptsHTMLInCells(t *testing.T) {
	dir := t.TempDir()
	src := writeFile(t, dir, "src", []byte("id,description\n1,<body><p>hello</p></body>\n"))
	if _, err := Normalize(context.Background(), src, dir, "", 1<<30); err != nil {
		t.Errorf("Normalize: %v, want a table", err)
	}
}

// FuzzNormalize: whatever the bytes and whatever encoding is forced,
// Normalize either refuses them with one of its documented errors or
// produces UTF-8 text without NUL bytes, which is what DuckDB is given.
func FuzzNormalize(f *testing.F) {
	f.Add([]byte("a;b\n1;é\n"), "")
	f.Add([]byte("\xff\xfea\x00,\x00b\x00"), "")
	f.Add([]byte("\x1f\x8b\x08\x00"), "")
	f.Add([]byte("a,b\n\xe9\n"), "latin1")
	f.Add([]byte("\xef\xbb\xbfa,b\n\xe9\xff\n"), "")    // a BOM, then bytes that are not UTF-8
	f.Add([]byte("a,b\n\xe9\xff\n"), "utf-8")           // UTF-8 forced on bytes that are not
	f.Add([]byte("\xfe\xffa,b\n1,2\n"), "")             // a UTF-16 BOM on 8-bit text
	f.Add([]byte("a,b\n1,\x00\x002\n"), "windows-1252") // NUL bytes
	// Round 2: mixed line ends, stray CR, unterminated quotes, markup, UTF-16 without BOM, Big5.
	f.Add([]byte("a;b\r\n1;x\r\n2;y\n"), "")
	f.Add([]byte("a;b;c\n1;x\ry;2\n\n\r\n"), "")
	f.Add([]byte("a;b\n1;\"open\n2;y\n"), "")
	f.Add([]byte("<table border=1><tr><td>a</td></tr></table>"), "")
	f.Add([]byte("a\x00;\x00b\x00\n\x001\x00;\x002\x00\n\x00"), "")
	f.Add([]byte("\xab\xb0\xa5\xab;\xa4H\xa4f\n\xa5x\xa5_;1\n"), "")
	f.Fuzz(func(t *testing.T, in []byte, force string) {
		dir := t.TempDir()
		src := writeFile(t, dir, "src", in)
		n, err := Normalize(context.Background(), src, dir, force, 1<<20)
		if err != nil {
			if !errors.Is(err, ErrUnsupportedEncoding) && !errors.Is(err, ErrTooLarge) && !errors.Is(err, ErrNotTabular) {
				t.Fatalf("Normalize(context.Background(), %q, %q): undocumented error %v", in, force, err)
			}
			return
		}
		out, err := os.ReadFile(n.Path)
		if err != nil {
			t.Fatal(err)
		}
		if !utf8.Valid(out) {
			t.Errorf("Normalize(context.Background(), %q, %q): encoding %s, output %q is not valid UTF-8", in, force, n.Encoding, out)
		}
		if bytes.IndexByte(out, 0) >= 0 {
			t.Errorf("Normalize(context.Background(), %q, %q): output %q holds NUL bytes", in, force, out)
		}
		if n.Size != int64(len(out)) {
			t.Errorf("Normalize(context.Background(), %q, %q): Size %d, output %d bytes", in, force, n.Size, len(out))
		}
	})
}
