package convert_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/csvapi/csvapi/convert"
)

func TestFetchPolicy(t *testing.T) {
	tests := []struct {
		name string
		f    *convert.Fetcher
		url  string
	}{
		{"port not allowed", &convert.Fetcher{}, "http://example.org:22/a.csv"},
		{"metadata by decimal literal", &convert.Fetcher{}, "http://2852039166/latest/meta-data/"},
		{"host not in allowlist", &convert.Fetcher{AllowedHosts: []string{"data.gouv.fr"}}, "https://evil-data.gouv.fr/a.csv"},
		{"allowlist is not a suffix match", &convert.Fetcher{AllowedHosts: []string{"gouv.fr"}}, "https://notgouv.fr/a.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each is refused before any connection or DNS lookup.
			_, err := tt.f.Fetch(context.Background(), tt.url, io.Discard)
			if !errors.Is(err, convert.ErrForbiddenAddress) {
				t.Errorf("Fetch(%s): err = %v, want ErrForbiddenAddress", tt.url, err)
			}
		})
	}
}
