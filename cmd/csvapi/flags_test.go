package main

import (
	"flag"
	"io"
	"reflect"
	"testing"
	"time"
)

// TestEverySettingHasAFlag: a Config field without a flag tag could never be
// set, and a tag naming an existing flag twice would panic at start.
func TestEverySettingHasAFlag(t *testing.T) {
	var walk func(reflect.Type)
	walk = func(typ reflect.Type) {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if _, ok := f.Tag.Lookup("flag"); ok {
				continue
			}
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type)
				continue
			}
			t.Errorf("%s.%s has no flag tag", typ.Name(), f.Name)
		}
	}
	walk(reflect.TypeFor[Config]())

	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c := NewMain().Config
	bindFlags(fs, &c) // panics on an unknown kind or a repeated name
	if fs.Lookup("store-lease") == nil || fs.Lookup("checks") == nil {
		t.Error("nested or trailing settings have no flag")
	}
}

func TestFlagsOfEachKind(t *testing.T) {
	args := []string{"--threads", "3", "--checks", "--store-lease", "5m", "--referrers", "A.example, b.example",
		"--min-free-disk", "2GiB", "--cors-origins", "https://x.example"}
	m := NewMain()
	if err := m.ParseFlags(args, func(string) (string, bool) { return "", false }, io.Discard); err != nil {
		t.Fatal(err)
	}
	c := m.Config
	if c.Threads != 3 || !c.Checks || c.Store.Lease != 5*time.Minute || !reflect.DeepEqual(c.Referrers, []string{"a.example", "b.example"}) ||
		c.MinFreeDisk != 2<<30 || c.CORSOrigins != "https://x.example" {
		t.Errorf("%v gave %+v", args, c)
	}
	if d := NewMain().Config; d.Store.Lease == 0 || d.MaxQueries == 0 {
		t.Errorf("defaults lost: %+v", d)
	}
	for _, bad := range [][]string{{"--threads", "many"}, {"--checks=maybe"}, {"--store-lease", "5"}} {
		if err := NewMain().ParseFlags(bad, func(string) (string, bool) { return "", false }, io.Discard); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}
