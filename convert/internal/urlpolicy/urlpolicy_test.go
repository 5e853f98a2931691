package urlpolicy

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestCheckIP(t *testing.T) {
	tests := []struct {
		ip      string
		allowed bool
	}{
		{"8.8.8.8", true},
		{"1.1.1.1", true},
		{"93.184.215.14", true},
		{"2001:4860:4860::8888", true},
		{"2606:4700:4700::1111", true},
		{"::ffff:8.8.8.8", true},
		{"64:ff9b::808:808", true}, // NAT64 of 8.8.8.8
		{"2002:808:808::1", true},  // 6to4 of 8.8.8.8
		{"9.255.255.255", true},    // just below 10/8
		{"11.0.0.0", true},         // just above 10/8
		{"100.63.255.255", true},   // just below CGNAT
		{"100.128.0.0", true},      // just above CGNAT
		{"172.15.255.255", true},   // just below 172.16/12
		{"172.32.0.0", true},       // just above 172.16/12
		{"169.253.255.255", true},  // just below link-local
		{"223.255.255.255", true},  // just below multicast
		{"127.0.0.1", false},
		{"127.255.255.254", false},
		{"::1", false},
		{"10.1.2.3", false},
		{"10.255.255.255", false},
		{"172.16.0.1", false},
		{"172.31.255.255", false},
		{"192.168.1.1", false},
		{"169.254.169.254", false}, // AWS, GCP, Azure metadata
		{"169.254.0.1", false},
		{"100.64.0.1", false},
		{"100.100.100.200", false}, // Alibaba Cloud metadata
		{"100.127.255.255", false},
		{"fc00::1", false},
		{"fd00::1", false},
		{"fd00:ec2::254", false}, // AWS metadata over IPv6
		{"fe80::1", false},
		{"fe80::1%eth0", false},
		{"fec0::1", false},
		{"::ffff:127.0.0.1", false},
		{"::ffff:10.0.0.1", false},
		{"::ffff:169.254.169.254", false},
		{"::127.0.0.1", false}, // IPv4-compatible, deprecated
		{"64:ff9b::7f00:1", false},
		{"64:ff9b::a9fe:a9fe", false},                   // NAT64 of 169.254.169.254
		{"64:ff9b:1::a00:1", false},                     // local-use NAT64
		{"2002:7f00:1::1", false},                       // 6to4 of 127.0.0.1
		{"2001:0:4136:e378:8000:63bf:80ff:fffe", false}, // Teredo of 127.0.0.1
		{"0.0.0.0", false},
		{"0.1.2.3", false},
		{"224.0.0.1", false},
		{"239.255.255.250", false},
		{"ff02::1", false},
		{"255.255.255.255", false},
		{"240.0.0.1", false},
		{"::", false},
		{"100::1", false},
	}
	for _, tt := range tests {
		t.Run(tt.ip, func(t *testing.T) {
			err := CheckIP(netip.MustParseAddr(tt.ip))
			switch {
			case tt.allowed && err != nil:
				t.Errorf("CheckIP(%s) = %v, want nil", tt.ip, err)
			case !tt.allowed && !errors.Is(err, ErrForbidden):
				t.Errorf("CheckIP(%s) = %v, want ErrForbidden", tt.ip, err)
			}
		})
	}
}

func TestCheckIPInvalid(t *testing.T) {
	if err := CheckIP(netip.Addr{}); !errors.Is(err, ErrForbidden) {
		t.Errorf("CheckIP(zero Addr) = %v, want ErrForbidden", err)
	}
}

func TestGuardDialControl(t *testing.T) {
	tests := []struct {
		network, address string
		allowed          bool
	}{
		{"tcp4", "8.8.8.8:443", true},
		{"tcp6", "[2001:4860:4860::8888]:443", true},
		{"tcp4", "127.0.0.1:80", false},
		{"tcp6", "[::1]:80", false},
		{"tcp6", "[fe80::1%eth0]:80", false},
		{"tcp6", "[::ffff:10.0.0.1]:80", false},
		{"tcp4", "169.254.169.254:80", false},
		// Not an address: refused rather than let through unchecked.
		{"tcp", "example.com:80", false},
		{"tcp", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.address, func(t *testing.T) {
			err := DialControl(tt.network, tt.address, nil)
			switch {
			case tt.allowed && err != nil:
				t.Errorf("DialControl(%q, %q) = %v, want nil", tt.network, tt.address, err)
			case !tt.allowed && !errors.Is(err, ErrForbidden):
				t.Errorf("DialControl(%q, %q) = %v, want ErrForbidden", tt.network, tt.address, err)
			}
		})
	}
}

