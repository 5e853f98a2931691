package convert

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// writeBenchCSV writes a French-style ';' file of about mb megabytes: codes
// with leading zeros, decimal commas, dd/mm/yyyy dates, oui/non, SIRET,
// decimal points, text with quotes.
func writeBenchCSV(b *testing.B, mb int) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "bench.csv")
	f, err := os.Create(p)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	r := rand.New(rand.NewPCG(1, 2))
	fmt.Fprintln(w, "code_insee;nom;population;superficie;date_maj;chef_lieu;siret;latitude;commentaire")
	for n := 0; n < mb*11_000; n++ { // ~90 bytes a line
		fmt.Fprintf(w, "%05d;Commune numéro %d;%d;%d,%02d;%02d/%02d/%d;%s;%014d;%.5f;%s\n",
			r.IntN(97000)+1000, n, r.IntN(2000000), r.IntN(1000), r.IntN(100), r.IntN(28)+1, r.IntN(12)+1, 1990+r.IntN(35),
			[]string{"oui", "non"}[r.IntN(2)], r.Int64N(99999999999999), 41+r.Float64()*10,
			[]string{"", "rien à signaler", `voir "note"`, "a"}[r.IntN(4)])
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	return p
}

// BenchmarkLoad compares csvapi's conversion (Normalize + Load into a
// database file) with DuckDB alone (CREATE TABLE AS SELECT * FROM
// read_csv into a database file) on the same file. The target is
// a ratio ≤ 1.3. The size is CSVAPI_BENCH_MB megabytes (default 100):
//
//	go test -run '^$' -bench Load -benchtime 3x ./convert/
func BenchmarkLoad(b *testing.B) {
	mb := 100
	if s := os.Getenv("CSVAPI_BENCH_MB"); s != "" {
		mb, _ = strconv.Atoi(s)
	}
	src := writeBenchCSV(b, mb)
	st, _ := os.Stat(src)
	db := openTestDB(b)
	b.Run("csvapi", func(b *testing.B) {
		b.SetBytes(st.Size())
		for i := range b.N {
			dir := b.TempDir()
			n, err := Normalize(context.Background(), src, dir, "", 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			m := &Meta{}
			if err := Load(b.Context(), db, n.Path, filepath.Join(dir, fmt.Sprint(i, ".duckdb")), Options{}, m); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("duckdb_ctas", func(b *testing.B) {
		b.SetBytes(st.Size())
		for i := range b.N {
			p := filepath.Join(b.TempDir(), fmt.Sprint(i, ".duckdb"))
			alias := "bench_" + randomHex(4)
			if _, err := db.Exec("ATTACH " + QuoteLiteral(p) + " AS " + alias); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Exec("CREATE TABLE "+alias+".data AS SELECT * FROM read_csv(?)", src); err != nil {
				b.Fatal(err)
			}
			if _, err := db.Exec("DETACH " + alias); err != nil {
				b.Fatal(err)
			}
		}
	})
}
