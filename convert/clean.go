package convert

import (
	"bytes"

	"golang.org/x/text/transform"
)

// NUL bytes and line ends
//
// Decision: NUL bytes inside a text file (padding left by some exporters)
// are removed, not rejected: DuckDB would otherwise keep them in values, and
// a person opening the file in a spreadsheet does not see them. A file whose
// head is mostly NULs is binary (or UTF-16 without a BOM) and is refused by
// checkTabular. CR CR LF line ends (a CRLF file converted once more) become
// CRLF, which DuckDB reads; they would otherwise be read as an extra blank
// line per row.
//
// DuckDB reads one kind of line end per file and refuses the whole file
// ("state machine reached an invalid state") when another appears: a CRLF
// file whose last line ends with LF, an LF file that ends with CRLF, a
// stray CR inside a line (a cell of a spreadsheet with a line break). When
// the file mixes them, every line end becomes LF, and a lone CR in a file
// that has LF line ends is data, not a line end: it becomes a space (the
// line break in a cell that the exporter did not quote).

// cleaner is the transform that removes NUL bytes and turns CR CR LF into
// CR LF; with unify, it turns every line end into LF and, with strayCR,
// lone CRs into spaces.
type cleaner struct {
	transform.NopResetter
	unify   bool
	strayCR bool
}

// Transform implements transform.Transformer.
func (c cleaner) Transform(dst, src []byte, atEOF bool) (nDst, nSrc int, err error) {
	for nSrc < len(src) {
		// Copy the run up to the next NUL or CR at once: IndexByte is
		// vectorised, and most text has neither (or a CR per line).
		rest := src[nSrc:]
		run := len(rest)
		if i := bytes.IndexByte(rest, '\r'); i >= 0 {
			run = i
		}
		if i := bytes.IndexByte(rest[:run], 0); i >= 0 {
			run = i
		}
		if run > 0 {
			n := copy(dst[nDst:], rest[:run])
			nDst += n
			nSrc += n
			if n < run {
				return nDst, nSrc, transform.ErrShortDst
			}
			continue
		}
		b := src[nSrc]
		if b == 0 {
			nSrc++
			continue
		}
		if b == '\r' {
			if nSrc+2 >= len(src) && !atEOF {
				return nDst, nSrc, transform.ErrShortSrc // need two bytes of lookahead
			}
			next := func(i int) byte {
				if nSrc+i < len(src) {
					return src[nSrc+i]
				}
				return 0
			}
			if next(1) == '\r' && next(2) == '\n' {
				nSrc++ // drop the first CR
				continue
			}
			if c.unify {
				switch {
				case next(1) == '\n':
					nSrc++ // CRLF: keep the LF
					continue
				case c.strayCR:
					b = ' '
				default:
					b = '\n'
				}
			}
		}
		if nDst >= len(dst) {
			return nDst, nSrc, transform.ErrShortDst
		}
		dst[nDst] = b
		nDst++
		nSrc++
	}
	return nDst, nSrc, nil
}

// textStats counts the line ends of a text (CRLF pairs, and CR and LF
// bytes that are not part of one) and its double quotes. Feed it
// consecutive chunks with add.
type textStats struct {
	crlf, cr, lf int64
	quotes       int64 // an odd count: a quoted field is never closed (see resync.go)
	lastCR       bool  // the previous chunk ended with CR
	// lfChunks is set when a chunk without CR had LF line ends: they are
	// not counted (the fast path of LF files), only known to be there.
	lfChunks bool
}

// add counts the line ends and quotes of the next chunk. A chunk without
// CR costs two bytes.Count.
func (l *textStats) add(b []byte) {
	if len(b) == 0 {
		return
	}
	l.quotes += int64(bytes.Count(b, []byte{'"'}))
	cr := int64(bytes.Count(b, []byte{'\r'}))
	if cr == 0 && !l.lastCR {
		l.lfChunks = l.lfChunks || bytes.IndexByte(b, '\n') >= 0 // the fast path of LF files
		return
	}
	crlf := int64(bytes.Count(b, []byte("\r\n")))
	lf := int64(bytes.Count(b, []byte{'\n'}))
	if l.lastCR && b[0] == '\n' { // a CRLF split by the chunk boundary
		l.cr--
		crlf++
		lf--
	}
	l.crlf += crlf
	// CR CR LF is cleaned on its own: its first CR is no lone CR.
	l.cr += cr - int64(bytes.Count(b, []byte("\r\n"))) - int64(bytes.Count(b, []byte("\r\r\n")))
	l.lf += lf - int64(bytes.Count(b, []byte("\r\n")))
	l.lastCR = b[len(b)-1] == '\r'
}

// mixed reports whether the text mixes kinds of line ends (see the
// decision above); CR CR LF, handled on its own, does not count.
func (l *textStats) mixed() bool {
	kinds := 0
	for _, n := range []int64{l.crlf, l.cr, l.lf} {
		if n > 0 {
			kinds++
		}
	}
	if l.lfChunks && l.lf == 0 {
		kinds++
	}
	return kinds > 1
}

// cleaner returns the cleaner for a text with these line ends: lone CRs
// are stray when they are fewer than the other line ends, or when whole
// chunks end their lines with LF (a CR-only file whose last line ends with
// LF keeps its CRs as line ends).
func (l *textStats) cleaner() cleaner {
	if !l.mixed() {
		return cleaner{}
	}
	return cleaner{unify: true, strayCR: l.lfChunks || l.cr < l.lf+l.crlf}
}

// needsCleaning reports whether the head shows CR CR LF line ends.
func needsCleaning(head []byte) bool {
	return bytes.Contains(head, []byte("\r\r\n"))
}
