package convert

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zip"
)

// OpenDocument spreadsheets (.ods) are read here, from the content.xml
// part, streamed with encoding/xml: no maintained Go library reads them
// (see README's Dependencies), and the part of the format a table needs is
// small — tables, rows, cells, their typed values and repetitions.

// maxODSColumns is the widest sheet LibreOffice makes; repeated cells past
// it (a row's trailing "16384 empty cells") are ignored.
const maxODSColumns = 16384

// errStopScan ends an ODS scan early, once the wanted sheet is written.
var errStopScan = errors.New("stop")

// odsToCSV writes one sheet of the OpenDocument spreadsheet at src as UTF-8
// CSV in dir and returns the CSV's path and the sheet's name. Values follow
// the xlsx rules: plain numbers, ISO dates, text as is.
func odsToCSV(src, dir, sheet string, maxSize int64) (out, name string, err error) {
	defer recoverAs(&err, "ods")
	zr, err := zip.OpenReader(src)
	if err != nil {
		return "", "", fmt.Errorf("%w: corrupt OpenDocument archive", ErrUnreadable)
	}
	defer zr.Close()
	var content *zip.File
	for _, f := range zr.File {
		if f.Name == "content.xml" {
			content = f
		}
	}
	if content == nil {
		return "", "", fmt.Errorf("%w: the OpenDocument spreadsheet has no content.xml", ErrUnreadable)
	}

	// First pass: sheet names and the width of each sheet's non-blank rows.
	var names []string
	var widths []int
	err = scanODS(content, maxSize, func(idx int, sheetName string, row []string, _ int) error {
		if idx == len(names) {
			names, widths = append(names, sheetName), append(widths, 0)
		}
		if row != nil && !blank(row) {
			widths[idx] = max(widths[idx], len(row))
		}
		return nil
	})
	if err != nil {
		return "", "", odsError(err)
	}
	if len(names) == 0 {
		return "", "", fmt.Errorf("%w: the workbook has no sheet", ErrNotTabular)
	}
	idx := 0
	if sheet != "" {
		if name, err = pickName(names, "sheet", sheet); err != nil {
			return "", "", err
		}
		for i, n := range names {
			if n == name {
				idx = i
				break
			}
		}
	}
	name = names[idx]

	out, err = writeTemp(dir, "sheet-*.csv", func(w io.Writer) error {
		sw := newSheetWriter(w, widths[idx], maxSize)
		err := scanODS(content, maxSize, func(i int, _ string, row []string, repeat int) error {
			switch {
			case i > idx:
				return errStopScan
			case i < idx || row == nil || blank(row):
				return nil
			}
			for range repeat {
				if err := sw.write(row); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil && !errors.Is(err, errStopScan) {
			return err
		}
		return sw.close()
	})
	if err != nil {
		return "", "", odsError(err)
	}
	return out, name, nil
}

func odsError(err error) error {
	if isCategorised(err) {
		return err
	}
	return fmt.Errorf("%w: the ods workbook could not be read (%v)", ErrUnreadable, err)
}

// cappedReader fails with ErrTooLarge past max bytes: content.xml is
// decompressed, and its declared size is not trusted.
type cappedReader struct {
	r   io.Reader
	max int64
}

func (c *cappedReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.max -= int64(n)
	if c.max < 0 {
		return n, fmt.Errorf("%w: the spreadsheet is more than the size limit once decompressed", ErrTooLarge)
	}
	return n, err
}

// scanODS streams content.xml and calls fn once at the start of each table
// (row nil) and for each row, with the number of times the row repeats.
// Trailing empty cells are dropped, so that "repeat this empty cell 16,000
// times" costs nothing.
func scanODS(content *zip.File, maxSize int64, fn func(sheet int, name string, row []string, repeat int) error) error {
	rc, err := content.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := xml.NewDecoder(&cappedReader{r: rc, max: maxSize})
	sheet := -1
	var name string
	var row []string
	var pendingEmpty, rowRepeat int
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "table":
				sheet++
				name = attr(t, "name")
				if err := fn(sheet, name, nil, 0); err != nil {
					return err
				}
			case "table-row":
				row, pendingEmpty = row[:0], 0
				rowRepeat = max(1, atoiAttr(t, "number-rows-repeated"))
			case "table-cell", "covered-table-cell":
				v, err := odsCellValue(dec, t)
				if err != nil {
					return err
				}
				n := max(1, atoiAttr(t, "number-columns-repeated"))
				if v == "" {
					pendingEmpty += n
					continue
				}
				for ; pendingEmpty > 0 && len(row) < maxODSColumns; pendingEmpty-- {
					row = append(row, "")
				}
				pendingEmpty = 0
				for i := 0; i < n && len(row) < maxODSColumns; i++ {
					row = append(row, v)
				}
			}
		case xml.EndElement:
			if t.Name.Local == "table-row" && sheet >= 0 {
				if err := fn(sheet, name, row, rowRepeat); err != nil {
					return err
				}
			}
		}
	}
}

// odsCellValue reads a cell element to its end and returns its value as
// CSV text: typed values from their attributes, text from its paragraphs.
func odsCellValue(dec *xml.Decoder, start xml.StartElement) (string, error) {
	var v string
	switch attr(start, "value-type") {
	case "float", "percentage", "currency":
		v = attr(start, "value")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			v = plainNumber(f)
		}
	case "date":
		v = strings.Replace(attr(start, "date-value"), "T", " ", 1)
	case "time":
		v = odsDuration(attr(start, "time-value"))
	case "boolean":
		v = attr(start, "boolean-value")
	}
	text, err := odsText(dec)
	if err != nil {
		return "", err
	}
	if v == "" {
		v = text
	}
	return v, nil
}

// odsText reads the paragraphs of a cell up to its end element: several
// paragraphs are joined by newlines; text:s, text:tab and text:line-break
// become spaces, a tab and a newline; annotations (comments) are skipped.
func odsText(dec *xml.Decoder) (string, error) {
	var b strings.Builder
	paragraphs, inParagraph := 0, 0
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return "", err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			depth++
			switch t.Name.Local {
			case "annotation":
				if err := dec.Skip(); err != nil {
					return "", err
				}
				depth--
			case "p", "h":
				if paragraphs > 0 {
					b.WriteByte('\n')
				}
				paragraphs++
				inParagraph++
			case "s":
				b.WriteString(strings.Repeat(" ", min(max(1, atoiAttr(t, "c")), 1024)))
			case "tab":
				b.WriteByte('\t')
			case "line-break":
				b.WriteByte('\n')
			}
		case xml.EndElement:
			depth--
			if t.Name.Local == "p" || t.Name.Local == "h" {
				inParagraph--
			}
		case xml.CharData:
			if inParagraph > 0 {
				b.Write(t)
			}
		}
	}
	return b.String(), nil
}

// odsDuration turns an ODF time value (PT08H30M00S) into 08:30:00.
func odsDuration(v string) string {
	var h, m int
	var s float64
	if _, err := fmt.Sscanf(v, "PT%dH%dM%fS", &h, &m, &s); err != nil {
		return v
	}
	return fmt.Sprintf("%02d:%02d:%02d", h, m, int(s))
}

func attr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

func atoiAttr(e xml.StartElement, local string) int {
	n, _ := strconv.Atoi(attr(e, local))
	return n
}
