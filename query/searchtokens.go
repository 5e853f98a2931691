package query

// This file holds the token index that answers q without DuckDB: the
// distinct words of a table's folded text, each with the rows that hold it.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"math"
	"math/bits"
	"slices"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// errTokensTooLarge stops a token index build past its memory budget.
var errTokensTooLarge = errors.New("search token index over its memory budget")

// tokenIndex maps the tokens of a table's folded text (maximal runs of
// letters and digits, see isTokenRune) to the sorted rowids that hold them.
//
// It answers a folded word made only of letters and digits exactly as
// contains(folded row, word) does: such a word can only occur inside one
// token of the row, so the rows holding it are those of the tokens that
// contain it. A word with other characters (saint-etienne, 12,5) occurs
// only in rows that hold each of its runs of letters and digits; those
// candidates are checked against the folded text of the row, kept when the
// budget allows (texts).
type tokenIndex struct {
	rows     int64    // rowids are below rows
	vocab    []byte   // every token followed by a 0 byte, in id order
	starts   []uint32 // offset of each token in vocab
	offsets  []uint32 // postings of token i are postings[offsets[i]:offsets[i+1]]
	postings []uint32 // rowids, ascending within a token
	texts    []byte   // folded text of every row, in rowid order; nil when over budget
	textEnds []uint32 // row r's text is texts[textEnds[r-1]:textEnds[r]] (from 0 for row 0)
}

// isTokenRune says which characters tokens are made of. Everything else
// (spaces, punctuation, the column separator chr(31)) separates tokens.
func isTokenRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsNumber(r) }

// tokenWord reports whether a folded word is one the index answers: only
// letters and digits, and no 0 byte (the vocabulary's separator).
func tokenWord(w string) bool {
	for _, r := range w {
		if !isTokenRune(r) {
			return false
		}
	}
	return true
}

// tokenBuilder accumulates the tokens of rows given in any order.
type tokenBuilder struct {
	ids      map[string]uint32
	lists    [][]uint32
	last     []int64 // last row added to each list: a token counts once per row
	sorted   bool    // rows came in ascending order
	prev     int64
	maxRow   int64
	size     int64 // approximate bytes held by the tokens
	maxBytes int64
	// texts are kept while rows come as 0, 1, 2… and they fit in the
	// budget beside the tokens; dropped (nil, noTexts) otherwise.
	texts    []byte
	textEnds []uint32
	noTexts  bool
}

func newTokenBuilder(maxBytes int64) *tokenBuilder {
	return &tokenBuilder{ids: map[string]uint32{}, sorted: true, prev: -1, maxRow: -1, maxBytes: maxBytes}
}

// add records the tokens of the folded text s of row r.
func (b *tokenBuilder) add(r int64, s string) error {
	if r < 0 || r >= math.MaxUint32 {
		return errTokensTooLarge
	}
	if r <= b.prev {
		b.sorted = false
	}
	b.keepText(r, s)
	b.prev, b.maxRow = r, max(b.maxRow, r)
	start := -1
	for i, c := range s {
		if isTokenRune(c) {
			if start < 0 {
				start = i
			}
			continue
		}
		if start >= 0 {
			b.token(r, s[start:i])
			start = -1
		}
	}
	if start >= 0 {
		b.token(r, s[start:])
	}
	if b.size > b.maxBytes {
		return errTokensTooLarge
	}
	return nil
}

// keepText appends the text of row r, or drops every text when rows do not
// come in rowid order or texts would not fit beside the tokens.
func (b *tokenBuilder) keepText(r int64, s string) {
	if b.noTexts {
		return
	}
	if r != b.prev+1 || b.size+int64(len(b.texts)+len(s))+4*int64(len(b.textEnds)+1) > b.maxBytes ||
		len(b.texts)+len(s) > math.MaxUint32 {
		b.noTexts, b.texts, b.textEnds = true, nil, nil
		return
	}
	b.texts = append(b.texts, s...)
	b.textEnds = append(b.textEnds, uint32(len(b.texts)))
}

func (b *tokenBuilder) token(r int64, tok string) {
	id, ok := b.ids[tok]
	if !ok {
		id = uint32(len(b.lists))
		b.ids[strings.Clone(tok)] = id
		b.lists = append(b.lists, nil)
		b.last = append(b.last, -1)
		b.size += int64(len(tok)) + 64 // map entry, slice headers, vocab
	}
	if b.last[id] == r {
		return
	}
	b.last[id] = r
	b.lists[id] = append(b.lists[id], uint32(r))
	b.size += 4
}

// index freezes the builder into a compact tokenIndex.
func (b *tokenBuilder) index() *tokenIndex {
	x := &tokenIndex{rows: b.maxRow + 1, starts: make([]uint32, len(b.lists)), offsets: make([]uint32, len(b.lists)+1)}
	vocab := make([]string, len(b.lists))
	n := 0
	for tok, id := range b.ids {
		vocab[id] = tok
	}
	for _, l := range b.lists {
		n += len(l)
	}
	x.postings = make([]uint32, 0, n)
	for id, tok := range vocab {
		x.starts[id] = uint32(len(x.vocab))
		x.vocab = append(append(x.vocab, tok...), 0)
		l := b.lists[id]
		if !b.sorted {
			slices.Sort(l)
			l = slices.Compact(l)
		}
		x.offsets[id] = uint32(len(x.postings))
		x.postings = append(x.postings, l...)
	}
	x.offsets[len(b.lists)] = uint32(len(x.postings))
	if !b.noTexts && b.size+int64(len(b.texts))+4*int64(len(b.textEnds)) <= b.maxBytes {
		x.texts, x.textEnds = slices.Clip(b.texts), slices.Clip(b.textEnds)
	}
	return x
}

