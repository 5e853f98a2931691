package convert

import (
	"bytes"
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/saintfish/chardet"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/unicode"
)

// Encodings beyond Western ones
//
// A file that is not valid UTF-8 is most often Windows-1252 (French open
// data), but portals also publish Big5, GB18030, Shift_JIS, EUC-KR,
// Cyrillic (Windows-1251, KOI8-R), Central European (Windows-1250,
// ISO-8859-2), Greek and Arabic files. Telling them apart is statistics on
// byte pairs and letter frequencies, which ICU's detector does well:
// github.com/saintfish/chardet is its Go port (see README, Dependencies).
// It reads at most 8 KB, so it is given the 8 KB around the first non-ASCII
// byte (a file whose first accent is on line 10,000 is decided by it). Its
// answer is taken when it is confident enough and decodes that sample
// without a replacement character; otherwise the file is Windows-1252, as
// before. UTF-16 without a BOM is recognised before any of this, from the
// NUL bytes in every other position of the head.

// minConfidence is the detector confidence (0–100) below which a
// non-Western answer is not believed.
const minConfidence = 20

// minHighBytes is the number of non-ASCII bytes a sample needs before a
// non-Western answer is believed: on a few accents, the detector's
// statistics say little (one é reads as KOI8-R's И), and Windows-1252 is
// by far the likeliest.
const minHighBytes = 16

// charsetLabels maps the detector's names to labels LookupEncoding knows.
// ISO-8859-1 is read as Windows-1252, its superset for text (as browsers
// do); the Western Europe results are one answer for csvapi.
var charsetLabels = map[string]string{
	"ISO-8859-1": EncodingCP1252, "windows-1252": EncodingCP1252,
	"ISO-8859-2": "iso-8859-2", "windows-1250": "windows-1250",
	"ISO-8859-5": "iso-8859-5", "windows-1251": "windows-1251", "KOI8-R": "koi8-r",
	"ISO-8859-6": "iso-8859-6", "windows-1256": "windows-1256",
	"ISO-8859-7": "iso-8859-7", "windows-1253": "windows-1253",
	"ISO-8859-8": "iso-8859-8", "ISO-8859-8-I": "iso-8859-8-i", "windows-1255": "windows-1255",
	"ISO-8859-9": "windows-1254", "windows-1254": "windows-1254",
	"Shift_JIS": "shift_jis", "EUC-JP": "euc-jp", "EUC-KR": "euc-kr",
	"GB-18030": "gb18030", "Big5": "big5",
}

// centralEuropean are the languages of the detector's ISO-8859-2 models.
// The Go port builds those models with the ISO-8859-1 constructor, so they
// come back named ISO-8859-1 (windows-1252 when C1 bytes are present) with
// one of these languages: the name is corrected here.
var centralEuropean = map[string]bool{"cs": true, "hu": true, "pl": true, "ro": true}

// charsetOf returns the label of a detector result, fixing the names of
// the ISO-8859-2 models (see centralEuropean).
func charsetOf(r chardet.Result) (string, bool) {
	if centralEuropean[r.Language] {
		switch r.Charset {
		case "ISO-8859-1":
			return "iso-8859-2", true
		case "windows-1252":
			return "windows-1250", true
		}
	}
	label, ok := charsetLabels[r.Charset]
	return label, ok
}

