package convert

import (
	"encoding/binary"
	"unicode/utf8"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"
)

// singleByteDecoder decodes a single-byte encoding whose lower half is
// ASCII (Windows-1252, ISO-8859-*, Windows-125x, KOI8-R, Mac Roman …) to
// UTF-8 with one table: ASCII bytes are copied, the upper half is looked
// up. It gives exactly what x/text's charmap decoder gives (the table is
// built from it) several times faster, which matters because a
// Windows-1252 file is transcoded whole before DuckDB reads it.
type singleByteDecoder struct {
	transform.NopResetter
	upper [128][4]byte // UTF-8 of bytes 0x80–0xFF; [3] is its length
}

var _ transform.Transformer = (*singleByteDecoder)(nil)

// newSingleByteDecoder returns the table decoder of enc, or false when enc
// is not a single-byte encoding with an ASCII lower half (UTF-16, the
// multi-byte Asian encodings, EBCDIC code pages).
func newSingleByteDecoder(enc encoding.Encoding) (*singleByteDecoder, bool) {
	cm, ok := enc.(*charmap.Charmap)
	if !ok {
		return nil, false
	}
	d := &singleByteDecoder{}
	for b := range 256 {
		r := cm.DecodeByte(byte(b))
		if b < 0x80 {
			if r != rune(b) {
				return nil, false
			}
			continue
		}
		if utf8.RuneLen(r) > 3 {
			return nil, false // never for a charmap: they map into the BMP
		}
		e := &d.upper[b-0x80]
		e[3] = byte(utf8.EncodeRune(e[:3], r))
	}
	return d, true
}

// Transform implements transform.Transformer.
func (d *singleByteDecoder) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		// Copy the run of ASCII bytes, eight at a time while none has its
		// high bit set: most of a Western text.
		i := nSrc
		for i+8 <= len(src) && binary.LittleEndian.Uint64(src[i:])&0x8080808080808080 == 0 {
			i += 8
		}
		for i < len(src) && src[i] < 0x80 {
			i++
		}
		if i > nSrc {
			n := copy(dst[nDst:], src[nSrc:i])
			nDst += n
			nSrc += n
			if nSrc < i {
				return nDst, nSrc, transform.ErrShortDst
			}
			continue
		}
		e := &d.upper[src[nSrc]-0x80]
		n := int(e[3])
		if nDst+n > len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		copy(dst[nDst:], e[:n])
		nDst += n
		nSrc++
	}
	return nDst, nSrc, nil
}