// The guard's error must survive the net.OpError the dialer wraps it in.
func TestGuardDialerRefusesLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()

	d := net.Dialer{Control: DialControl}
	conn, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s: got a connection, want ErrForbidden", ln.Addr())
	}
	if !errors.Is(err, ErrForbidden) {
		t.Errorf("dial %s: got %v, want ErrForbidden", ln.Addr(), err)
	}
	var opErr *net.OpError
	if !errors.As(err, &opErr) {
		t.Errorf("dial %s: got %T, want a *net.OpError", ln.Addr(), err)
	}
}

// FuzzCheckIP checks that an IPv4 address gets the same answer in every
// IPv6 form that leads to it.
func FuzzCheckIP(f *testing.F) {
	for _, s := range []string{"127.0.0.1", "8.8.8.8", "10.0.0.1", "100.64.0.1", "::1", "fe80::1", "2001:db8::1", "64:ff9b::1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		err = CheckIP(ip)
		if err != nil && !errors.Is(err, ErrForbidden) {
			t.Fatalf("CheckIP(%s) = %v, want nil or ErrForbidden", ip, err)
		}
		if !ip.Is4() {
			return
		}
		v4 := ip.As4()
		nat64 := netip.MustParseAddr("64:ff9b::").As16()
		copy(nat64[12:], v4[:])
		forms := []netip.Addr{netip.AddrFrom16(ip.As16()), netip.AddrFrom16(nat64)}
		for _, form := range forms {
			if got, want := CheckIP(form) == nil, err == nil; got != want {
				t.Errorf("CheckIP(%s) allowed = %v, but CheckIP(%s) allowed = %v", form, got, ip, want)
			}
		}
	})
}

