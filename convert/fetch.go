package convert

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dustin/go-humanize"
)

// Defaults for the Fetcher fields left at zero.
const (
	DefaultMaxFileSize    = 1 << 30
	DefaultConnectTimeout = 10 * time.Second
	// DefaultHeaderTimeout is generous because some portals build the file
	// on the fly before answering.
	DefaultHeaderTimeout = time.Minute
	DefaultFetchTimeout  = 10 * time.Minute
	DefaultMaxRedirects  = 5
	DefaultUserAgent     = "csvapi (+https://github.com/csvapi/csvapi)"

	// DefaultMinRate and DefaultRateWindow cut a download that brings
	// less than 10 KB a second over 30 seconds: a stalled upstream must
	// not hold a load slot until the fetch timeout.
	DefaultMinRate    = 10 << 10
	DefaultRateWindow = 30 * time.Second
)

// Fetcher downloads resource files over HTTP(S) with the limits a public
// service needs: a size cap enforced while streaming, timeouts, a bounded
// number of redirects and, unless AllowPrivate is set, the SSRF guard of
// DialControl on every connection.
//
// The zero value is ready to use; a zero field means its Default* value. Set
// the fields before the first call to Fetch and do not change them
// afterwards. A Fetcher is safe for concurrent use, reuses connections and
// must not be copied after first use.
type Fetcher struct {
	// MaxSize is the largest body accepted, in bytes (DefaultMaxFileSize
	// when zero or negative).
	MaxSize int64
	// AllowPrivate lets downloads reach loopback, private and other
	// addresses CheckIP refuses. For local use and tests only.
	AllowPrivate bool
	// ConnectTimeout bounds the TCP connect and, separately, the TLS
	// handshake (DefaultConnectTimeout when zero).
	ConnectTimeout time.Duration
	// HeaderTimeout bounds the wait for response headers once the request is
	// sent (DefaultHeaderTimeout when zero).
	HeaderTimeout time.Duration
	// Timeout bounds the whole download, body included
	// (DefaultFetchTimeout when zero).
	Timeout time.Duration
	// MinRate is the slowest transfer accepted, in bytes a second, averaged
	// over each RateWindow of the body: a slower download is cut with a
	// *FetchError wrapping ErrTooSlow (DefaultMinRate when zero; negative
	// turns the check off).
	MinRate int64
	// RateWindow is the span over which MinRate is measured
	// (DefaultRateWindow when zero).
	RateWindow time.Duration
	// MaxRedirects is how many redirects are followed (DefaultMaxRedirects
	// when zero; negative follows none).
	MaxRedirects int
	// UserAgent is sent with every request (DefaultUserAgent when empty).
	UserAgent string
	// Progress, if set, is called from Fetch's goroutine with the running
	// total of body bytes each time some arrive. It is shared by every
	// download of this Fetcher; for per-download progress on a shared
	// Fetcher, count the writes to dst instead.
	Progress func(n int64)

	// AllowedPorts are the ports URLs may use (DefaultAllowedPorts when
	// empty); not enforced with AllowPrivate.
	AllowedPorts []int
	// AllowedHosts, when set, is an allowlist: a URL's host (and every
	// redirect's) must be one of them or a subdomain of one.
	AllowedHosts []string
	// Proxy, when set, is the HTTP proxy every download goes through.
	// Environment proxies are never used. The address guard then checks the
	// URLs' literal addresses and ports only: the proxy makes the
	// connections and must enforce the egress policy itself.
	Proxy *url.URL
	// Resolver, when set, resolves host names instead of the system's
	// resolver (tests use it to make names point at forbidden addresses).
	Resolver *net.Resolver

	once   sync.Once
	client *http.Client
}

// Download describes a completed download.
type Download struct {
	URL          string // URL as requested
	FinalURL     string // URL after redirects
	Size         int64  // body bytes written to dst
	ETag         string
	LastModified string
	ContentType  string
	Status       int // final HTTP status (2xx)
}

// Fetch downloads rawURL and streams its body, byte for byte (a gzipped
// answer stays gzipped), into dst.
//
// It returns an error wrapping ErrInvalidURL when rawURL is not an absolute
// http(s) URL with a host and no credentials; an error wrapping ErrTooLarge
// as soon as the body is known to exceed MaxSize (by its Content-Length or
// while streaming, so dst then holds at most MaxSize bytes); a *FetchError
// with Status set for a non-2xx answer; a *FetchError with Err set when the
// server cannot be reached, the redirects are too many or lead to a non-http
// URL, or the body is cut. A refused address is a *FetchError too, whose
// chain holds ErrForbiddenAddress: test errors.Is(err, ErrForbiddenAddress)
// before errors.As(err, &fetchErr). Cancelling ctx or exceeding Timeout
// aborts the download with an error for which errors.Is(err,
// context.Canceled) or errors.Is(err, context.DeadlineExceeded) holds. A body
// that arrives slower than MinRate is cut with a *FetchError wrapping
// ErrTooSlow. An error from dst is returned wrapped.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string, dst io.Writer) (*Download, error) {
	return f.FetchWith(ctx, rawURL, dst, FetchOptions{})
}

