package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"
)

// Inputs are generated from fixed seeds: every run measures the same bytes.

var communes = []string{"Paris", "Marseille", "Lyon", "Toulouse", "Nice", "Nantes", "Montpellier", "Strasbourg",
	"Bordeaux", "Lille", "Rennes", "Reims", "Saint-Étienne", "Le Havre", "Toulon", "Grenoble", "Dijon", "Angers",
	"Nîmes", "Villeurbanne", "Clermont-Ferrand", "Le Mans", "Aix-en-Provence", "Brest", "Tours", "Amiens", "Limoges",
	"Annecy", "Perpignan", "Boulogne-Billancourt", "Orléans", "Besançon", "Rouen", "Mulhouse", "Caen", "Nancy"}

// row is one generated record: text, code with leading zeros, integer,
// decimal, date, boolean.
type row struct {
	id      int
	code    string
	commune string
	label   string
	pop     int
	amount  float64
	date    time.Time
	active  bool
}

func genRow(r *rand.Rand, i int) row {
	c := communes[r.IntN(len(communes))]
	return row{
		id:      i,
		code:    fmt.Sprintf("%05d", r.IntN(99_999)),
		commune: c,
		label:   "Dossier " + strconv.Itoa(r.IntN(1_000_000)) + " de " + c,
		pop:     r.IntN(2_200_000),
		amount:  float64(r.IntN(100_000_000)) / 100,
		date:    time.Date(2000+r.IntN(25), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC),
		active:  r.IntN(2) == 1,
	}
}

// writeCSV writes rows records as UTF-8 CSV with commas, or, with french,
// as Windows-1252 with semicolons, decimal commas and dd/mm/yyyy dates.
func writeCSV(path string, rows int, french bool) error {
	return writeCSVEncoded(path, rows, french, french)
}

// writeCSVEncoded is writeCSV with the French dialect and the Windows-1252
// encoding chosen apart, so that the same table can be written in both
// encodings.
func writeCSVEncoded(path string, rows int, french, cp1252 bool) error {
	return generateOnce(path, func(w *bufio.Writer) error { return fillCSV(w, rows, french, cp1252) })
}

func fillCSV(w *bufio.Writer, rows int, french, cp1252 bool) error {
	out := w.Write
	var enc *charmap.Charmap
	if cp1252 {
		enc = charmap.Windows1252
		out = func(b []byte) (int, error) {
			e, err := enc.NewEncoder().Bytes(b)
			if err != nil {
				return 0, err
			}
			return w.Write(e)
		}
	}
	sep := byte(',')
	if french {
		sep = ';'
	}
	header := []byte("id,code_commune,commune,libelle,population,montant,date,actif\n")
	if french {
		header = []byte("id;code_commune;commune;libelle;population;montant;date;actif\n")
	}
	if _, err := out(header); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for i := 1; i <= rows; i++ {
		x := genRow(r, i)
		b = b[:0]
		b = strconv.AppendInt(b, int64(x.id), 10)
		b = append(b, sep)
		b = append(b, x.code...)
		b = append(b, sep)
		b = append(b, x.commune...)
		b = append(b, sep)
		b = append(b, x.label...)
		b = append(b, sep)
		b = strconv.AppendInt(b, int64(x.pop), 10)
		b = append(b, sep)
		if french {
			s := strconv.FormatFloat(x.amount, 'f', 2, 64)
			for _, c := range []byte(s) {
				if c == '.' {
					c = ','
				}
				b = append(b, c)
			}
			b = append(b, sep)
			b = x.date.AppendFormat(b, "02/01/2006")
		} else {
			b = strconv.AppendFloat(b, x.amount, 'f', 2, 64)
			b = append(b, sep)
			b = x.date.AppendFormat(b, "2006-01-02")
		}
		b = append(b, sep)
		b = strconv.AppendBool(b, x.active)
		b = append(b, '\n')
		if _, err := out(b); err != nil {
			return err
		}
	}
	return nil
}

