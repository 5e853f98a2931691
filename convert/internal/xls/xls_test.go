package xls

import (
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

var update = flag.Bool("update", false, "rewrite the xls fixture of testdata/corpus/formats")

// biff builds BIFF8 records for tests.
type biff struct{ bytes.Buffer }

func (b *biff) rec(typ uint16, parts ...any) {
	var body bytes.Buffer
	for _, p := range parts {
		binary.Write(&body, binary.LittleEndian, p)
	}
	binary.Write(&b.Buffer, binary.LittleEndian, typ)
	binary.Write(&b.Buffer, binary.LittleEndian, uint16(body.Len()))
	b.Write(body.Bytes())
}

// str8 is a compressed (one byte per character) XLUnicodeString.
func str8(s string) []byte { return append([]byte{byte(len(s)), 0, 0}, s...) }

// str16 is an uncompressed (UTF-16LE) XLUnicodeString.
func str16(s string) []byte {
	u := utf16.Encode([]rune(s))
	out := []byte{byte(len(u)), byte(len(u) >> 8), 1}
	for _, c := range u {
		out = append(out, byte(c), byte(c>>8))
	}
	return out
}

// xlsStream is a workbook of one sheet holding every kind of cell record,
// with a shared string split across a CONTINUE record that switches from
// compressed to UTF-16 characters, a date style (built-in 14), a custom
// dd/mm/yyyy hh:mm style, a percent style and text with leading zeros.
func xlsStream(t *testing.T) []byte {
	t.Helper()
	var g biff
	g.rec(recBOF, uint16(0x0600), uint16(0x0005), make([]byte, 12))
	g.rec(recFormat, uint16(164), str8("dd/mm/yyyy hh:mm"))
	for _, f := range []uint16{0, 14, 164, 10} { // XF 0..3
		g.rec(recXF, uint16(0), f, make([]byte, 16))
	}
	sheetAt := g.Len() // patched below
	g.rec(recBoundSheet, uint32(0), uint8(0), uint8(0), []byte{4, 0}, []byte("Data"))
	g.rec(recBoundSheet, uint32(0), uint8(0), uint8(2), []byte{5, 0}, []byte("Chart")) // not a worksheet
	// SST: "code", "01001", then "Ambérieu-é" split: "Ambérieu" compressed
	// (é = 0xE9), then a CONTINUE whose flags byte switches to UTF-16 for "-é".
	var sst bytes.Buffer
	binary.Write(&sst, binary.LittleEndian, []uint32{3, 3})
	sst.Write(str8("code"))
	sst.Write(str8("01001"))
	sst.Write([]byte{10, 0, 0})
	sst.Write([]byte("Amb\xe9rieu"))
	g.rec(recSST, sst.Bytes())
	g.rec(recContinue, []byte{1, '-', 0, 0xe9, 0})
	g.rec(recEOF)
	binary.LittleEndian.PutUint32(g.Bytes()[sheetAt+4:], uint32(g.Len()))

	var s biff
	s.rec(recBOF, uint16(0x0600), uint16(0x0010), make([]byte, 12))
	s.rec(recLabelSST, uint16(0), uint16(0), uint16(0), uint32(0))                                             // A1 "code"
	s.rec(recLabel, uint16(0), uint16(1), uint16(0), str16("nom"))                                             // B1
	s.rec(recLabel, uint16(0), uint16(2), uint16(0), str8("valeur"))                                           // C1
	s.rec(recLabel, uint16(0), uint16(3), uint16(0), str8("date"))                                             // D1
	s.rec(recLabel, uint16(0), uint16(4), uint16(0), str8("horodatage"))                                       // E1
	s.rec(recLabel, uint16(0), uint16(5), uint16(0), str8("taux"))                                             // F1
	s.rec(recLabel, uint16(0), uint16(6), uint16(0), str8("ok"))                                               // G1
	s.rec(recLabelSST, uint16(1), uint16(0), uint16(0), uint32(1))                                             // A2 "01001"
	s.rec(recLabelSST, uint16(1), uint16(1), uint16(0), uint32(2))                                             // B2
	s.rec(recNumber, uint16(1), uint16(2), uint16(0), math.Float64bits(0.1+0.2))                               // C2
	s.rec(recRK, uint16(1), uint16(3), uint16(1), uint32(44958<<2|2))                                          // D2 2023-02-01
	s.rec(recNumber, uint16(1), uint16(4), uint16(2), math.Float64bits(44958.5))                               // E2 2023-02-01 12:00
	s.rec(recRK, uint16(1), uint16(5), uint16(3), uint32(125<<2|3))                                            // F2 1.25 (x100)
	s.rec(recBoolErr, uint16(1), uint16(6), uint16(0), uint8(1), uint8(0))                                     // G2 true
	s.rec(recMulRK, uint16(2), uint16(2), uint16(0), uint32(7<<2|2), uint16(1), uint32(45000<<2|2), uint16(3)) // C3, D3
	s.rec(recFormula, uint16(2), uint16(1), uint16(0), []byte{0, 0, 0, 0, 0, 0, 0xFF, 0xFF}, make([]byte, 6))
	s.rec(recString, str8("formule"))                                         // B3
	s.rec(recBoolErr, uint16(2), uint16(6), uint16(0), uint8(0x07), uint8(1)) // G3 #DIV/0!
	s.rec(recEOF)
	return append(g.Bytes(), s.Bytes()...)
}

// grid lays cells out as rows of text, padded to the widest row, as
// convert writes them to CSV.
func grid(cells []Cell) [][]string {
	width, rows := 0, 0
	for _, c := range cells {
		width, rows = max(width, c.Col+1), max(rows, c.Row+1)
	}
	g := make([][]string, rows)
	for i := range g {
		g[i] = make([]string, width)
	}
	for _, c := range cells {
		g[c.Row][c.Col] = c.Value
	}
	return g
}

func TestRecords(t *testing.T) {
	stream := xlsStream(t)
	wb, err := Parse(stream)
	if err != nil {
		t.Fatal(err)
	}
	if want := []Sheet{{Name: "Data", offset: wb.sheets[0].offset}}; !reflect.DeepEqual(wb.Sheets(), want) {
		t.Fatalf("sheets = %+v, want only Data (charts are skipped)", wb.Sheets())
	}
	if want := []string{"code", "01001", "Ambérieu-é"}; !reflect.DeepEqual(wb.sst, want) {
		t.Errorf("sst = %q, want %q", wb.sst, want)
	}
	cells, err := wb.Cells(0)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"code", "nom", "valeur", "date", "horodatage", "taux", "ok"},
		{"01001", "Ambérieu-é", "0.3", "2023-02-01", "2023-02-01 12:00:00", "1.25", "true"},
		{"", "formule", "7", "2023-03-15", "", "", "#DIV/0!"},
	}
	if got := grid(cells); !reflect.DeepEqual(got, want) {
		t.Errorf("cells =\n%q\nwant\n%q", got, want)
	}
}

