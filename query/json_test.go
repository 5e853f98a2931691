package query

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
)

func TestAppendValue(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"int", int64(42), `42`},
		{"negative int", int64(-7), `-7`},
		{"2^53", int64(9007199254740992), `9007199254740992`},
		{"2^53+1 normalised", normalize(int64(9007199254740993), formDefault), `"9007199254740993"`},
		{"2^53+1 raw", int64(9007199254740993), `"9007199254740993"`},
		{"-2^53-1", int64(-9007199254740993), `"-9007199254740993"`},
		{"int32", int32(5), `5`},
		{"uint64 big", uint64(math.MaxUint64), `"18446744073709551615"`},
		{"float", 12.5, `12.5`},
		{"float 0.1", 0.1, `0.1`},
		{"float 1e21", 1e21, `1e+21`},
		{"float 1e20", 1e20, `100000000000000000000`},
		{"float 1e-7", 1e-7, `1e-7`},
		{"float zero", 0.0, `0`},
		{"float32 0.1", normalize(float32(0.1), formDefault), `0.1`},
		{"NaN", math.NaN(), `null`},
		{"NaN normalised", normalize(math.NaN(), formDefault), `null`},
		{"Inf", math.Inf(1), `null`},
		{"true", true, `true`},
		{"false", false, `false`},
		{"nil", nil, `null`},
		{"decimal", json.Number("123.45"), `123.45`},
		{"string", "plain", `"plain"`},
		{"quotes", `say "hi" \o/`, `"say \"hi\" \\o/"`},
		{"newlines", "a\nb\r\tc", `"a\nb\r\tc"`},
		{"control", "\x00\x01\x1f\x7f", `"\u0000\u0001\u001f` + "\x7f" + `"`},
		{"backspace formfeed", "\b\f", `"\b\f"`},
		{"line separators", "a\u2028b\u2029c", `"a\u2028b\u2029c"`},
		{"invalid UTF-8", "a\xffb\xc3", `"a\ufffdb\ufffd"`},
		{"html", "<a&b>", `"<a&b>"`},
		{"accents", "Éloïse €", `"Éloïse €"`},
		{"bytes", []byte("raw"), `"raw"`},
		{"date", normalize(time.Date(2024, 1, 31, 0, 0, 0, 0, time.UTC), formDate), `"2024-01-31"`},
		{"timestamp", normalize(time.Date(2024, 1, 31, 10, 2, 3, 0, time.UTC), formTimestamp), `"2024-01-31T10:02:03"`},
		{"timestamp frac", normalize(time.Date(2024, 1, 31, 10, 2, 3, 5e8, time.UTC), formTimestamp), `"2024-01-31T10:02:03.5"`},
		{"other", struct{ A int }{1}, `"{1}"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := string(appendValue(nil, tt.in))
			if got != tt.want {
				t.Errorf("appendValue(%#v) = %s, want %s", tt.in, got, tt.want)
			}
			if !json.Valid([]byte(got)) {
				t.Errorf("appendValue(%#v) = %s, not valid JSON", tt.in, got)
			}
		})
	}
}

// TestAppendFloatLikeEncodingJSON uses encoding/json as the oracle.
func TestAppendFloatLikeEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 0.1, 12.5, 1e20, 1e21, 1.5e300, 1e-6, 9.99e-7, 1e-7, 5e-324,
		math.MaxFloat64, -123456.789, 1 << 53, 0.30000000000000004} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("appendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

// encodingJSONString is what encoding/json writes for s, HTML left as is.
func encodingJSONString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	return string(bytes.TrimSuffix(b.Bytes(), []byte("\n")))
}

func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "a", "\"\\", "\x00\x1f", "\u2028", "\xff\xfe", "é\xc3", "<&>", "\t\n\r\b\f"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := string(appendString(nil, s))
		want := encodingJSONString(s)
		var gotBack, wantBack string
		if err := json.Unmarshal([]byte(got), &gotBack); err != nil {
			t.Fatalf("appendString(%q) = %s: %v", s, got, err)
		}
		if err := json.Unmarshal([]byte(want), &wantBack); err != nil {
			t.Fatal(err)
		}
		if gotBack != wantBack {
			t.Errorf("appendString(%q) decodes to %q, want %q", s, gotBack, wantBack)
		}
		// encoding/json writes \u0008 and \u000c where appendString writes
		// the shorter \b and \f; otherwise the bytes must be the same.
		if !strings.ContainsAny(s, "\b\f") && got != want {
			t.Errorf("appendString(%q) = %s, want %s", s, got, want)
		}
	})
}

func TestAppendRowsJSON(t *testing.T) {
	p := &Page{
		Columns: []string{"rowid", "name", `quo"te`, "n"},
		Kinds:   []convert.Kind{convert.KindInteger, convert.KindString, convert.KindString, convert.KindNumber},
		Rows: [][]any{
			{int64(1), "Alice", "x\ny", 12.5},
			{int64(2), nil, "\u2028", math.NaN()},
		},
	}
	tests := []struct {
		objects bool
		want    string
	}{
		{false, `[[1,"Alice","x\ny",12.5],[2,null,"\u2028",null]]`},
		{true, `[{"rowid":1,"name":"Alice","quo\"te":"x\ny","n":12.5},{"rowid":2,"name":null,"quo\"te":"\u2028","n":null}]`},
	}
	for _, tt := range tests {
		got := p.AppendRowsJSON([]byte("x"), tt.objects)
		if string(got) != "x"+tt.want {
			t.Errorf("AppendRowsJSON(objects=%v) =\n%s\nwant\n%s", tt.objects, got, "x"+tt.want)
		}
		if !json.Valid(got[1:]) {
			t.Errorf("AppendRowsJSON(objects=%v) = %s, not valid JSON", tt.objects, got[1:])
		}
	}
	empty := &Page{Columns: []string{"rowid"}}
	for _, objects := range []bool{false, true} {
		if got := string(empty.AppendRowsJSON(nil, objects)); got != "[]" {
			t.Errorf("empty page (objects=%v) = %s, want []", objects, got)
		}
	}
}

func BenchmarkAppendRowsJSON(b *testing.B) {
	p := &Page{Columns: []string{"rowid", "id", "name", "price", "ok", "day", "note", "big"}}
	for i := range 20 {
		p.Rows = append(p.Rows, []any{
			int64(i + 1), int64(1000 + i), "Commune de Saint-Étienne", 1234.5 + float64(i),
			i%2 == 0, "2024-01-31", "a \"quoted\"\nnote", nil,
		})
	}
	for _, objects := range []bool{false, true} {
		name := "lists"
		if objects {
			name = "objects"
		}
		b.Run(name, func(b *testing.B) {
			buf := p.AppendRowsJSON(nil, objects)
			b.SetBytes(int64(len(buf)))
			b.ReportAllocs()
			for b.Loop() {
				buf = p.AppendRowsJSON(buf[:0], objects)
			}
		})
	}
}
