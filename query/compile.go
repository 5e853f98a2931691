package query

// This file compiles a Request into a plan: the select list, WHERE, ORDER BY
// and facets, validated against the table, and builds its statements.

import (
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

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
	names      []string         // output column names
	kinds      []convert.Kind   // their kinds
	exprs      []string         // their SQL expressions
	sqlTypes   []string         // their DuckDB types
	formats    []format         // how to normalise their values (plus the raw rowid last)
	sources    []convert.Column // their columns as loaded (zero for rowid), for exports in the source's form
	list       string           // select list, ending with the raw rowid
	where      string           // "" or " WHERE …", without the cursor
	args       []any            // arguments of where
	keys       []sortKey        // sort keys of a cursor to resolve; nil in file order
	cursorCond string           // "" or the condition of rows after the cursor
	cursorArgs []any            // its arguments
	after      int64            // raw rowid of the cursor's row; -1 for none
	orderBy    string           // "" or " ORDER BY …"
	sortSig    string           // checksum of the order, bound into cursors
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
	if p.orderBy == "" && r.Search != "" && t.SearchRelation != "" {
		// The semi-join on the search shadow does not keep file order.
		p.orderBy = " ORDER BY " + tableAlias + ".rowid"
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
		name := RowID
		if r.RowIDName != "" {
			name = r.RowIDName
		}
		list.WriteString(rowIDExpr + " AS " + quoteIdent(name) + ", ")
		p.exprs = append(p.exprs, rowIDExpr)
		p.sqlTypes = append(p.sqlTypes, "BIGINT")
		p.names = append(p.names, name)
		p.kinds = append(p.kinds, convert.KindInteger)
		p.formats = append(p.formats, formatDefault)
		p.sources = append(p.sources, convert.Column{})
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
		p.sources = append(p.sources, c)
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

func (p *plan) from() string {
	return " FROM " + p.relation + " AS " + tableAlias
}

// stmt is the SQL text of a statement with its arguments, built together
// so that placeholders and arguments cannot disagree.
type stmt struct {
	sql  string
	args []any
}

// rowsStmt builds the one statement that reads the plan's rows, whatever
// the caller does with them: list FROM the table, the filters and the
// cursor, the order, then LIMIT and OFFSET. With peek it reads one row more
// than the limit, which tells a page whether another follows; COPY reads
// exactly the limit.
func (p *plan) rowsStmt(list string, peek bool) stmt {
	var b strings.Builder
	args := make([]any, 0, len(p.args)+len(p.cursorArgs)+2)
	b.WriteString("SELECT ")
	b.WriteString(list)
	b.WriteString(p.from())
	b.WriteString(p.where)
	args = append(args, p.args...)
	if p.cursorCond != "" {
		b.WriteString(condJoin(p.where, p.cursorCond))
		args = append(args, p.cursorArgs...)
	}
	b.WriteString(p.orderBy)
	if p.limit >= 0 {
		b.WriteString(" LIMIT ?")
		n := int64(p.limit)
		if peek {
			n++
		}
		args = append(args, n)
	}
	if p.offset > 0 {
		b.WriteString(" OFFSET ?")
		args = append(args, int64(p.offset))
	}
	return stmt{sql: b.String(), args: args}
}

// pageStmt reads a page: the select list ends with the raw rowid that
// cursors need, and one row more than the limit is read.
func (p *plan) pageStmt() stmt { return p.rowsStmt(p.list, true) }

// outputList is the select list without the raw rowid: the columns a
// client gets, for COPY.
func (p *plan) outputList() string {
	list := strings.TrimSuffix(strings.TrimSuffix(p.list, tableAlias+".rowid"), ", ")
	if list == "" {
		list = "NULL AS empty"
	}
	return list
}

// countStmt counts the rows matching the filters, whatever the cursor and
// the page.
func (p *plan) countStmt() stmt {
	return stmt{sql: "SELECT count(*)" + p.from() + p.where, args: p.args}
}

// condJoin returns " AND cond" after a WHERE clause, " WHERE cond" when
// there is none.
func condJoin(where, cond string) string {
	if where == "" {
		return " WHERE " + cond
	}
	return " AND " + cond
}
