package server

import (
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/problem"
	"github.com/csvapi/csvapi/query"
)

func TestPageParamsSet(t *testing.T) {
	tests := []struct {
		key, value string
		wantErr    bool
		check      func(p pageParams) bool
	}{
		{"_size", "20", false, func(p pageParams) bool { return p.req.Limit == 20 }},
		{"_size", "0", false, func(p pageParams) bool { return p.req.Limit == 0 }},
		{"_size", "1001", true, nil},
		{"_size", "-1", true, nil},
		{"_size", "1e3", true, nil},
		{"_offset", "5", false, func(p pageParams) bool { return p.req.Offset == 5 }},
		{"_offset", "", true, nil},
		{"_sort", "a b", false, func(p pageParams) bool { return reflect.DeepEqual(p.req.Sort, []query.Sort{{Column: "a b"}}) }},
		{"_sort_desc", "x", false, func(p pageParams) bool { return reflect.DeepEqual(p.req.Sort, []query.Sort{{Column: "x", Desc: true}}) }},
		{"_sort", "", true, nil},
		{"_shape", "objects", false, func(p pageParams) bool { return p.objects }},
		{"_shape", "lists", false, func(p pageParams) bool { return !p.objects }},
		{"_shape", "array", true, nil},
		{"_rowid", "hide", false, func(p pageParams) bool { return p.req.HideRowID }},
		{"_total", "hide", false, func(p pageParams) bool { return p.req.HideTotal }},
		{"a__b__exact", "v", false, func(p pageParams) bool {
			return reflect.DeepEqual(p.req.Filters, []query.Filter{{Column: "a__b", Op: query.OpExact, Value: "v"}})
		}},
		{"_id__greater", "3", false, func(p pageParams) bool {
			return reflect.DeepEqual(p.req.Filters, []query.Filter{{Column: "_id", Op: query.OpGreater, Value: "3"}})
		}},
		{"col__regex", "v", true, nil},
		{"__exact", "v", false, func(p pageParams) bool { return len(p.req.Filters) == 0 }},
		{"utm_source", "x", false, func(p pageParams) bool { return len(p.req.Filters) == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.key+"="+tt.value, func(t *testing.T) {
			p := pageParams{req: query.Request{Limit: DefaultPageSize}, maxSize: 1000}
			err := p.set(tt.key, tt.value)
			var ae *problem.Problem
			if tt.wantErr {
				if !errors.As(err, &ae) || ae.Status != 400 {
					t.Fatalf("err = %v, want a 400 apiError", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if !tt.check(p) {
				t.Errorf("params = %+v", p)
			}
		})
	}
}

func FuzzPageParams(f *testing.F) {
	f.Add("_size", "10")
	f.Add("nom__contains", "%_")
	f.Add("a__b__less", "1,5")
	f.Fuzz(func(t *testing.T, key, value string) {
		p := pageParams{req: query.Request{Limit: DefaultPageSize}, maxSize: 1000}
		err := p.set(key, value)
		var ae *problem.Problem
		if err != nil && (!errors.As(err, &ae) || ae.Status != 400) {
			t.Errorf("set(%q, %q): %v is not a 400", key, value, err)
		}
		if p.req.Limit < 0 || p.req.Limit > 1000 || p.req.Offset < 0 {
			t.Errorf("set(%q, %q): limit %d offset %d out of range", key, value, p.req.Limit, p.req.Offset)
		}
	})
}

func TestParseGroup(t *testing.T) {
	f := func(col, op, v string) query.Cond {
		return query.Cond{Filter: &query.Filter{Column: col, Op: query.Op(op), Value: v}}
	}
	tests := []struct {
		key, value string
		want       query.Cond
		wantErr    string
	}{
		{"or", "(a__exact.1,b__gt.5)", query.Cond{Or: true, Conds: []query.Cond{f("a", "exact", "1"), f("b", "gt", "5")}}, ""},
		{"or", "(a__b__isnull,c.d__in.x)", query.Cond{Or: true, Conds: []query.Cond{f("a__b", "isnull", ""), f("c.d", "in", "x")}}, ""},
		{"or", `(a__exact."x,y)",b__exact."q\"t")`, query.Cond{Or: true, Conds: []query.Cond{f("a", "exact", "x,y)"), f("b", "exact", `q"t`)}}, ""},
		{"or", "(a__exact.1,and(b__lt.2,or(c__exact.,d__exact.3)))", query.Cond{Or: true, Conds: []query.Cond{
			f("a", "exact", "1"),
			{Conds: []query.Cond{f("b", "lt", "2"), {Or: true, Conds: []query.Cond{f("c", "exact", ""), f("d", "exact", "3")}}}},
		}}, ""},
		{"and", "(nom commune__icontains.é)", query.Cond{Conds: []query.Cond{f("nom commune", "icontains", "é")}}, ""},
		{"or", "a__exact.1", query.Cond{}, `missing "("`},
		{"or", "(a__exact.1", query.Cond{}, `missing ")"`},
		{"or", "(a__exact.1)x", query.Cond{}, "unexpected text"},
		{"or", "(a.1)", query.Cond{}, "column__operator.value"},
		{"or", `(a__exact."open)`, query.Cond{}, "unterminated"},
		{"or", "(" + strings.Repeat("and(", 10) + "a__exact.1" + strings.Repeat(")", 11), query.Cond{}, "nested too deeply"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			got, err := parseGroup(tt.key, tt.value)
			if tt.wantErr != "" {
				var ae *problem.Problem
				if !errors.As(err, &ae) || ae.Status != 400 || !strings.Contains(ae.Message, tt.wantErr) {
					t.Fatalf("err = %v, want a 400 containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseGroup = %+v, %v\nwant %+v", got, err, tt.want)
			}
		})
	}
}

func TestSortAndColumnLists(t *testing.T) {
	tbl := query.Table{Columns: []convert.Column{{Name: "a"}, {Name: "b"}, {Name: "x,y"}, {Name: "-z"}}}
	tests := []struct {
		key, value string
		sort       []query.Sort
		cols       []string
	}{
		{"_sort", "a,-b", []query.Sort{{Column: "a"}, {Column: "b", Desc: true}}, nil},
		{"_sort", "x,y", []query.Sort{{Column: "x,y"}}, nil},
		{"_sort", "-z", []query.Sort{{Column: "-z"}}, nil},
		{"_sort", "-a,-z", []query.Sort{{Column: "a", Desc: true}, {Column: "-z"}}, nil},
		{"_sort_desc", "a,b", []query.Sort{{Column: "a", Desc: true}, {Column: "b", Desc: true}}, nil},
		{"b__sort", "desc", []query.Sort{{Column: "b", Desc: true}}, nil},
		{"columns", "a,x,y", nil, []string{"a", "x", "y"}},
		{"columns", "x,y", nil, []string{"x,y"}},
	}
	for _, tt := range tests {
		p := newPageParams(tbl, 100, nil)
		if err := p.set(tt.key, tt.value); err != nil {
			t.Fatalf("%s=%s: %v", tt.key, tt.value, err)
		}
		if !reflect.DeepEqual(p.req.Sort, tt.sort) || !reflect.DeepEqual(p.req.Columns, tt.cols) {
			t.Errorf("%s=%s: sort %v columns %q, want %v %q", tt.key, tt.value, p.req.Sort, p.req.Columns, tt.sort, tt.cols)
		}
	}
	p := newPageParams(tbl, 100, nil)
	for _, kv := range [][2]string{{"a", "1"}, {"page", "3"}, {"q", "x"}, {"page_size", "10"}} {
		if err := p.set(kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.finish(); err != nil || p.req.Offset != 20 || p.req.Limit != 10 ||
		!reflect.DeepEqual(p.req.Filters, []query.Filter{{Column: "a", Op: query.OpExact, Value: "1"}}) || p.req.Search != "x" {
		t.Errorf("page=3&page_size=10&a=1&q=x: %+v, %v", p.req, err)
	}
}

// FuzzQueryString parses whole query strings, grammar included: any input
// is either a 400 or a request that query validates without panicking.
func FuzzQueryString(f *testing.F) {
	for _, s := range []string{
		"_size=10&nom__contains=%25_", "or=(a__exact.1,and(b__gt.2,a__in.[\"x,y\"]))", "_sort=a,-b&b__sort=desc",
		"q=é&_facet=a&_facet_size=3", "_next=MTIuYWJj&page=2&page_size=5", "a=1&a__between=1,2&b__isnull",
		`or=(a__exact."x\")",b__exact.)`, "_col=a&_nocol=b&columns=a,b",
	} {
		f.Add(s)
	}
	tbl := query.Table{Relation: "data", Columns: []convert.Column{{Name: "a", Type: "BIGINT"}, {Name: "b", Type: "VARCHAR"}, {Name: "a b", Type: "DATE"}}}
	f.Fuzz(func(t *testing.T, qs string) {
		values, err := url.ParseQuery(qs)
		if err != nil {
			return
		}
		p := newPageParams(tbl, 1000, nil)
		for k, vs := range values {
			for _, v := range vs {
				if err == nil {
					err = p.set(k, v)
				}
			}
		}
		if err == nil {
			err = p.finish()
		}
		var ae *problem.Problem
		if err != nil {
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("%q: %v is not a 400", qs, err)
			}
			return
		}
		if p.req.Limit < 0 || p.req.Limit > 1000 || p.req.Offset < 0 {
			t.Fatalf("%q: limit %d offset %d out of range", qs, p.req.Limit, p.req.Offset)
		}
		if err := p.req.Validate(tbl); err != nil && !errors.Is(err, query.ErrInvalid) {
			t.Fatalf("%q: Validate = %v, want nil or ErrInvalid", qs, err)
		}
	})
}

// TestParseTabular reads api-tabular query strings, one case a line: the
// raw query string, and the request it gives or the parameter it refuses.
func TestParseTabular(t *testing.T) {
	tbl := query.Table{Columns: []convert.Column{{Name: "nom", Type: "VARCHAR"}, {Name: "pop", Type: "BIGINT"},
		{Name: "ok", Type: "BOOLEAN"}, {Name: "a.b (c)", Type: "VARCHAR"}}}
	f := func(col, op, v string) query.Filter { return query.Filter{Column: col, Op: query.Op(op), Value: v} }
	tests := []struct {
		raw     string
		filters []query.Filter
		badKey  string // the parameter an error names; "" for none
	}{
		{"nom__exact=Paris", []query.Filter{f("nom", "exact", "Paris")}, ""},
		{"nom__exact=a%252Eb", []query.Filter{f("nom", "exact", "a.b")}, ""},           // decoded twice
		{"nom__exact=100%25", []query.Filter{f("nom", "exact", "100%")}, ""},           // a lone % stays
		{"nom__exact=a%2Bb", []query.Filter{f("nom", "exact", "a+b")}, ""},             // + sent as %2B stays +
		{"nom__exact=a+b", []query.Filter{f("nom", "exact", "a b")}, ""},               // + is a space
		{"a.b+%28c%29__contains=x", []query.Filter{f("a.b (c)", "contains", "x")}, ""}, // odd names
		{"pop__isnull", []query.Filter{f("pop", "isnull", "")}, ""},
		{"pop__isnotnull=", []query.Filter{f("pop", "isnotnull", "")}, ""},
		{"pop__STRICTLY_GREATER=3", []query.Filter{f("pop", "strictly_greater", "3")}, ""},
		{"__id__exact=3", []query.Filter{f(query.RowID, "exact", "3")}, ""},
		{"ok__differs=true", []query.Filter{f("ok", "differs", "true")}, ""},
		{"limit=5", nil, "limit"},
		{"_size=5", nil, "_size"},
		{"nom__like=x", nil, "nom__like"},
		{"pop__contains=1", nil, "pop__contains"},
		{"ok__less=1", nil, "ok__less"},
		{"nom__sum", nil, "nom__sum"},
		{"page=0", nil, "page"},
		{"page_size=1001", nil, "page_size"},
		{"columns=nom&pop__groupby", nil, "columns"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			p, err := parseTabular(tt.raw, tbl, 1000)
			if tt.badKey != "" {
				var ae *problem.Problem
				if !errors.As(err, &ae) || ae.Status != 400 || ae.Code != problem.CodeInvalidParameter {
					t.Fatalf("error = %v, want a 400 invalid_parameter", err)
				}
				if d, _ := ae.Details.(map[string]string); d["parameter"] != tt.badKey {
					t.Errorf("error names %v, want %s", ae.Details, tt.badKey)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(p.req.Filters, tt.filters) {
				t.Errorf("filters = %+v (err %v), want %+v", p.req.Filters, err, tt.filters)
			}
		})
	}

	// or=(…) as cdata's global search sends it: values encoded by
	// encodeConditionValue, then the whole parameter encoded again.
	inner := `(nom__contains.%28Loire%29,a.b (c)__contains.%28Loire%29,"a.b (c)"__exact."x,y",and(pop__exact.3,ok__isnull))`
	p, err := parseTabular("or="+url.QueryEscape(inner)+"&page=2&page_size=50", tbl, 1000)
	if err != nil {
		t.Fatal(err)
	}
	leaf := func(c query.Cond) query.Filter { return *c.Filter }
	or := p.req.Where[0]
	got := []query.Filter{leaf(or.Conds[0]), leaf(or.Conds[1]), leaf(or.Conds[2]), leaf(or.Conds[3].Conds[0]), leaf(or.Conds[3].Conds[1])}
	want := []query.Filter{f("nom", "contains", "(Loire)"), f("a.b (c)", "contains", "(Loire)"), f("a.b (c)", "exact", "x,y"),
		f("pop", "exact", "3"), f("ok", "isnull", "")}
	if !or.Or || or.Conds[3].Or || !reflect.DeepEqual(got, want) {
		t.Errorf("or=(…) = %+v, want %+v", got, want)
	}
	if p.req.Limit != 50 || p.req.Offset != 50 || p.req.RowIDName != "__id" {
		t.Errorf("page: limit %d offset %d rowid %q", p.req.Limit, p.req.Offset, p.req.RowIDName)
	}
}

// FuzzParseTabular parses api-tabular query strings: any input is a 400 or
// a request within bounds that query validates without panicking.
func FuzzParseTabular(f *testing.F) {
	for _, s := range []string{
		"page=2&page_size=50&a__sort=desc", "or=%28b__contains.%2528x%2529%2Cand%28a__exact.1%2Cb__isnull%29%29",
		`or=("a b"__exact."1,2",b__notin.x)`, "a__groupby&a__sum&b__count&a__sum__sort=asc", "b__in=x,y&a__isnotnull=",
		"columns=a,\"a b\"&__id__sort=desc", "a__differs=%25&b__exact=%2", "limit=5",
	} {
		f.Add(s)
	}
	tbl := query.Table{Relation: "data", Columns: []convert.Column{{Name: "a", Type: "BIGINT"}, {Name: "b", Type: "VARCHAR"}, {Name: "a b", Type: "DATE"}}}
	f.Fuzz(func(t *testing.T, qs string) {
		p, err := parseTabular(qs, tbl, 1000)
		var ae *problem.Problem
		if err != nil {
			if !errors.As(err, &ae) || ae.Status != 400 {
				t.Fatalf("%q: %v is not a 400", qs, err)
			}
			return
		}
		if p.req.Limit < 1 || p.req.Limit > 1000 || p.req.Offset < 0 || p.req.RowIDName != "__id" {
			t.Fatalf("%q: limit %d offset %d out of range", qs, p.req.Limit, p.req.Offset)
		}
		if err := p.req.Validate(tbl); err != nil && !errors.Is(err, query.ErrInvalid) {
			t.Fatalf("%q: Validate = %v, want nil or ErrInvalid", qs, err)
		}
	})
}
