package convert

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// FuzzSniff feeds arbitrary text to the dialect sniffer and the type
// guesser: they must never panic nor loop, whatever the bytes.
//
//	go test -run '^$' -fuzz FuzzSniff -fuzztime 10m ./convert/
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		"a;b\n1;2,5\n", "\"a\nb\",c\r\n1,2\r\n", "x\ty\n\"unterminated\n", "", "\r\r\n", "a|b\r1|2\r",
		"titre\n\ncode;nom\n01001;x\n", "\"\"\"\",\"\"\n", ";;;\n;;\n",
	} {
		f.Add([]byte(s), true, "")
		f.Add([]byte(s), false, "none")
	}
	f.Fuzz(func(t *testing.T, head []byte, complete bool, header string) {
		start := time.Now()
		d, err := SniffDialect(head, complete, Options{Header: header})
		if err != nil {
			return
		}
		if d.Columns < 1 || (d.Header && len(d.Names) != d.Columns) {
			t.Fatalf("columns %d, names %q", d.Columns, d.Names)
		}
		for _, row := range d.Sample {
			if len(row) != d.Columns {
				t.Fatalf("sample row of %d fields, want %d", len(row), d.Columns)
			}
		}
		for j := 0; j < d.Columns; j++ {
			col := make([]string, len(d.Sample))
			for i, r := range d.Sample {
				col[i] = r[j]
			}
			guessKind(col, "date", "")
		}
		_ = columnNames(d)
		if time.Since(start) > 5*time.Second {
			t.Fatalf("sniffing %d bytes took %v", len(head), time.Since(start))
		}
	})
}

func TestColumnNames(t *testing.T) {
	d := &Dialect{Columns: 7, Header: true, Names: []string{"a", "", "a", "A", "rowid", " b\nc ", "column2"}}
	want := []string{"a", "column2_2", "a_2", "A_3", "rowid_", "b c", "column2"}
	got := columnNames(d)
	if len(got) != len(want) {
		t.Fatalf("columnNames: %d columns %v, want %d", len(got), got, len(want))
	}
	for i, c := range got {
		if c.Name != want[i] || c.Original != d.Names[i] {
			t.Errorf("column %d: name %q original %q; want %q, %q", i, c.Name, c.Original, want[i], d.Names[i])
		}
	}
}

func TestGuessKind(t *testing.T) {
	tests := []struct {
		values []string
		name   string
		want   colKind
	}{
		{[]string{"1", "-2"}, "", kindInt},
		{[]string{"01234", "75001"}, "", kindText},
		{[]string{"01234,5"}, "", kindText},
		{[]string{"1.5", "2"}, "", kindDecDot},
		{[]string{"1 234,5", "2"}, "", kindDecComma},
		{[]string{"1 234", "2"}, "", kindIntSpaced},
		{[]string{"20230115"}, "", kindInt},
		{[]string{"20230115"}, "date_debut", kindDateYMD8},
		{[]string{"01/02/2023"}, "", kindDateDMY},
		{[]string{"01/13/2023"}, "", kindDateMDY},
		{[]string{"oui", "NON"}, "", kindBoolOuiNon},
		{[]string{"", " "}, "", kindUnknown},
		{[]string{"NA", "1"}, "", kindText},
	}
	for _, tt := range tests {
		if got := guessKind(tt.values, tt.name, ""); got != tt.want {
			t.Errorf("guessKind(%q, %q) = %d, want %d", tt.values, tt.name, got, tt.want)
		}
	}
}

// BenchmarkSniffDialect measures dialect detection on a 1 MB head of a
// French ;-separated file with quoted fields.
func BenchmarkSniffDialect(b *testing.B) {
	var sb strings.Builder
	sb.WriteString("code_insee;nom;population;superficie;date_maj\n")
	for i := 0; sb.Len() < 1<<20; i++ {
		fmt.Fprintf(&sb, "%05d;\"Commune n°%d; dite \"\"la belle\"\"\";%d;%d,%02d;%02d/%02d/2023\n", i%99999, i, i*7, i%500, i%100, 1+i%28, 1+i%12)
	}
	head := []byte(sb.String())
	b.SetBytes(int64(len(head)))
	for b.Loop() {
		if _, err := SniffDialect(head, false, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
