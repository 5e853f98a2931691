package convert_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"

	"github.com/csvapi/csvapi/convert"
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
			err := convert.CheckIP(netip.MustParseAddr(tt.ip))
			switch {
			case tt.allowed && err != nil:
				t.Errorf("CheckIP(%s) = %v, want nil", tt.ip, err)
			case !tt.allowed && !errors.Is(err, convert.ErrForbiddenAddress):
				t.Errorf("CheckIP(%s) = %v, want ErrForbiddenAddress", tt.ip, err)
			}
		})
	}
}

func TestCheckIPInvalid(t *testing.T) {
	if err := convert.CheckIP(netip.Addr{}); !errors.Is(err, convert.ErrForbiddenAddress) {
		t.Errorf("CheckIP(zero Addr) = %v, want ErrForbiddenAddress", err)
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
			err := convert.DialControl(tt.network, tt.address, nil)
			switch {
			case tt.allowed && err != nil:
				t.Errorf("DialControl(%q, %q) = %v, want nil", tt.network, tt.address, err)
			case !tt.allowed && !errors.Is(err, convert.ErrForbiddenAddress):
				t.Errorf("DialControl(%q, %q) = %v, want ErrForbiddenAddress", tt.network, tt.address, err)
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

	d := net.Dialer{Control: convert.DialControl}
	conn, err := d.DialContext(context.Background(), "tcp", ln.Addr().String())
	if err == nil {
		conn.Close()
		t.Fatalf("dial %s: got a connection, want ErrForbiddenAddress", ln.Addr())
	}
	if !errors.Is(err, convert.ErrForbiddenAddress) {
		t.Errorf("dial %s: got %v, want ErrForbiddenAddress", ln.Addr(), err)
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
		err = convert.CheckIP(ip)
		if err != nil && !errors.Is(err, convert.ErrForbiddenAddress) {
			t.Fatalf("CheckIP(%s) = %v, want nil or ErrForbiddenAddress", ip, err)
		}
		if !ip.Is4() {
			return
		}
		v4 := ip.As4()
		nat64 := netip.MustParseAddr("64:ff9b::").As16()
		copy(nat64[12:], v4[:])
		forms := []netip.Addr{netip.AddrFrom16(ip.As16()), netip.AddrFrom16(nat64)}
		for _, form := range forms {
			if got, want := convert.CheckIP(form) == nil, err == nil; got != want {
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
		got, ok := convert.ParseIPv4Literal(tt.in)
		if (tt.want == "") == ok || (ok && got.String() != tt.want) {
			t.Errorf("ParseIPv4Literal(%q) = %v, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestFetchPolicy(t *testing.T) {
	tests := []struct {
		name string
		f    *convert.Fetcher
		url  string
	}{
		{"port not allowed", &convert.Fetcher{}, "http://example.org:22/a.csv"},
		{"metadata by decimal literal", &convert.Fetcher{}, "http://2852039166/latest/meta-data/"},
		{"host not in allowlist", &convert.Fetcher{AllowedHosts: []string{"data.gouv.fr"}}, "https://evil-data.gouv.fr/a.csv"},
		{"allowlist is not a suffix match", &convert.Fetcher{AllowedHosts: []string{"gouv.fr"}}, "https://notgouv.fr/a.csv"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Each is refused before any connection or DNS lookup.
			_, err := tt.f.Fetch(context.Background(), tt.url, io.Discard)
			if !errors.Is(err, convert.ErrForbiddenAddress) {
				t.Errorf("Fetch(%s): err = %v, want ErrForbiddenAddress", tt.url, err)
			}
		})
	}
}

// FuzzURLPolicy: URL validation never panics, and whatever it lets through
// is an http(s) URL whose literal address, if any, passes the guard.
func FuzzURLPolicy(f *testing.F) {
	for _, s := range []string{"http://127.0.0.1/", "http://2130706433/", "http://0x7f.1:8080/a", "https://data.gouv.fr/x.csv",
		"http://[::ffff:10.0.0.1]/", "http://user:pw@example.org/", "http://example.org:99999/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if ip, ok := convert.ParseIPv4Literal(raw); ok && !ip.Is4() {
			t.Errorf("ParseIPv4Literal(%q) = %v, not IPv4", raw, ip)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // never connect: only the checks before any connection run
		_, err := (&convert.Fetcher{}).Fetch(ctx, raw, io.Discard)
		if err == nil {
			t.Errorf("Fetch(%q) with a cancelled context succeeded", raw)
		}
	})
}
