// Package linkcheck checks resource URLs in bulk the way croquemort
// (etalab/croquemort) did: status, redirects and useful headers, kept in a
// store under the cache directory, re-checked at a frequency, and posted to
// webhooks; with replicas, shared through the S3-compatible store of
// --store (one replica checks each URL, see Remote). Results are
// croquemort's flat string maps with its keys, so its
// clients keep working. Every request, checks and webhooks alike, goes
// through convert.Fetcher's transport: the same SSRF guard and port policy
// as /apify.
package linkcheck

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/csvapi/csvapi/convert"
)

// Defaults of the Checker's knobs.
const (
	DefaultCheckTimeout = 30 * time.Second
	DefaultRangeBytes   = 1024
	DefaultMaxRedirects = 10
)

// Result is one check, croquemort-style: a flat map of strings keyed
// checked-url, final-url, final-status-code, redirect-url,
// redirect-status-code, updated and the headers of Headers. csvapi adds
// url-hash, group (a group hash) and frequency as croquemort did, and error
// (a stable code: forbidden_address, invalid_url, timeout, unreachable,
// too_many_redirects) when no answer was had, and unreachable-since (the
// updated of the first failed check in a row) while a URL fails.
type Result map[string]string

// Headers are the response headers kept in a Result, croquemort's list.
// content-type is split into content-type and charset.
var Headers = []string{"etag", "expires", "last-modified", "content-type", "content-length",
	"content-disposition", "content-md5", "content-encoding", "content-location", "cache-control"}

// URLHash is croquemort's URL hash: "u:" and the first 8 hex digits of the
// MD5 of the URL as given.
func URLHash(rawURL string) string { return "u:" + shortHash(rawURL) }

// GroupHash is croquemort's group hash: "g:" and the first 8 hex digits of
// the MD5 of the group name.
func GroupHash(group string) string { return "g:" + shortHash(group) }

func shortHash(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])[:8]
}

// Checker checks one URL: HEAD first, a small ranged GET when HEAD is
// refused, redirects followed one by one so that each hop passes the policy
// and the first one is recorded. The zero value is not usable: set Fetcher.
type Checker struct {
	// Fetcher provides the guarded transport and the URL policy. Its
	// redirect limit and download caps do not apply to checks.
	Fetcher *convert.Fetcher
	// Timeout bounds one check, redirects and fallback GET included
	// (DefaultCheckTimeout when zero).
	Timeout time.Duration
	// RangeBytes is the size of the ranged GET (DefaultRangeBytes when zero).
	RangeBytes int64
	// MaxRedirects is how many redirects are followed (DefaultMaxRedirects
	// when zero).
	MaxRedirects int
	// UserAgent is sent with every request (convert.DefaultUserAgent when
	// empty).
	UserAgent string
}

// headRefused are the statuses after which the same URL is tried again with
// a GET: servers that do not implement HEAD, or forbid it.
func headRefused(status int) bool {
	return status == http.StatusMethodNotAllowed || status == http.StatusNotImplemented ||
		status == http.StatusForbidden
}

// errTooManyRedirects ends a chain longer than MaxRedirects.
var errTooManyRedirects = errors.New("too many redirects")

// Check checks rawURL and returns its Result, stamped with now. It never
// returns an error: a URL that cannot be checked gives a Result whose error
// key says why (and, for timeouts and unreachable servers, a
// final-status-code of 503, as croquemort recorded them).
func (c *Checker) Check(ctx context.Context, rawURL string, now time.Time) Result {
	r := Result{"checked-url": rawURL, "url-hash": URLHash(rawURL), "updated": now.UTC().Format(time.RFC3339)}
	ctx, cancel := context.WithTimeout(ctx, positive(c.Timeout, DefaultCheckTimeout))
	defer cancel()
	u, err := url.Parse(rawURL)
	if err != nil {
		r["error"] = "invalid_url"
		return r
	}
	maxRedirects := c.MaxRedirects
	if maxRedirects <= 0 {
		maxRedirects = DefaultMaxRedirects
	}
	for hop := 0; ; hop++ {
		if err := c.Fetcher.CheckURL(u); err != nil {
			r["error"] = errorCode(err)
			return r
		}
		resp, err := c.request(ctx, u)
		if err != nil {
			r["error"] = errorCode(err)
			r["final-url"] = u.String()
			if r["error"] != "forbidden_address" {
				r["final-status-code"] = "503"
			}
			return r
		}
		next, isRedirect := redirectTarget(u, resp)
		if !isRedirect {
			r["final-url"] = u.String()
			r["final-status-code"] = strconv.Itoa(resp.StatusCode)
			keepHeaders(r, resp.Header)
			return r
		}
		if hop == 0 {
			r["redirect-url"] = next.String()
			r["redirect-status-code"] = strconv.Itoa(resp.StatusCode)
		}
		if hop >= maxRedirects {
			r["error"] = errorCode(errTooManyRedirects)
			r["final-url"] = u.String()
			r["final-status-code"] = strconv.Itoa(resp.StatusCode)
			return r
		}
		u = next
	}
}

