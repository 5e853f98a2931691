package convert

import (
	"cmp"
	"context"
	"database/sql"
	"slices"
	"strconv"
	"strings"
)

// reader is DuckDB's read_csv of one file with a known dialect, every
// column as text: typing is csvapi's (types.go), not the sniffer's.
type reader struct {
	path string
	d    *Dialect
	// serial turns DuckDB's parallel reader off: it refuses null_padding
	// with quoted fields that span lines.
	serial bool
	// keepRepeats leaves rows equal to the header in (see headerFails).
	keepRepeats bool
}

// rawName is the name of column i in read_csv's output.
func rawName(i int) string { return "c" + strconv.Itoa(i) }

// args are the values bound to the placeholders of sql: the path, then
// the header's names when repeated header rows are filtered out.
func (r reader) args() []any {
	a := []any{r.path}
	if r.skipsRepeats() {
		for _, n := range r.d.Names {
			a = append(a, n)
		}
	}
	return a
}

// skipsRepeats reports whether rows equal to the header are filtered out:
// always for a header of several columns (an export's page breaks may
// come beyond the head), and for a single column only when the head shows
// a repeat (a one-column value equal to its name is otherwise plausible).
func (r reader) skipsRepeats() bool {
	return !r.keepRepeats && r.d.Header && (len(r.d.Names) >= 2 || r.d.RepeatedHeaders > 0)
}

// sql returns the table expression that reads the file: a read_csv call
// (the path is the first bound argument, see args) with extra options
// appended, wrapped in a filter of repeated header rows when skipsRepeats.
// Dialect values are csvapi's own (validated single characters), so they
// are written as literals.
func (r reader) sql(extra string) string {
	rc := r.readCSV(extra)
	if !r.skipsRepeats() {
		return rc
	}
	conds := make([]string, len(r.d.Names))
	for i := range r.d.Names {
		conds[i] = "coalesce(" + QuoteIdent(rawName(i)) + ", '') = ?"
	}
	return "(SELECT * FROM " + rc + " WHERE NOT coalesce(" + strings.Join(conds, " AND ") + ", false))"
}

func (r reader) readCSV(extra string) string {
	var b strings.Builder
	b.WriteString("read_csv(?, auto_detect = false, header = false, null_padding = true")
	b.WriteString(", delim = " + QuoteLiteral(string(r.d.Delimiter)))
	q, e := "", ""
	if r.d.Quote != 0 {
		q, e = string(r.d.Quote), string(cmp.Or(r.d.Escape, r.d.Quote))
	}
	b.WriteString(", quote = " + QuoteLiteral(q) + ", escape = " + QuoteLiteral(e))
	nl := strings.NewReplacer("\r", `\r`, "\n", `\n`).Replace(r.d.NewLine)
	b.WriteString(", new_line = " + QuoteLiteral(nl))
	b.WriteString(", skip = " + strconv.Itoa(r.d.Start+btoi(r.d.Header)))
	b.WriteString(", columns = {")
	for i := 0; i < r.d.Columns; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(QuoteLiteral(rawName(i)) + ": 'VARCHAR'")
	}
	b.WriteString("}")
	if r.serial {
		b.WriteString(", parallel = false")
	}
	if extra != "" {
		b.WriteString(", " + extra)
	}
	b.WriteString(")")
	return b.String()
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// columnNames returns the columns' names and original header texts: names
// are the header text with whitespace runs (line ends included) made one
// space, blank ones named columnN (N the 1-based position), duplicates
// suffixed _2, _3 … (case-insensitively, as DuckDB compares identifiers),
// and "rowid", which would shadow the row number, renamed rowid_.
func columnNames(d *Dialect) []Column {
	cols := make([]Column, d.Columns)
	taken := map[string]bool{}
	// Names as written come first, so that a generated name never steals
	// one from the file.
	for i := range cols {
		if i < len(d.Names) {
			cols[i].Original = d.Names[i]
			cols[i].Name = strings.Join(strings.Fields(d.Names[i]), " ")
		}
		if cols[i].Name != "" && !strings.EqualFold(cols[i].Name, "rowid") && !taken[strings.ToLower(cols[i].Name)] {
			taken[strings.ToLower(cols[i].Name)] = true
		}
	}
	seen := map[string]bool{}
	for i := range cols {
		name := cols[i].Name
		switch {
		case name == "":
			name = "column" + strconv.Itoa(i+1)
		case strings.EqualFold(name, "rowid"):
			name += "_"
		case !seen[strings.ToLower(name)]:
			seen[strings.ToLower(name)] = true
			continue // the first of its name keeps it
		}
		cols[i].Name = unique(name, taken)
		seen[strings.ToLower(cols[i].Name)] = true
	}
	return cols
}

