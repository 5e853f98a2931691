package convert

import (
	"net/netip"
	"syscall"

	"github.com/csvapi/csvapi/convert/internal/urlpolicy"
)

// The URL policy and the SSRF guard live in convert/internal/urlpolicy,
// which needs no DuckDB; ErrForbiddenAddress is its ErrForbidden.

// DefaultAllowedPorts are the ports resource URLs may use unless
// Fetcher.AllowedPorts says otherwise.
var DefaultAllowedPorts = urlpolicy.DefaultAllowedPorts

// CheckIP reports whether csvapi may download from ip. It returns an error
// wrapping ErrForbiddenAddress for loopback, private (RFC 1918, fc00::/7),
// link-local (which covers 169.254.169.254, the usual cloud metadata
// address), CGNAT, multicast, unspecified, broadcast and other reserved
// addresses, in IPv4, IPv4-mapped IPv6 and NAT64/6to4/Teredo forms. It
// returns nil for any other address.
func CheckIP(ip netip.Addr) error { return urlpolicy.CheckIP(ip) }

// DialControl is a net.Dialer Control function that applies CheckIP to the
// address a socket is about to connect to, so that it covers DNS
// rebinding and each redirect hop. It returns an error wrapping
// ErrForbiddenAddress for a refused or unparsable address; net.Dialer
// wraps it in a *net.OpError, which unwraps to it.
func DialControl(network, address string, c syscall.RawConn) error {
	return urlpolicy.DialControl(network, address, c)
}

// policy is the URL policy of f's fields.
func (f *Fetcher) policy() *urlpolicy.Policy {
	return &urlpolicy.Policy{AllowPrivate: f.AllowPrivate, AllowedPorts: f.AllowedPorts, AllowedHosts: f.AllowedHosts}
}
