// Package xls reads legacy Excel workbooks (.xls, BIFF8, Excel 97–2003):
// the OLE2 container with github.com/richardlehane/mscfb, the BIFF8 records
// of its Workbook stream by this package, which decodes only what a table
// needs (sheet list, shared strings, number formats, cell values). No
// maintained Go library reads xls with cell types and a permissive
// licence; see README's Dependencies.
//
// The input is hostile: every length and offset in it is checked, the
// stream is capped, and a panic on malformed input is returned as a
// FormatError. The package needs no cgo, so its tests and fuzz targets
// build in seconds.
package xls

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"time"
	"unicode/utf16"

	"github.com/richardlehane/mscfb"

	"github.com/csvapi/csvapi/convert/internal/numfmt"
)

// FormatError reports a file that is not a readable workbook: a corrupt
// OLE2 container or BIFF8 records that contradict themselves.
type FormatError string

func (e FormatError) Error() string { return string(e) }

// UnsupportedError reports a workbook of a kind this package does not read:
// older than Excel 97 (BIFF5 and before), or password-protected.
type UnsupportedError string

func (e UnsupportedError) Error() string { return string(e) }

// NotWorkbookError reports an OLE2 file that holds no table: a Word or
// PowerPoint document, or a workbook without a worksheet.
type NotWorkbookError string

func (e NotWorkbookError) Error() string { return string(e) }

// ErrTooLarge is returned by Open when the Workbook stream is larger than
// the limit it was given.
var ErrTooLarge = errors.New("the workbook is larger than the limit")

// BIFF8 record types used.
const (
	recBOF        = 0x0809
	recEOF        = 0x000A
	recBoundSheet = 0x0085
	recSST        = 0x00FC
	recContinue   = 0x003C
	recFormat     = 0x041E
	recXF         = 0x00E0
	recDateMode   = 0x0022
	recFilePass   = 0x002F
	recNumber     = 0x0203
	recRK         = 0x027E
	recMulRK      = 0x00BD
	recLabelSST   = 0x00FD
	recLabel      = 0x0204
	recRString    = 0x00D6
	recBoolErr    = 0x0205
	recFormula    = 0x0006
	recString     = 0x0207
)

// errBIFF reports a record that ends before its fields do.
var errBIFF = errors.New("truncated BIFF record")

// Open reads the legacy Excel workbook at path: its Workbook stream, read
// whole (legacy workbooks are small: 65,536 rows at most) and capped at
// maxSize bytes whatever the container's directory claims, and its
// globals. It returns ErrTooLarge past maxSize, a *NotWorkbookError for an
// OLE2 file that is not a workbook or has no worksheet, an
// UnsupportedError for Excel 5.0/95 and protected workbooks, a FormatError
// for anything malformed, and the *os.PathError of a file it cannot open.
func Open(path string, maxSize int64) (wb *Workbook, err error) {
	defer recoverFormat(&err)
	stream, err := workbookStream(path, maxSize)
	if err != nil {
		return nil, err
	}
	return Parse(stream)
}

// Parse reads the globals of a BIFF8 Workbook stream (what Open reads from
// the OLE2 container): sheets, shared strings, number formats and the date
// system. Its errors are Open's, but ErrTooLarge.
func Parse(stream []byte) (wb *Workbook, err error) {
	defer recoverFormat(&err)
	return parseGlobals(stream)
}

// recoverFormat turns a panic on malformed input into a FormatError: a
// hostile file costs its load, never the process.
func recoverFormat(err *error) {
	if r := recover(); r != nil {
		*err = FormatError(fmt.Sprintf("the xls workbook is malformed (%v)", r))
	}
}