// bytes is the approximate memory the index holds.
func (x *tokenIndex) bytes() int64 {
	return int64(len(x.vocab)) + 4*int64(len(x.starts)+len(x.offsets)+len(x.postings)) +
		int64(len(x.texts)) + 4*int64(len(x.textEnds))
}

// buildTokenIndex reads the folded text of every row from a shadow table
// (columns r and s) and indexes its tokens; it gives up with
// errTokensTooLarge past maxBytes, or when the offsets would not fit 32 bits.
func buildTokenIndex(ctx context.Context, db *sql.DB, shadow string, maxBytes int64) (*tokenIndex, error) {
	rows, err := db.QueryContext(ctx, "SELECT r, s FROM "+shadow)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	b := newTokenBuilder(min(maxBytes, 4*math.MaxUint32))
	var r int64
	var s string
	for rows.Next() {
		if err := rows.Scan(&r, &s); err != nil {
			return nil, err
		}
		if err := b.add(r, s); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return b.index(), nil
}

// match returns the bitmap of the rows whose folded text contains every
// folded word; ok is false when the index cannot tell (see answers).
func (x *tokenIndex) match(words []string) (m []uint64, ok bool) {
	if !x.answers(words) {
		return nil, false
	}
	var acc []uint64
	for _, w := range words {
		if w == "" {
			continue // contains(s, '') holds for every row
		}
		acc = intersect(acc, x.matchWord(w))
	}
	if acc == nil { // no word: every row
		acc = make([]uint64, (x.rows+63)/64)
		for r := int64(0); r < x.rows; r++ {
			acc[r/64] |= 1 << (r % 64)
		}
	}
	return acc, true
}

// intersect ands the bitmap m into acc and returns acc; a nil acc (nothing
// matched yet) is m itself.
func intersect(acc, m []uint64) []uint64 {
	if acc == nil {
		return m
	}
	for i := range acc {
		acc[i] &= m[i]
	}
	return acc
}

// answers reports whether the index can match every word: one made of
// letters and digits always; another when the texts are kept and it has
// at least one run of letters and digits to find candidates with.
func (x *tokenIndex) answers(words []string) bool {
	for _, w := range words {
		if !tokenWord(w) && (x.texts == nil || len(pieces(w)) == 0) {
			return false
		}
	}
	return true
}

// pieces returns the runs of letters and digits of w.
func pieces(w string) []string {
	return strings.FieldsFunc(w, func(r rune) bool { return !isTokenRune(r) })
}

// matchWord returns the bitmap of the rows whose folded text contains w.
func (x *tokenIndex) matchWord(w string) []uint64 {
	if tokenWord(w) {
		return x.matchToken(w)
	}
	// Candidates hold every piece of w; those whose text lacks w go.
	var m []uint64
	for _, p := range pieces(w) {
		m = intersect(m, x.matchToken(p))
	}
	pat := []byte(w)
	for i, v := range m {
		for v != 0 {
			b := bits.TrailingZeros64(v)
			v &^= 1 << b
			if !bytes.Contains(x.text(i*64+b), pat) {
				m[i] &^= 1 << b
			}
		}
	}
	return m
}

// text returns the folded text of row r.
func (x *tokenIndex) text(r int) []byte {
	start := uint32(0)
	if r > 0 {
		start = x.textEnds[r-1]
	}
	return x.texts[start:x.textEnds[r]]
}

// matchToken returns the bitmap of the rows holding a token that contains
// w: a scan of the vocabulary with bytes.Index, then the union of those
// tokens' postings.
func (x *tokenIndex) matchToken(w string) []uint64 {
	m := make([]uint64, (x.rows+63)/64)
	pat := []byte(w)
	for i := 0; i < len(x.vocab); {
		j := bytes.Index(x.vocab[i:], pat)
		if j < 0 {
			break
		}
		// The token holding the match: the last one starting at or before it.
		id := sort.Search(len(x.starts), func(k int) bool { return int(x.starts[k]) > i+j }) - 1
		for _, r := range x.postings[x.offsets[id]:x.offsets[id+1]] {
			m[r/64] |= 1 << (r % 64)
		}
		// Go on after this token: it counts once.
		end := len(x.vocab)
		if id+1 < len(x.starts) {
			end = int(x.starts[id+1])
		}
		i = end
	}
	return m
}

// count returns the number of rows set in m.
func count(m []uint64) int64 {
	n := 0
	for _, v := range m {
		n += bits.OnesCount64(v)
	}
	return int64(n)
}

// window returns up to n rowids set in m, in ascending order, skipping the
// rows up to after (a raw rowid; -1 for none) and then skip more rows.
func window(m []uint64, after int64, skip, n int) []int64 {
	var out []int64
	start := after + 1
	for i := int(start / 64); i < len(m) && len(out) < n; i++ {
		v := m[i]
		if i == int(start/64) {
			v &^= (1 << (start % 64)) - 1
		}
		if c := bits.OnesCount64(v); skip >= c {
			skip -= c
			continue
		}
		for v != 0 && len(out) < n {
			b := bits.TrailingZeros64(v)
			v &^= 1 << b
			if skip > 0 {
				skip--
				continue
			}
			out = append(out, int64(i)*64+int64(b))
		}
	}
	return out
}

// foldedWords splits q into words folded as the shadow's text is; ok is
// false for text that is not UTF-8.
func foldedWords(q string) ([]string, bool) {
	if !utf8.ValidString(q) {
		return nil, false
	}
	words := strings.Fields(q)
	for i, w := range words {
		words[i] = foldText(w)
	}
	return words, true
}