// ErrNotModified is returned by FetchWith when the upstream answered 304 Not
// Modified to a conditional request: the cached copy is still current.
var ErrNotModified = errors.New("not modified")

// FetchOptions are the per-download options of FetchWith.
type FetchOptions struct {
	// ETag and LastModified, when set, make the request conditional
	// (If-None-Match, If-Modified-Since).
	ETag, LastModified string
	// OnResponse, when set, is called once the answer's headers arrived
	// with its Content-Length (-1 when unknown), before the body is read.
	OnResponse func(contentLength int64)
}

// FetchWith is Fetch with per-download options. Besides Fetch's errors, it
// returns ErrNotModified when a conditional request is answered 304.
func (f *Fetcher) FetchWith(ctx context.Context, rawURL string, dst io.Writer, opts FetchOptions) (*Download, error) {
	if err := checkURLString(rawURL); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	if u, err := url.Parse(rawURL); err == nil {
		if err := f.checkTarget(u); err != nil {
			return nil, err
		}
	}
	f.once.Do(f.init)

	ctx, cancel := context.WithTimeout(ctx, positive(f.Timeout, DefaultFetchTimeout))
	defer cancel()
	// The transfer-rate watchdog cuts the request through this context.
	ctx, abort := context.WithCancelCause(ctx)
	defer abort(nil)
	// rawURL is sent as given: the resource id is the MD5 of this exact string
	// and re-encoding it could fetch something else.
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidURL, err)
	}
	ua := f.UserAgent
	if ua == "" {
		ua = DefaultUserAgent
	}
	req.Header.Set("User-Agent", ua)
	if opts.ETag != "" {
		req.Header.Set("If-None-Match", opts.ETag)
	}
	if opts.LastModified != "" {
		req.Header.Set("If-Modified-Since", opts.LastModified)
	}

	resp, err := f.client.Do(req)
	if err != nil {
		return nil, &FetchError{URL: rawURL, Err: interrupted(ctx, err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotModified && (opts.ETag != "" || opts.LastModified != "") {
		return nil, ErrNotModified
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, &FetchError{URL: rawURL, Status: resp.StatusCode}
	}

	limit := positive(f.MaxSize, DefaultMaxFileSize)
	if resp.ContentLength > limit {
		return nil, fmt.Errorf("%w: %s announced, the limit is %s", ErrTooLarge,
			sizeText(resp.ContentLength), sizeText(limit))
	}
	if opts.OnResponse != nil {
		opts.OnResponse(resp.ContentLength)
	}
	var received atomic.Int64
	stop := f.watchRate(ctx, abort, &received)
	n, err := f.copyBody(ctx, dst, resp.Body, limit, &received)
	stop()
	if err != nil {
		var rerr *readError
		if errors.As(err, &rerr) {
			return nil, &FetchError{URL: rawURL, Err: rerr.err}
		}
		return nil, err
	}
	return &Download{
		URL:          rawURL,
		FinalURL:     resp.Request.URL.String(),
		Size:         n,
		ETag:         resp.Header.Get("ETag"),
		LastModified: resp.Header.Get("Last-Modified"),
		ContentType:  resp.Header.Get("Content-Type"),
		Status:       resp.StatusCode,
	}, nil
}

// readError marks a failure on the upstream side of copyBody, which Fetch
// reports as a *FetchError, as opposed to a failure writing to dst.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }

// copyBody copies body to dst and stops with ErrTooLarge once more than
// limit bytes arrive. It never reads more than one byte past the limit, so an
// endless body costs limit+1 bytes, and never writes more than limit bytes.
// received follows n for the rate watchdog.
func (f *Fetcher) copyBody(ctx context.Context, dst io.Writer, body io.Reader, limit int64, received *atomic.Int64) (int64, error) {
	buf := make([]byte, 64<<10)
	var n int64
	for {
		p := buf
		if room := limit - n; room < int64(len(p)) {
			p = p[:room+1]
		}
		k, err := body.Read(p)
		if k > 0 {
			if n+int64(k) > limit {
				return n, fmt.Errorf("%w: over the %s limit", ErrTooLarge, sizeText(limit))
			}
			if _, werr := dst.Write(buf[:k]); werr != nil {
				return n, fmt.Errorf("write download: %w", werr)
			}
			n += int64(k)
			received.Store(n)
			if f.Progress != nil {
				f.Progress(n)
			}
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, &readError{fmt.Errorf("body cut after %d bytes: %w", n, interrupted(ctx, err))}
		}
	}
}

// watchRate cuts the download of ctx, through abort, when fewer than
// MinRate × RateWindow bytes arrived during a RateWindow, as received
// counts them. Call the returned function when the body is read.
func (f *Fetcher) watchRate(ctx context.Context, abort context.CancelCauseFunc, received *atomic.Int64) (stop func()) {
	rate := f.MinRate
	if rate == 0 {
		rate = DefaultMinRate
	}
	if rate < 0 {
		return func() {}
	}
	window := positive(f.RateWindow, DefaultRateWindow)
	need := int64(float64(rate) * window.Seconds())
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(window)
		defer t.Stop()
		var last int64
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				n := received.Load()
				if n-last < need {
					abort(fmt.Errorf("%w: %s in %v, the minimum is %s a second", ErrTooSlow,
						humanize.Bytes(uint64(n-last)), window, humanize.Bytes(uint64(rate))))
					return
				}
				last = n
			}
		}
	}()
	return func() { close(done) }
}