// workbookStream returns the BIFF8 Workbook stream of the OLE2 file at src,
// read whole (legacy workbooks are small: 65,536 rows at most), capped at
// maxSize bytes whatever the container's directory claims.
func workbookStream(path string, maxSize int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := mscfb.New(f)
	if err != nil {
		return nil, FormatError(fmt.Sprintf("corrupt OLE2 compound file (%v)", err))
	}
	legacy := false
	for entry, err := doc.Next(); err == nil; entry, err = doc.Next() {
		switch entry.Name {
		case "Workbook":
			b, err := io.ReadAll(io.LimitReader(entry, maxSize+1))
			if err != nil {
				return nil, FormatError(fmt.Sprintf("corrupt OLE2 compound file (%v)", err))
			}
			if int64(len(b)) > maxSize {
				return nil, ErrTooLarge
			}
			return b, nil
		case "Book":
			legacy = true
		case "WordDocument":
			return nil, NotWorkbookError("the content is a Word document")
		case "PowerPoint Document":
			return nil, NotWorkbookError("the content is a PowerPoint document")
		}
	}
	if legacy {
		return nil, UnsupportedError("Excel 5.0/95 workbooks are not supported (save it as xlsx)")
	}
	return nil, NotWorkbookError("the content is an OLE2 file but not an Excel workbook")
}

// biffRecord is one record of a BIFF stream.
type biffRecord struct {
	typ  uint16
	data []byte
	pos  int // offset of the record's header in the stream
}

// nextRecord reads the record at pos and returns it with the offset of the
// next one.
func nextRecord(stream []byte, pos int) (biffRecord, int, error) {
	if pos+4 > len(stream) {
		return biffRecord{}, 0, io.EOF
	}
	typ := binary.LittleEndian.Uint16(stream[pos:])
	n := int(binary.LittleEndian.Uint16(stream[pos+2:]))
	if pos+4+n > len(stream) {
		return biffRecord{}, 0, errBIFF
	}
	return biffRecord{typ: typ, data: stream[pos+4 : pos+4+n], pos: pos}, pos + 4 + n, nil
}

// Sheet is a worksheet of a workbook, in the workbook's order.
type Sheet struct {
	Name   string
	Hidden bool // hidden or very hidden
	offset int  // of the sheet's BOF in the stream
}

// Workbook is a parsed workbook: what the globals substream says, and the
// stream its sheets are read from.
type Workbook struct {
	stream   []byte
	sheets   []Sheet
	sst      []string
	formats  map[int]string // custom number formats by id
	xfFormat []int          // number format id of each cell style (XF)
	date1904 bool
}

// parseGlobals reads the workbook globals: sheets, shared strings, number
// formats and the date system.
func parseGlobals(stream []byte) (*Workbook, error) {
	wb := &Workbook{stream: stream, formats: map[int]string{}}
	first, pos, err := nextRecord(stream, 0)
	if err != nil || first.typ != recBOF || len(first.data) < 4 {
		return nil, FormatError("the xls workbook has no BIFF header")
	}
	if v := binary.LittleEndian.Uint16(first.data); v != 0x0600 {
		return nil, UnsupportedError("Excel workbooks older than Excel 97 are not supported (save it as xlsx)")
	}
	for {
		var r biffRecord
		r, pos, err = nextRecord(stream, pos)
		if err != nil {
			return nil, FormatError("the xls workbook is truncated")
		}
		switch r.typ {
		case recEOF:
			if len(wb.sheets) == 0 {
				return nil, NotWorkbookError("the workbook has no sheet")
			}
			return wb, nil
		case recFilePass:
			return nil, UnsupportedError("the xls workbook is password-protected")
		case recDateMode:
			wb.date1904 = len(r.data) >= 2 && binary.LittleEndian.Uint16(r.data) == 1
		case recBoundSheet:
			if len(r.data) >= 8 && r.data[5] == 0 { // worksheets only, not charts or macros
				name, _, err := readString(&contReader{data: r.data[6:]}, 1)
				if err != nil {
					return nil, FormatError("corrupt sheet name")
				}
				wb.sheets = append(wb.sheets, Sheet{Name: name,
					offset: int(binary.LittleEndian.Uint32(r.data)), Hidden: r.data[4]&3 != 0})
			}
		case recFormat:
			if len(r.data) >= 2 {
				if code, _, err := readString(&contReader{data: r.data[2:]}, 2); err == nil {
					wb.formats[int(binary.LittleEndian.Uint16(r.data))] = code
				}
			}
		case recXF:
			if len(r.data) >= 4 {
				wb.xfFormat = append(wb.xfFormat, int(binary.LittleEndian.Uint16(r.data[2:])))
			}
		case recSST:
			var cr *contReader
			cr, pos = continued(stream, r, pos)
			if wb.sst, err = readSST(cr); err != nil {
				return nil, FormatError(fmt.Sprintf("corrupt shared strings (%v)", err))
			}
		}
	}
}

