package urlpolicy

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"
)

// The SSRF guard. Resource URLs come from anyone who can call /apify, so a
// download must never reach the machine itself, the private network it sits
// in, or a cloud metadata service. Checking the host name before fetching is
// not enough: DNS can answer differently at connect time (rebinding) and a
// redirect can point anywhere. DialControl therefore checks the address the
// socket is about to connect to, for every connection, every hop.

// forbiddenError is what CheckIP returns: it names the address and the
// reason, and unwraps to ErrForbidden.
type forbiddenError struct {
	addr   string
	reason string
}

func (e *forbiddenError) Error() string {
	return fmt.Sprintf("%v: %s is %s", ErrForbidden, e.addr, e.reason)
}

func (e *forbiddenError) Unwrap() error { return ErrForbidden }

// forbiddenPrefixes are the ranges net/netip has no predicate for.
// Loopback, RFC 1918, fc00::/7, link-local and multicast are tested with the
// netip methods in CheckIP.
var forbiddenPrefixes = []struct {
	prefix netip.Prefix
	reason string
}{
	{netip.MustParsePrefix("0.0.0.0/8"), "in 0.0.0.0/8 (this network)"},
	// Carrier-grade NAT; also hosts Alibaba Cloud's metadata service
	// (100.100.100.200).
	{netip.MustParsePrefix("100.64.0.0/10"), "shared address space (CGNAT)"},
	{netip.MustParsePrefix("192.0.0.0/24"), "reserved for IETF protocol assignments"},
	{netip.MustParsePrefix("198.18.0.0/15"), "reserved for benchmarking"},
	// Class E, including the limited broadcast 255.255.255.255.
	{netip.MustParsePrefix("240.0.0.0/4"), "reserved or broadcast"},
	// Deprecated IPv4-compatible addresses (::a.b.c.d), and :: and ::1.
	{netip.MustParsePrefix("::/96"), "an IPv4-compatible or reserved address"},
	{netip.MustParsePrefix("100::/64"), "a discard-only address"},
	{netip.MustParsePrefix("fec0::/10"), "site-local"},
	// Local-use NAT64 (RFC 8215) translates to whatever the local network
	// decides, including private addresses.
	{netip.MustParsePrefix("64:ff9b:1::/48"), "local-use NAT64"},
}

// Prefixes whose addresses embed an IPv4 address that a gateway may connect
// to on our behalf: the embedded address must pass the guard too.
var (
	nat64Prefix  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour    = netip.MustParsePrefix("2002::/16")
	teredoPrefix = netip.MustParsePrefix("2001::/32")
)

// CheckIP reports whether csvapi may download from ip. It returns an error
// wrapping ErrForbidden for loopback, private (RFC 1918, fc00::/7),
// link-local (which covers 169.254.169.254, the usual cloud metadata
// address), CGNAT, multicast, unspecified, broadcast and other reserved
// addresses, in IPv4, IPv4-mapped IPv6 and NAT64/6to4/Teredo forms. It returns
// nil for any other address.
func CheckIP(ip netip.Addr) error {
	if !ip.IsValid() {
		return &forbiddenError{addr: "an empty address", reason: "invalid"}
	}
	ip = ip.WithZone("")
	shown := ip.String()
	// ::ffff:127.0.0.1 reaches 127.0.0.1: judge the IPv4 address.
	ip = ip.Unmap()
	if reason := forbiddenReason(ip); reason != "" {
		return &forbiddenError{addr: shown, reason: reason}
	}
	if v4, ok := embeddedIPv4(ip); ok {
		if reason := forbiddenReason(v4); reason != "" {
			return &forbiddenError{addr: shown, reason: "a gateway address for " + v4.String() + ", " + reason}
		}
	}
	return nil
}

// forbiddenReason says why ip is refused, or "" when it is allowed.
func forbiddenReason(ip netip.Addr) string {
	switch {
	case ip.IsLoopback():
		return "loopback"
	case ip.IsPrivate():
		return "private"
	case ip.IsLinkLocalUnicast():
		return "link-local"
	case ip.IsMulticast():
		return "multicast"
	case ip.IsUnspecified():
		return "unspecified"
	}
	for _, p := range forbiddenPrefixes {
		if p.prefix.Contains(ip) {
			return p.reason
		}
	}
	return ""
}

// embeddedIPv4 returns the IPv4 address a NAT64, 6to4 or Teredo address
// leads to.
func embeddedIPv4(ip netip.Addr) (netip.Addr, bool) {
	if !ip.Is6() {
		return netip.Addr{}, false
	}
	b := ip.As16()
	switch {
	case nat64Prefix.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	case teredoPrefix.Contains(ip):
		// The Teredo client address is stored inverted (RFC 4380).
		return netip.AddrFrom4([4]byte{^b[12], ^b[13], ^b[14], ^b[15]}), true
	}
	return netip.Addr{}, false
}

// DialControl is a net.Dialer Control function that applies CheckIP to the
// address a socket is about to connect to. Because it runs after name
// resolution and for every connection, it also covers DNS rebinding and each
// redirect hop. It returns an error wrapping ErrForbidden for a refused
// or unparsable address; net.Dialer wraps it in a *net.OpError, which unwraps
// to it.
func DialControl(network, address string, _ syscall.RawConn) error {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		host = address
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		// Fail closed: whatever this is, it was not checked.
		return &forbiddenError{addr: fmt.Sprintf("%q", address), reason: "not an IP address (" + network + ")"}
	}
	return CheckIP(ip)
}
