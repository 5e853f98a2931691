// Package ods reads OpenDocument spreadsheets (.ods) from their
// content.xml part, streamed with encoding/xml: no maintained Go library
// reads them (see README's Dependencies), and the part of the format a
// table needs is small — tables, rows, cells, their typed values and
// repetitions.
//
// The input is hostile: content.xml is decompressed under a cap whatever
// its declared size, repeat counts cost nothing for empty cells and are
// bounded for others, and a panic on malformed input is returned as a
// FormatError. The package needs no cgo, so its tests and fuzz targets
// build in seconds.
package ods

import (
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/klauspost/compress/zip"

	"github.com/csvapi/csvapi/convert/internal/numfmt"
)

// FormatError reports a file that is not a readable OpenDocument
// spreadsheet: a corrupt archive, no content.xml, malformed XML.
type FormatError string

func (e FormatError) Error() string { return string(e) }

// ErrTooLarge is returned when content.xml is larger than the limit once
// decompressed.
var ErrTooLarge = errors.New("the spreadsheet is more than the size limit once decompressed")

// maxColumns is the widest sheet LibreOffice makes; repeated cells past it
// (a row's trailing "16384 empty cells") are ignored.
const maxColumns = 16384

// errStop ends a scan early, once the wanted sheet is read.
var errStop = errors.New("stop")

// Spreadsheet is an open OpenDocument spreadsheet. Close it when done.
type Spreadsheet struct {
	zr      *zip.ReadCloser
	content *zip.File
	maxSize int64
}

// Sheet is a table of a spreadsheet, in the file's order.
type Sheet struct {
	Name  string
	Width int // cells in its widest non-blank row, trailing empty cells excluded
}

// Open opens the OpenDocument spreadsheet at path; maxSize caps the bytes
// of content.xml once decompressed, for every later read. It returns a
// FormatError for a file that is not a zip archive with a content.xml.
func Open(path string, maxSize int64) (*Spreadsheet, error) {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil, FormatError("corrupt OpenDocument archive")
	}
	for _, f := range zr.File {
		if f.Name == "content.xml" {
			return &Spreadsheet{zr: zr, content: f, maxSize: maxSize}, nil
		}
	}
	zr.Close()
	return nil, FormatError("the OpenDocument spreadsheet has no content.xml")
}

// Close closes the archive.
func (s *Spreadsheet) Close() error { return s.zr.Close() }

// Sheets reads content.xml once and returns its tables with the width of
// each. It returns ErrTooLarge past the size limit and a FormatError for
// malformed XML. A spreadsheet may have no sheet.
func (s *Spreadsheet) Sheets() ([]Sheet, error) {
	var sheets []Sheet
	err := s.scan(func(idx int, name string, row []string, _ int) error {
		if idx == len(sheets) {
			sheets = append(sheets, Sheet{Name: name})
		}
		if row != nil && !blank(row) {
			sheets[idx].Width = max(sheets[idx].Width, len(row))
		}
		return nil
	})
	return sheets, err
}

// Rows calls fn with each non-blank row of the i-th sheet (0-based, as in
// Sheets), as many times as the file repeats it, trailing empty cells
// excluded. fn must not keep row. Rows returns fn's first error as is,
// ErrTooLarge past the size limit, and a FormatError for malformed XML.
func (s *Spreadsheet) Rows(i int, fn func(row []string) error) error {
	return s.scan(func(idx int, _ string, row []string, repeat int) error {
		switch {
		case idx > i:
			return errStop
		case idx < i || row == nil || blank(row):
			return nil
		}
		for range repeat {
			if err := fn(row); err != nil {
				return err
			}
		}
		return nil
	})
}

// scan runs scanContent over content.xml and sorts its errors: fn's are
// returned as they are, the others become ErrTooLarge or a FormatError.
func (s *Spreadsheet) scan(fn func(sheet int, name string, row []string, repeat int) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = FormatError(fmt.Sprintf("the ods workbook is malformed (%v)", r))
		}
	}()
	var fnErr error
	err = s.scanContent(func(sheet int, name string, row []string, repeat int) error {
		fnErr = fn(sheet, name, row, repeat)
		return fnErr
	})
	switch {
	case err == nil, errors.Is(err, errStop):
		return nil
	case fnErr != nil:
		return fnErr
	case errors.Is(err, ErrTooLarge):
		return ErrTooLarge
	}
	return FormatError(fmt.Sprintf("the ods workbook could not be read (%v)", err))
}

// blank reports whether a row has only blank cells.
func blank(row []string) bool {
	for _, v := range row {
		if strings.TrimSpace(v) != "" {
			return false
		}
	}
	return true
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
		return n, ErrTooLarge
	}
	return n, err
}

// scanContent streams content.xml and calls fn once at the start of each
// table (row nil) and for each row, with the number of times the row
// repeats. Trailing empty cells are dropped, so that "repeat this empty
// cell 16,000 times" costs nothing.
func (s *Spreadsheet) scanContent(fn func(sheet int, name string, row []string, repeat int) error) error {
	rc, err := s.content.Open()
	if err != nil {
		return err
	}
	defer rc.Close()
	dec := xml.NewDecoder(&cappedReader{r: rc, max: s.maxSize})
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
				v, err := cellValue(dec, t)
				if err != nil {
					return err
				}
				n := max(1, atoiAttr(t, "number-columns-repeated"))
				if v == "" {
					pendingEmpty += n
					continue
				}
				for ; pendingEmpty > 0 && len(row) < maxColumns; pendingEmpty-- {
					row = append(row, "")
				}
				pendingEmpty = 0
				for i := 0; i < n && len(row) < maxColumns; i++ {
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

// cellValue reads a cell element to its end and returns its value as
// CSV text: typed values from their attributes, text from its paragraphs.
func cellValue(dec *xml.Decoder, start xml.StartElement) (string, error) {
	var v string
	switch attr(start, "value-type") {
	case "float", "percentage", "currency":
		v = attr(start, "value")
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			v = numfmt.Plain(f)
		}
	case "date":
		v = strings.Replace(attr(start, "date-value"), "T", " ", 1)
	case "time":
		v = duration(attr(start, "time-value"))
	case "boolean":
		v = attr(start, "boolean-value")
	}
	text, err := cellText(dec)
	if err != nil {
		return "", err
	}
	if v == "" {
		v = text
	}
	return v, nil
}

// cellText reads the paragraphs of a cell up to its end element: several
// paragraphs are joined by newlines; text:s, text:tab and text:line-break
// become spaces, a tab and a newline; annotations (comments) are skipped.
func cellText(dec *xml.Decoder) (string, error) {
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

// duration turns an ODF time value (PT08H30M00S) into 08:30:00.
func duration(v string) string {
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
