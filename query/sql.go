package query

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/runes"
	"golang.org/x/text/transform"
	"golang.org/x/text/unicode/norm"

	"github.com/csvapi/csvapi/convert"
)

// tableAlias names the relation in the generated SQL so that the rowid
// pseudo-column can be referred to unambiguously (the select list has an
// output column called rowid too), and so that columns of the cursor's
// relation never shadow the table's.
const tableAlias = "t"

// rowIDExpr is the 1-based row number clients see.
const rowIDExpr = "(" + tableAlias + ".rowid + 1)"

// Limits on the size of a request, so that one URL cannot make a query of
// unbounded size.
const (
	maxListValues  = 1000 // values of in/notin
	maxSearchTerms = 20   // words of q
	maxConds       = 200  // filters in all, OR/AND groups included
)

// plan is a compiled Request: SQL fragments with their bound arguments.
type plan struct {
	relation   string
	names      []string       // output column names
	kinds      []convert.Kind // their kinds
	exprs      []string       // their SQL expressions
	sqlTypes   []string       // their DuckDB types
	formats    []format       // how to normalise their values (plus the raw rowid last)
	list       string         // select list, ending with the raw rowid
	where      string         // "" or " WHERE …", without the cursor
	args       []any          // arguments of where
	keys       []sortKey      // sort keys of a cursor to resolve; nil in file order
	cursorCond string         // "" or the condition of rows after the cursor
	cursorArgs []any          // its arguments
	after      int64          // raw rowid of the cursor's row; -1 for none
	orderBy    string         // "" or " ORDER BY …"
	sortSig    string         // checksum of the order, bound into cursors
	limit      int
	offset     int
	facets     []column
	facetSize  int
}

// column is a column a filter or sort may refer to.
type column struct {
	name    string // as clients name it
	expr    string // quoted, qualified identifier or rowIDExpr
	sqlType string // DuckDB type name
	kind    convert.Kind
}

// quoteIdent quotes a SQL identifier: any name is safe once its double
// quotes are doubled and it is wrapped in double quotes.
func quoteIdent(name string) string {
	return `"` + strings.ReplaceAll(name, `"`, `""`) + `"`
}

func lookup(t Table, name string) (column, bool) {
	if name == RowID {
		return column{name: RowID, expr: rowIDExpr, sqlType: "BIGINT", kind: convert.KindInteger}, true
	}
	for _, c := range t.Columns {
		if c.Name == name {
			return column{name: c.Name, expr: tableAlias + "." + quoteIdent(c.Name), sqlType: c.Type, kind: c.Kind()}, true
		}
	}
	return column{}, false
}

// compile validates r against t and builds its SQL; errors are *InvalidError.
func compile(t Table, r Request) (*plan, error) {
	p := &plan{relation: t.Relation, limit: r.Limit, offset: r.Offset, after: -1}
	if r.Offset < 0 {
		return nil, &InvalidError{Param: "_offset", Message: "must not be negative"}
	}
	if err := p.compileList(t, r); err != nil {
		return nil, err
	}
	if err := p.compileWhere(t, r); err != nil {
		return nil, err
	}
	keys, err := p.compileOrder(t, r.Sort)
	if err != nil {
		return nil, err
	}
	if r.After != "" {
		if err := p.compileCursor(r.After, keys); err != nil {
			return nil, err
		}
	}
	return p, p.compileFacets(t, r)
}

