package query

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
)

func TestProfile(t *testing.T) {
	db := openDB(t, oddFixture)
	tbl := describe(t, db, "data")
	tp, err := Profile(context.Background(), db, tbl, Request{Filters: []Filter{{Column: "n", Op: OpNot, Value: "2"}}})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(tp)
	got := string(b)
	for _, want := range []string{
		`"rows":6`,
		`{"name":"n","type":"integer","count":6,"nulls":0,"distinct":6,"distinct_approx":false,"min":1,"max":7,"mean":4.333333333333333,"std":2.160246899469287,"median":4.5,"quartiles":[3.25,4.5,5.75]`,
		`"histogram":[{"from":1,"count":1},{"from":2,"count":0},{"from":3,"count":1}`,
		`{"name":"x.y","type":"number","count":5,"nulls":1,"distinct":4,"distinct_approx":false,"min":-3.25,"max":10.5`,
		`"top":[{"value":10.5,"count":2},{"value":-3.25,"count":1}`,
		`{"name":"le jour","type":"date","count":5,"nulls":1,"distinct":4,"distinct_approx":false,"min":"2023-12-31","max":"2024-03-10","median":"2024-01-15"`,
		`"histogram":[{"from":"2023-12","count":1},{"from":"2024-01","count":3},{"from":"2024-03","count":1}]`,
		`{"name":"a b.c__d\"e","type":"string","count":5,"nulls":1,"distinct":5`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("profile lacks %s\n%s", want, got)
		}
	}
}
