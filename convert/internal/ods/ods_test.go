package ods

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/klauspost/compress/zip"
)

// odsFile writes an OpenDocument spreadsheet whose content.xml is content
// and returns its path.
func odsFile(t *testing.T, content []byte) string {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.Create("content.xml")
	w.Write(content)
	zw.Close()
	path := filepath.Join(t.TempDir(), "s.ods")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const twoSheets = `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:spreadsheet>
<table:table table:name="Communes">
 <table:table-row>
  <table:table-cell office:value-type="string"><text:p>code</text:p></table:table-cell>
  <table:table-cell office:value-type="string"><text:p>taux</text:p></table:table-cell>
  <table:table-cell office:value-type="string"><text:p>date</text:p></table:table-cell>
  <table:table-cell office:value-type="string"><text:p>heure</text:p></table:table-cell>
  <table:table-cell office:value-type="string"><text:p>ok</text:p></table:table-cell>
  <table:table-cell office:value-type="string"><text:p>note</text:p></table:table-cell>
  <table:table-cell table:number-columns-repeated="1018"/>
 </table:table-row>
 <table:table-row>
  <table:table-cell office:value-type="string"><text:p>01001</text:p></table:table-cell>
  <table:table-cell office:value-type="percentage" office:value="0.125"><text:p>12,50 %</text:p></table:table-cell>
  <table:table-cell office:value-type="date" office:date-value="2023-02-01T08:30:00"><text:p>01/02/2023 08:30</text:p></table:table-cell>
  <table:table-cell office:value-type="time" office:time-value="PT08H30M00S"><text:p>08:30</text:p></table:table-cell>
  <table:table-cell office:value-type="boolean" office:boolean-value="false"><text:p>FAUX</text:p></table:table-cell>
  <table:table-cell office:value-type="string"><office:annotation><text:p>a comment</text:p></office:annotation><text:p>deux<text:s text:c="2"/>espaces</text:p><text:p>et une ligne</text:p></table:table-cell>
 </table:table-row>
 <table:table-row table:number-rows-repeated="1048573"><table:table-cell table:number-columns-repeated="1024"/></table:table-row>
</table:table>
<table:table table:name="Régions">
 <table:table-row table:number-rows-repeated="2">
  <table:table-cell table:number-columns-repeated="2"/>
  <table:table-cell office:value-type="float" office:value="84"><text:p>84</text:p></table:table-cell>
 </table:table-row>
</table:table>
</office:spreadsheet></office:body></office:document-content>`

func TestSheetsAndRows(t *testing.T) {
	s, err := Open(odsFile(t, []byte(twoSheets)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	sheets, err := s.Sheets()
	if want := []Sheet{{"Communes", 6}, {"Régions", 3}}; err != nil || !reflect.DeepEqual(sheets, want) {
		t.Fatalf("Sheets() = %+v, %v; want %+v", sheets, err, want)
	}
	for i, want := range [][][]string{
		{{"code", "taux", "date", "heure", "ok", "note"}, {"01001", "0.125", "2023-02-01 08:30:00", "08:30:00", "false", "deux  espaces\net une ligne"}},
		{{"", "", "84"}, {"", "", "84"}},
	} {
		var got [][]string
		err := s.Rows(i, func(row []string) error {
			got = append(got, append([]string(nil), row...))
			return nil
		})
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("Rows(%d) = %q, %v; want %q", i, got, err, want)
		}
	}
}

func TestErrors(t *testing.T) {
	var format FormatError
	notZip := filepath.Join(t.TempDir(), "x.ods")
	os.WriteFile(notZip, []byte("not a zip"), 0o644)
	if _, err := Open(notZip, 1<<20); !errors.As(err, &format) {
		t.Errorf("Open(not a zip) = %v, want a FormatError", err)
	}
	s, err := Open(odsFile(t, []byte(twoSheets)), 100)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Sheets(); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Sheets() past a 100-byte limit = %v, want ErrTooLarge", err)
	}
	bad, err := Open(odsFile(t, []byte(`<table:table table:name="a"><table:table-row></table:table>`)), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := bad.Sheets(); !errors.As(err, &format) {
		t.Errorf("Sheets() of malformed XML = %v, want a FormatError", err)
	}
	stop := errors.New("stop here")
	good, _ := Open(odsFile(t, []byte(twoSheets)), 1<<20)
	defer good.Close()
	if err := good.Rows(0, func([]string) error { return stop }); err != stop {
		t.Errorf("Rows with a failing fn = %v, want fn's error as is", err)
	}
}

// FuzzContent wraps arbitrary bytes as the content.xml of a spreadsheet.
// The reader must never panic or hang (repeat counts are attacker-
// controlled); a refusal is a FormatError or ErrTooLarge; and the rows of
// each sheet are non-blank, valid UTF-8, and never wider than the width
// Sheets reported for it.
func FuzzContent(f *testing.F) {
	f.Add([]byte(`<t:table t:name="a"><t:table-row t:number-rows-repeated="1000000"><t:table-cell office:value-type="float" office:value="1" t:number-columns-repeated="100000"/></t:table-row></t:table>`))
	f.Add([]byte(`<table:table table:name="x"><table:table-row><table:table-cell><text:p>a<text:s text:c="99999999"/>b</text:p></table:table-cell></table:table-row></table:table>`))
	f.Add([]byte(twoSheets))
	errEnough := errors.New("enough")
	f.Fuzz(func(t *testing.T, content []byte) {
		s, err := Open(odsFile(t, content), 1<<20)
		if err != nil {
			t.Fatalf("Open of a zip with a content.xml: %v", err)
		}
		defer s.Close()
		sheets, err := s.Sheets()
		if err != nil {
			var format FormatError
			if !errors.As(err, &format) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("Sheets() = %v (%T), want a FormatError or ErrTooLarge", err, err)
			}
			return
		}
		for i, sh := range sheets {
			// A million repeated rows are legal; checking a prefix is enough.
			rows, cells := 0, 0
			err := s.Rows(i, func(row []string) error {
				if len(row) > sh.Width || len(row) > maxColumns || blank(row) {
					t.Fatalf("sheet %d (width %d): row of %d cells, blank %v", i, sh.Width, len(row), blank(row))
				}
				for _, v := range row {
					if !utf8.ValidString(v) {
						t.Fatalf("sheet %d: cell %q is not UTF-8", i, v)
					}
				}
				if rows, cells = rows+1, cells+len(row); rows > 1000 || cells > 1<<16 {
					return errEnough
				}
				return nil
			})
			if err != nil && err != errEnough {
				t.Errorf("Rows(%d) = %v after Sheets() read the same content without error", i, err)
			}
		}
		if strings.Count(string(content), "table-row") == 0 && len(sheets) > 0 && sheets[0].Width > 0 {
			t.Errorf("sheets %+v with no row in the content", sheets)
		}
	})
}