// continued gathers a record and the CONTINUE records after it, remembering
// where each one starts: strings split across them restart with a flags byte.
func continued(stream []byte, r biffRecord, pos int) (*contReader, int) {
	cr := &contReader{data: slices.Clone(r.data)}
	for {
		next, after, err := nextRecord(stream, pos)
		if err != nil || next.typ != recContinue {
			return cr, pos
		}
		cr.bounds = append(cr.bounds, len(cr.data))
		cr.data = append(cr.data, next.data...)
		pos = after
	}
}

// contReader reads a record body made of a record and its CONTINUE records.
type contReader struct {
	data   []byte
	bounds []int // offsets in data where a CONTINUE record's body starts
	pos    int
}

func (c *contReader) bytes(n int) ([]byte, error) {
	if n < 0 || c.pos+n > len(c.data) {
		return nil, errBIFF
	}
	b := c.data[c.pos : c.pos+n]
	c.pos += n
	return b, nil
}

func (c *contReader) u8() (int, error) {
	b, err := c.bytes(1)
	if err != nil {
		return 0, err
	}
	return int(b[0]), nil
}

func (c *contReader) u16() (int, error) {
	b, err := c.bytes(2)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint16(b)), nil
}

func (c *contReader) u32() (int, error) {
	b, err := c.bytes(4)
	if err != nil {
		return 0, err
	}
	return int(binary.LittleEndian.Uint32(b)), nil
}

// nextBound returns the first CONTINUE boundary after the current position,
// or the end of the data.
func (c *contReader) nextBound() int {
	for _, b := range c.bounds {
		if b > c.pos {
			return b
		}
	}
	return len(c.data)
}

// readString reads a BIFF8 unicode string whose length field is lenSize
// bytes (1 or 2): flags, optional rich-text and phonetic sizes, the
// characters (one byte each when compressed, else UTF-16LE, switching at
// each CONTINUE boundary as its first byte says), then the skipped
// formatting runs and phonetic data. It returns the number of characters
// read too, for callers that check progress.
func readString(c *contReader, lenSize int) (string, int, error) {
	var cch int
	var err error
	if lenSize == 1 {
		cch, err = c.u8()
	} else {
		cch, err = c.u16()
	}
	if err != nil {
		return "", 0, err
	}
	flags, err := c.u8()
	if err != nil {
		return "", 0, err
	}
	runs, ext := 0, 0
	if flags&0x08 != 0 {
		if runs, err = c.u16(); err != nil {
			return "", 0, err
		}
	}
	if flags&0x04 != 0 {
		if ext, err = c.u32(); err != nil {
			return "", 0, err
		}
	}
	high := flags&0x01 != 0
	units := make([]uint16, 0, cch)
	for len(units) < cch {
		if c.pos >= len(c.data) {
			return "", 0, errBIFF
		}
		if slices.Contains(c.bounds, c.pos) { // characters go on in a CONTINUE record: new flags
			f, err := c.u8()
			if err != nil {
				return "", 0, err
			}
			high = f&0x01 != 0
		}
		end := c.nextBound()
		for len(units) < cch && c.pos < end {
			if high {
				if c.pos+2 > end {
					return "", 0, errBIFF
				}
				units = append(units, binary.LittleEndian.Uint16(c.data[c.pos:]))
				c.pos += 2
			} else {
				units = append(units, uint16(c.data[c.pos]))
				c.pos++
			}
		}
	}
	if _, err := c.bytes(4*runs + ext); err != nil {
		return "", 0, err
	}
	return string(utf16.Decode(units)), cch, nil
}

