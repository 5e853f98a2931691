package linkcheck

import (
	"net/url"
	"strings"
)

// Filter keeps the results that have every key=value of filters and none of
// the key=value of excludes, as croquemort's filter_<key>= and
// exclude_<key>= parameters do. The key domain is matched against the host
// of checked-url. A result without an excluded key is kept.
func Filter(results []Result, filters, excludes map[string]string) []Result {
	out := results[:0:0]
	for _, r := range results {
		if matches(r, filters, excludes) {
			out = append(out, r)
		}
	}
	return out
}

func matches(r Result, filters, excludes map[string]string) bool {
	for k, v := range filters {
		if value(r, k) != v {
			return false
		}
	}
	for k, v := range excludes {
		if got := value(r, k); got != "" && got == v {
			return false
		}
	}
	return true
}

func value(r Result, key string) string {
	if key == "domain" {
		u, err := url.Parse(r["checked-url"])
		if err != nil {
			return ""
		}
		return strings.ToLower(u.Host)
	}
	return r[key]
}
