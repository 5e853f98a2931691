// Package urlpolicy decides which URLs csvapi may download from, before
// and during a connection: the scheme and shape of a URL, IP literals in
// any notation, ports, a host allowlist, and the SSRF guard that checks the
// address each socket is about to connect to. It parses hostile input (any
// string a client sends) and needs nothing but the standard library, so
// its tests and fuzz targets build in seconds.
package urlpolicy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// ErrForbidden is wrapped by every refusal of an address, port or host.
// convert exports it as convert.ErrForbiddenAddress: the error reaches
// callers through net and net/http wrappers, where only the same value
// can be recognised.
var ErrForbidden = errors.New("address not allowed")

// Policy is what a download may reach beyond the guard. The zero value
// refuses what CheckIP refuses and allows DefaultAllowedPorts and any host.
type Policy struct {
	// AllowPrivate lets URLs reach loopback, private and other addresses
	// CheckIP refuses, on any port. For local use and tests only.
	AllowPrivate bool
	// AllowedPorts are the ports URLs may use (DefaultAllowedPorts when
	// empty); not enforced with AllowPrivate.
	AllowedPorts []int
	// AllowedHosts, when set, is an allowlist: a URL's host must be one of
	// them or a subdomain of one.
	AllowedHosts []string
}

// DefaultAllowedPorts are the ports URLs may use unless
// Policy.AllowedPorts says otherwise.
var DefaultAllowedPorts = []int{80, 443, 8080, 8443}

// ParseIPv4Literal parses the IPv4 forms that inet_aton accepts and that
// browsers and some resolvers still honour: decimal (2130706433), octal
// (0177.0.0.1), hexadecimal (0x7f.0.0.1) and short forms (127.1), so that
// they are checked as the addresses they are instead of being taken for
// host names.
func ParseIPv4Literal(host string) (netip.Addr, bool) {
	if host == "" || strings.Trim(host, "0123456789abcdefxABCDEFX.") != "" {
		return netip.Addr{}, false
	}
	parts := strings.Split(strings.TrimSuffix(host, "."), ".")
	if len(parts) > 4 {
		return netip.Addr{}, false
	}
	nums := make([]uint64, len(parts))
	for i, p := range parts {
		n, err := strconv.ParseUint(p, 0, 32) // base 0: 0x hex, leading 0 octal
		if err != nil || p == "" {
			return netip.Addr{}, false
		}
		nums[i] = n
	}
	// The last part fills the remaining bytes: a.b.c.d, a.b.cd, a.bcd, abcd.
	var v uint64
	for i, n := range nums[:len(nums)-1] {
		if n > 255 {
			return netip.Addr{}, false
		}
		v |= n << (24 - 8*i)
	}
	last := nums[len(nums)-1]
	if last >= 1<<(8*(5-len(nums))) {
		return netip.Addr{}, false
	}
	v |= last
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), true
}

// CheckTarget applies the policy to a URL before any connection: IP
// literals in any notation against CheckIP, the port list and the host
// allowlist. Run it on the URL given and on every redirect. It returns nil
// or an error wrapping ErrForbidden; it does not check the scheme (see
// CheckURL).
func (p *Policy) CheckTarget(u *url.URL) error {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if !p.AllowPrivate {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ip, _ = ParseIPv4Literal(host)
		}
		if ip.IsValid() {
			if err := CheckIP(ip); err != nil {
				return err
			}
		}
		if err := p.checkPort(u); err != nil {
			return err
		}
	}
	if len(p.AllowedHosts) > 0 && !hostAllowed(host, p.AllowedHosts) {
		return fmt.Errorf("%w: host %q is not in the allowed hosts", ErrForbidden, host)
	}
	return nil
}

func (p *Policy) checkPort(u *url.URL) error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.Atoi(port)
	if err != nil || !slices.Contains(p.allowedPorts(), n) {
		return fmt.Errorf("%w: port %s is not allowed (allowed: %v)", ErrForbidden, port, p.allowedPorts())
	}
	return nil
}

func (p *Policy) allowedPorts() []int {
	if len(p.AllowedPorts) > 0 {
		return p.AllowedPorts
	}
	return DefaultAllowedPorts
}

// hostAllowed reports whether host is one of allowed or a subdomain of one.
func hostAllowed(host string, allowed []string) bool {
	for _, a := range allowed {
		a = strings.ToLower(strings.TrimSuffix(a, "."))
		if host == a || strings.HasSuffix(host, "."+a) {
			return true
		}
	}
	return false
}

// DialControl is the package's DialControl plus the port list, applied to
// the address actually connected to: a net.Dialer Control function. It
// returns nil or an error wrapping ErrForbidden.
func (p *Policy) DialControl(network, address string, c syscall.RawConn) error {
	if err := DialControl(network, address, c); err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbidden, address)
	}
	n, _ := strconv.Atoi(port)
	if !slices.Contains(p.allowedPorts(), n) {
		return fmt.Errorf("%w: port %s is not allowed", ErrForbidden, port)
	}
	return nil
}

// CheckURLString parses rawURL and applies CheckURL. Its errors are human
// messages without the URL, which may hold credentials.
func CheckURLString(rawURL string) error {
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
	return CheckURL(u)
}

// CheckURL accepts absolute http and https URLs with a host and without
// credentials. Its errors are human messages for the caller to wrap.
func CheckURL(u *url.URL) error {
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