// readSST reads the shared string table.
func readSST(c *contReader) ([]string, error) {
	if _, err := c.u32(); err != nil { // total references, unused
		return nil, err
	}
	n, err := c.u32()
	if err != nil {
		return nil, err
	}
	// The count is untrusted: each string takes at least 3 bytes.
	out := make([]string, 0, min(n, len(c.data)/3))
	for range n {
		s, _, err := readString(c, 2)
		if err != nil {
			return out, err
		}
		out = append(out, s)
	}
	return out, nil
}

// Cell is one non-empty cell: its 0-based row and column, and its value as
// text: numbers plain with Excel's 15 significant digits, dates and times
// in ISO 8601 (2023-02-01, 2023-02-01 18:00:00, 18:00:00), booleans as
// true/false, errors as Excel shows them (#DIV/0!), text as is.
type Cell struct {
	Row, Col int
	Value    string
}

// Sheets returns the worksheets of wb (charts and macro sheets are left
// out), in the workbook's order; there is at least one.
func (wb *Workbook) Sheets() []Sheet { return slices.Clone(wb.sheets) }

// Cells returns the non-empty cells of the i-th worksheet (0-based, as in
// Sheets), sorted by row, then column. It returns a FormatError for a
// sheet whose records are malformed.
func (wb *Workbook) Cells(i int) (cells []Cell, err error) {
	defer recoverFormat(&err)
	if i < 0 || i >= len(wb.sheets) {
		return nil, fmt.Errorf("xls: sheet %d out of range [0, %d)", i, len(wb.sheets))
	}
	cells, err = wb.cells(wb.sheets[i].offset)
	if err != nil {
		return nil, FormatError(fmt.Sprintf("the xls workbook could not be read (%v)", err))
	}
	return cells, nil
}

// cells reads the cells of the worksheet whose BOF is at offset.
func (wb *Workbook) cells(offset int) ([]Cell, error) {
	stream := wb.stream
	r, pos, err := nextRecord(stream, offset)
	if err != nil || r.typ != recBOF {
		return nil, errors.New("the sheet does not start where the workbook says")
	}
	var cells []Cell
	add := func(row, col int, v string) {
		if v != "" {
			cells = append(cells, Cell{row, col, v})
		}
	}
	pendingFormula := -1 // index in cells awaiting its STRING record
	for {
		r, pos, err = nextRecord(stream, pos)
		if errors.Is(err, io.EOF) || err == nil && r.typ == recEOF {
			break
		}
		if err != nil {
			return nil, err
		}
		d := r.data
		if len(d) < 6 && r.typ != recString && r.typ != recContinue {
			continue
		}
		switch r.typ {
		case recNumber:
			if len(d) >= 14 {
				add(u16(d), u16(d[2:]), wb.number(math.Float64frombits(binary.LittleEndian.Uint64(d[6:])), u16(d[4:])))
			}
		case recRK:
			if len(d) >= 10 {
				add(u16(d), u16(d[2:]), wb.number(rkValue(binary.LittleEndian.Uint32(d[6:])), u16(d[4:])))
			}
		case recMulRK:
			row, col := u16(d), u16(d[2:])
			for p := 4; p+6 <= len(d)-2; p += 6 {
				add(row, col, wb.number(rkValue(binary.LittleEndian.Uint32(d[p+2:])), u16(d[p:])))
				col++
			}
		case recLabelSST:
			if len(d) >= 10 {
				if i := int(binary.LittleEndian.Uint32(d[6:])); i < len(wb.sst) {
					add(u16(d), u16(d[2:]), wb.sst[i])
				}
			}
		case recLabel, recRString:
			var cr *contReader
			cr, pos = continued(stream, r, pos)
			cr.pos = 6
			if s, _, err := readString(cr, 2); err == nil {
				add(u16(d), u16(d[2:]), s)
			}
		case recBoolErr:
			if len(d) >= 8 {
				add(u16(d), u16(d[2:]), boolErr(d[6], d[7]))
			}
		case recFormula:
			if len(d) >= 14 {
				v, isString := wb.formulaValue(d[6:14], u16(d[4:]))
				add(u16(d), u16(d[2:]), v)
				if isString {
					cells = append(cells, Cell{Row: u16(d), Col: u16(d[2:])})
					pendingFormula = len(cells) - 1
				}
			}
		case recString:
			if pendingFormula >= 0 {
				var cr *contReader
				cr, pos = continued(stream, r, pos)
				if s, _, err := readString(cr, 2); err == nil {
					cells[pendingFormula].Value = s
				}
				pendingFormula = -1
			}
		}
	}
	// A formula whose STRING record never came has no value.
	cells = slices.DeleteFunc(cells, func(c Cell) bool { return c.Value == "" })
	// Writers usually emit cells in row order, but nothing requires it.
	slices.SortStableFunc(cells, func(a, b Cell) int {
		if a.Row != b.Row {
			return a.Row - b.Row
		}
		return a.Col - b.Col
	})
	return cells, nil
}

