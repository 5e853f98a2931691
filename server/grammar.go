package server

import (
	"strings"

	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

// Limits of the or=/and= grammar, so that one parameter cannot build a
// query of unbounded size.
const (
	maxGroupDepth = 8
	maxGroupItems = 200
)

// parseGroup parses the value of or=(…) or and=(…), api-tabular's
// grammar extended with nesting:
//
//	group  = "(" item { "," item } ")"
//	item   = ( "and" | "or" ) group | filter
//	filter = column "__" op [ "." value ]
//	column = raw | '"' quoted '"'
//	value  = raw | '"' quoted '"'
//
// A raw value runs to the next "," or ")"; a quoted value may hold them,
// with \" and \\ as escapes. The operator is the first "__op" that is
// followed by ".", ",", ")" or the end, so a column name may contain "__"
// as long as it is not followed by an operator name. Example:
//
//	or=(dep__exact.75,and(dep__exact.13,population__gt.100000))
func parseGroup(key, value string) (query.Cond, error) {
	g := &groupParser{key: key, s: value}
	c, err := g.group(key == "or", 0)
	if err != nil {
		return query.Cond{}, err
	}
	if g.i != len(g.s) {
		return query.Cond{}, g.fail("unexpected text after the closing parenthesis")
	}
	return c, nil
}

type groupParser struct {
	key   string
	s     string
	i     int
	items int
}

func (g *groupParser) fail(msg string) error {
	return badRequest(problem.CodeInvalidParameter, "%s: %s at character %d; expected e.g. %s=(col__exact.a,other__gt.5)", g.key, msg, g.i+1, g.key)
}

func (g *groupParser) group(or bool, depth int) (query.Cond, error) {
	if depth >= maxGroupDepth {
		return query.Cond{}, g.fail("groups nested too deeply")
	}
	if g.i >= len(g.s) || g.s[g.i] != '(' {
		return query.Cond{}, g.fail(`missing "("`)
	}
	g.i++
	c := query.Cond{Or: or}
	for {
		item, err := g.item(depth)
		if err != nil {
			return c, err
		}
		c.Conds = append(c.Conds, item)
		if g.i >= len(g.s) {
			return c, g.fail(`missing ")"`)
		}
		switch g.s[g.i] {
		case ',':
			g.i++
		case ')':
			g.i++
			return c, nil
		default:
			return c, g.fail(`expected "," or ")"`)
		}
	}
}

func (g *groupParser) item(depth int) (query.Cond, error) {
	g.items++
	if g.items > maxGroupItems {
		return query.Cond{}, g.fail("too many conditions")
	}
	rest := g.s[g.i:]
	for _, kw := range []string{"and(", "or("} {
		if strings.HasPrefix(rest, kw) {
			g.i += len(kw) - 1
			return g.group(kw == "or(", depth+1)
		}
	}
	var col, op string
	if strings.HasPrefix(rest, `"`) {
		// A quoted column name, as api-tabular's "col.umn"__op.value: it may
		// hold dots, commas, parentheses and "__".
		name, err := g.quoted()
		if err != nil {
			return query.Cond{}, err
		}
		rest = g.s[g.i:]
		after, found := strings.CutPrefix(rest, "__")
		end := strings.IndexAny(after, ".,)")
		if end < 0 {
			end = len(after)
		}
		if !found || !query.KnownOp(after[:end]) {
			return query.Cond{}, g.fail(`expected __operator after the quoted column name`)
		}
		col, op = name, after[:end]
		g.i += 2 + len(op)
	} else {
		var ok bool
		col, op, ok = splitFilter(rest)
		if !ok {
			return query.Cond{}, g.fail("expected column__operator.value")
		}
		g.i += len(col) + 2 + len(op)
	}
	f := query.Filter{Column: col, Op: query.Op(op)}
	if g.i < len(g.s) && g.s[g.i] == '.' {
		g.i++
		v, err := g.value()
		if err != nil {
			return query.Cond{}, err
		}
		f.Value = v
	}
	return query.Cond{Filter: &f}, nil
}

// splitFilter finds the first "__op" in s followed by ".", ",", ")" or the
// end, with a non-empty column name before it.
func splitFilter(s string) (col, op string, ok bool) {
	for i := 1; i+2 < len(s); i++ {
		if s[i] != '_' || s[i+1] != '_' {
			continue
		}
		rest := s[i+2:]
		end := strings.IndexAny(rest, ".,)")
		if end < 0 {
			end = len(rest)
		}
		if query.KnownOp(rest[:end]) {
			return s[:i], rest[:end], true
		}
	}
	return "", "", false
}

func (g *groupParser) value() (string, error) {
	if g.i < len(g.s) && g.s[g.i] == '"' {
		return g.quoted()
	}
	end := strings.IndexAny(g.s[g.i:], ",)")
	if end < 0 {
		end = len(g.s) - g.i
	}
	v := g.s[g.i : g.i+end]
	g.i += end
	return v, nil
}

// quoted reads a double-quoted name or value at g.i, with \" and \\ as
// escapes.
func (g *groupParser) quoted() (string, error) {
	var b strings.Builder
	for g.i++; g.i < len(g.s); g.i++ {
		ch := g.s[g.i]
		switch {
		case ch == '\\' && g.i+1 < len(g.s):
			g.i++
			b.WriteByte(g.s[g.i])
		case ch == '"':
			g.i++
			return b.String(), nil
		default:
			b.WriteByte(ch)
		}
	}
	return "", g.fail("unterminated quoted text")
}