// interrupted names the context's error (or the cause it was cancelled
// with) when ctx is done: the transport reports a cancelled or timed-out
// request in several ways ("request canceled", "use of closed network
// connection" …), and callers need errors.Is(err,
// context.DeadlineExceeded) or ErrTooSlow to tell why.
func interrupted(ctx context.Context, err error) error {
	if ctx.Err() == nil {
		return err
	}
	if cause := context.Cause(ctx); !errors.Is(err, cause) {
		return fmt.Errorf("%w (%v)", cause, err)
	}
	return err
}

// init builds the client from the fields; it runs once, at first use.
func (f *Fetcher) init() {
	connect := positive(f.ConnectTimeout, DefaultConnectTimeout)
	dialer := &net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second, Resolver: f.Resolver}
	if !f.AllowPrivate && f.Proxy == nil {
		// The resolver keeps its own dialer, so DNS queries to a local
		// resolver (127.0.0.53) are not affected.
		dialer.Control = f.dialControl
	}
	var proxy func(*http.Request) (*url.URL, error)
	if f.Proxy != nil {
		proxy = http.ProxyURL(f.Proxy)
	}
	maxRedirects := f.MaxRedirects
	switch {
	case maxRedirects == 0:
		maxRedirects = DefaultMaxRedirects
	case maxRedirects < 0:
		maxRedirects = 0
	}
	f.client = &http.Client{
		Transport: &http.Transport{
			// Environment proxies are ignored: a proxy would make the
			// connection, and the guard would only see the proxy's address.
			Proxy:                 proxy,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			TLSHandshakeTimeout:   connect,
			ResponseHeaderTimeout: positive(f.HeaderTimeout, DefaultHeaderTimeout),
			ExpectContinueTimeout: time.Second,
			MaxIdleConns:          100,
			IdleConnTimeout:       90 * time.Second,
			// Keep the exact bytes (and the size cap on them); compressed
			// files are recognised later by their magic bytes.
			DisableCompression: true,
		},
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			// via holds the requests already made: len(via) is the number of
			// this redirect.
			if len(via) > maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			// Not ErrInvalidURL: the caller's URL was fine, the upstream
			// server is at fault.
			if err := checkURL(req.URL); err != nil {
				return fmt.Errorf("redirect refused: %v", err)
			}
			return f.checkTarget(req.URL)
		},
	}
}

// checkURLString parses rawURL and applies checkURL. Its errors are human
// messages without the URL, which may hold credentials.
func checkURLString(rawURL string) error {
	if rawURL == "" {
		return errors.New("empty URL")
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err
		}
		return err
	}
	return checkURL(u)
}

// checkURL accepts absolute http and https URLs with a host and without
// credentials.
func checkURL(u *url.URL) error {
	switch {
	case u.Scheme == "":
		return errors.New("not an absolute URL, it must start with http:// or https://")
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("scheme %q is not supported, use http or https", u.Scheme)
	case u.Opaque != "":
		return fmt.Errorf("missing // after the scheme %q", u.Scheme)
	case u.User != nil:
		return errors.New("credentials in URLs are not allowed")
	case u.Hostname() == "":
		return errors.New("missing host")
	}
	return nil
}

// positive returns v, or def when v is zero or negative.
func positive[T int64 | time.Duration](v, def T) T {
	if v <= 0 {
		return def
	}
	return v
}

// sizeText writes a byte count for people, exact enough that a size and
// a limit that round alike (1.1 GB and 1.1 GB) still read differently.
func sizeText(n int64) string {
	return humanize.Comma(n) + " bytes (" + humanize.Bytes(uint64(n)) + ")"
}
