package query

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/csvapi/csvapi/convert"
)

// Defaults of SearchIndex's knobs.
const (
	DefaultSearchMinRows   = 100_000
	DefaultSearchTables    = 4
	DefaultSearchBuildTime = 10 * time.Minute
	// DefaultSearchTokenBytes bounds the Go memory of all token indexes:
	// 52 MB for 1 M rows of three short text columns (tokens and texts).
	DefaultSearchTokenBytes = 256 << 20
)

// SearchIndex speeds up Request.Search on large tables. DuckDB's full-text
// extension is not available offline, and folding case and accents of every
// text column of every row on each query costs about 270 ms on 1 M rows
// with three text columns; a table of (rowid, folded text) built once and
// searched with contains() costs about 15 ms (see the README's
// Performance section).
//
// Shadow tables live in DuckDB's in-memory catalog, are built in the
// background on the first search of a table, and the least recently used
// ones are dropped past MaxTables. Until its shadow is ready, a table is
// searched the slow way, so no request waits for a build.
//
// Once the shadow is built, its words and texts are indexed in Go memory
// (a token index, within MaxTokenBytes for all tables): a search without
// filters, sort or facets then reads its matching rows and total from the
// index, and DuckDB reads only the page's rows by rowid (a few milliseconds
// on 1 M rows instead of two scans of the shadow). Other searches use the
// shadow. Set the exported fields before first use.
type SearchIndex struct {
	DB        *sql.DB
	MinRows   int64         // smaller tables are searched directly
	MaxTables int           // shadows kept
	BuildTime time.Duration // time limit of one build
	// MaxTokenBytes bounds the memory of the token indexes of all tables;
	// a table whose index would not fit is searched through its shadow.
	MaxTokenBytes int64
	// OnError, when set, is told of builds that failed; the table is then
	// searched directly until the next attempt.
	OnError func(relation string, err error)

	mu       sync.Mutex
	shadows  map[string]*shadow
	seq      int
	building int // builds running: one at a time, each a full-table copy
}

type shadow struct {
	name     string // trusted: memory.main.csvapi_search_<n>
	ready    bool
	tokens   *tokenIndex // nil until built, or when over budget
	lastUsed time.Time
}

// NewSearchIndex returns a SearchIndex on db with the default knobs.
func NewSearchIndex(db *sql.DB) *SearchIndex {
	return &SearchIndex{DB: db, MinRows: DefaultSearchMinRows, MaxTables: DefaultSearchTables, BuildTime: DefaultSearchBuildTime,
		MaxTokenBytes: DefaultSearchTokenBytes}
}

// Prepare returns t with its SearchRelation set when its shadow is ready.
// Otherwise, for a table of at least MinRows rows, it starts building the
// shadow and returns t unchanged. version identifies the content of t (a
// reloaded resource gets a new shadow); rows is its number of rows.
func (x *SearchIndex) Prepare(t Table, version string, rows int64) Table {
	if x == nil || rows < x.MinRows || t.SearchRelation != "" {
		return t
	}
	key := t.Relation + "\x00" + version
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.shadows == nil {
		x.shadows = map[string]*shadow{}
	}
	if s, ok := x.shadows[key]; ok {
		s.lastUsed = time.Now()
		if s.ready {
			t.SearchRelation, t.tokens = s.name, s.tokens
		}
		return t
	}
	// Memory is bounded: one build at a time, and at most MaxTables
	// shadows; past that the table is searched directly until an old
	// shadow can go.
	x.evictLocked(x.MaxTables - 1) // room for this one, if an old shadow can go
	if x.building > 0 || len(x.shadows) >= x.MaxTables {
		return t
	}
	x.building++
	x.seq++
	s := &shadow{name: fmt.Sprintf("memory.main.csvapi_search_%d", x.seq), lastUsed: time.Now()}
	x.shadows[key] = s
	go x.build(x.DB, key, s, t)
	return t
}