// unique returns name, or name_2, name_3 … (rowid_1 … for rowid_), the
// first not taken, and takes it.
func unique(name string, taken map[string]bool) string {
	if !taken[strings.ToLower(name)] {
		taken[strings.ToLower(name)] = true
		return name
	}
	base, n, sep := name, 2, "_"
	if strings.HasSuffix(name, "_") {
		n, sep = 1, ""
	}
	for {
		c := base + sep + strconv.Itoa(n)
		if !taken[strings.ToLower(c)] {
			taken[strings.ToLower(c)] = true
			return c
		}
		n++
	}
}

// typedColumn is a column with the reading chosen for it.
type typedColumn struct {
	Column
	raw string // name in read_csv's output
	as  reading
	// scale is the usual number of fraction digits of a decimal column in
	// the head: its canonical form (see reading.canonicalBranches).
	scale int
}

// selectExpr converts the raw text to the column's type; text columns keep
// their exact text, typed ones treat blank cells as empty.
func (c typedColumn) selectExpr() string {
	raw := QuoteIdent(c.raw)
	if c.as == asText {
		return raw
	}
	x := "trim(" + raw + ")"
	return c.caseExpr("WHEN " + x + " = '' THEN NULL ELSE " + c.as.sqlCast(x))
}

// strictSelectExpr is selectExpr for a type guessed from the head alone:
// a value that does not fit the type makes the load fail (DuckDB's error()),
// so that Load falls back to checking the whole column first, rather than
// a late value being lost or changed.
func (c typedColumn) strictSelectExpr() string {
	raw := QuoteIdent(c.raw)
	if c.as == asText {
		return raw
	}
	x := "trim(" + raw + ")"
	return c.caseExpr("WHEN " + x + " IS NULL OR " + x + " = '' THEN NULL WHEN " + c.as.sqlPredicate(x) +
		" THEN " + c.as.sqlCast(x) + " ELSE error('a value does not fit the type guessed from the head')")
}

// caseExpr is a CASE that tries the canonical forms of the column's
// reading first (cheap, and the form of nearly every value), then rest,
// the exact rule on the trimmed text.
func (c typedColumn) caseExpr(rest string) string {
	branches := c.as.canonicalBranches(QuoteIdent(c.raw), c.scale)
	return "CASE " + strings.Join(append(branches, rest), " ") + " END"
}

// headerFails reports whether a row repeating the header would fail the
// strict load on its own: some number or date column has a name without
// any digit, which none of those readings accepts. The filter of repeated
// header rows is then left out of the fast path (a repeat fails it, and
// the safe path, which filters, reads the file), unless the head already
// holds a repeat.
func headerFails(cols []typedColumn) bool {
	for _, c := range cols {
		if c.as == asText || c.as.bools() != nil || isBlank(c.Original) {
			continue
		}
		if !strings.ContainsFunc(c.Original, func(r rune) bool { return r >= '0' && r <= '9' }) {
			return true
		}
	}
	return false
}

// scaleOf returns the usual number of fraction digits of a decimal reading
// among the head's values.
func scaleOf(k reading, vals []string) int {
	switch k.decimal() {
	case ".":
		return fractionDigits(vals, ".")
	case ",":
		return fractionDigits(vals, ",")
	}
	return 0
}