// compileList builds the select list: rowid (unless hidden), then the
// selected columns, then the raw rowid the cursor needs.
func (p *plan) compileList(t Table, r Request) error {
	omit := map[string]bool{}
	for _, name := range r.Omit {
		if _, ok := lookup(t, name); !ok {
			return &InvalidError{Param: "_nocol", Message: "unknown column " + quoteValue(name)}
		}
		omit[name] = true
	}
	selected := t.Columns
	if len(r.Columns) > 0 {
		selected = nil
		seen := map[string]bool{}
		for _, name := range r.Columns {
			if name == RowID || seen[name] {
				continue // rowid is always first unless hidden
			}
			seen[name] = true
			c, ok := findColumn(t, name)
			if !ok {
				return &InvalidError{Param: "_col", Message: "unknown column " + quoteValue(name)}
			}
			selected = append(selected, c)
		}
	}
	var list strings.Builder
	if !r.HideRowID && !omit[RowID] {
		list.WriteString(rowIDExpr + " AS " + RowID + ", ")
		p.exprs = append(p.exprs, rowIDExpr)
		p.sqlTypes = append(p.sqlTypes, "BIGINT")
		p.names = append(p.names, RowID)
		p.kinds = append(p.kinds, convert.KindInteger)
		p.formats = append(p.formats, formatDefault)
	}
	for _, c := range selected {
		if omit[c.Name] {
			continue
		}
		list.WriteString(tableAlias + "." + quoteIdent(c.Name) + ", ")
		p.exprs = append(p.exprs, tableAlias+"."+quoteIdent(c.Name))
		p.sqlTypes = append(p.sqlTypes, c.Type)
		p.names = append(p.names, c.Name)
		p.kinds = append(p.kinds, c.Kind())
		p.formats = append(p.formats, formatOf(c.Type))
	}
	list.WriteString(tableAlias + ".rowid")
	p.formats = append(p.formats, formatDefault)
	p.list = list.String()
	return nil
}

func findColumn(t Table, name string) (convert.Column, bool) {
	for _, c := range t.Columns {
		if c.Name == name {
			return c, true
		}
	}
	return convert.Column{}, false
}

// compileWhere builds the WHERE clause of the filters, OR/AND groups and
// search, without the cursor.
func (p *plan) compileWhere(t Table, r Request) error {
	var conds []string
	n := 0
	for _, f := range r.Filters {
		cond, args, err := compileFilter(t, f)
		if err != nil {
			return err
		}
		conds = append(conds, cond)
		p.args = append(p.args, args...)
		n++
	}
	for _, c := range r.Where {
		cond, args, err := compileCond(t, c, &n)
		if err != nil {
			return err
		}
		conds = append(conds, cond)
		p.args = append(p.args, args...)
	}
	if n > maxConds {
		return &InvalidError{Param: "or", Message: fmt.Sprintf("too many filters (%d, at most %d)", n, maxConds)}
	}
	if r.Search != "" {
		cond, args, err := compileSearch(t, r.Search)
		if err != nil {
			return err
		}
		conds = append(conds, cond)
		p.args = append(p.args, args...)
	}
	if len(conds) > 0 {
		p.where = " WHERE " + strings.Join(conds, " AND ")
	}
	return nil
}

