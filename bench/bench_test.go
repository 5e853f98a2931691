package main

import (
	"encoding/csv"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestWriteQuotedCSV checks the shape of issue 15's file: 8 columns in its
// order, codes of 5 digits, ISO dates, and on every 7th row (and only
// there) a text field holding a comma and embedded quotes.
func TestWriteQuotedCSV(t *testing.T) {
	path := filepath.Join(t.TempDir(), "quoted.csv")
	if err := writeQuotedCSV(path, 30); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	records, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(records[0], ","), "id,commune,code_commune,date,population,montant,actif,libelle"; got != want {
		t.Fatalf("header %q, want %q", got, want)
	}
	if len(records) != 31 {
		t.Fatalf("%d records, want 31", len(records))
	}
	code := regexp.MustCompile(`^\d{5}$`)
	date := regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)
	for i, rec := range records[1:] {
		row := i + 1
		if !code.MatchString(rec[2]) || !date.MatchString(rec[3]) {
			t.Errorf("row %d: code %q, date %q", row, rec[2], rec[3])
		}
		quoted := strings.Contains(rec[7], `, dit "le grand"`)
		if quoted != (row%7 == 0) {
			t.Errorf("row %d: text %q; quoted with a comma: %v, want %v", row, rec[7], quoted, row%7 == 0)
		}
	}
}

func TestParseOnly(t *testing.T) {
	all, err := parseOnly("")
	if err != nil || len(all) != len(sections) {
		t.Fatalf("empty -only: %v, %v; want every section", all, err)
	}
	some, err := parseOnly("query, cached")
	if err != nil || len(some) != 2 || !some["query"] || !some["cached"] {
		t.Fatalf(`-only "query, cached": %v, %v`, some, err)
	}
	if _, err := parseOnly("query,bogus"); err == nil {
		t.Fatal(`-only "query,bogus": no error`)
	}
}

func TestSample(t *testing.T) {
	tests := []struct {
		s      sample
		median float64
		format string
	}{
		{sample{2}, 2, "2.00 s"},
		{sample{3, 1, 2}, 2, "2.00 s (1.00–3.00)"},
		{sample{4, 1, 2, 3}, 2.5, "2.50 s (1.00–4.00)"},
	}
	for _, tt := range tests {
		if got := tt.s.median(); got != tt.median {
			t.Errorf("median of %v = %v, want %v", tt.s, got, tt.median)
		}
		if got := tt.s.format(2, " s"); got != tt.format {
			t.Errorf("format of %v = %q, want %q", tt.s, got, tt.format)
		}
	}
	if !math.IsNaN(sample{}.median()) {
		t.Error("median of no value is not NaN")
	}
}

func TestThousands(t *testing.T) {
	for n, want := range map[int]string{0: "0", 999: "999", 1000: "1,000", 900000: "900,000", 10000000: "10,000,000"} {
		if got := thousands(n); got != want {
			t.Errorf("thousands(%d) = %q, want %q", n, got, want)
		}
	}
}
