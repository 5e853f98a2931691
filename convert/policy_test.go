package convert

import (
	"errors"
	"net/url"
	"testing"
)

// TestRedirectTargets: every redirect hop goes through CheckTarget (see
// CheckRedirect in fetch.go), so a redirect from an allowed host to a
// forbidden literal address, port or host is refused before any
// connection; names are checked at connect time by the dialer.
func TestRedirectTargets(t *testing.T) {
	f := &Fetcher{AllowedHosts: []string{"data.gouv.fr"}}
	for _, target := range []string{
		"http://127.0.0.1/latest", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
		"http://0x7f000001/", "http://10.0.0.1:8080/", "http://2852039166/", "http://[::ffff:192.168.1.1]/",
		"https://www.data.gouv.fr:22/x.csv", "https://evil.example/x.csv",
	} {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.policy().CheckTarget(u); !errors.Is(err, ErrForbiddenAddress) {
			t.Errorf("redirect to %s: err = %v, want ErrForbiddenAddress", target, err)
		}
	}
	for _, target := range []string{"https://www.data.gouv.fr/x.csv", "http://static.data.gouv.fr:8080/x.csv"} {
		u, _ := url.Parse(target)
		if err := f.policy().CheckTarget(u); err != nil {
			t.Errorf("redirect to %s: %v, want allowed", target, err)
		}
	}
}
