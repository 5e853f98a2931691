package convert_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

// rtColumn generates random values of one type: the text written in the
// file and the JSON value a client must read back (nil for an empty cell).
type rtColumn struct {
	name string
	gen  func(r *rand.Rand) (text string, want any)
}

func randDate(r *rand.Rand) time.Time {
	return time.Date(1900+r.IntN(200), time.Month(1+r.IntN(12)), 1+r.IntN(28), 0, 0, 0, 0, time.UTC)
}

// randFloat returns a decimal with up to 6 fraction digits and its float64.
func randFloat(r *rand.Rand) (string, float64) {
	s := strconv.FormatFloat(float64(r.Int64N(2e12)-1e12)/1e6, 'f', -1, 64)
	f, _ := strconv.ParseFloat(s, 64)
	return s, f
}

var rtColumns = []rtColumn{
	{"entier", func(r *rand.Rand) (string, any) {
		n := r.Int64N(1<<53) - 1<<52
		return strconv.FormatInt(n, 10), json.Number(strconv.FormatInt(n, 10))
	}},
	{"decimal_point", func(r *rand.Rand) (string, any) {
		s, f := randFloat(r)
		return s, f
	}},
	{"decimal_virgule", func(r *rand.Rand) (string, any) {
		s, f := randFloat(r)
		return strings.Replace(s, ".", ",", 1), f
	}},
	{"booleen", func(r *rand.Rand) (string, any) {
		b := r.IntN(2) == 0
		return map[bool]string{true: "oui", false: "non"}[b], b
	}},
	{"date_fr", func(r *rand.Rand) (string, any) {
		d := randDate(r)
		return d.Format("02/01/2006"), d.Format("2006-01-02")
	}},
	{"date_iso", func(r *rand.Rand) (string, any) {
		d := randDate(r)
		return d.Format("2006-01-02"), d.Format("2006-01-02")
	}},
	{"horodatage", func(r *rand.Rand) (string, any) {
		d := randDate(r).Add(time.Duration(r.IntN(86400)) * time.Second)
		return d.Format("2006-01-02 15:04:05"), d.Format("2006-01-02T15:04:05")
	}},
	{"code", func(r *rand.Rand) (string, any) {
		s := fmt.Sprintf("%05d", r.IntN(100000))
		return s, s
	}},
	{"texte", func(r *rand.Rand) (string, any) {
		parts := []string{"a", "é", ";", ",", "\"", "\n", " ", "€", "x y", "NA", "-", "0"}
		var b strings.Builder
		for range 1 + r.IntN(5) {
			b.WriteString(parts[r.IntN(len(parts))])
		}
		s := b.String()
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`, s
	}},
}

// TestRoundTrip writes seeded random tables with a column of every type
// (some cells empty), loads them and checks that the JSON served holds
// exactly the values written.
func TestRoundTrip(t *testing.T) {
	defer convert.SetHeadLen(4 << 10)() // most rows beyond the head: the whole-column check decides
	db := openDB(t)
	for seed := uint64(1); seed <= 3; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			r := rand.New(rand.NewPCG(seed, 42))
			rows := 500
			var b strings.Builder
			names := make([]string, len(rtColumns))
			for i, c := range rtColumns {
				names[i] = c.name
			}
			b.WriteString(strings.Join(names, ";") + "\n")
			want := make([][]any, rows)
			for i := range want {
				want[i] = []any{json.Number(strconv.Itoa(i + 1))}
				cells := make([]string, len(rtColumns))
				for j, c := range rtColumns {
					text, v := c.gen(r)
					if r.IntN(20) == 0 && i > 0 { // empty cells, never the whole first row
						text, v = "", nil
					}
					cells[j] = text
					want[i] = append(want[i], v)
				}
				b.WriteString(strings.Join(cells, ";") + "\n")
			}
			got := loadAll(t, db, b.String(), rows)
			for i := range want {
				if !reflect.DeepEqual(normalizeJSON(got[i]), normalizeJSON(want[i])) {
					t.Fatalf("row %d: got %v\nwant %v", i+1, got[i], want[i])
				}
			}
		})
	}
}

// loadAll loads text and returns every row as decoded JSON.
func loadAll(t *testing.T, db *sqlDB, text string, rows int) [][]any {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "in.csv")
	if err := os.WriteFile(src, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	n, err := convert.Normalize(context.Background(), src, dir, "", 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	m := &convert.Meta{}
	dbPath := filepath.Join(dir, "out.duckdb")
	if err := convert.Load(t.Context(), db, n.Path, dbPath, convert.Options{}, m); err != nil {
		t.Fatal(err)
	}
	alias := "rt_" + strconv.Itoa(int(time.Now().UnixNano()%1e9))
	if _, err := db.Exec("ATTACH '" + dbPath + "' AS " + alias + " (READ_ONLY)"); err != nil {
		t.Fatal(err)
	}
	defer db.Exec("DETACH " + alias)
	page, err := query.Run(t.Context(), db, query.Table{Relation: alias + ".main.data", Columns: m.Columns}, query.Request{Limit: rows + 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Rows) != rows {
		t.Fatalf("%d rows, want %d (rejected %d)", len(page.Rows), rows, m.RejectedRows)
	}
	var got [][]any
	dec := json.NewDecoder(strings.NewReader(string(page.AppendRowsJSON(nil, false))))
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	return got
}

// normalizeJSON makes numbers comparable: json.Number and float64 become
// float64 (exact for the generated values), so that 2 and 2.0 are equal.
func normalizeJSON(row []any) []any {
	out := make([]any, len(row))
	for i, v := range row {
		switch x := v.(type) {
		case json.Number:
			f, _ := strconv.ParseFloat(string(x), 64)
			out[i] = f
		case float64:
			out[i] = x
			if math.IsNaN(x) {
				out[i] = "NaN"
			}
		default:
			out[i] = v
		}
	}
	return out
}