func u16(b []byte) int { return int(binary.LittleEndian.Uint16(b)) }

// rkValue decodes an RK number: a 30-bit integer or the high 30 bits of a
// double, optionally multiplied by 100.
func rkValue(rk uint32) float64 {
	var v float64
	if rk&2 != 0 {
		v = float64(int32(rk) >> 2)
	} else {
		v = math.Float64frombits(uint64(rk&0xFFFFFFFC) << 32)
	}
	if rk&1 != 0 {
		v /= 100
	}
	return v
}

// formulaValue renders a formula's cached result. isString is true when the
// result is text, which follows in a STRING record.
func (wb *Workbook) formulaValue(res []byte, xf int) (v string, isString bool) {
	if res[6] != 0xFF || res[7] != 0xFF {
		return wb.number(math.Float64frombits(binary.LittleEndian.Uint64(res)), xf), false
	}
	switch res[0] {
	case 0:
		return "", true
	case 1:
		return boolErr(res[2], 0), false
	case 2:
		return boolErr(res[2], 1), false
	}
	return "", false
}

func boolErr(v, isError byte) string {
	if isError == 0 {
		return strconv.FormatBool(v != 0)
	}
	switch v {
	case 0x00:
		return "#NULL!"
	case 0x07:
		return "#DIV/0!"
	case 0x0F:
		return "#VALUE!"
	case 0x17:
		return "#REF!"
	case 0x1D:
		return "#NAME?"
	case 0x24:
		return "#NUM!"
	}
	return "#N/A"
}

// number renders a numeric cell through its style: dates as ISO 8601,
// numbers plain with Excel's 15 significant digits.
func (wb *Workbook) number(v float64, xf int) string {
	kind := numfmt.General
	if xf < len(wb.xfFormat) {
		id := wb.xfFormat[xf]
		code, ok := wb.formats[id]
		if !ok {
			code = numfmt.BuiltIn(id)
		}
		kind = numfmt.Classify(code)
	}
	switch kind {
	case numfmt.Date, numfmt.DateTime, numfmt.Time:
		if t, ok := numfmt.SerialTime(v, wb.date1904); ok {
			return map[numfmt.Kind]string{numfmt.Date: t.Format(time.DateOnly),
				numfmt.DateTime: t.Format(time.DateTime), numfmt.Time: t.Format(time.TimeOnly)}[kind]
		}
	}
	return numfmt.Plain(v)
}
