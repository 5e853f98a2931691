package convert

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// DefaultAllowedPorts are the ports resource URLs may use unless
// Fetcher.AllowedPorts says otherwise.
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

// checkTarget applies the Fetcher's policy to a URL before any connection:
// IP literals in any notation against the guard, the port list and the
// host allowlist. It is run on the URL given and on every redirect.
func (f *Fetcher) checkTarget(u *url.URL) error {
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if !f.AllowPrivate {
		ip, err := netip.ParseAddr(host)
		if err != nil {
			ip, _ = ParseIPv4Literal(host)
		}
		if ip.IsValid() {
			if err := CheckIP(ip); err != nil {
				return err
			}
		}
		if err := f.checkPort(u); err != nil {
			return err
		}
	}
	if len(f.AllowedHosts) > 0 && !hostAllowed(host, f.AllowedHosts) {
		return fmt.Errorf("%w: host %q is not in the allowed hosts", ErrForbiddenAddress, host)
	}
	return nil
}

func (f *Fetcher) checkPort(u *url.URL) error {
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.Atoi(port)
	if err != nil || !slices.Contains(f.allowedPorts(), n) {
		return fmt.Errorf("%w: port %s is not allowed (allowed: %v)", ErrForbiddenAddress, port, f.allowedPorts())
	}
	return nil
}

func (f *Fetcher) allowedPorts() []int {
	if len(f.AllowedPorts) > 0 {
		return f.AllowedPorts
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

// dialControl is DialControl plus the port list, applied to the address
// actually connected to.
func (f *Fetcher) dialControl(network, address string, c syscall.RawConn) error {
	if err := DialControl(network, address, c); err != nil {
		return err
	}
	_, port, err := net.SplitHostPort(address)
	if err != nil {
		return fmt.Errorf("%w: cannot parse %q", ErrForbiddenAddress, address)
	}
	n, _ := strconv.Atoi(port)
	if !slices.Contains(f.allowedPorts(), n) {
		return fmt.Errorf("%w: port %s is not allowed", ErrForbiddenAddress, port)
	}
	return nil
}
