package linkcheck

import (
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Status classes of View.Status.
const (
	StatusOK          = "ok"          // 2xx
	StatusRedirected  = "redirected"  // a redirect on the way
	StatusClientError = "client"      // 4xx
	StatusServerError = "server"      // 5xx
	StatusUnreachable = "unreachable" // no answer: error set
	StatusUnchecked   = "unchecked"   // not checked yet
)

// View selects results for the dashboard. Empty fields select everything.
type View struct {
	Status      string // one of the Status* classes, or an exact code
	ContentType string
	Scheme      string // http or https
	Domain      string // host of checked-url
	Group       string // group name
	// CheckedBefore keeps the results last checked before it (and those
	// never checked): stale ones.
	CheckedBefore time.Time
}

// Match reports whether r belongs to the view.
func (v View) Match(r Result) bool {
	u, _ := url.Parse(r["checked-url"])
	if u == nil {
		u = &url.URL{}
	}
	switch {
	case v.Status != "" && !statusMatches(v.Status, r),
		v.ContentType != "" && r["content-type"] != v.ContentType,
		v.Scheme != "" && u.Scheme != v.Scheme,
		v.Domain != "" && !strings.EqualFold(u.Host, v.Domain):
		return false
	}
	if !v.CheckedBefore.IsZero() {
		if t, err := time.Parse(time.RFC3339, r["updated"]); err == nil && !t.Before(v.CheckedBefore) {
			return false
		}
	}
	return true
}

func statusMatches(class string, r Result) bool {
	code, _ := strconv.Atoi(r["final-status-code"])
	switch class {
	case StatusUnchecked:
		return r["updated"] == ""
	case StatusUnreachable:
		return r["error"] != ""
	case StatusRedirected:
		return r["redirect-url"] != ""
	case StatusOK:
		return r["error"] == "" && code >= 200 && code < 300
	case StatusClientError:
		return r["error"] == "" && code >= 400 && code < 500
	case StatusServerError:
		return r["error"] == "" && code >= 500
	}
	return r["final-status-code"] == class
}

// Results returns the results of v, sorted by URL: every known URL, or
// those of v.Group.
func (s *Service) Results(v View) []Result {
	var all []Result
	if v.Group != "" {
		_, all, _ = s.Group(GroupHash(v.Group))
	} else {
		all = s.all()
	}
	out := all[:0:0]
	for _, r := range all {
		if v.Match(r) {
			out = append(out, r)
		}
	}
	return out
}

func (s *Service) all() []Result {
	s.Store.mu.Lock()
	hashes := sortedKeys(s.Store.urls)
	s.Store.mu.Unlock()
	out := make([]Result, 0, len(hashes))
	for _, h := range hashes {
		if e, ok := s.Store.url(h); ok {
			out = append(out, s.view(h, e))
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["checked-url"] < out[j]["checked-url"] })
	return out
}
