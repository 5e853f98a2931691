package convert

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
)

// Legacy Excel workbooks (.xls, BIFF8, Excel 97–2003) are read here: the
// OLE2 container with github.com/richardlehane/mscfb, the BIFF8 records of
// its Workbook stream by this file, which decodes only what a table needs
// (sheet list, shared strings, number formats, cell values). No maintained
// Go library reads xls with cell types and a permissive licence; see
// README's Dependencies.

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

// xlsToCSV writes one sheet of the legacy Excel workbook at src as UTF-8
// CSV in dir and returns the CSV's path and the sheet's name. Values follow
// the xlsx rules: plain numbers, ISO dates, text as is.
func xlsToCSV(src, dir, sheet string, maxSize int64) (out, name string, err error) {
	defer recoverAs(&err, "xls")
	stream, err := workbookStream(src, maxSize)
	if err != nil {
		return "", "", err
	}
	wb, err := parseGlobals(stream)
	if err != nil {
		return "", "", err
	}
	s, err := wb.pick(sheet)
	if err != nil {
		return "", "", err
	}
	cells, err := wb.cells(stream, s.offset)
	if err != nil {
		return "", "", fmt.Errorf("%w: the xls workbook could not be read (%v)", ErrUnreadable, err)
	}
	out, err = writeTemp(dir, "sheet-*.csv", func(w io.Writer) error {
		return writeCells(w, cells, maxSize)
	})
	return out, s.name, err
}

