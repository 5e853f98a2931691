package convert

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"os"
)

// Unterminated quotes
//
// A quoted field whose closing quote is missing makes DuckDB read the rest
// of the file as one value, rejected as a whole: every line after it is
// lost. When a file holds an odd number of double quotes (counted during
// Normalize's scan, so that other files pay nothing), resyncFile copies it
// with the opening quote of each field that never closes doubled: the line
// becomes one that DuckDB rejects on its own ("unquoted value", its raw
// text showing the doubled quote), and reading goes on at the next line.
// A field is taken as never closed when the file ends before its closing
// quote, or when it runs longer than maxQuotedBytes (DuckDB refuses longer
// lines anyway). The delimiter is not known yet: a quote opens a field at
// the start of a line or after any candidate delimiter.

// maxQuotedBytes is the longest a quoted field spanning lines may be.
var maxQuotedBytes = 2 << 20

// resyncFile copies the text at path to w, fixing unterminated quotes.
func resyncFile(path string, w io.Writer) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return resync(bufio.NewReaderSize(f, 1<<20), w)
}

// resync copies r to w, doubling the opening quote of every quoted field
// that is never closed (see above). Line ends are LF or CRLF; a CR-only
// text is one line to it and is copied unchanged.
func resync(r *bufio.Reader, w io.Writer) error {
	var (
		queue   [][]byte // lines to process again after a failed field, first first
		pending [][]byte // lines of the open record, from its first
		size    int
		openCol int // position of the opening quote in pending[0]
		eof     bool
	)
	// fail writes the open record's first line with its quote doubled and
	// queues the others to be read again from a closed state.
	fail := func() error {
		first := pending[0]
		fixed := make([]byte, 0, len(first)+1)
		fixed = append(append(append(fixed, first[:openCol]...), '"'), first[openCol:]...)
		if _, err := w.Write(fixed); err != nil {
			return err
		}
		queue = append(pending[1:len(pending):len(pending)], queue...)
		pending, size = nil, 0
		return nil
	}
	for {
		var line []byte
		switch {
		case len(queue) > 0:
			line, queue = queue[0], queue[1:]
		case !eof:
			var err error
			line, err = r.ReadBytes('\n')
			if errors.Is(err, io.EOF) {
				eof = true
			} else if err != nil {
				return err
			}
		}
		if len(line) == 0 {
			if eof && len(queue) == 0 {
				if pending == nil {
					return nil
				}
				if err := fail(); err != nil {
					return err
				}
			}
			continue
		}
		if pending == nil {
			open, col, _ := quoteState(line, false)
			if !open {
				if _, err := w.Write(line); err != nil {
					return err
				}
				continue
			}
			pending, size, openCol = [][]byte{line}, len(line), col
			continue
		}
		pending = append(pending, line)
		size += len(line)
		if open, _, stray := quoteState(line, true); stray {
			// Text right after the quote that would close the field: that
			// quote opens a field of its own line, the first one never closed.
			if err := fail(); err != nil {
				return err
			}
		} else if !open {
			for _, l := range pending {
				if _, err := w.Write(l); err != nil {
					return err
				}
			}
			pending, size = nil, 0
		} else if size > maxQuotedBytes {
			if err := fail(); err != nil {
				return err
			}
		}
	}
}

// quoteState scans one line, inside a quoted field at its start when
// inQuotes, and reports whether a quoted field is open at its end, when it
// was opened on this line the position of its opening quote, and whether
// the field open at the start closes with text right after its closing
// quote (not a delimiter nor a line end).
func quoteState(line []byte, inQuotes bool) (open bool, col int, stray bool) {
	first := inQuotes
	fieldStart := !inQuotes
	col = -1
	for i := 0; i < len(line); i++ {
		c := line[i]
		if inQuotes {
			if c == '"' {
				if i+1 < len(line) && line[i+1] == '"' {
					i++
					continue
				}
				inQuotes = false
				if first && i+1 < len(line) && !isFieldEnd(line[i+1]) {
					return false, -1, true
				}
				first = false
			}
			continue
		}
		switch {
		case c == '"' && fieldStart:
			inQuotes, col = true, i
		case isFieldEnd(c):
			fieldStart = true
			continue
		}
		fieldStart = false
	}
	return inQuotes, col, false
}

// isFieldEnd reports whether c ends a field: a candidate delimiter or a
// line end.
func isFieldEnd(c byte) bool {
	return c == '\n' || c == '\r' || bytes.IndexByte(candidateDelimiters, c) >= 0
}