// Reset forgets every shadow and builds the next ones on db: after the
// serving instance was replaced, the shadows it held are gone with it.
func (x *SearchIndex) Reset(db *sql.DB) {
	if x == nil {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.DB = db
	x.shadows = map[string]*shadow{}
}

// build creates the shadow of t; it runs on its own context so that the
// request that triggered it may end first.
func (x *SearchIndex) build(db *sql.DB, key string, s *shadow, t Table) {
	ctx, cancel := context.WithTimeout(context.Background(), x.BuildTime)
	defer cancel()
	cols := SearchColumns(t)
	// chr(31) (unit separator) between columns: a search word never spans
	// two columns.
	q := "CREATE OR REPLACE TABLE " + s.name + " AS SELECT " + tableAlias + ".rowid AS r, " +
		fold("concat_ws(chr(31), "+strings.Join(cols, ", ")+")") + " AS s FROM " + t.Relation + " AS " + tableAlias
	_, err := db.ExecContext(ctx, q)
	x.mu.Lock()
	if x.shadows[key] != s {
		x.building--
		x.mu.Unlock()
		return // Reset while building
	}
	if err != nil {
		x.building--
		delete(x.shadows, key)
		x.mu.Unlock()
		if x.OnError != nil {
			x.OnError(t.Relation, err)
		}
		return
	}
	s.ready = true
	budget := x.MaxTokenBytes - x.tokenBytesLocked()
	x.mu.Unlock()

	var tokens *tokenIndex
	if budget > 0 {
		tokens, err = buildTokenIndex(ctx, db, s.name, budget)
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.building--
	if x.shadows[key] == s {
		s.tokens = tokens
		x.evictLocked(x.MaxTables)
	}
	if err != nil && !errors.Is(err, errTokensTooLarge) && x.OnError != nil {
		x.OnError(t.Relation, err)
	}
}

// tokenBytesLocked is the memory of the token indexes built.
func (x *SearchIndex) tokenBytesLocked() int64 {
	var n int64
	for _, s := range x.shadows {
		if s.tokens != nil {
			n += s.tokens.bytes()
		}
	}
	return n
}

// maxIndexedPage bounds the page size the token index serves: DuckDB reads
// the page with one bound rowid per row.
const maxIndexedPage = 1000

// runIndexed answers Run from the token index of t when r searches with
// words the index answers (see tokenWord) and has no filter, sort or facet:
// the matching rows and their number come from Go memory, and DuckDB reads
// only the page's rows, by rowid. ok is false when the index cannot answer
// r; Run then compiles r to SQL.
func runIndexed(ctx context.Context, db *sql.DB, t Table, r Request) (page *Page, ok bool, err error) {
	if t.tokens == nil || r.Search == "" || len(r.Filters) > 0 || len(r.Where) > 0 || len(r.Sort) > 0 ||
		len(r.Facets) > 0 || r.Limit < 0 || r.Limit > maxIndexedPage {
		return nil, false, nil
	}
	words, ok := foldedWords(r.Search)
	if !ok {
		return nil, false, nil
	}
	p, err := compile(t, r) // the same checks, and errors, as Run
	if err != nil {
		return nil, true, err
	}
	matched, ok := t.tokens.match(words)
	if !ok {
		return nil, false, nil
	}
	ids := window(matched, p.after, p.offset, p.limit+1)
	rows := r
	rows.Search, rows.After, rows.Offset, rows.HideTotal = "", "", 0, true
	q, err := compile(t, rows)
	if err != nil {
		return nil, true, err
	}
	// ORDER BY: DuckDB may answer a long IN list with a join, which does
	// not keep file order.
	q.where, q.args = rowIDsIn(ids)
	q.orderBy = " ORDER BY " + tableAlias + ".rowid"
	page, last, err := q.fetch(ctx, db)
	if err != nil {
		return nil, true, err
	}
	if len(page.Rows) > p.limit {
		page.Rows = page.Rows[:p.limit]
		if p.limit > 0 {
			page.Next = encodeCursor(p.sortSig, last[p.limit-1])
		}
	}
	if !r.HideTotal {
		page.Total = count(matched)
	}
	return page, true, nil
}

// rowIDsIn is the condition that selects the rows of raw rowids ids.
func rowIDsIn(ids []int64) (string, []any) {
	if len(ids) == 0 {
		return " WHERE FALSE", nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return " WHERE " + tableAlias + ".rowid IN (?" + strings.Repeat(", ?", len(ids)-1) + ")", args
}

// evictLocked drops the least recently used ready shadows past limit,
// leaving alone those used in the last minute, which a running query may
// still read.
func (x *SearchIndex) evictLocked(limit int) {
	for {
		ready := 0
		var oldKey string
		var old *shadow
		for k, s := range x.shadows {
			if !s.ready {
				continue
			}
			ready++
			if old == nil || s.lastUsed.Before(old.lastUsed) {
				oldKey, old = k, s
			}
		}
		if ready <= limit || old == nil || time.Since(old.lastUsed) < time.Minute {
			return
		}
		delete(x.shadows, oldKey)
		go x.DB.Exec("DROP TABLE IF EXISTS " + old.name)
	}
}

// Close drops every shadow.
func (x *SearchIndex) Close() error {
	if x == nil {
		return nil
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var err error
	for k, s := range x.shadows {
		if s.ready {
			if _, derr := x.DB.Exec("DROP TABLE IF EXISTS " + s.name); derr != nil && err == nil {
				err = derr
			}
		}
		delete(x.shadows, k)
	}
	return err
}

// fold is the case- and accent-insensitive form of a text expression.
func fold(expr string) string { return "strip_accents(lower(" + expr + "))" }

// foldText folds a search term in Go, as fold does in DuckDB (lower case,
// then canonical decomposition without the combining marks). Folding the
// bound value in SQL instead made DuckDB fold it again for every row: 200
// ms instead of 15 on 1 M rows.
func foldText(s string) string {
	out, _, err := transform.String(transform.Chain(norm.NFD, runes.Remove(runes.In(unicode.Mn)), norm.NFC), strings.ToLower(s))
	if err != nil {
		return strings.ToLower(s)
	}
	return out
}

// compileSearch builds the condition of q: every word appears, ignoring
// case and accents, in some text column (every column when none is text).
// With a SearchRelation, one semi-join on the folded shadow replaces
// folding each text column of each row (about 10× faster on 1 M rows).
func compileSearch(t Table, q string) (string, []any, error) {
	if !utf8.ValidString(q) {
		return "", nil, &InvalidError{Param: "q", Message: "value is not valid UTF-8"}
	}
	words := strings.Fields(q)
	if len(words) > maxSearchTerms {
		return "", nil, &InvalidError{Param: "q", Message: fmt.Sprintf("too many words (%d, at most %d)", len(words), maxSearchTerms)}
	}
	// A word that folds to nothing (a lone combining accent) asks nothing:
	// dropped, so that all paths agree on rows without text.
	words = slices.DeleteFunc(words, func(w string) bool { return foldText(w) == "" })
	if len(words) == 0 {
		return "TRUE", nil, nil
	}
	var args []any
	if t.SearchRelation != "" {
		conds := make([]string, len(words))
		for i, w := range words {
			conds[i] = "contains(s, ?)"
			args = append(args, foldText(w))
		}
		return tableAlias + ".rowid IN (SELECT r FROM " + t.SearchRelation + " WHERE " + strings.Join(conds, " AND ") + ")", args, nil
	}
	cols := SearchColumns(t)
	conds := make([]string, len(words))
	for i, w := range words {
		ors := make([]string, len(cols))
		for j, c := range cols {
			ors[j] = "contains(" + fold(c) + ", ?)"
			args = append(args, foldText(w))
		}
		conds[i] = "(" + strings.Join(ors, " OR ") + ")"
	}
	return "(" + strings.Join(conds, " AND ") + ")", args, nil
}

// SearchColumns returns the text expressions q searches, qualified with
// the alias t: the text columns of t, or every column as text when t has
// none.
func SearchColumns(t Table) []string {
	var cols []string
	for _, c := range t.Columns {
		if c.Kind() == convert.KindString {
			cols = append(cols, tableAlias+"."+quoteIdent(c.Name))
		}
	}
	if len(cols) == 0 {
		for _, c := range t.Columns {
			cols = append(cols, "CAST("+tableAlias+"."+quoteIdent(c.Name)+" AS VARCHAR)")
		}
	}
	if len(cols) == 0 {
		cols = append(cols, "''")
	}
	return cols
}