// TestOpen reads the same workbook through its OLE2 container, and checks
// the errors of files that are not workbooks or are too large.
func TestOpen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "types.xls")
	if err := os.WriteFile(path, cfbFile(xlsStream(t)), 0o644); err != nil {
		t.Fatal(err)
	}
	wb, err := Open(path, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if cells, err := wb.Cells(0); err != nil || len(cells) != 18 {
		t.Errorf("Cells(0) = %d cells, %v; want 18", len(cells), err)
	}
	if _, err := Open(path, 100); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Open with a 100-byte limit: %v, want ErrTooLarge", err)
	}
	garbage := filepath.Join(dir, "garbage.xls")
	os.WriteFile(garbage, []byte("not an OLE2 file at all"), 0o644)
	var fe FormatError
	if _, err := Open(garbage, 1<<20); !errors.As(err, &fe) {
		t.Errorf("Open(garbage) = %v, want a FormatError", err)
	}
	if _, err := wb.Cells(1); err == nil {
		t.Error("Cells(1) of a one-sheet workbook: no error")
	}
}

// TestParseErrors checks the error type of each kind of refusal.
func TestParseErrors(t *testing.T) {
	var old, protected, empty biff
	old.rec(recBOF, uint16(0x0500), uint16(0x0005), make([]byte, 12))
	protected.rec(recBOF, uint16(0x0600), uint16(0x0005), make([]byte, 12))
	protected.rec(recFilePass, make([]byte, 6))
	empty.rec(recBOF, uint16(0x0600), uint16(0x0005), make([]byte, 12))
	empty.rec(recEOF)
	var unsupported UnsupportedError
	var notWorkbook NotWorkbookError
	var format FormatError
	for name, tt := range map[string]struct {
		stream []byte
		target any
	}{
		"BIFF5":     {old.Bytes(), &unsupported},
		"password":  {protected.Bytes(), &unsupported},
		"no sheet":  {empty.Bytes(), &notWorkbook},
		"truncated": {xlsStream(t)[:40], &format},
		"empty":     {nil, &format},
	} {
		if _, err := Parse(tt.stream); err == nil || !errors.As(err, tt.target) {
			t.Errorf("%s: Parse = %v, want a %T", name, err, tt.target)
		}
	}
}

