package convert

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/text/encoding/charmap"
)

// benchCSV returns a ~32 MB French CSV (accents on every line), in UTF-8 or
// encoded as Windows-1252.
func benchCSV(b *testing.B, cp1252 bool) string {
	b.Helper()
	var sb strings.Builder
	sb.WriteString("code;nom;population;superficie;date\n")
	for i := 0; sb.Len() < 32<<20; i++ {
		fmt.Fprintf(&sb, "%05d;Saint-Étienne-de-%d;%d;%d,%02d;%02d/%02d/2023\n", i%97000, i, i*7%100000, i%1000, i%100, i%28+1, i%12+1)
	}
	data := []byte(sb.String())
	if cp1252 {
		var err error
		if data, err = charmap.Windows1252.NewEncoder().Bytes(data); err != nil {
			b.Fatal(err)
		}
	}
	p := filepath.Join(b.TempDir(), "in.csv")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkNormalize measures the normalizing step's throughput (MB/s of
// source bytes): a full UTF-8 validation scan for UTF-8 input, decoding
// plus cleaning for Windows-1252.
//
//	go test -run '^$' -bench Normalize -benchtime 5x ./convert/
func BenchmarkNormalize(b *testing.B) {
	for _, cp := range []bool{false, true} {
		name := "utf8"
		if cp {
			name = "cp1252"
		}
		b.Run(name, func(b *testing.B) {
			src := benchCSV(b, cp)
			st, _ := os.Stat(src)
			b.SetBytes(st.Size())
			dir := b.TempDir()
			b.ResetTimer()
			for range b.N {
				n, err := Normalize(context.Background(), src, dir, "", 1<<40)
				if err != nil {
					b.Fatal(err)
				}
				if n.Path != src {
					os.Remove(n.Path)
				}
			}
		})
	}
}

// BenchmarkTextStats measures the line-end and quote counting that
// Normalize adds to its UTF-8 scan (and runs alone on other encodings), on
// 32 MB of LF text in memory.
func BenchmarkTextStats(b *testing.B) {
	data, err := os.ReadFile(benchCSV(b, false))
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var st textStats
		for i := 0; i < len(data); i += 1 << 20 {
			st.add(data[i:min(i+1<<20, len(data))])
		}
	}
}

// BenchmarkDetectLegacy measures the encoding detector on the head of a
// Windows-1252 file (it runs once per non-UTF-8 file).
func BenchmarkDetectLegacy(b *testing.B) {
	head, _, err := readHeadN(benchCSV(b, true), headLen)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, name, _ := detectLegacy(head); name != EncodingCP1252 {
			b.Fatalf("detected %s", name)
		}
	}
}
