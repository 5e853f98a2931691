package convert

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/transform"
)

// FuzzSniff feeds arbitrary text to the dialect sniffer and the type
// guesser: they must never panic nor loop, whatever the bytes.
//
//	go test -run '^$' -fuzz FuzzSniff -fuzztime 10m ./convert/
func FuzzSniff(f *testing.F) {
	for _, s := range []string{
		"a;b\n1;2,5\n", "\"a\nb\",c\r\n1,2\r\n", "x\ty\n\"unterminated\n", "", "\r\r\n", "a|b\r1|2\r",
		"titre\n\ncode;nom\n01001;x\n", "\"\"\"\",\"\"\n", ";;;\n;;\n",
		// Round 2: padded titles, repeated headers, years, codes, wide rows, escapes.
		"Temperature;;;\n;;;\nYear;Jan;Feb;Mar\n1880;-0,2;0;1\n", "a;b\na;b\n1;2\na;b\n3;4\n",
		";2019;2020;\nFrance;1,5;2;\n", "2019,2020\n1.5,2\n", "01001;x\n2A004;y\n", "a;b;c\n1;2;3;4\n",
		"id;t\n1;\"il a dit \\\"oui\\\"\"\n", "k\tv\nk2\tv2\n\nx\ty\tz\n1\t2\t3\n",
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
		if d.Start < 0 || d.RepeatedHeaders < 0 || (d.Escape != d.Quote && d.Escape != '\\') {
			t.Fatalf("start %d, repeated headers %d, escape %q", d.Start, d.RepeatedHeaders, d.Escape)
		}
		if _, err := SniffDialect(head, complete, Options{Header: header, Escape: `\`}); err != nil {
			t.Fatalf("a forced escape fails where detection did not: %v", err)
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
		want   reading
	}{
		{[]string{"1", "-2"}, "", asInt},
		{[]string{"01234", "75001"}, "", asText},
		{[]string{"01234,5"}, "", asText},
		{[]string{"1.5", "2"}, "", asDecDot},
		{[]string{"1 234,5", "2"}, "", asDecComma},
		{[]string{"1 234", "2"}, "", asIntSpaced},
		{[]string{"20230115"}, "", asInt},
		{[]string{"20230115"}, "date_debut", asDateYMD8},
		{[]string{"01/02/2023"}, "", asDateDMY},
		{[]string{"01/13/2023"}, "", asDateMDY},
		{[]string{"oui", "NON"}, "", asBoolOuiNon},
		{[]string{"", " "}, "", asUnknown},
		{[]string{"NA", "1"}, "", asText},
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

// TestSniffHeaderRound2 covers the header and preamble rules of issue 13
// on the sniffer alone (the corpus covers them through DuckDB).
func TestSniffHeaderRound2(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		start   int
		header  bool
		columns int
		repeats int
	}{
		{"padded title", "Temperature;;;\nYear;Jan;Feb;Mar\n1880;1;2;3\n", 1, true, 4, 0},
		{"line of delimiters", ";;;\n;2019;2020;\nFrance;1,5;2;\n", 1, true, 4, 0},
		{"years header", "2019;2020;2021\n12,5;13;14\n", 0, true, 3, 0},
		{"years as data", "1990;2001\n1991;2002\n", 0, false, 2, 0},
		{"codes without header", "01001;x;12\n2A004;y;13\n", 0, false, 3, 0},
		{"name above codes", "commune;nom\n01001;x\n2A004;y\n", 0, true, 2, 0},
		{"repeated at the top", "a;b\na;b\na;b\n1;2\n", 0, true, 2, 2},
		{"repeated inside", "a;b\n1;2\na;b\n3;4\n", 0, true, 2, 1},
		{"wide row", "a;b;c\n1;2;3;4\n", 0, true, 3, 0},
		{"trailing delimiters", "a;b\n1;2;\n3;4;\n", 0, true, 3, 0},
		{"key value block", "Source\tINSEE\nUnité\tnombre\n\ncode\tnom\tpop\n01001\tx\t1\n01002\ty\t2\n", 3, true, 3, 0},
		{"note above a table without header", "Source;INSEE\n1;2;3\n4;5;6\n", 1, false, 3, 0},
		{"sparse header above data", "nom;;\nx;1;2\ny;3;4\n", 0, true, 3, 0},
		{"title above years", "Emissions;;;\n;2019;2020;2021\nFrance;1,5;2;3\n", 1, true, 4, 0},
		{"notes with fewer fields", "Note;voir annexe\nid;nom;val\n1;a;2\n2;b;3\n", 1, true, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := SniffDialect([]byte(tt.text), true, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if d.Start != tt.start || d.Header != tt.header || d.Columns != tt.columns || d.RepeatedHeaders != tt.repeats {
				t.Errorf("start %d header %v columns %d repeats %d; want %d %v %d %d",
					d.Start, d.Header, d.Columns, d.RepeatedHeaders, tt.start, tt.header, tt.columns, tt.repeats)
			}
		})
	}
}

func TestDetectEscape(t *testing.T) {
	tests := []struct {
		text string
		want byte
	}{
		{"id;t\n1;\"il a dit \\\"oui\\\"\"\n", '\\'},
		{"id;t\n1;\"C:\\dir\\\"\n", '"'},
		{"id;t\n1;\"a \"\"b\"\"\"\n", '"'},
	}
	for _, tt := range tests {
		d, err := SniffDialect([]byte(tt.text), true, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Escape != tt.want {
			t.Errorf("escape of %q = %q, want %q", tt.text, d.Escape, tt.want)
		}
	}
}

func TestMarkupKind(t *testing.T) {
	tests := []struct{ head, want string }{
		{"<table border=1><tr><td>a</td></tr></table>", "an HTML fragment"},
		{"<!-- x -->", "an HTML or XML comment"},
		{"<rss version=\"2.0\">", "an RSS or Atom feed"},
		{"<donnees><l>1</l></donnees>", "XML"},
		{"<id>;<nom>\n1;x\n", ""}, // a header in angle brackets, no closing tag
		{"<5;6\n", ""},
		{"a;b\n", ""},
	}
	for _, tt := range tests {
		if got := markupKind([]byte(tt.head)); got != tt.want {
			t.Errorf("markupKind(%q) = %q, want %q", tt.head, got, tt.want)
		}
	}
}

func TestLineEndsCleaner(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a\r\nb\r\nc\n", "a\nb\nc\n"},
		{"a\nb\n\n\r\n", "a\nb\n\n\n"},
		{"a;x\ry\nb\n", "a;x y\nb\n"},
		{"a\rb\rc\n", "a\nb\nc\n"},
		{"a\r\r\nb\r\r\n", "a\r\nb\r\n"}, // CR CR LF alone is not mixed
		{"a\nb\n", "a\nb\n"},
	}
	for _, tt := range tests {
		var st, chunked textStats
		st.add([]byte(tt.in))
		// Chunks of 3 bytes split CRLF pairs across chunks.
		for i := 0; i < len(tt.in); i += 3 {
			chunked.add([]byte(tt.in[i:min(i+3, len(tt.in))]))
		}
		if !strings.Contains(tt.in, "\r\r\n") && (chunked.crlf != st.crlf || chunked.cr != st.cr || chunked.mixed() != st.mixed()) {
			t.Errorf("%q counted in chunks %+v, whole %+v", tt.in, chunked, st)
		}
		out, _, err := transform.String(st.cleaner(), tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if out != tt.want {
			t.Errorf("clean(%q) = %q, want %q (stats %+v)", tt.in, out, tt.want, st)
		}
	}
}
