package convert

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// TestSingleByteDecoder: the table decoder gives byte for byte what
// x/text's decoder gives, for every single-byte encoding it accepts, on
// every byte value and on random text cut into small chunks.
func TestSingleByteDecoder(t *testing.T) {
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	random := make([]byte, 100_000)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range random {
		random[i] = byte(r.IntN(256))
	}
	accepted := 0
	for _, enc := range charmap.All {
		d, ok := newSingleByteDecoder(enc)
		if !ok {
			continue
		}
		accepted++
		for _, in := range [][]byte{all, random} {
			want, err := enc.NewDecoder().Bytes(in)
			if err != nil {
				t.Fatal(err)
			}
			// A small destination buffer exercises ErrShortDst.
			got, _, err := transform.Bytes(d, in)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%v: the table decoder differs from x/text's", enc)
			}
			var small bytes.Buffer
			w := transform.NewWriter(&small, d)
			for i := 0; i < len(in); i += 7 {
				w.Write(in[i:min(i+7, len(in))])
			}
			w.Close()
			if !bytes.Equal(small.Bytes(), want) {
				t.Errorf("%v: written in chunks, the table decoder differs from x/text's", enc)
			}
		}
	}
	if _, ok := newSingleByteDecoder(charmap.Windows1252); !ok {
		t.Error("Windows-1252 has no table decoder")
	}
	if _, ok := newSingleByteDecoder(charmap.CodePage037); ok {
		t.Error("EBCDIC (CodePage037) got a table decoder: its lower half is not ASCII")
	}
	var none encoding.Encoding
	if _, ok := newSingleByteDecoder(none); ok {
		t.Error("a nil encoding got a table decoder")
	}
	t.Logf("%d single-byte encodings decoded by table", accepted)
}
