package convert

import (
	"bytes"

	"golang.org/x/text/transform"
)

// NUL bytes and CR CR LF line ends
//
// Decision: NUL bytes inside a text file (padding left by some exporters)
// are removed, not rejected: DuckDB would otherwise keep them in values, and
// a person opening the file in a spreadsheet does not see them. A file whose
// head is mostly NULs is binary (or UTF-16 without a BOM) and is refused by
// checkTabular. CR CR LF line ends (a CRLF file converted once more) become
// CRLF, which DuckDB reads; they would otherwise be read as an extra blank
// line per row.

// cleaner is the transform that removes NUL bytes and turns CR CR LF into
// CR LF.
type cleaner struct{ transform.NopResetter }

// Transform implements transform.Transformer.
func (cleaner) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		c := src[nSrc]
		if c == 0 {
			nSrc++
			continue
		}
		if c == '\r' {
			if nSrc+2 >= len(src) && !atEOF {
				return nDst, nSrc, transform.ErrShortSrc // need two bytes of lookahead
			}
			if nSrc+2 < len(src) && src[nSrc+1] == '\r' && src[nSrc+2] == '\n' {
				nSrc++ // drop the first CR
				continue
			}
		}
		if nDst >= len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		dst[nDst] = c
		nDst++
		nSrc++
	}
	return nDst, nSrc, nil
}

// needsCleaning reports whether the head shows CR CR LF line ends.
func needsCleaning(head []byte) bool {
	return bytes.Contains(head, []byte("\r\r\n"))
}
