package convert

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
)

// BenchmarkXLSXToCSV converts a 100,000-row, 8-column workbook (text,
// integers, decimals, dates) to CSV: go test ./convert -run XXX -bench XLSX.
func BenchmarkXLSXToCSV(b *testing.B) {
	dir := b.TempDir()
	src := filepath.Join(dir, "big.xlsx")
	writeBigXLSX(b, src, 100_000)
	st, _ := os.Stat(src)
	b.SetBytes(st.Size())
	b.ResetTimer()
	for b.Loop() {
		out, _, err := xlsxToCSV(context.Background(), src, dir, "", 1<<30)
		if err != nil {
			b.Fatal(err)
		}
		os.Remove(out)
	}
}

// writeBigXLSX writes rows rows with excelize's StreamWriter.
func writeBigXLSX(b *testing.B, path string, rows int) {
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		b.Fatal(err)
	}
	date, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		b.Fatal(err)
	}
	sw.SetRow("A1", []any{"code", "nom", "n", "x", "y", "date", "flag", "label"})
	day := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < rows; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i+2)
		err := sw.SetRow(cell, []any{"0" + string(rune('1'+i%9)) + "001", "Commune", i, float64(i) / 7, float64(i) * 1.5,
			excelize.Cell{StyleID: date, Value: day.AddDate(0, 0, i%3650)}, i%2 == 0, "libellé"})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := sw.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.SaveAs(path); err != nil {
		b.Fatal(err)
	}
}