func TestTruncated(t *testing.T) {
	stream := xlsStream(t)
	for n := 0; n < len(stream); n += 7 {
		wb, err := Parse(stream[:n])
		if err != nil {
			continue
		}
		wb.Cells(0) // must not panic
	}
}

// TestGenerateFixture writes testdata/corpus/formats/xls_types.xls, which
// convert's format tests load (go test ./convert/internal/xls -run
// TestGenerateFixture -update). It is committed: regenerate it only when
// xlsStream changes, then review convert's golden file.
func TestGenerateFixture(t *testing.T) {
	if !*update {
		t.Skip("the fixture is regenerated only with -update")
	}
	path := filepath.Join("..", "..", "..", "testdata", "corpus", "formats", "xls_types.xls")
	if err := os.WriteFile(path, cfbFile(xlsStream(t)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// magicOLE2 starts every OLE2 compound file.
var magicOLE2 = []byte{0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1}

// cfbFile wraps a Workbook stream in a minimal OLE2 compound file (version
// 3, 512-byte sectors: header, one FAT sector, one directory sector, then
// the stream), so that a legacy xls fixture can be generated without a
// Windows tool. The stream is padded to 4096 bytes, the size under which a
// stream would go to the mini stream.
func cfbFile(stream []byte) []byte {
	const sector = 512
	const endOfChain, freeSect, fatSect, noStream = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD, 0xFFFFFFFF
	if len(stream) < 4096 {
		stream = append(stream, make([]byte, 4096-len(stream))...)
	}
	nStream := (len(stream) + sector - 1) / sector
	le := binary.LittleEndian

	header := make([]byte, sector)
	copy(header, magicOLE2)
	le.PutUint16(header[24:], 0x003E) // minor version
	le.PutUint16(header[26:], 3)      // major version
	le.PutUint16(header[28:], 0xFFFE) // byte order
	le.PutUint16(header[30:], 9)      // sector shift: 512
	le.PutUint16(header[32:], 6)      // mini sector shift: 64
	le.PutUint32(header[44:], 1)      // FAT sectors
	le.PutUint32(header[48:], 1)      // first directory sector
	le.PutUint32(header[56:], 4096)   // mini stream cutoff
	le.PutUint32(header[60:], endOfChain)
	le.PutUint32(header[68:], endOfChain)
	le.PutUint32(header[76:], 0) // DIFAT[0]: the FAT is sector 0
	for i := 80; i < sector; i += 4 {
		le.PutUint32(header[i:], freeSect)
	}

	fat := make([]byte, sector)
	for i := 0; i < sector/4; i++ {
		le.PutUint32(fat[4*i:], freeSect)
	}
	le.PutUint32(fat[0:], fatSect)
	le.PutUint32(fat[4:], endOfChain) // directory
	for i := 0; i < nStream; i++ {
		next := uint32(2 + i + 1)
		if i == nStream-1 {
			next = endOfChain
		}
		le.PutUint32(fat[4*(2+i):], next)
	}

	dir := make([]byte, sector)
	entry := func(i int, name string, typ byte, child, start uint32, size int) {
		e := dir[128*i : 128*(i+1)]
		u := utf16.Encode([]rune(name))
		for j, c := range u {
			le.PutUint16(e[2*j:], c)
		}
		le.PutUint16(e[64:], uint16(2*len(u)+2))
		e[66], e[67] = typ, 1 // type, black
		le.PutUint32(e[68:], noStream)
		le.PutUint32(e[72:], noStream)
		le.PutUint32(e[76:], child)
		le.PutUint32(e[116:], start)
		le.PutUint32(e[120:], uint32(size))
	}
	entry(0, "Root Entry", 5, 1, endOfChain, 0)
	entry(1, "Workbook", 2, noStream, 2, len(stream))
	for i := 2; i < 4; i++ {
		e := dir[128*i : 128*(i+1)]
		le.PutUint32(e[68:], noStream)
		le.PutUint32(e[72:], noStream)
		le.PutUint32(e[76:], noStream)
	}

	out := append(append(header, fat...), dir...)
	out = append(out, stream...)
	return append(out, make([]byte, nStream*sector-len(stream))...)
}

// FuzzRecords feeds arbitrary Workbook streams to the BIFF8 decoder,
// bypassing the OLE2 container so that mutations reach the records. It
// must never panic or loop; a refusal is one of the package's error types;
// a workbook has a sheet; and its cells are sorted, non-empty, valid UTF-8
// and the same when read twice.
func FuzzRecords(f *testing.F) {
	f.Add(xlsStream(&testing.T{}))
	f.Fuzz(func(t *testing.T, stream []byte) {
		wb, err := Parse(stream)
		if err != nil {
			checkErrorType(t, err)
			return
		}
		if len(wb.Sheets()) == 0 {
			t.Fatal("Parse succeeded with no sheet")
		}
		for i := range wb.Sheets() {
			cells, err := wb.Cells(i)
			if err != nil {
				checkErrorType(t, err)
				continue
			}
			for j, c := range cells {
				if c.Value == "" || !utf8.ValidString(c.Value) {
					t.Errorf("sheet %d: cell %d,%d = %q: empty or not UTF-8", i, c.Row, c.Col, c.Value)
				}
				if c.Row < 0 || c.Col < 0 {
					t.Errorf("sheet %d: cell at %d,%d", i, c.Row, c.Col)
				}
				if j > 0 && (c.Row < cells[j-1].Row || c.Row == cells[j-1].Row && c.Col < cells[j-1].Col) {
					t.Errorf("sheet %d: cell %d,%d after %d,%d: not sorted", i, c.Row, c.Col, cells[j-1].Row, cells[j-1].Col)
				}
			}
			if again, _ := wb.Cells(i); !reflect.DeepEqual(again, cells) {
				t.Errorf("sheet %d: a second read differs", i)
			}
		}
	})
}

func checkErrorType(t *testing.T, err error) {
	t.Helper()
	var fe FormatError
	var ue UnsupportedError
	var ne NotWorkbookError
	if !errors.As(err, &fe) && !errors.As(err, &ue) && !errors.As(err, &ne) {
		t.Errorf("error %v (%T) is none of the package's error types", err, err)
	}
}