// guessColumns types every column from the head alone, for Load's fast
// path in which the load itself checks every value (strictSelectExpr)
// instead of a checking pass over the file first. It reports false when the
// head cannot decide: a column empty in the head, trailing unnamed columns
// (dropped only when empty throughout), or integers whose head values all
// have 9 or 14 digits (SIREN and SIRET stay text only if the whole column
// agrees).
func guessColumns(r *reader, cols []Column, dec string) ([]typedColumn, bool) {
	if len(cols) > 0 && isBlank(cols[len(cols)-1].Original) {
		return nil, false
	}
	out := make([]typedColumn, len(cols))
	for j, c := range cols {
		vals := make([]string, len(r.d.Sample))
		for i, row := range r.d.Sample {
			vals[i] = row[j]
		}
		k := guessKind(vals, c.Original, dec)
		switch {
		case k == asUnknown:
			return nil, false
		case (k == asInt || k == asIntSpaced) && namedLikeCode(c.Original):
			k = asText
		case (k == asInt || k == asIntSpaced) && sameLength(vals, 9, 14):
			return nil, false
		}
		c.Type, c.Format, c.Decimal = k.sqlType(), k.format(), k.decimal()
		c.Bools = k.bools()
		out[j] = typedColumn{Column: c, raw: rawName(j), as: k, scale: scaleOf(k, vals)}
	}
	return out, true
}

// sameLength reports whether every non-empty value has the same length,
// one of lengths.
func sameLength(vals []string, lengths ...int) bool {
	n := -1
	for _, v := range vals {
		if v = trimSpace(v); v == "" {
			continue
		}
		if n >= 0 && len(v) != n {
			return false
		}
		n = len(v)
	}
	return slices.Contains(lengths, n)
}

// colStats is what the checking query learns of one column.
type colStats struct {
	nonEmpty       int64
	minLen, maxLen int64
	fails          map[reading]int64 // values that do not fit each checked reading
}

// chooseColumns picks each column's type on the whole column: the head's
// guess is checked on every row; the columns whose guess fails, or that
// are empty in the head, are checked against the whole ladder. Trailing
// columns without a name and without any value (a trailing delimiter on
// every line) are dropped.
func chooseColumns(ctx context.Context, conn *sql.Conn, r *reader, cols []Column, dec string) ([]typedColumn, error) {
	guesses := make([]reading, len(cols))
	checks := make([][]reading, len(cols))
	for j, c := range cols {
		vals := make([]string, len(r.d.Sample))
		for i, row := range r.d.Sample {
			vals[i] = row[j]
		}
		guesses[j] = guessKind(vals, c.Original, dec)
		switch guesses[j] {
		case asText:
		case asUnknown:
			checks[j] = allowedKinds(ladder, c.Original, dec)
		default:
			checks[j] = []reading{guesses[j]}
		}
	}
	// Non-empty counts are needed where the head had no value, and for
	// trailing unnamed columns (dropped when empty).
	count := make([]bool, len(cols))
	for j := len(cols) - 1; j >= 0 && isBlank(cols[j].Original); j-- {
		count[j] = true
	}
	for j, g := range guesses {
		count[j] = count[j] || g == asUnknown
	}
	stats, err := checkColumns(ctx, conn, r, checks, count)
	if err != nil {
		return nil, err
	}
	// Second pass, rarely needed: a late value contradicted the guess.
	retry := make([][]reading, len(cols))
	again := false
	for j, g := range guesses {
		if g != asText && g != asUnknown && stats[j].fails[g] > 0 {
			retry[j] = allowedKinds(ladder[indexOf(ladder, g)+1:], cols[j].Original, dec)
			again = true
		}
	}
	if again {
		more, err := checkColumns(ctx, conn, r, retry, make([]bool, len(cols)))
		if err != nil {
			return nil, err
		}
		for j := range retry {
			if retry[j] != nil {
				stats[j].fails, stats[j].minLen, stats[j].maxLen = more[j].fails, more[j].minLen, more[j].maxLen
				checks[j] = retry[j]
			}
		}
	}
	out := make([]typedColumn, len(cols))
	for j, c := range cols {
		vals := make([]string, len(r.d.Sample))
		for i, row := range r.d.Sample {
			vals[i] = row[j]
		}
		k := pick(checks[j], stats[j])
		if (k == asInt || k == asIntSpaced) && isCodeColumn(c.Original, stats[j]) {
			k = asText
		}
		c.Type, c.Format, c.Decimal = k.sqlType(), k.format(), k.decimal()
		c.Bools = k.bools()
		out[j] = typedColumn{Column: c, raw: rawName(j), as: k, scale: scaleOf(k, vals)}
	}
	for len(out) > 1 && isBlank(out[len(out)-1].Original) && stats[len(out)-1].nonEmpty == 0 {
		out = out[:len(out)-1]
	}
	return out, nil
}