// detectLegacy returns the decoder, name and confidence (0–100) of a text
// that is not UTF-8, from head, the start of the file (up to headLen
// bytes): the detector's answer when it is believed, else Windows-1252,
// with the detector's confidence in a Western-named answer (0 when it has
// none).
func detectLegacy(head []byte) (encoding.Encoding, string, int) {
	sample := legacySample(head)
	fallback, name, _ := LookupEncoding(EncodingCP1252)
	results, err := chardet.NewTextDetector().DetectAll(sample)
	if err != nil {
		return fallback, name, 0
	}
	sortResults(results)
	high := 0
	for _, c := range sample {
		if c >= 0x80 {
			high++
		}
	}
	// The detector keeps one result per name, and its Central European
	// models answer under the Western names (see centralEuropean): on equal
	// confidence, which of the two it kept depends on goroutine timing. The
	// fallback's confidence is therefore that of the best Western-named
	// answer, whichever model gave it, so the same file always reports the
	// same confidence.
	western := 0
	for _, r := range results {
		if r.Charset == "ISO-8859-1" || r.Charset == "windows-1252" {
			western = max(western, r.Confidence)
		}
	}
	for _, r := range results {
		label, ok := charsetOf(r)
		switch {
		case !ok:
			continue // UTF-*, ISO-2022, EBCDIC: not what a non-UTF-8 CSV is
		case label == EncodingCP1252:
			return fallback, name, r.Confidence
		case high < minHighBytes || r.Confidence < minConfidence:
			continue // only a Western answer is believed on little evidence
		}
		enc, canonical, err := LookupEncoding(label)
		if err != nil || !decodesCleanly(enc, sample) {
			continue
		}
		return enc, canonical, r.Confidence
	}
	return fallback, name, western
}

// legacySample returns up to 8 KB of head starting at the line of the first
// non-ASCII byte (or a little before it).
func legacySample(head []byte) []byte {
	const size = 8 << 10
	i := bytes.IndexFunc(head, func(r rune) bool { return r >= 0x80 || r == utf8.RuneError })
	if i < 0 {
		return head[:min(len(head), size)]
	}
	start := max(0, i-512)
	if nl := bytes.LastIndexByte(head[start:i], '\n'); nl >= 0 {
		start += nl + 1
	}
	return head[start:min(len(head), start+size)]
}

// decodesCleanly reports whether enc decodes sample without replacement
// characters (a cut multi-byte character at the very end is allowed).
func decodesCleanly(enc encoding.Encoding, sample []byte) bool {
	out, err := enc.NewDecoder().Bytes(sample)
	if err != nil {
		return false
	}
	bad := strings.Count(string(out), "\uFFFD")
	return bad == 0 || (bad == 1 && strings.HasSuffix(string(out), "\uFFFD"))
}

// detectUTF16 recognises UTF-16 without a BOM in the head: text tables are
// mostly ASCII, so one byte of each pair is NUL (the high byte: odd
// positions in little-endian, even ones in big-endian) while the other
// almost never is. It returns the decoder and name, or nil.
func detectUTF16(head []byte) (encoding.Encoding, string) {
	n := len(head) &^ 1
	if n < 8 {
		return nil, ""
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if head[i] == 0 {
			even++
		}
		if head[i+1] == 0 {
			odd++
		}
	}
	pairs := n / 2
	switch {
	case odd*10 >= pairs*6 && even*50 <= pairs:
		return unicode.UTF16(unicode.LittleEndian, unicode.IgnoreBOM), EncodingUTF16LE
	case even*10 >= pairs*6 && odd*50 <= pairs:
		return unicode.UTF16(unicode.BigEndian, unicode.IgnoreBOM), EncodingUTF16BE
	}
	return nil, ""
}

// tiePriority orders detector answers of equal confidence, most common on
// open-data portals first. The detector runs its recognisers concurrently
// and sorts them unstably, so ties come back in any order: without this,
// the same file could be read as GB18030 once and EUC-KR the next time.
var tiePriority = []string{"windows-1252", "ISO-8859-1", "GB-18030", "Big5", "Shift_JIS", "EUC-JP", "EUC-KR"}

// sortResults sorts results by confidence, then by tiePriority, then by
// name: the same input always gives the same answer.
func sortResults(results []chardet.Result) {
	rank := func(charset string) int {
		if i := slices.Index(tiePriority, charset); i >= 0 {
			return i
		}
		return len(tiePriority)
	}
	slices.SortStableFunc(results, func(a, b chardet.Result) int {
		if a.Confidence != b.Confidence {
			return cmp.Compare(b.Confidence, a.Confidence)
		}
		if ra, rb := rank(a.Charset), rank(b.Charset); ra != rb {
			return cmp.Compare(ra, rb)
		}
		return cmp.Compare(a.Charset, b.Charset)
	})
}
