package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestPackageDependencies keeps the layout of DESIGN.md: each package
// imports only the siblings it may, and only server imports fiber.
func TestPackageDependencies(t *testing.T) {
	const mod = "github.com/csvapi/csvapi/"
	allowed := map[string][]string{
		"convert":   {},
		"query":     {"convert"},
		"cache":     {"convert"},
		"assistant": {"cache", "query", "convert"},
		"server":    {"assistant", "cache", "query", "convert", "linkcheck"},
		"linkcheck": {"convert"},
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
