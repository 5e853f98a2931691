package server

import (
	"errors"
	"reflect"
	"testing"

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
			var ae *apiError
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
		var ae *apiError
		if err != nil && (!errors.As(err, &ae) || ae.Status != 400) {
			t.Errorf("set(%q, %q): %v is not a 400", key, value, err)
		}
		if p.req.Limit < 0 || p.req.Limit > 1000 || p.req.Offset < 0 {
			t.Errorf("set(%q, %q): limit %d offset %d out of range", key, value, p.req.Limit, p.req.Offset)
		}
	})
}
