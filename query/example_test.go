package query_test

import (
	"context"
	"database/sql"
	"fmt"
	"log"

	_ "github.com/duckdb/duckdb-go/v2"

	"github.com/csvapi/csvapi/convert"
	"github.com/csvapi/csvapi/query"
)

func ExampleRun() {
	db, err := sql.Open("duckdb", "")
	if err != nil {
		log.Fatal(err)
	}
	defer db.Close()
	_, err = db.Exec(`CREATE TABLE data AS SELECT * FROM (VALUES
		('75056', 'Paris', 2133111),
		('69123', 'Lyon', 522250),
		('13055', 'Marseille', 873076)
	) v("code insee", commune, population)`)
	if err != nil {
		log.Fatal(err)
	}
	t := query.Table{
		Relation: "data",
		Columns: []convert.Column{
			{Name: "code insee", Original: "Code INSEE", Type: "VARCHAR"},
			{Name: "commune", Original: "Commune", Type: "VARCHAR"},
			{Name: "population", Original: "Population", Type: "INTEGER"},
		},
	}
	r := query.Request{
		Filters: []query.Filter{{Column: "population", Op: query.OpGreater, Value: "600000"}},
		Sort:    []query.Sort{{Column: "population", Desc: true}},
		Limit:   10,
	}
	page, err := query.Run(context.Background(), db, t, r)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(page.Columns, page.Total)
	fmt.Println(string(page.AppendRowsJSON(nil, false)))
	// Output:
	// [rowid code insee commune population] 2
	// [[1,"75056","Paris",2133111],[3,"13055","Marseille",873076]]
}

// api-tabular offers comparisons on every type but booleans, and contains
// on text and dates only; its routes in csvapi refuse the others.
func ExampleTabularAllows() {
	fmt.Println(query.TabularAllows(convert.KindInteger, "strictly_greater"))
	fmt.Println(query.TabularAllows(convert.KindInteger, query.OpContains))
	fmt.Println(query.TabularAllows(convert.KindBoolean, query.OpLess))
	fmt.Println(query.TabularOps(convert.KindBoolean))
	// Output:
	// true
	// false
	// false
	// [isnull isnotnull differs exact]
}