func TestParseIPv4Literal(t *testing.T) {
	tests := []struct {
		in   string
		want string // "" when not an IPv4 literal
	}{
		{"127.0.0.1", "127.0.0.1"},
		{"2130706433", "127.0.0.1"},
		{"0x7f000001", "127.0.0.1"},
		{"0177.0.0.1", "127.0.0.1"},
		{"0x7f.1", "127.0.0.1"},
		{"127.1", "127.0.0.1"},
		{"10.1", "10.0.0.1"},
		{"169.254.43518", "169.254.169.254"},
		{"0", "0.0.0.0"},
		{"192.168.0x1.1", "192.168.1.1"},
		{"example.org", ""},
		{"deadbeef.example", ""},
		{"1.2.3.4.5", ""},
		{"256.1.1.1", ""},
		{"4294967296", ""},
		{"09.1.1.1", ""}, // 09 is not octal
		{"", ""},
	}
	for _, tt := range tests {
		got, ok := ParseIPv4Literal(tt.in)
		if (tt.want == "") == ok || (ok && got.String() != tt.want) {
			t.Errorf("ParseIPv4Literal(%q) = %v, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

// FuzzURLPolicy: for any string, the checks never panic, and a URL they
// accept is an absolute http(s) URL with a host and no credentials, on an
// allowed port, inside the host allowlist, whose host — when it is an IP
// address in any notation — passes CheckIP. A refusal wraps ErrForbidden.
// And the notation does not matter: a host written as an inet_aton literal
// (2130706433, 0x7f.1) gets the verdict of its dotted-quad form.
func FuzzURLPolicy(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/", "http://2130706433/", "http://0x7f.1:8080/a", "https://data.gouv.fr/x.csv",
		"http://[::ffff:10.0.0.1]/", "http://user:pw@example.org/", "http://example.org:99999/", "http://8.8.8.8:8443/",
		"https://www.data.gouv.fr./a", "http://[fe80::1%25eth0]/", "http://0x08080808/", "http://134744072/"} {
		f.Add(s)
	}
	policies := []*Policy{{}, {AllowedHosts: []string{"data.gouv.fr"}}, {AllowedPorts: []int{8080}}}
	f.Fuzz(func(t *testing.T, raw string) {
		if ip, ok := ParseIPv4Literal(raw); ok && !ip.Is4() {
			t.Errorf("ParseIPv4Literal(%q) = %v, not IPv4", raw, ip)
		}
		if ip, err := netip.ParseAddr(raw); err == nil && ip.Is4() && ip.String() == raw {
			// A dotted quad in canonical form: the two parsers agree.
			if got, ok := ParseIPv4Literal(raw); !ok || got != ip {
				t.Errorf("ParseIPv4Literal(%q) = %v, %v; want %v", raw, got, ok, ip)
			}
		}
		if CheckURLString(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("CheckURLString(%q) accepted what url.Parse refuses: %v", raw, err)
		}
		if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil {
			t.Fatalf("CheckURLString(%q) accepted scheme %q, host %q, user %v", raw, u.Scheme, u.Hostname(), u.User)
		}
		for _, p := range policies {
			err := p.CheckTarget(u)
			if err != nil {
				if !errors.Is(err, ErrForbidden) {
					t.Errorf("%+v.CheckTarget(%q) = %v, want nil or ErrForbidden", p, raw, err)
				}
			} else {
				checkAccepted(t, p, u)
			}
			host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
			if ip, ok := ParseIPv4Literal(host); ok && ip.String() != host {
				dotted := *u
				dotted.Host = ip.String()
				if port := u.Port(); port != "" {
					dotted.Host += ":" + port
				}
				if derr := p.CheckTarget(&dotted); (derr == nil) != (err == nil) {
					t.Errorf("%+v: %q → %v but its dotted form %q → %v", p, raw, err, dotted.String(), derr)
				}
			}
		}
	})
}

// checkAccepted checks what p let through: port, allowlist, address.
func checkAccepted(t *testing.T, p *Policy, u *url.URL) {
	t.Helper()
	port := u.Port()
	if port == "" {
		port = map[string]string{"http": "80", "https": "443"}[u.Scheme]
	}
	n, err := strconv.Atoi(port)
	if err != nil || !slices.Contains(p.allowedPorts(), n) {
		t.Errorf("%+v accepted %q on port %q", p, u, port)
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if len(p.AllowedHosts) > 0 && host != "data.gouv.fr" && !strings.HasSuffix(host, ".data.gouv.fr") {
		t.Errorf("%+v accepted host %q", p, host)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		ip, _ = ParseIPv4Literal(host)
	}
	if ip.IsValid() && CheckIP(ip) != nil {
		t.Errorf("%+v accepted %q, whose address %v CheckIP refuses", p, u, ip)
	}
	// The dialer agrees: the address the socket would connect to passes.
	if ip.IsValid() {
		if err := p.DialControl("tcp", net.JoinHostPort(ip.String(), port), nil); err != nil {
			t.Errorf("%+v accepted %q, but DialControl refuses %v: %v", p, u, ip, err)
		}
	}
}

// TestCheckTarget: literal addresses in any notation, ports and the host
// allowlist are refused before any connection.
func TestCheckTarget(t *testing.T) {
	p := &Policy{AllowedHosts: []string{"data.gouv.fr"}}
	for _, target := range []string{
		"http://127.0.0.1/latest", "http://[::1]/", "http://169.254.169.254/latest/meta-data/",
		"http://0x7f000001/", "http://10.0.0.1:8080/", "http://2852039166/", "http://[::ffff:192.168.1.1]/",
		"https://www.data.gouv.fr:22/x.csv", "https://evil.example/x.csv", "https://evil-data.gouv.fr/x.csv",
	} {
		u, _ := url.Parse(target)
		if err := p.CheckTarget(u); !errors.Is(err, ErrForbidden) {
			t.Errorf("CheckTarget(%s) = %v, want ErrForbidden", target, err)
		}
	}
	for _, target := range []string{"https://www.data.gouv.fr/x.csv", "http://static.data.gouv.fr:8080/x.csv", "https://data.gouv.fr./x.csv"} {
		u, _ := url.Parse(target)
		if err := p.CheckTarget(u); err != nil {
			t.Errorf("CheckTarget(%s) = %v, want nil", target, err)
		}
	}
	private := &Policy{AllowPrivate: true}
	if u, _ := url.Parse("http://127.0.0.1:22/"); private.CheckTarget(u) != nil {
		t.Error("AllowPrivate: loopback on port 22 refused")
	}
}

func TestCheckURL(t *testing.T) {
	for raw, ok := range map[string]bool{
		"https://example.org/a.csv": true, "http://example.org": true,
		"": false, "example.org/a.csv": false, "ftp://example.org/a": false, "http:example.org": false,
		"http://user:pw@example.org/": false, "http:///a.csv": false, "http://[::1": false,
	} {
		if err := CheckURLString(raw); (err == nil) != ok {
			t.Errorf("CheckURLString(%q) = %v, want ok=%v", raw, err, ok)
		}
	}
}
