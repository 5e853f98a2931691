package convert

import (
	"archive/zip"
	"bytes"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/xuri/excelize/v2"
)

// formatsDir holds the non-CSV fixtures and their golden files.
const formatsDir = "../testdata/corpus/formats"

// communesCSV is the table most container fixtures wrap.
const communesCSV = "code_insee,nom,population,superficie,date_maj\n" +
	"01001,L'Abergement-Clémenciat,832,15.95,2023-02-01\n" +
	"2A004,Ajaccio,71361,82.03,2023-02-13\n" +
	"75056,Paris,2133111,105.4,2022-12-31\n"

// TestGenerateFixtures writes the binary fixtures of testdata/corpus/formats
// (go test ./convert -run TestGenerateFixtures -update). They are committed:
// regenerate them only when a fixture changes, then review the goldens.
func TestGenerateFixtures(t *testing.T) {
	if !*update {
		t.Skip("fixtures are regenerated only with -update")
	}
	if err := os.MkdirAll(formatsDir, 0o755); err != nil {
		t.Fatal(err)
	}
	write := func(name string, b []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(formatsDir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	types := xlsxTypes(t)
	write("xlsx_types.xlsx", types)
	write("xlsx_merged_header.xlsx", xlsxMergedHeader(t))
	write("xlsx_sheets.xlsx", xlsxSheets(t, false))
	write("xlsx_wide_row.xlsx", xlsxWideRow(t))
	write("xlsx_hidden_first_sheet.xlsx", xlsxSheets(t, true))
	write("communes.csv.gz", gzipBytes(t, []byte(communesCSV)))
	write("communes.csv.zst", zstdBytes(t, []byte(communesCSV)))
	write("zip_one.zip", zipBytes(t, []zipMember{
		{name: "export/"}, {name: "export/communes.csv", data: communesCSV},
		{name: "__MACOSX/export/._communes.csv", data: "\x00\x05\x16\x07junk"}, {name: "export/.DS_Store", data: "junk"},
	}))
	write("zip_several.zip", zipBytes(t, []zipMember{
		{name: "communes.csv", data: communesCSV},
		{name: "regions.csv", data: "code;nom\n84;Auvergne-Rhône-Alpes\n94;Corse\n"},
		{name: "notice.pdf", data: "%PDF-1.4\n%fake notice\n"},
	}))
	write("zip_with_readme.zip", zipBytes(t, []zipMember{
		{name: "LISEZMOI.txt", data: "Données : INSEE.\nLicence : Licence Ouverte 2.0.\n"},
		{name: "communes.csv", data: communesCSV},
	}))
	write("xlsx_corrupt.xlsx", zipBytes(t, []zipMember{
		{name: "[Content_Types].xml", data: "<Types/>"}, {name: "xl/workbook.xml", data: "<workbook><sheets><sheet name=\"A\" r:id=\"rId1\""},
	}))
	write("zip_xlsx.zip", zipBytes(t, []zipMember{{name: "tableau.xlsx", data: string(types)}}))
	write("zip_gzip.zip", zipBytes(t, []zipMember{{name: "communes.csv.gz", data: string(gzipBytes(t, []byte(communesCSV)))}}))
	write("zip_empty.zip", zipBytes(t, nil))
	write("array.json", []byte(`[
  {"code_insee": "01001", "nom": "L'Abergement-Clémenciat", "population": 832, "superficie": 15.95, "date_maj": "2023-02-01", "chef_lieu": false},
  {"code_insee": "2A004", "nom": "Ajaccio", "population": 71361, "superficie": 82.03, "date_maj": "2023-02-13", "chef_lieu": true},
  {"code_insee": "75056", "nom": "Paris", "population": 2133111, "superficie": 105.4, "date_maj": "2022-12-31", "chef_lieu": true}
]
`))
	write("records.ndjson", []byte(`{"id": 1, "label": "un", "mesure": 1.5}
{"id": 2, "label": "deux", "mesure": null}
{"id": 3, "label": "trois", "mesure": 3}
`))
	write("bom.ndjson", []byte("\xEF\xBB\xBF{\"id\": 1, \"label\": \"été\"}\n{\"id\": 2, \"label\": \"hiver\"}\n"))
	write("nested.json", []byte(`[
  {"id": 1, "rowid": "r1", "tags": ["a", "b"], "geo": {"lat": 45.5, "lon": 4.85}},
  {"id": 2, "rowid": "r2", "tags": [], "geo": null, "note": "a key that only the last record has"}
]
`))
	write("bracket_header.csv", []byte("[Code];[Nom]\n01001;L'Abergement-Clémenciat\n2A004;Ajaccio\n"))
	write("object.json", []byte(`{"data": [{"a": 1}], "total": 1}`))
	write("scalars.json", []byte(`[1, 2, 3]`))
	write("empty_array.json", []byte("[]\n"))
	write("image.png", pngBytes(t))
	write("document.pdf", []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"))
	write("empty.csv", nil)
	write("page.html", []byte("<!DOCTYPE html>\n<html><head><title>Not found</title></head><body><table><tr><td>a</td></tr></table></body></html>\n"))
	write("data.parquet", parquetBytes(t))
	write("ods_types.ods", odsBytes(t))
	// xls_types.xls is written by convert/internal/xls's TestGenerateFixture.
}

// odsBytes writes an OpenDocument spreadsheet by hand (no Go library writes
// them): typed cells (float, percentage, currency, date, datetime, time,
// boolean), a code with leading zeros as text, a merged header (covered
// cell), spaces coded as text:s, a comment, two paragraphs in one cell,
// the trailing repeated empty cells and rows that LibreOffice writes, and a
// second sheet.
func odsBytes(t *testing.T) []byte {
	const content = `<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" office:version="1.3">
 <office:body>
  <office:spreadsheet>
   <table:table table:name="Communes">
    <table:table-column table:number-columns-repeated="1024"/>
    <table:table-row>
     <table:table-cell table:number-columns-spanned="2" office:value-type="string"><text:p>Commune</text:p></table:table-cell>
     <table:covered-table-cell/>
     <table:table-cell office:value-type="string"><text:p>population</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>taux</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>budget</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>date_maj</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>horodatage</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>heure</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>chef_lieu</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>note</text:p></table:table-cell>
     <table:table-cell table:number-columns-repeated="1014"/>
    </table:table-row>
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>01001</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>L'Abergement-Clémenciat</text:p></table:table-cell>
     <table:table-cell office:value-type="float" office:value="832"><text:p>832</text:p></table:table-cell>
     <table:table-cell office:value-type="percentage" office:value="0.125"><text:p>12,50 %</text:p></table:table-cell>
     <table:table-cell office:value-type="currency" office:currency="EUR" office:value="1234567.891"><text:p>1 234 567,89 €</text:p></table:table-cell>
     <table:table-cell office:value-type="date" office:date-value="2023-02-01"><text:p>01/02/2023</text:p></table:table-cell>
     <table:table-cell office:value-type="date" office:date-value="2023-02-01T08:30:00"><text:p>01/02/2023 08:30</text:p></table:table-cell>
     <table:table-cell office:value-type="time" office:time-value="PT08H30M00S"><text:p>08:30</text:p></table:table-cell>
     <table:table-cell office:value-type="boolean" office:boolean-value="false"><text:p>FAUX</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><office:annotation><text:p>a comment, not a value</text:p></office:annotation><text:p>deux<text:s text:c="2"/>espaces</text:p><text:p>et une ligne</text:p></table:table-cell>
     <table:table-cell table:number-columns-repeated="1014"/>
    </table:table-row>
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>2A004</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Ajaccio</text:p></table:table-cell>
     <table:table-cell office:value-type="float" office:value="71361"><text:p>71361</text:p></table:table-cell>
     <table:table-cell office:value-type="percentage" office:value="0.5"><text:p>50,00 %</text:p></table:table-cell>
     <table:table-cell office:value-type="currency" office:currency="EUR" office:value="98765.4"><text:p>98 765,40 €</text:p></table:table-cell>
     <table:table-cell office:value-type="date" office:date-value="2023-02-13"><text:p>13/02/2023</text:p></table:table-cell>
     <table:table-cell office:value-type="date" office:date-value="2023-02-13T17:00:00"><text:p>13/02/2023 17:00</text:p></table:table-cell>
     <table:table-cell office:value-type="time" office:time-value="PT17H00M00S"><text:p>17:00</text:p></table:table-cell>
     <table:table-cell office:value-type="boolean" office:boolean-value="true"><text:p>VRAI</text:p></table:table-cell>
     <table:table-cell table:number-columns-repeated="1015"/>
    </table:table-row>
    <table:table-row table:number-rows-repeated="1048573">
     <table:table-cell table:number-columns-repeated="1024"/>
    </table:table-row>
   </table:table>
   <table:table table:name="Régions">
    <table:table-row>
     <table:table-cell office:value-type="string"><text:p>code</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>nom</text:p></table:table-cell>
    </table:table-row>
    <table:table-row table:number-rows-repeated="2">
     <table:table-cell office:value-type="float" office:value="84"><text:p>84</text:p></table:table-cell>
     <table:table-cell office:value-type="string"><text:p>Auvergne-Rhône-Alpes</text:p></table:table-cell>
    </table:table-row>
   </table:table>
  </office:spreadsheet>
 </office:body>
</office:document-content>
`
	const manifest = `<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.3">
 <manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.spreadsheet"/>
 <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>
</manifest:manifest>
`
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	// The mimetype comes first and uncompressed, as the format requires.
	w, err := zw.CreateHeader(&zip.FileHeader{Name: "mimetype", Method: zip.Store})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("application/vnd.oasis.opendocument.spreadsheet"))
	for _, m := range []zipMember{{name: "content.xml", data: content}, {name: "META-INF/manifest.xml", data: manifest}} {
		w, err := zw.Create(m.name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(m.data))
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

type zipMember struct{ name, data string }

func zipBytes(t *testing.T, members []zipMember) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, m := range members {
		h := &zip.FileHeader{Name: m.name, Method: zip.Deflate, Modified: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}
		w, err := zw.CreateHeader(h)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write([]byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zstdBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func pngBytes(t *testing.T) []byte {
	var buf bytes.Buffer
	if err := png.Encode(&buf, image.NewGray(image.Rect(0, 0, 2, 2))); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// parquetBytes writes a Parquet file with DuckDB: typed columns, a code
// with leading zeros, a list, a struct and a column named rowid.
func parquetBytes(t *testing.T) []byte {
	db := openTestDB(t)
	out := filepath.Join(t.TempDir(), "data.parquet")
	_, err := db.Exec(`COPY (
		SELECT * FROM (VALUES
			(1, '01001', 'L''Abergement-Clémenciat', 832::INTEGER, 15.95::DOUBLE, DATE '2023-02-01', TIMESTAMP '2023-02-01 08:30:00', false, ['a', 'b'], {'lat': 45.5, 'lon': 4.85}),
			(2, '2A004', 'Ajaccio', 71361, 82.03, DATE '2023-02-13', TIMESTAMP '2023-02-13 17:00:00', true, [], NULL),
			(3, '75056', 'Paris', 2133111, 105.4, NULL, NULL, NULL, NULL, {'lat': 48.86, 'lon': 2.35})
		) AS t(rowid, code_insee, nom, population, superficie, date_maj, horodatage, chef_lieu, tags, geo)
	) TO '` + out + `' (FORMAT parquet)`)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newWorkbook returns an empty workbook whose first sheet is named name.
func newWorkbook(t *testing.T, name string) *excelize.File {
	t.Helper()
	f := excelize.NewFile()
	if err := f.SetSheetName("Sheet1", name); err != nil {
		t.Fatal(err)
	}
	return f
}

func saveWorkbook(t *testing.T, f *excelize.File) []byte {
	t.Helper()
	buf, err := f.WriteToBuffer()
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func style(t *testing.T, f *excelize.File, s *excelize.Style) int {
	t.Helper()
	id, err := f.NewStyle(s)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// xlsxTypes has the values French spreadsheets hold: codes with leading
// zeros typed as text, integers, decimals shown with a thousands separator
// or as a percentage, dates in the built-in and in a custom dd/mm/yyyy
// format, datetimes, booleans, and a float that is not exact in binary.
func xlsxTypes(t *testing.T) []byte {
	f := newWorkbook(t, "Communes")
	const s = "Communes"
	builtinDate := style(t, f, &excelize.Style{NumFmt: 14})
	frenchDate := "dd/mm/yyyy"
	customDate := style(t, f, &excelize.Style{CustomNumFmt: &frenchDate})
	datetime := style(t, f, &excelize.Style{NumFmt: 22})
	thousands := style(t, f, &excelize.Style{NumFmt: 4}) // #,##0.00
	percent := style(t, f, &excelize.Style{NumFmt: 10})  // 0.00%
	text := style(t, f, &excelize.Style{NumFmt: 49})     // @
	header := []any{"code_insee", "nom", "population", "superficie", "budget", "taux", "date_maj", "date_fr", "horodatage", "chef_lieu", "ratio"}
	if err := f.SetSheetRow(s, "A1", &header); err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{"01001", "L'Abergement-Clémenciat", 832, 15.95, 1234567.891, 0.125, time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 2, 1, 0, 0, 0, 0, time.UTC), time.Date(2023, 2, 1, 8, 30, 0, 0, time.UTC), false, 0.1 + 0.2},
		{"2A004", "Ajaccio", 71361, 82.03, 98765.4, 0.5, time.Date(2023, 2, 13, 0, 0, 0, 0, time.UTC), time.Date(2023, 2, 13, 0, 0, 0, 0, time.UTC), time.Date(2023, 2, 13, 17, 0, 0, 0, time.UTC), true, 1.0 / 3},
		{"75056", "Paris", 2133111, 105.4, 0.0, 1.0, time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2022, 12, 31, 0, 0, 0, 0, time.UTC), time.Date(2022, 12, 31, 23, 59, 59, 0, time.UTC), true, -2.5},
	}
	for i, r := range rows {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		if err := f.SetSheetRow(s, cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	for col, st := range map[string]int{"A": text, "E": thousands, "F": percent, "G": builtinDate, "H": customDate, "I": datetime} {
		if err := f.SetCellStyle(s, col+"2", col+"4", st); err != nil {
			t.Fatal(err)
		}
	}
	return saveWorkbook(t, f)
}

// xlsxMergedHeader has a header cell merged over two columns and a trailing
// empty cell in one row.
func xlsxMergedHeader(t *testing.T) []byte {
	f := newWorkbook(t, "Feuil1")
	const s = "Feuil1"
	set := func(cell string, v any) {
		if err := f.SetCellValue(s, cell, v); err != nil {
			t.Fatal(err)
		}
	}
	set("A1", "Commune")
	set("C1", "population")
	if err := f.MergeCell(s, "A1", "B1"); err != nil {
		t.Fatal(err)
	}
	for i, r := range [][]any{{"01001", "L'Abergement-Clémenciat", 832}, {"2A004", "Ajaccio", nil}, {"75056", "Paris", 2133111}} {
		for j, v := range r {
			if v == nil {
				continue
			}
			cell, _ := excelize.CoordinatesToCellName(j+1, i+2)
			set(cell, v)
		}
	}
	return saveWorkbook(t, f)
}

// xlsxSheets has a notes sheet before the data sheet; with hidden, the
// notes sheet is hidden, so the data sheet is the default.
func xlsxSheets(t *testing.T, hidden bool) []byte {
	f := newWorkbook(t, "Lisez-moi")
	if err := f.SetCellValue("Lisez-moi", "A1", "Source : INSEE, 2023"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.NewSheet("Données"); err != nil {
		t.Fatal(err)
	}
	for i, r := range [][]any{{"code", "nom"}, {"84", "Auvergne-Rhône-Alpes"}, {"94", "Corse"}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Données", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	if hidden {
		f.SetActiveSheet(1)
		if err := f.SetSheetVisible("Lisez-moi", false); err != nil {
			t.Fatal(err)
		}
	}
	return saveWorkbook(t, f)
}

// xlsxWideRow has a row wider than the header and the rows above it: a note
// typed to the right of the table.
func xlsxWideRow(t *testing.T) []byte {
	f := newWorkbook(t, "Feuil1")
	for i, r := range [][]any{{"code", "nom"}, {"84", "Auvergne-Rhône-Alpes"}, {"94", "Corse", nil, "chiffres provisoires"}, {"11", "Île-de-France"}} {
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		if err := f.SetSheetRow("Feuil1", cell, &r); err != nil {
			t.Fatal(err)
		}
	}
	return saveWorkbook(t, f)
}
