package convert

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
)

// TestCanonicalBranchesChangeNothing: for every reading with canonical
// forms, each value reads the same (the same typed value, or the same
// refusal) through the CASE with the canonical branches first as through
// the exact rule alone: the branches are a shortcut, never a new rule.
func TestCanonicalBranchesChangeNothing(t *testing.T) {
	db := openTestDB(t)
	values := []string{
		"", " ", "0", "-0", "7", "42", "-42", "007", "+5", "1_000", " 12 ", "12 ", "1.5", "1.50", "-1.50", "0.50",
		"01.50", "1.", ".5", "1e3", "1E-3", "0x1F", "1.234,56", "12,5", "12,50", "-0,50", "1,5,0", "1.5,0", "01,50",
		"1 234,56", "1 234", "9007199254740992", "9007199254740993", "-9007199254740993", "123456789012345",
		"1234567890123456", "1234567890123456.50", "12345678901234567,50", "inf", "nan", "NaN",
		"2023-01-15", "2023-1-5", "2023-02-30", "0001-01-01", "0000-01-01", "12345-01-01", "2023-01-15 ",
		"15/01/2023", "5/1/2023", "05/01/2023", "31/02/2023", "01/15/2023", "15-01-2023", "1/1/999", "01/01/0999",
		"15/01/12345", "15/01/2023x", "true", "false", "TRUE", "False", " true", "oui", "non", "OUI", "vrai", "faux",
		"yes", "no", "t", "1", "x",
	}
	for _, k := range ladder {
		for _, scale := range []int{0, 1, 2, 3} {
			if k.canonicalBranches(`"v"`, scale) == nil {
				continue
			}
			c := typedColumn{raw: "v", as: k, scale: scale}
			exact := typedColumn{raw: "v", as: k, scale: scale}
			canonical, strict, checked := prepareOne(t, db, c.strictSelectExpr()), prepareOne(t, db, exactStrict(exact)), prepareOne(t, db, c.selectExpr())
			for _, v := range values {
				got, gotErr := readOne(canonical, v)
				want, wantErr := readOne(strict, v)
				if got != want || (gotErr == nil) != (wantErr == nil) {
					t.Errorf("%v (scale %d) of %q: got %q (error %v), the exact rule gives %q (error %v)", k, scale, v, got, gotErr, want, wantErr)
				}
				got, gotErr = readOne(checked, v)
				if fits := wantErr == nil; fits && (got != want || gotErr != nil) {
					t.Errorf("%v (scale %d) of %q, checked column: got %q (error %v), want %q", k, scale, v, got, gotErr, want)
				}
			}
		}
	}
}

// exactStrict is strictSelectExpr without the canonical branches.
func exactStrict(c typedColumn) string {
	x := "trim(" + QuoteIdent(c.raw) + ")"
	return "CASE WHEN " + x + " IS NULL OR " + x + " = '' THEN NULL WHEN " + c.as.sqlPredicate(x) +
		" THEN " + c.as.sqlCast(x) + " ELSE error('a value does not fit the type guessed from the head') END"
}

// prepareOne prepares the evaluation of expr on a one-row table whose
// column v holds the statement's argument. The test evaluates each
// expression on some 80 values: prepared once, it is parsed and planned
// once (the test took 26 s with a statement per value, 3 s so).
func prepareOne(t *testing.T, db *sql.DB, expr string) *sql.Stmt {
	t.Helper()
	stmt, err := db.Prepare("SELECT typeof(x) || ':' || CAST(x AS VARCHAR) FROM (SELECT " + expr + " AS x FROM (SELECT ?::VARCHAR AS v))")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stmt.Close() })
	return stmt
}

// readOne evaluates a statement of prepareOne on value and returns the
// result as text (with its type, so that 1 and true differ).
func readOne(stmt *sql.Stmt, value string) (string, error) {
	var s sql.NullString
	if err := stmt.QueryRow(value).Scan(&s); err != nil {
		return "", err
	}
	return fmt.Sprint(s.String, s.Valid), nil
}

// TestHeaderFails: the repeated-header filter is left out of the fast
// path only when a repeated header row would fail a strict cast.
func TestHeaderFails(t *testing.T) {
	col := func(name string, k reading) typedColumn {
		return typedColumn{Column: Column{Original: name}, as: k}
	}
	for _, tc := range []struct {
		cols []typedColumn
		want bool
	}{
		{[]typedColumn{col("id", asInt), col("nom", asText)}, true},
		{[]typedColumn{col("nom", asText), col("montant", asDecComma)}, true},
		{[]typedColumn{col("2019", asInt), col("2020", asInt)}, false}, // years as names read as integers
		{[]typedColumn{col("nom", asText), col("actif", asBoolTrueFalse)}, false},
		{[]typedColumn{col("a", asText), col("b", asText)}, false},
		{[]typedColumn{col("", asInt), col("x", asText)}, false},
		{[]typedColumn{col("2019", asInt), col("date", asDateDMY)}, true},
	} {
		var names []string
		for _, c := range tc.cols {
			names = append(names, c.Original+":"+c.as.sqlType())
		}
		if got := headerFails(tc.cols); got != tc.want {
			t.Errorf("headerFails(%s) = %v, want %v", strings.Join(names, ", "), got, tc.want)
		}
	}
}