// compileCond builds the condition of a tree of filters; n counts leaves.
func compileCond(t Table, c Cond, n *int) (string, []any, error) {
	if c.Filter != nil {
		*n++
		return compileFilter(t, *c.Filter)
	}
	if len(c.Conds) == 0 {
		if c.Or {
			return "FALSE", nil, nil
		}
		return "TRUE", nil, nil
	}
	sep := " AND "
	if c.Or {
		sep = " OR "
	}
	parts := make([]string, 0, len(c.Conds))
	var args []any
	for _, sub := range c.Conds {
		cond, a, err := compileCond(t, sub, n)
		if err != nil {
			return "", nil, err
		}
		parts = append(parts, cond)
		args = append(args, a...)
	}
	return "(" + strings.Join(parts, sep) + ")", args, nil
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

// sortKey is one key of the order, as compiled.
type sortKey struct {
	col  column
	desc bool
}

// compileOrder builds ORDER BY: the sort keys, NULLs last, then rowid so
// that the order is total and pages are stable. It returns the keys,
// rowid included, for the cursor.
func (p *plan) compileOrder(t Table, sorts []Sort) ([]sortKey, error) {
	var keys []sortKey
	seen := map[string]bool{}
	for _, s := range sorts {
		c, ok := lookup(t, s.Column)
		if !ok {
			param := "_sort"
			if s.Desc {
				param = "_sort_desc"
			}
			return nil, &InvalidError{Param: param, Message: "unknown column " + quoteValue(s.Column)}
		}
		if seen[s.Column] {
			continue // a second key on the same column cannot matter
		}
		seen[s.Column] = true
		keys = append(keys, sortKey{col: c, desc: s.Desc})
		if s.Column == RowID {
			break // rowid is unique: later keys cannot matter
		}
	}
	if len(keys) == 0 || keys[len(keys)-1].col.name != RowID {
		rowid, _ := lookup(t, RowID)
		keys = append(keys, sortKey{col: rowid})
	}
	sig := fnv.New32a()
	var order strings.Builder
	for i, k := range keys {
		if i > 0 {
			order.WriteString(", ")
		}
		order.WriteString(k.col.expr)
		fmt.Fprintf(sig, "%s\x00%t\x00", k.col.name, k.desc)
		if k.desc {
			order.WriteString(" DESC")
		} else {
			order.WriteString(" ASC")
		}
		if k.col.name != RowID {
			order.WriteString(" NULLS LAST")
		}
	}
	p.sortSig = strconv.FormatUint(uint64(sig.Sum32()), 36)
	if len(sorts) > 0 {
		p.orderBy = " ORDER BY " + order.String()
	}
	return keys, nil
}

// compileCursor decodes the cursor. In file order its condition is a
// rowid range, which DuckDB answers from the row groups' bounds, so a deep
// page costs what the first one does. Otherwise the condition needs the
// cursor row's key values, which resolveCursor reads: the token carries no
// values, so a forged token can only point at another row.
func (p *plan) compileCursor(token string, keys []sortKey) error {
	after, err := decodeCursor(token, p.sortSig)
	if err != nil {
		return err
	}
	p.after = after
	if len(keys) == 1 && keys[0].col.name == RowID && !keys[0].desc {
		p.cursorCond = tableAlias + ".rowid > ?"
		p.cursorArgs = []any{after}
		return nil
	}
	for _, k := range keys {
		if !safeType.MatchString(k.col.sqlType) {
			return &InvalidError{Param: "_next", Message: "cannot page by cursor on column " + quoteValue(k.col.name) + "; use _offset"}
		}
	}
	p.keys = keys
	return nil
}

// safeType matches the DuckDB type names a cursor value may be cast to;
// they come from DESCRIBE, this only guards against the unexpected.
var safeType = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_ (),]*$`)

// resolveCursor reads the key values of the cursor's row, as text (which
// DuckDB casts back exactly), and builds the keyset condition of the rows
// after it: after_1 OR (equal_1 AND (after_2 OR (equal_2 AND …))), with
// NULLs last. Binding the values halved the cost of a deep sorted page
// compared with joining the row to the query (54 ms vs 111 ms on 1 M rows;
// the first page costs 9–20 ms). It
// reports false when the row does not exist (a forged token): the page is
// then empty.
func (p *plan) resolveCursor(ctx context.Context, db *sql.DB) (bool, error) {
	if len(p.keys) == 0 {
		return true, nil
	}
	list := make([]string, len(p.keys))
	vals := make([]sql.NullString, len(p.keys))
	ptrs := make([]any, len(p.keys))
	for i, k := range p.keys {
		list[i] = "CAST(" + k.col.expr + " AS VARCHAR)"
		ptrs[i] = &vals[i]
	}
	q := "SELECT " + strings.Join(list, ", ") + p.from() + " WHERE " + tableAlias + ".rowid = ?"
	if err := db.QueryRowContext(ctx, q, p.after).Scan(ptrs...); err == sql.ErrNoRows {
		return false, nil
	} else if err != nil {
		return false, dbError(ctx, "cursor", err)
	}
	cond, args := "", []any(nil)
	for i := len(p.keys) - 1; i >= 0; i-- {
		k, v := p.keys[i], vals[i]
		val := "CAST(? AS " + k.col.sqlType + ")"
		var after, equal string
		var afterArgs, equalArgs []any
		if v.Valid {
			cmp := ">"
			if k.desc {
				cmp = "<"
			}
			after = "(" + k.col.expr + " " + cmp + " " + val + " OR " + k.col.expr + " IS NULL)"
			equal = k.col.expr + " = " + val
			afterArgs, equalArgs = []any{v.String}, []any{v.String}
		} else {
			after = "FALSE" // nothing sorts after NULL but NULLs
			equal = k.col.expr + " IS NULL"
		}
		if cond == "" {
			cond, args = after, afterArgs
			continue
		}
		cond = "(" + after + " OR (" + equal + " AND " + cond + "))"
		args = append(append(append([]any{}, afterArgs...), equalArgs...), args...)
	}
	p.cursorCond, p.cursorArgs = cond, args
	return true, nil
}

// compileFacets validates the facet columns.
func (p *plan) compileFacets(t Table, r Request) error {
	p.facetSize = r.FacetSize
	if p.facetSize == 0 {
		p.facetSize = DefaultFacetSize
	}
	if p.facetSize < 1 || p.facetSize > MaxFacetSize {
		return &InvalidError{Param: "_facet_size", Message: fmt.Sprintf("must be between 1 and %d", MaxFacetSize)}
	}
	for _, name := range r.Facets {
		c, ok := lookup(t, name)
		if !ok {
			return &InvalidError{Param: "_facet", Message: "unknown column " + quoteValue(name)}
		}
		p.facets = append(p.facets, c)
	}
	return nil
}

// encodeCursor returns the opaque token of the position after the row
// with raw rowid id in the order whose checksum is sig.
func encodeCursor(sig string, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strconv.FormatInt(id, 36) + "." + sig))
}

// decodeCursor returns the raw rowid of a token made by encodeCursor for
// the order sig; anything else is an *InvalidError.
func decodeCursor(token, sig string) (int64, error) {
	invalid := &InvalidError{Param: "_next", Message: "invalid cursor: use the next link of a page with the same sort"}
	raw, err := base64.RawURLEncoding.DecodeString(token)
	if err != nil || len(raw) > 64 {
		return 0, invalid
	}
	id, s, ok := strings.Cut(string(raw), ".")
	if !ok || s != sig {
		return 0, invalid
	}
	n, err := strconv.ParseInt(id, 36, 64)
	if err != nil || n < 0 {
		return 0, invalid
	}
	return n, nil
}

func (p *plan) from() string {
	return " FROM " + p.relation + " AS " + tableAlias
}

func (p *plan) selectSQL() string {
	var b strings.Builder
	b.WriteString("SELECT ")
	b.WriteString(p.list)
	b.WriteString(p.from())
	b.WriteString(p.where)
	if p.cursorCond != "" {
		if p.where == "" {
			b.WriteString(" WHERE ")
		} else {
			b.WriteString(" AND ")
		}
		b.WriteString(p.cursorCond)
	}
	b.WriteString(p.orderBy)
	if p.limit >= 0 {
		b.WriteString(" LIMIT ?")
	}
	if p.offset > 0 {
		b.WriteString(" OFFSET ?")
	}
	return b.String()
}

// selectArgs returns the arguments of selectSQL, in the order of their
// placeholders: the filters, the cursor, then LIMIT and OFFSET. The limit
// is one more than asked, to know whether a next page exists.
func (p *plan) selectArgs() []any {
	args := make([]any, 0, len(p.args)+len(p.cursorArgs)+2)
	args = append(args, p.args...)
	args = append(args, p.cursorArgs...)
	if p.limit >= 0 {
		args = append(args, int64(p.limit)+1)
	}
	if p.offset > 0 {
		args = append(args, int64(p.offset))
	}
	return args
}

func (p *plan) countSQL() string {
	return "SELECT count(*)" + p.from() + p.where
}

// compileFilter returns the SQL condition of f and its arguments.
func compileFilter(t Table, f Filter) (string, []any, error) {
	param := f.Param()
	c, ok := lookup(t, f.Column)
	if !ok {
		return "", nil, &InvalidError{Param: param, Message: "unknown column " + quoteValue(f.Column)}
	}
	invalid := func(format string, a ...any) error {
		return &InvalidError{Param: param, Message: fmt.Sprintf(format, a...)}
	}
	if !utf8.ValidString(f.Value) {
		// DuckDB refuses to bind it, and no text in a table could match it.
		return "", nil, invalid("value is not valid UTF-8")
	}
	op, ok := canonicalOps[f.Op]
	if !ok {
		return "", nil, invalid("unknown operator %s (known: %s)", quoteValue(string(f.Op)), strings.Join(OpNames(), ", "))
	}
	text := textExpr(c)
	switch op {
	case OpContains:
		// contains() rather than LIKE: % and _ in the value are literal.
		return "contains(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpNotContains:
		return "NOT contains(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpIContains:
		return "contains(" + fold(text) + ", ?)", []any{foldText(f.Value)}, nil
	case OpStartsWith:
		return "starts_with(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpEndsWith:
		return "suffix(lower(" + text + "), lower(?))", []any{f.Value}, nil
	case OpExact:
		return compileCompare(c, "=", f.Value, invalid)
	case OpNot:
		return compileCompare(c, "!=", f.Value, invalid)
	case OpLess:
		return compileCompare(c, "<=", f.Value, invalid)
	case OpGreater:
		return compileCompare(c, ">=", f.Value, invalid)
	case OpLt:
		return compileCompare(c, "<", f.Value, invalid)
	case OpGt:
		return compileCompare(c, ">", f.Value, invalid)
	case OpIn, OpNotIn:
		return compileIn(c, op == OpNotIn, f.Value, invalid)
	case OpBetween:
		return compileBetween(c, f.Value, invalid)
	}
	yes, ok := parseFlag(f.Value)
	if !ok {
		return "", nil, invalid("expects nothing, 1 or 0 (true or false), got %s", quoteValue(f.Value))
	}
	if op == OpNotNull || op == OpNotBlank {
		yes = !yes
	}
	var cond string
	switch op {
	case OpIsNull, OpNotNull:
		cond = c.expr + " IS NULL"
	default: // isblank, notblank
		cond = c.expr + " IS NULL"
		if c.kind == convert.KindString {
			cond = "(" + c.expr + " IS NULL OR " + text + " = '')"
		}
	}
	if !yes {
		cond = "NOT " + cond
	}
	return cond, nil, nil
}

// parseFlag reads the value of isnull and the like: empty or true-ish is
// true, false-ish negates.
func parseFlag(s string) (bool, bool) {
	if strings.TrimSpace(s) == "" {
		return true, true
	}
	return parseBool(strings.TrimSpace(s))
}

// compileIn builds in (any of the values) and notin (none of them, and not
// NULL), each value compared with the column's type.
func compileIn(c column, negate bool, value string, invalid func(string, ...any) error) (string, []any, error) {
	values, err := splitList(value)
	if err != nil {
		return "", nil, invalid("%v", err)
	}
	if len(values) == 0 || len(values) > maxListValues {
		return "", nil, invalid("expects 1 to %d comma-separated values (or a JSON array), got %d", maxListValues, len(values))
	}
	parts := make([]string, len(values))
	var args []any
	for i, v := range values {
		cond, a, err := compileCompare(c, "=", v, invalid)
		if err != nil {
			return "", nil, err
		}
		parts[i] = cond
		args = append(args, a...)
	}
	cond := "(" + strings.Join(parts, " OR ") + ")"
	if negate {
		cond = "(" + c.expr + " IS NOT NULL AND NOT " + cond + ")"
	}
	return cond, args, nil
}

// compileBetween builds a <= col <= b.
func compileBetween(c column, value string, invalid func(string, ...any) error) (string, []any, error) {
	values, err := splitList(value)
	if err != nil {
		return "", nil, invalid("%v", err)
	}
	if len(values) != 2 {
		return "", nil, invalid(`expects two values, "low,high" (or a JSON array ["low","high"]), got %s`, quoteValue(value))
	}
	lo, loArgs, err := compileCompare(c, ">=", values[0], invalid)
	if err != nil {
		return "", nil, err
	}
	hi, hiArgs, err := compileCompare(c, "<=", values[1], invalid)
	if err != nil {
		return "", nil, err
	}
	return "(" + lo + " AND " + hi + ")", append(loArgs, hiArgs...), nil
}

// splitList reads the values of in, notin and between: a JSON array when
// the value starts with "[" (for values holding commas), else
// comma-separated.
func splitList(value string) ([]string, error) {
	v := strings.TrimSpace(value)
	if !strings.HasPrefix(v, "[") {
		return strings.Split(value, ","), nil
	}
	var items []any
	d := json.NewDecoder(strings.NewReader(v))
	d.UseNumber()
	if err := d.Decode(&items); err != nil || d.More() {
		return nil, fmt.Errorf("expects a JSON array of strings or numbers, got %s", quoteValue(value))
	}
	out := make([]string, len(items))
	for i, it := range items {
		switch x := it.(type) {
		case string:
			out[i] = x
		case json.Number:
			out[i] = x.String()
		case bool:
			out[i] = strconv.FormatBool(x)
		default:
			return nil, fmt.Errorf("expects a JSON array of strings or numbers, got %s", quoteValue(value))
		}
	}
	return out, nil
}

// textExpr is the text form of a column.
func textExpr(c column) string {
	if strings.EqualFold(c.sqlType, "VARCHAR") {
		return c.expr
	}
	return "CAST(" + c.expr + " AS VARCHAR)"
}

// compileCompare builds "col op value", comparing with the column's type;
// op is =, !=, <, <=, > or >=.
func compileCompare(c column, op, value string, invalid func(string, ...any) error) (string, []any, error) {
	exact := op == "=" || op == "!="
	v := strings.TrimSpace(value)
	switch c.kind {
	case convert.KindInteger:
		if n, err := strconv.ParseInt(v, 10, 64); err == nil {
			return c.expr + " " + op + " ?", []any{n}, nil
		}
		if _, err := strconv.ParseUint(v, 10, 64); err == nil {
			// Beyond int64 (UBIGINT, HUGEINT columns): database/sql cannot
			// bind such a uint64, so let DuckDB parse the digits.
			return c.expr + " " + op + " CAST(? AS HUGEINT)", []any{v}, nil
		}
		x, ok := parseFloat(v)
		switch {
		case !ok && exact:
			return "", nil, invalid("expects an integer, got %s", quoteValue(value))
		case !ok:
			return "", nil, invalid("expects a number, got %s", quoteValue(value))
		case exact && x == math.Trunc(x) && math.Abs(x) < 1<<63:
			return c.expr + " " + op + " ?", []any{int64(x)}, nil // 1.0 finds 1, as in csvapi
		case exact && op == "=":
			return "false", nil, nil // 1.5 is no integer: no row, not an error
		case exact:
			return c.expr + " IS NOT NULL", nil, nil
		}
		return c.expr + " " + op + " ?", []any{x}, nil

	case convert.KindNumber:
		if x, ok := parseFloat(v); ok {
			return c.expr + " " + op + " ?", []any{x}, nil
		}
		return "", nil, invalid("expects a number, got %s", quoteValue(value))

	case convert.KindBoolean:
		if !exact {
			return "", nil, invalid("cannot compare a boolean column")
		}
		if b, ok := parseBool(v); ok {
			return c.expr + " " + op + " ?", []any{b}, nil
		}
		return "", nil, invalid("expects a boolean (true, false, 1, 0), got %s", quoteValue(value))

	case convert.KindDate:
		if d, ok := parseDate(v); ok {
			return c.expr + " " + op + " CAST(? AS DATE)", []any{d}, nil
		}
		return "", nil, invalid("expects a date (YYYY-MM-DD or DD/MM/YYYY), got %s", quoteValue(value))

	case convert.KindTimestamp:
		// A date alone compares with the day of each timestamp.
		if d, ok := parseDate(v); ok {
			return "CAST(" + c.expr + " AS DATE) " + op + " CAST(? AS DATE)", []any{d}, nil
		}
		ts, ok := parseTimestamp(v)
		if !ok {
			return "", nil, invalid("expects a date or a timestamp (YYYY-MM-DDTHH:MM:SS), got %s", quoteValue(value))
		}
		// Naive timestamps compare in UTC, whatever DuckDB's TimeZone setting.
		if formatOf(c.sqlType) == formatTimestampTZ {
			return c.expr + " " + op + " CAST(? AS TIMESTAMPTZ)", []any{ts.UTC().Format("2006-01-02 15:04:05.999999Z07:00")}, nil
		}
		return c.expr + " " + op + " CAST(? AS TIMESTAMP)", []any{ts.UTC().Format("2006-01-02 15:04:05.999999")}, nil

	case convert.KindTime:
		tm, ok := parseTime(v)
		if !ok {
			return "", nil, invalid("expects a time (HH:MM:SS), got %s", quoteValue(value))
		}
		typ := "TIME"
		if formatOf(c.sqlType) == formatTimeTZ {
			typ = "TIMETZ"
		}
		return c.expr + " " + op + " CAST(? AS " + typ + ")", []any{tm}, nil
	}

	// Text (and any other type): exact compares the text, ordered
	// comparisons compare the values that read as numbers.
	if exact {
		return textExpr(c) + " " + op + " ?", []any{value}, nil
	}
	if x, ok := parseFloat(v); ok {
		return "TRY_CAST(" + textExpr(c) + " AS DOUBLE) " + op + " ?", []any{x}, nil
	}
	return "", nil, invalid("expects a number, got %s", quoteValue(value))
}

// parseFloat parses a finite decimal number; a decimal comma ("12,5") is
// accepted, as in French data.
func parseFloat(s string) (float64, bool) {
	if strings.Count(s, ",") == 1 && !strings.Contains(s, ".") {
		s = strings.Replace(s, ",", ".", 1)
	}
	if s == "" || strings.ContainsAny(s, "xX_pP") {
		return 0, false // no hexadecimal floats or digit separators
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "true", "1", "oui", "vrai", "yes":
		return true, true
	case "false", "0", "non", "faux", "no":
		return false, true
	}
	return false, false
}

// parseDate parses YYYY-MM-DD or DD/MM/YYYY and returns it as YYYY-MM-DD.
func parseDate(s string) (string, bool) {
	for _, layout := range []string{time.DateOnly, "2/1/2006"} {
		if d, err := time.Parse(layout, s); err == nil {
			return d.Format(time.DateOnly), true
		}
	}
	return "", false
}

// timestampLayouts are the ISO 8601 forms a timestamp value may take;
// fractional seconds are accepted after the seconds by time.Parse.
var timestampLayouts = []string{
	"2006-01-02T15:04:05Z07:00",
	"2006-01-02T15:04:05",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05",
	"2006-01-02T15:04Z07:00",
	"2006-01-02T15:04",
	"2006-01-02 15:04Z07:00",
	"2006-01-02 15:04",
}

func parseTimestamp(s string) (time.Time, bool) {
	for _, layout := range timestampLayouts {
		if ts, err := time.Parse(layout, s); err == nil {
			return ts, true
		}
	}
	return time.Time{}, false
}

// parseTime parses HH:MM[:SS[.fff]] and returns it as HH:MM:SS[.ffffff].
func parseTime(s string) (string, bool) {
	for _, layout := range []string{"15:04:05", "15:04"} {
		if tm, err := time.Parse(layout, s); err == nil {
			return tm.Format("15:04:05.999999"), true
		}
	}
	return "", false
}

// quoteValue quotes user text for an error message, cut to a readable length.
func quoteValue(s string) string {
	const max = 60
	if utf8.RuneCountInString(s) > max {
		s = string([]rune(s)[:max]) + "…"
	}
	return strconv.Quote(s)
}
