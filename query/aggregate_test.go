package query

import (
	"context"
	"errors"
	"testing"
)

func TestAggregate(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	tests := []struct {
		name      string
		r         AggRequest
		want      string // rows as JSON
		wantTotal int64
		wantErr   string // param of the InvalidError
	}{
		{"count all", AggRequest{Request: Request{Limit: 10}}, `[[7]]`, 1, ""},
		{"group by", AggRequest{Request: Request{Limit: 10}, GroupBy: []string{"ok"},
			Aggs: []Agg{{Func: AggCount}, {Func: AggSum, Column: "x.y"}, {Func: AggAvg, Column: "n"}, {Func: AggMin, Column: "le jour"}, {Func: AggCountDistinct, Column: "x.y"}}},
			`[[false,3,30.5,4.666666666666667,"2024-01-01",3],[true,3,14.25,3.6666666666666665,"2023-12-31",3],[null,1,null,3,null,0]]`, 3, ""},
		{"sorted by aggregate, filtered, paged", AggRequest{Request: Request{Limit: 1, Offset: 1, Sort: []Sort{{Column: "sum_n", Desc: true}},
			Filters: []Filter{{Column: "n", Op: OpGt, Value: "1"}}}, GroupBy: []string{"ok"}, Aggs: []Agg{{Func: AggSum, Column: "n"}}},
			`[[true,10]]`, 3, ""},
		{"past the end", AggRequest{Request: Request{Limit: 10, Offset: 5}, GroupBy: []string{"ok"}}, `[]`, 3, ""},
		{"sum of text", AggRequest{Aggs: []Agg{{Func: AggSum, Column: `a b.c__d"e`}}}, "", 0, "agg"},
		{"unknown group", AggRequest{GroupBy: []string{"nope"}}, "", 0, "group_by"},
		{"unknown sort", AggRequest{GroupBy: []string{"ok"}, Request: Request{Sort: []Sort{{Column: "n"}}}}, "", 0, "_sort"},
		{"too many groups", AggRequest{GroupBy: []string{"n"}, MaxGroups: 5}, "", 0, "group_by"},
		{"duplicate names", AggRequest{Aggs: []Agg{{Func: AggCount}, {Func: AggCount}}}, "", 0, "agg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Aggregate(context.Background(), db, tbl, tt.r)
			if tt.wantErr != "" {
				var ie *InvalidError
				if !errors.As(err, &ie) || ie.Param != tt.wantErr {
					t.Fatalf("error = %v, want an InvalidError on %s", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(p.AppendRowsJSON(nil, false)); got != tt.want {
				t.Errorf("rows = %s, want %s", got, tt.want)
			}
			if p.Total != tt.wantTotal {
				t.Errorf("total = %d, want %d", p.Total, tt.wantTotal)
			}
		})
	}
}
