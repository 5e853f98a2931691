package convert

import (
	"net/http"
	"net/url"

	"github.com/csvapi/csvapi/convert/internal/urlpolicy"
)

// Transport returns the guarded transport of the Fetcher: the SSRF guard and
// port list on every connection (unless AllowPrivate), its timeouts and its
// proxy. Other packages (the link checker) use it to make requests that are
// not downloads under the same policy. It is shared with Fetch and must not
// be modified.
func (f *Fetcher) Transport() http.RoundTripper {
	f.once.Do(f.init)
	return f.client.Transport
}

// CheckURL applies the Fetcher's policy to u before any connection: an
// absolute http(s) URL with a host and no credentials (else an error wrapping
// ErrInvalidURL), then literal addresses in any notation, the port list and
// the host allowlist (else an error wrapping ErrForbiddenAddress). Callers
// that follow redirects themselves must call it on every hop.
func (f *Fetcher) CheckURL(u *url.URL) error {
	if err := urlpolicy.CheckURL(u); err != nil {
		return &invalidURLError{err}
	}
	return f.policy().CheckTarget(u)
}

// invalidURLError wraps checkURL's message so that it unwraps to
// ErrInvalidURL.
type invalidURLError struct{ err error }

func (e *invalidURLError) Error() string { return ErrInvalidURL.Error() + ": " + e.err.Error() }
func (e *invalidURLError) Unwrap() error { return ErrInvalidURL }
