package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackageDependencies keeps the layout of README.md's Architecture
// section: each package imports only the siblings it may, only server
// imports fiber, and the parsers under convert/internal never link DuckDB
// (that is what makes their tests and fuzz targets build in seconds).
func TestPackageDependencies(t *testing.T) {
	const mod = "github.com/csvapi/csvapi/"
	internal := []string{"convert/internal/numfmt", "convert/internal/ods", "convert/internal/urlpolicy", "convert/internal/xls"}
	allowed := map[string][]string{
		"convert":   internal,
		"query":     append([]string{"convert"}, internal...),
		"store":     {},
		"cache":     append([]string{"convert", "store"}, internal...),
		"problem":   append([]string{"cache", "query", "convert", "store"}, internal...),
		"assistant": append([]string{"problem", "cache", "query", "convert", "store"}, internal...),
		"server":    append([]string{"assistant", "problem", "cache", "query", "convert", "store", "linkcheck"}, internal...),
		"linkcheck": append([]string{"convert", "store"}, internal...),
	}
	for _, pkg := range internal {
		allowed[pkg] = []string{"convert/internal/numfmt"}
	}
	for pkg, ok := range allowed {
		out, err := exec.Command("go", "list", "-deps", mod+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.Contains(dep, "gofiber/fiber") && pkg != "server" {
				t.Errorf("%s imports %s: only server may import fiber", pkg, dep)
			}
			if strings.Contains(dep, "duckdb") && strings.HasPrefix(pkg, "convert/internal/") {
				t.Errorf("%s imports %s: the packages under convert/internal must not link DuckDB", pkg, dep)
			}
			sib, found := strings.CutPrefix(dep, mod)
			if !found || sib == pkg {
				continue
			}
			if !slices.Contains(ok, sib) {
				t.Errorf("%s imports %s; it may import only %v", pkg, sib, ok)
			}
		}
	}
}
