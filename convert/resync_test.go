package convert

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
)

func TestResync(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"balanced", "a;b\n1;\"x\"\n", "a;b\n1;\"x\"\n"},
		{"quoted line end", "a;b\n1;\"x\ny\"\n2;z\n", "a;b\n1;\"x\ny\"\n2;z\n"},
		{"never closed", "a;b\n1;\"x\n2;y\n", "a;b\n1;\"\"x\n2;y\n"},
		{"closed with text after", "a;b\n1;\"x\n2;\"y\"\n", "a;b\n1;\"\"x\n2;\"y\"\n"},
		{"two in a row", "a\n\"x\n\"y\nz\n", "a\n\"\"x\n\"\"y\nz\n"},
		{"crlf", "a,b\r\n1,\"x\r\n2,y\r\n", "a,b\r\n1,\"\"x\r\n2,y\r\n"},
		{"quote inside a value", "a;b\n1;5\" pipe\n", "a;b\n1;5\" pipe\n"},
		{"no final line end", "a;b\n1;\"x", "a;b\n1;\"\"x"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			if err := resync(bufio.NewReader(strings.NewReader(tt.in)), &out); err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.want {
				t.Errorf("resync(%q) = %q, want %q", tt.in, out.String(), tt.want)
			}
		})
	}
}

func TestResyncLongField(t *testing.T) {
	defer func(n int) { maxQuotedBytes = n }(maxQuotedBytes)
	maxQuotedBytes = 20
	in := "a;b\n1;\"x\n" + strings.Repeat("2;y\n", 10) + "3;\"z\"\n"
	var out bytes.Buffer
	if err := resync(bufio.NewReader(strings.NewReader(in)), &out); err != nil {
		t.Fatal(err)
	}
	if want := strings.Replace(in, "1;\"x", "1;\"\"x", 1); out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}

// FuzzResync checks that resync only ever inserts quotes, keeps every line,
// and leaves no quoted field open at the end of the text.
//
//	go test -run '^$' -fuzz FuzzResync -fuzztime 1m ./convert/
func FuzzResync(f *testing.F) {
	for _, s := range []string{
		"a;b\n1;\"x\n2;y\n", "\"\"\"\n\"", "a,\"b\r\n\"c\"d\n", "x\t\"\"y\"\n\"", "\"a\"\"\nb\"\"\"\n\"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		var out bytes.Buffer
		if err := resync(bufio.NewReader(bytes.NewReader(in)), &out); err != nil {
			t.Fatal(err)
		}
		got := out.Bytes()
		if !bytes.Equal(bytes.ReplaceAll(got, []byte{'"'}, nil), bytes.ReplaceAll(in, []byte{'"'}, nil)) {
			t.Fatalf("resync changed more than quotes:\nin  %q\nout %q", in, got)
		}
		if bytes.Count(got, []byte{'"'}) < bytes.Count(in, []byte{'"'}) {
			t.Fatalf("resync removed quotes:\nin  %q\nout %q", in, got)
		}
		open := false
		for _, line := range bytes.SplitAfter(got, []byte{'\n'}) {
			open, _, _ = quoteState(line, open)
		}
		if open {
			t.Fatalf("a quoted field is still open:\nin  %q\nout %q", in, got)
		}
	})
}