// workbookStream returns the BIFF8 Workbook stream of the OLE2 file at src,
// read whole (legacy workbooks are small: 65,536 rows at most), capped at
// maxSize bytes whatever the container's directory claims.
func workbookStream(src string, maxSize int64) ([]byte, error) {
	f, err := os.Open(src)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := mscfb.New(f)
	if err != nil {
		return nil, fmt.Errorf("%w: corrupt OLE2 compound file (%v)", ErrUnreadable, err)
	}
	legacy := false
	for entry, err := doc.Next(); err == nil; entry, err = doc.Next() {
		switch entry.Name {
		case "Workbook":
			b, err := io.ReadAll(io.LimitReader(entry, maxSize+1))
			if err != nil {
				return nil, fmt.Errorf("%w: corrupt OLE2 compound file (%v)", ErrUnreadable, err)
			}
			if int64(len(b)) > maxSize {
				return nil, fmt.Errorf("%w: the workbook is more than %d bytes", ErrTooLarge, maxSize)
			}
			return b, nil
		case "Book":
			legacy = true
		case "WordDocument":
			return nil, fmt.Errorf("%w: the content is a Word document", ErrNotTabular)
		case "PowerPoint Document":
			return nil, fmt.Errorf("%w: the content is a PowerPoint document", ErrNotTabular)
		}
	}
	if legacy {
		return nil, fmt.Errorf("%w: Excel 5.0/95 workbooks are not supported (save it as xlsx)", ErrUnreadable)
	}
	return nil, fmt.Errorf("%w: the content is an OLE2 file but not an Excel workbook", ErrNotTabular)
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

type xlsSheet struct {
	name   string
	offset int  // of the sheet's BOF in the stream
	hidden bool // hidden or very hidden
}

// xlsWorkbook is what the globals substream says.
type xlsWorkbook struct {
	sheets   []xlsSheet
	sst      []string
	formats  map[int]string // custom number formats by id
	xfFormat []int          // number format id of each cell style (XF)
	date1904 bool
}

// parseGlobals reads the workbook globals: sheets, shared strings, number
// formats and the date system.
func parseGlobals(stream []byte) (*xlsWorkbook, error) {
	wb := &xlsWorkbook{formats: map[int]string{}}
	first, pos, err := nextRecord(stream, 0)
	if err != nil || first.typ != recBOF || len(first.data) < 4 {
		return nil, fmt.Errorf("%w: the xls workbook has no BIFF header", ErrUnreadable)
	}
	if v := binary.LittleEndian.Uint16(first.data); v != 0x0600 {
		return nil, fmt.Errorf("%w: Excel workbooks older than Excel 97 are not supported (save it as xlsx)", ErrUnreadable)
	}
	for {
		var r biffRecord
		r, pos, err = nextRecord(stream, pos)
		if err != nil {
			return nil, fmt.Errorf("%w: the xls workbook is truncated", ErrUnreadable)
		}
		switch r.typ {
		case recEOF:
			if len(wb.sheets) == 0 {
				return nil, fmt.Errorf("%w: the workbook has no sheet", ErrNotTabular)
			}
			return wb, nil
		case recFilePass:
			return nil, fmt.Errorf("%w: the xls workbook is password-protected", ErrUnreadable)
		case recDateMode:
			wb.date1904 = len(r.data) >= 2 && binary.LittleEndian.Uint16(r.data) == 1
		case recBoundSheet:
			if len(r.data) >= 8 && r.data[5] == 0 { // worksheets only, not charts or macros
				name, _, err := readString(&contReader{data: r.data[6:]}, 1)
				if err != nil {
					return nil, fmt.Errorf("%w: corrupt sheet name", ErrUnreadable)
				}
				wb.sheets = append(wb.sheets, xlsSheet{name: name,
					offset: int(binary.LittleEndian.Uint32(r.data)), hidden: r.data[4]&3 != 0})
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
				return nil, fmt.Errorf("%w: corrupt shared strings (%v)", ErrUnreadable, err)
			}
		}
	}
}

// pick returns the sheet named or numbered by want, or the first visible one.
func (wb *xlsWorkbook) pick(want string) (xlsSheet, error) {
	names := make([]string, len(wb.sheets))
	for i, s := range wb.sheets {
		names[i] = s.name
	}
	if want != "" {
		name, err := pickName(names, "sheet", want)
		if err != nil {
			return xlsSheet{}, err
		}
		return wb.sheets[slices.Index(names, name)], nil
	}
	for _, s := range wb.sheets {
		if !s.hidden {
			return s, nil
		}
	}
	return wb.sheets[0], nil
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

// xlsCell is one cell value, already rendered as CSV text.
type xlsCell struct {
	row, col int
	value    string
}

// cells reads the cells of the worksheet whose BOF is at offset.
func (wb *xlsWorkbook) cells(stream []byte, offset int) ([]xlsCell, error) {
	r, pos, err := nextRecord(stream, offset)
	if err != nil || r.typ != recBOF {
		return nil, errors.New("the sheet does not start where the workbook says")
	}
	var cells []xlsCell
	add := func(row, col int, v string) {
		if v != "" {
			cells = append(cells, xlsCell{row, col, v})
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
					cells = append(cells, xlsCell{row: u16(d), col: u16(d[2:])})
					pendingFormula = len(cells) - 1
				}
			}
		case recString:
			if pendingFormula >= 0 {
				var cr *contReader
				cr, pos = continued(stream, r, pos)
				if s, _, err := readString(cr, 2); err == nil {
					cells[pendingFormula].value = s
				}
				pendingFormula = -1
			}
		}
	}
	// Writers usually emit cells in row order, but nothing requires it.
	slices.SortStableFunc(cells, func(a, b xlsCell) int {
		if a.row != b.row {
			return a.row - b.row
		}
		return a.col - b.col
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
func (wb *xlsWorkbook) formulaValue(res []byte, xf int) (v string, isString bool) {
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
func (wb *xlsWorkbook) number(v float64, xf int) string {
	kind := numFmtGeneral
	if xf < len(wb.xfFormat) {
		id := wb.xfFormat[xf]
		code, ok := wb.formats[id]
		if !ok {
			code = builtInNumFmt(id)
		}
		kind = classifyNumFmt(id, code)
	}
	switch kind {
	case numFmtDate, numFmtDateTime, numFmtTime:
		if t, ok := excelTime(v, wb.date1904); ok {
			return map[numFmtKind]string{numFmtDate: t.Format(time.DateOnly),
				numFmtDateTime: t.Format(time.DateTime), numFmtTime: t.Format(time.TimeOnly)}[kind]
		}
	}
	return plainNumber(v)
}

// plainNumber renders v as Excel displays it in General format: rounded to
// 15 significant digits, without exponent or grouping.
func plainNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return ""
	}
	r, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 15, 64), 64)
	return strconv.FormatFloat(r, 'f', -1, 64)
}

// excelTime converts a serial date (days since 1899-12-30, or 1904-01-01 in
// the 1904 system) to a time, rounded to the second. Serials before 61 in
// the 1900 system are shifted by a day: Excel counts 1900-02-29, which did
// not exist.
func excelTime(serial float64, date1904 bool) (time.Time, bool) {
	if serial < 0 || serial > 2958466 { // after 9999-12-31
		return time.Time{}, false
	}
	base := time.Date(1899, 12, 30, 0, 0, 0, 0, time.UTC)
	if date1904 {
		base = time.Date(1904, 1, 1, 0, 0, 0, 0, time.UTC)
	} else if serial < 61 {
		base = base.AddDate(0, 0, 1)
	}
	secs := math.Round(serial * 86400)
	return base.Add(time.Duration(secs) * time.Second), true
}

// writeCells writes sorted cells as CSV rows, padded to the widest row.
func writeCells(w io.Writer, cells []xlsCell, maxSize int64) error {
	width := 0
	for _, c := range cells {
		width = max(width, c.col+1)
	}
	sw := newSheetWriter(w, width, maxSize)
	row := make([]string, width)
	for i := 0; i < len(cells); {
		clear(row)
		r := cells[i].row
		for ; i < len(cells) && cells[i].row == r; i++ {
			row[cells[i].col] = cells[i].value
		}
		if err := sw.write(row); err != nil {
			return err
		}
	}
	return sw.close()
}