// writeXLSX writes rows records to a spreadsheet with excelize's streaming
// writer, dates as real date cells.
func writeXLSX(path string, rows int) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	f := excelize.NewFile()
	defer f.Close()
	sw, err := f.NewStreamWriter("Sheet1")
	if err != nil {
		return err
	}
	dateStyle, err := f.NewStyle(&excelize.Style{NumFmt: 14})
	if err != nil {
		return err
	}
	header := []any{"id", "code_commune", "commune", "libelle", "population", "montant", "date", "actif"}
	if err := sw.SetRow("A1", header); err != nil {
		return err
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 1; i <= rows; i++ {
		x := genRow(r, i)
		cell, _ := excelize.CoordinatesToCellName(1, i+1)
		vals := []any{x.id, x.code, x.commune, x.label, x.pop, x.amount,
			excelize.Cell{StyleID: dateStyle, Value: x.date}, x.active}
		if err := sw.SetRow(cell, vals); err != nil {
			return err
		}
	}
	if err := sw.Flush(); err != nil {
		return err
	}
	tmp := path + ".tmp.xlsx"
	if err := f.SaveAs(tmp); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// writeQuotedCSV writes rows records as UTF-8 CSV in the column order of
// issue 15's file (id, commune, code, ISO date, integer, decimal, boolean,
// text), with the text column quoted, holding embedded quotes and a comma,
// on every 7th row: the quoting path of DuckDB's reader is slower than the
// plain one.
func writeQuotedCSV(path string, rows int) error {
	return generateOnce(path, func(w *bufio.Writer) error { return fillQuotedCSV(w, rows) })
}

func fillQuotedCSV(w *bufio.Writer, rows int) error {
	w.WriteString("id,commune,code_commune,date,population,montant,actif,libelle\n")
	r := rand.New(rand.NewPCG(3, 4))
	var b []byte
	for i := 1; i <= rows; i++ {
		x := genRow(r, i)
		b = strconv.AppendInt(b[:0], int64(x.id), 10)
		b = append(b, ',')
		b = append(b, x.commune...)
		b = append(b, ',')
		b = append(b, x.code...)
		b = append(b, ',')
		b = x.date.AppendFormat(b, "2006-01-02")
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(x.pop), 10)
		b = append(b, ',')
		b = strconv.AppendFloat(b, x.amount, 'f', 2, 64)
		b = append(b, ',')
		b = strconv.AppendBool(b, x.active)
		b = append(b, ',')
		if i%7 == 0 {
			b = append(b, `"`+x.label+`, dit ""le grand"""`...)
		} else {
			b = append(b, x.label...)
		}
		b = append(b, '\n')
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// writeSmallCSVs writes n small distinct CSV files (20 rows each) under
// dir, the resources of the cold-start measure.
func writeSmallCSVs(dir string, n int) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range n {
		path := filepath.Join(dir, fmt.Sprintf("small-%04d.csv", i))
		if _, err := os.Stat(path); err == nil {
			continue
		}
		r := rand.New(rand.NewPCG(uint64(i), 5))
		b := []byte("id,code_commune,commune,population,montant,date\n")
		for j := 1; j <= 20; j++ {
			x := genRow(r, i*20+j)
			b = fmt.Appendf(b, "%d,%s,%s,%d,%.2f,%s\n", x.id, x.code, x.commune, x.pop, x.amount, x.date.Format("2006-01-02"))
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// inputs are the generated files of a run ("" when not needed).
type inputs struct {
	utf8, quoted, french, xlsx, big string
}

// generate writes the inputs the chosen sections need, once: later runs
// reuse them.
func generate(dir string, rows, bigRows, xlsxRows int, need func(string) bool) (inputs, error) {
	in := inputs{
		utf8:   filepath.Join(dir, fmt.Sprintf("utf8-%d.csv", rows)),
		quoted: filepath.Join(dir, fmt.Sprintf("quoted-%d.csv", rows)),
		french: filepath.Join(dir, fmt.Sprintf("cp1252-%d.csv", rows)),
		xlsx:   filepath.Join(dir, fmt.Sprintf("sheet-%d.xlsx", xlsxRows)),
		big:    filepath.Join(dir, fmt.Sprintf("utf8-%d.csv", bigRows)),
	}
	var steps []func() error
	if need("ingest") {
		steps = append(steps,
			func() error { return writeCSV(in.utf8, rows, false) },
			func() error { return writeCSV(in.french, rows, true) },
			func() error { return writeXLSX(in.xlsx, xlsxRows) })
	}
	if need("ingest") || need("query") || need("profile") || need("cursor") || need("search") ||
		need("cached") || need("export") {
		steps = append(steps, func() error { return writeQuotedCSV(in.quoted, rows) })
	}
	if need("memory") && bigRows > 0 {
		steps = append(steps, func() error { return writeCSV(in.big, bigRows, false) })
	} else {
		in.big = ""
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return in, err
		}
	}
	return in, nil
}

// generateOnce writes path with fill, unless an earlier run did: under a
// temporary name, renamed into place when complete.
func generateOnce(path string, fill func(*bufio.Writer) error) error {
	if _, err := os.Stat(path); err == nil {
		return nil
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	if err := fill(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
