package convert_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"strings"
	"testing"

	"golang.org/x/net/dns/dnsmessage"

	"github.com/csvapi/csvapi/convert"
)

// fakeDNS answers A and AAAA queries from a table, over an in-memory
// connection: no packet leaves the process.
func fakeDNS(t *testing.T, records map[string]netip.Addr) *net.Resolver {
	t.Helper()
	return &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, address string) (net.Conn, error) {
			client, srv := net.Pipe()
			go serveDNS(srv, records, true) // a pipe is no PacketConn: the resolver frames messages as over TCP
			return client, nil
		},
	}
}

func serveDNS(conn net.Conn, records map[string]netip.Addr, stream bool) {
	defer conn.Close()
	for {
		buf := make([]byte, 1500)
		n, err := conn.Read(buf)
		if err != nil {
			return
		}
		msg := buf[:n]
		if stream {
			msg = msg[2:]
		}
		var p dnsmessage.Parser
		h, err := p.Start(msg)
		if err != nil {
			return
		}
		q, err := p.Question()
		if err != nil {
			return
		}
		b := dnsmessage.NewBuilder(nil, dnsmessage.Header{ID: h.ID, Response: true, Authoritative: true})
		b.StartQuestions()
		b.Question(q)
		b.StartAnswers()
		rh := dnsmessage.ResourceHeader{Name: q.Name, Class: dnsmessage.ClassINET, TTL: 60}
		if ip, ok := records[q.Name.String()]; ok {
			switch {
			case q.Type == dnsmessage.TypeA && ip.Is4():
				b.AResource(rh, dnsmessage.AResource{A: ip.As4()})
			case q.Type == dnsmessage.TypeAAAA && ip.Is6():
				b.AAAAResource(rh, dnsmessage.AAAAResource{AAAA: ip.As16()})
			}
		}
		out, err := b.Finish()
		if err != nil {
			return
		}
		if stream {
			out = append([]byte{byte(len(out) >> 8), byte(len(out))}, out...)
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// TestFetchNameResolvingToForbiddenAddress: a host name is checked by the
// address it resolves to at connect time, before any connection is made.
func TestFetchNameResolvingToForbiddenAddress(t *testing.T) {
	records := map[string]netip.Addr{}
	classes := map[string]string{
		"loopback.test.":   "127.0.0.2",
		"private10.test.":  "10.1.2.3",
		"private172.test.": "172.20.0.1",
		"private192.test.": "192.168.0.10",
		"linklocal.test.":  "169.254.1.1",
		"metadata.test.":   "169.254.169.254",
		"cgnat.test.":      "100.64.1.1",
		"zero.test.":       "0.0.0.0",
		"multicast.test.":  "239.1.1.1",
		"broadcast.test.":  "255.255.255.255",
		"ula.test.":        "fd00::1",
		"ll6.test.":        "fe80::1",
		"loop6.test.":      "::1",
		"mapped.test.":     "::ffff:10.0.0.1",
		"nat64.test.":      "64:ff9b::a00:1",
	}
	for name, ip := range classes {
		records[name] = netip.MustParseAddr(ip)
	}
	f := &convert.Fetcher{Resolver: fakeDNS(t, records)}
	for name, ip := range classes {
		t.Run(name, func(t *testing.T) {
			u := "http://" + name[:len(name)-1] + "/data.csv"
			_, err := f.Fetch(context.Background(), u, io.Discard)
			if !errors.Is(err, convert.ErrForbiddenAddress) {
				t.Errorf("Fetch(%s) resolving to %s: err = %v, want ErrForbiddenAddress", u, ip, err)
			}
			// The refusal names the resolved address: the name was resolved
			// and its address checked, not refused for another reason.
			if err != nil && !strings.Contains(err.Error(), netip.MustParseAddr(ip).Unmap().String()) {
				t.Errorf("Fetch(%s): error %q does not name %s", u, err, ip)
			}
		})
	}
}