// pick returns the first checked reading that every value fits, text when
// none does or when the column has no value at all.
func pick(checked []reading, s colStats) reading {
	if s.nonEmpty == 0 {
		return asText
	}
	for _, k := range checked {
		if f, ok := s.fails[k]; ok && f == 0 {
			return k
		}
	}
	return asText
}

// isCodeColumn reports whether an integer column holds codes that must
// keep their text: its name says so (code_postal, siret, tel …), or every
// value has 9 or 14 characters (SIREN, SIRET).
func isCodeColumn(name string, s colStats) bool {
	if namedLikeCode(name) {
		return true
	}
	return s.minLen == s.maxLen && (s.minLen == 9 || s.minLen == 14)
}

func allowedKinds(ks []reading, name, dec string) []reading {
	var out []reading
	for _, k := range ks {
		if k.allowed(name, dec) {
			out = append(out, k)
		}
	}
	return out
}

func indexOf(ks []reading, k reading) int {
	for i, x := range ks {
		if x == k {
			return i
		}
	}
	return len(ks) - 1
}

// checkColumns runs one aggregate query over the whole file: for every
// reading in checks[j] the number of values of column j that do not fit
// it; the count of non-empty values when count[j] (columns empty in the
// head, trailing unnamed ones); value lengths when an integer reading is
// checked (SIREN/SIRET detection). Columns with nothing to learn cost
// nothing, and when no column has, the file is not read at all. Counts not
// asked for are reported as 1 (the head had a value).
func checkColumns(ctx context.Context, conn *sql.Conn, r *reader, checks [][]reading, count []bool) ([]colStats, error) {
	stats := make([]colStats, len(checks))
	var exprs []string
	var dests []*int64
	add := func(expr string, dest *int64) {
		exprs = append(exprs, expr)
		dests = append(dests, dest)
	}
	type slot struct {
		col int
		as  reading
		n   *int64
	}
	var slots []slot
	for j := range checks {
		st := &stats[j]
		st.nonEmpty, st.fails = 1, map[reading]int64{}
		x := "trim(" + QuoteIdent(rawName(j)) + ")"
		if count[j] {
			add("coalesce(count_if("+x+" <> ''), 0)", &st.nonEmpty)
		}
		if slices.Contains(checks[j], asInt) || slices.Contains(checks[j], asIntSpaced) {
			add("coalesce(min(length("+x+")) FILTER ("+x+" <> ''), 0)", &st.minLen)
			add("coalesce(max(length("+x+")) FILTER ("+x+" <> ''), 0)", &st.maxLen)
		}
		for _, k := range checks[j] {
			sl := slot{j, k, new(int64)}
			slots = append(slots, sl)
			add("coalesce(count_if("+x+" <> '' AND NOT ("+k.sqlPredicate(x)+")), 0)", sl.n)
		}
	}
	if len(exprs) == 0 {
		return stats, nil
	}
	q := "SELECT " + strings.Join(exprs, ", ") + " FROM " + r.sql("ignore_errors = true")
	ptrs := make([]any, len(dests))
	for i, d := range dests {
		ptrs[i] = d
	}
	err := conn.QueryRowContext(ctx, q, r.args()...).Scan(ptrs...)
	if err != nil && ctx.Err() == nil && !r.serial {
		// Quoted line ends beyond the head make the parallel reader give
		// up (any error does, its text is not read): read serially.
		r.serial = true
		return checkColumns(ctx, conn, r, checks, count)
	}
	if err != nil {
		return nil, loadError(ctx, err, r.path)
	}
	for _, sl := range slots {
		stats[sl.col].fails[sl.as] = *sl.n
	}
	return stats, nil
}

// applied returns the options that were forced, for general_infos.
func (o Options) applied() map[string]string {
	m := map[string]string{}
	set := func(k, v string) {
		if v != "" {
			m[k] = v
		}
	}
	set("encoding", o.Encoding)
	set("delimiter", o.Delimiter)
	set("quote", o.Quote)
	set("escape", o.Escape)
	set("header", o.Header)
	set("decimal", o.Decimal)
	if o.SkipSet {
		m["skip"] = strconv.Itoa(o.Skip)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}
