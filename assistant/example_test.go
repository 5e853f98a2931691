package assistant_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/csvapi/csvapi/assistant"
)

// generateCommunes returns a CSV like INSEE's population series: 34,521
// communes in 100 départements, the Rhône (69) holding 267 of them, with
// their population in 2015 and 2021 and the change. Seeded: the same bytes
// every run.
func generateCommunes() []byte {
	r := rand.New(rand.NewPCG(69, 2021))
	var b bytes.Buffer
	b.WriteString("code_insee;commune;departement;population_2015;population_2021;variation\n")
	n := 0
	for d := 1; d <= 100; d++ {
		count := 346
		if d == 69 {
			count = 267
		}
		for i := 1; i <= count; i++ {
			n++
			p15 := int(r.ExpFloat64() * 1500)
			p21 := p15 + int(r.NormFloat64()*float64(p15)/20)
			if p21 < 0 {
				p21 = 0
			}
			fmt.Fprintf(&b, "%02d%03d;Commune %d-%d;%02d;%d;%d;%d\n", d, i, d, i, d, p15, p21, p21-p15)
		}
	}
	return b.Bytes()
}

// TestRhoneExample is README's worked example: "which 5 communes of the
// Rhône grew most?" on the generated table, with the bytes each answer
// costs (go test -v -run TestRhoneExample ./assistant/ prints them), against
// paging through every raw row as a client without filters must.
func TestRhoneExample(t *testing.T) {
	up := upstream(t)
	c := newClient(t, connect(t, newService(t, true)))
	url := up.URL + "/population.csv"
	var conv assistant.ConvertOutput
	c.mustCall("convert", map[string]any{"url": url}, &conv)
	cost := map[string]int{"convert": c.Bytes["convert"]}
	var desc assistant.DescribeOutput
	c.mustCall("describe", map[string]any{"id": conv.ID}, &desc)
	cost["describe"] = c.Bytes["describe"]
	var q assistant.QueryOutput
	c.mustCall("query", map[string]any{"id": conv.ID,
		"filters":   []map[string]any{{"column": "departement", "op": "exact", "value": "69"}},
		"sort":      []map[string]any{{"column": "variation", "desc": true}},
		"columns":   []string{"commune", "population_2015", "population_2021", "variation"},
		"page_size": 5}, &q)
	cost["query"] = c.Bytes["query"]
	var agg assistant.AggregateOutput
	c.mustCall("aggregate", map[string]any{"id": conv.ID,
		"filters": []map[string]any{{"column": "departement", "value": "69"}},
		"metrics": []map[string]any{{"func": "count"}, {"func": "sum", "column": "population_2015"}, {"func": "sum", "column": "population_2021"}}}, &agg)
	cost["aggregate"] = c.Bytes["aggregate"]

	want := topGrowth(t, generateCommunes(), "69", 5)
	var got []string
	for _, row := range q.Rows {
		got = append(got, fmt.Sprint(row[1], " ", row[4]))
	}
	if !slices.Equal(got, want) || q.Total != 267 {
		t.Errorf("top 5 of the Rhône = %v (of %d), want %v (of 267)", got, q.Total, want)
	}

	// Without filters or sort, a client reads every row to answer.
	raw, pages := 0, 0
	for page := 1; ; page++ {
		var p assistant.QueryOutput
		c.mustCall("query", map[string]any{"id": conv.ID, "page": page, "page_size": 200}, &p)
		raw += c.Bytes["query"]
		pages++
		if !p.HasMore {
			break
		}
	}
	t.Logf("answer bytes (≈ tokens at 4 bytes each): convert %d, describe %d, query %d, aggregate %d; all pages of raw rows: %d in %d calls",
		cost["convert"], cost["describe"], cost["query"], cost["aggregate"], raw, pages)
	t.Logf("convert answer: %s", mustJSON(conv))
	t.Logf("describe answer: %s", mustJSON(desc))
	t.Logf("query answer: %s", mustJSON(q))
	t.Logf("aggregate answer: %s", mustJSON(agg))
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// topGrowth computes the expected answer from the CSV itself: "commune
// variation" of the n largest variations in département dep.
func topGrowth(t *testing.T, csv []byte, dep string, n int) []string {
	t.Helper()
	type row struct {
		name string
		v    int
		line int
	}
	var rows []row
	for i, line := range strings.Split(strings.TrimSpace(string(csv)), "\n")[1:] {
		f := strings.Split(line, ";")
		if f[2] != dep {
			continue
		}
		v, err := strconv.Atoi(f[5])
		if err != nil {
			t.Fatal(err)
		}
		rows = append(rows, row{f[1], v, i})
	}
	// Ties in file order, as the query tool breaks them by rowid.
	slices.SortStableFunc(rows, func(a, b row) int { return b.v - a.v })
	var out []string
	for _, r := range rows[:n] {
		out = append(out, fmt.Sprint(r.name, " ", r.v))
	}
	return out
}