// request makes the HEAD, and the ranged GET if HEAD is refused, on u
// without following redirects. The body is drained (at most RangeBytes)
// and closed.
func (c *Checker) request(ctx context.Context, u *url.URL) (*http.Response, error) {
	resp, err := c.do(ctx, http.MethodHead, u, false)
	if err != nil || !headRefused(resp.StatusCode) {
		return resp, err
	}
	resp, err = c.do(ctx, http.MethodGet, u, true)
	if err != nil {
		return nil, err
	}
	switch resp.StatusCode {
	case http.StatusRequestedRangeNotSatisfiable:
		// An empty file has no first byte: ask without a range (the body
		// read is capped all the same).
		return c.do(ctx, http.MethodGet, u, false)
	case http.StatusPartialContent:
		// The file is there; 206 is only the answer to our range. Record
		// what a plain GET would have said, and the size of the whole.
		resp.StatusCode = http.StatusOK
		resp.Header.Del("Content-Length")
		if _, total, ok := strings.Cut(resp.Header.Get("Content-Range"), "/"); ok && total != "*" {
			resp.Header.Set("Content-Length", total)
		}
	}
	return resp, nil
}

func (c *Checker) do(ctx context.Context, method string, u *url.URL, ranged bool) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, u.String(), nil)
	if err != nil {
		return nil, err
	}
	ua := c.UserAgent
	if ua == "" {
		ua = convert.DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	n := positive(c.RangeBytes, DefaultRangeBytes)
	if ranged {
		req.Header.Set("Range", fmt.Sprintf("bytes=0-%d", n-1))
	}
	resp, err := c.Fetcher.Transport().RoundTrip(req)
	if err != nil {
		return nil, err
	}
	// The body is not wanted; reading a little lets the connection be reused
	// when the server ignored Range.
	_, _ = io.CopyN(io.Discard, resp.Body, n)
	resp.Body.Close()
	return resp, nil
}

// redirectTarget returns the URL a 3xx answer points to.
func redirectTarget(base *url.URL, resp *http.Response) (*url.URL, bool) {
	switch resp.StatusCode {
	case 301, 302, 303, 307, 308:
	default:
		return nil, false
	}
	loc := resp.Header.Get("Location")
	if loc == "" {
		return nil, false
	}
	next, err := base.Parse(loc)
	if err != nil {
		return nil, false
	}
	return next, true
}

// keepHeaders copies the Headers present in h into r, splitting the charset
// off content-type as croquemort did.
func keepHeaders(r Result, h http.Header) {
	for _, name := range Headers {
		v := h.Get(name)
		if v == "" {
			continue
		}
		if name == "content-type" {
			mt, params, err := mime.ParseMediaType(v)
			if err == nil {
				v = mt
				if cs := params["charset"]; cs != "" {
					r["charset"] = strings.ToLower(cs)
				}
			}
		}
		r[name] = v
	}
}

// errorCode turns a check error into the stable code kept in a Result.
func errorCode(err error) string {
	switch {
	case errors.Is(err, convert.ErrForbiddenAddress):
		return "forbidden_address"
	case errors.Is(err, convert.ErrInvalidURL):
		return "invalid_url"
	case errors.Is(err, errTooManyRedirects):
		return "too_many_redirects"
	case errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return "timeout"
	}
	return "unreachable"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

func positive[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}
