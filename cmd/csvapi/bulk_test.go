package main

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"encoding/binary"
	"hash/crc32"
	"io"
	"testing"
)

// bulk is large content of a simple shape: head, then unit n times, then
// tail. The bombs of these tests are made of it, compressed in
// milliseconds: compress/flate takes about a minute for 80 MB under the
// race detector on a loaded machine, which was most of the time of the
// tests that use them.
type bulk struct {
	head, unit, tail []byte
	n                int
}

// repeated is unit n times.
func repeated(unit []byte, n int) bulk { return bulk{unit: unit, n: n} }

// size is the length of the content.
func (b bulk) size() int { return len(b.head) + b.n*len(b.unit) + len(b.tail) }

// bytes returns the content itself.
func (b bulk) bytes() []byte {
	out := make([]byte, 0, b.size())
	out = append(out, b.head...)
	for range b.n {
		out = append(out, b.unit...)
	}
	return append(out, b.tail...)
}

// deflate returns the content as a raw DEFLATE stream, and its CRC-32.
// Each piece is compressed once from a fresh compressor and ends with a
// flush, which aligns it to a byte and refers only to its own bytes: the
// unit's piece can be written n times, and the pieces concatenated.
func (b bulk) deflate() ([]byte, uint32) {
	unit := deflatePiece(b.unit)
	var out bytes.Buffer
	out.Write(deflatePiece(b.head))
	for range b.n {
		out.Write(unit)
	}
	out.Write(deflatePiece(b.tail))
	out.Write([]byte{1, 0, 0, 0xff, 0xff}) // the final block: stored, empty
	crc := crc32.Update(0, crc32.IEEETable, b.head)
	for range b.n {
		crc = crc32.Update(crc, crc32.IEEETable, b.unit)
	}
	return out.Bytes(), crc32.Update(crc, crc32.IEEETable, b.tail)
}

// deflatePiece compresses p as non-final DEFLATE blocks ending on a byte
// boundary.
func deflatePiece(p []byte) []byte {
	var out bytes.Buffer
	fw, _ := flate.NewWriter(&out, flate.BestCompression)
	fw.Write(p)
	fw.Flush()
	return out.Bytes()
}

// gzip returns the content as a gzip file.
func (b bulk) gzip() []byte {
	raw, crc := b.deflate()
	out := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff} // deflate, no name, no time, unknown OS
	out = append(out, raw...)
	out = binary.LittleEndian.AppendUint32(out, crc)
	return binary.LittleEndian.AppendUint32(out, uint32(b.size()))
}

// addTo adds the content to zw as the deflated entry name.
func (b bulk) addTo(t *testing.T, zw *zip.Writer, name string) {
	t.Helper()
	raw, crc := b.deflate()
	w, err := zw.CreateRaw(&zip.FileHeader{Name: name, Method: zip.Deflate, CRC32: crc,
		CompressedSize64: uint64(len(raw)), UncompressedSize64: uint64(b.size())})
	if err == nil {
		_, err = w.Write(raw)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// zipEntry is the content of a zip entry, which adds itself to a zip file.
type zipEntry interface {
	addTo(t *testing.T, zw *zip.Writer, name string)
}

// stored is content added to a zip file without compression: cheap to
// write when content is too varied to be made of a repeated unit.
type stored []byte

func (s stored) addTo(t *testing.T, zw *zip.Writer, name string) {
	t.Helper()
	w, err := zw.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Store})
	if err == nil {
		_, err = w.Write(s)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestBulk checks that the gzip and zip forms of bulk content decompress
// to the content, with valid checksums (both readers verify them).
func TestBulk(t *testing.T) {
	b := bulk{head: []byte("a,b\n"), unit: []byte("1,22,333\n"), n: 5000, tail: []byte("end\n")}
	want := b.bytes()
	zr, err := gzip.NewReader(bytes.NewReader(b.gzip()))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(zr); err != nil || !bytes.Equal(got, want) {
		t.Errorf("gzip: %d bytes, %v; want the %d bytes of the content", len(got), err, len(want))
	}
	var z bytes.Buffer
	zw := zip.NewWriter(&z)
	b.addTo(t, zw, "x.csv")
	zw.Close()
	r, err := zip.NewReader(bytes.NewReader(z.Bytes()), int64(z.Len()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := r.File[0].Open()
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(f); err != nil || !bytes.Equal(got, want) || r.File[0].UncompressedSize64 != uint64(len(want)) {
		t.Errorf("zip: %d bytes (declared %d), %v; want the %d bytes of the content", len(got), r.File[0].UncompressedSize64, err, len(want))
	}
}
