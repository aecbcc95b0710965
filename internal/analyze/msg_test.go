package analyze

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// TestDecode compares Msg.Decode with golang-dnstap's proto.Unmarshal and
// miekg/dns's Unpack, the independent oracles, on every kind of answer.
func TestDecode(t *testing.T) {
	c := netip.MustParseAddrPort("198.51.100.7:5353")
	cases := []struct {
		name string
		x    txn
	}{
		{"A", mkTxn(c, tStart, "WWW.Example.COM", dns.TypeA, 0, mustRR(t, "www.example.com. 300 IN A 203.0.113.1"), mustRR(t, "www.example.com. 300 IN A 203.0.113.2"))},
		{"AAAA v6 client", mkTxn(netip.MustParseAddrPort("[2001:db8::7]:5353"), tStart, "v6.example.org", dns.TypeAAAA, 0, mustRR(t, "v6.example.org. 60 IN AAAA 2001:db8::1"))},
		{"CNAME chain", mkTxn(c, tStart, "cdn.example.com", dns.TypeA, 0, mustRR(t, "cdn.example.com. 60 IN CNAME edge.example.net."), mustRR(t, "edge.example.net. 20 IN A 192.0.2.9"))},
		{"SRV", mkTxn(c, tStart, "_ldap._tcp.corp.example", dns.TypeSRV, 0, mustRR(t, "_ldap._tcp.corp.example. 300 IN SRV 0 5 389 dc1.corp.example."))},
		{"MX", mkTxn(c, tStart, "example.org", dns.TypeMX, 0, mustRR(t, "example.org. 300 IN MX 10 mx.example.org."))},
		{"TXT", mkTxn(c, tStart, "t.exfil.example", dns.TypeTXT, 0, mustRR(t, `t.exfil.example. 0 IN TXT "abc\"def" "two"`))},
		{"NXDOMAIN", mkTxn(c, tStart, "nope.example.com", dns.TypeA, dns.RcodeNameError)},
		{"unknown type", mkTxn(c, tStart, "x.example.com", 65280, 0, &dns.RFC3597{Hdr: dns.RR_Header{Name: "x.example.com.", Rrtype: 65280, Class: dns.ClassINET, Ttl: 5}, Rdata: "0a0b"})},
		{"escaped label", mkTxn(c, tStart, `a\.b\032c.example.com`, dns.TypeA, 0)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			qf, rf := tc.x.frames(t)
			for _, f := range [][]byte{qf, rf} {
				var m Msg
				if err := m.Decode(f); err != nil {
					t.Fatal(err)
				}
				var want dnstap.Dnstap
				if err := proto.Unmarshal(f, &want); err != nil {
					t.Fatal(err)
				}
				wm := want.Message
				if m.Type.String() != wm.GetType().String() || string(m.Identity) != string(want.Identity) ||
					m.QueryPort != uint16(wm.GetQueryPort()) || m.ResponsePort != uint16(wm.GetResponsePort()) ||
					m.HasQueryTime != (wm.QueryTimeSec != nil) || m.HasResponseTime != (wm.ResponseTimeSec != nil) ||
					m.QueryTime != int64(wm.GetQueryTimeSec())*1e9+int64(wm.GetQueryTimeNsec()) {
					t.Errorf("envelope %+v differs from %v", m, wm)
				}
				if !slices.Equal(m.QueryAddr.AsSlice(), wm.QueryAddress) || !slices.Equal(m.ResponseAddr.AsSlice(), wm.ResponseAddress) {
					t.Errorf("addresses %v %v, want %v %v", m.QueryAddr, m.ResponseAddr, wm.QueryAddress, wm.ResponseAddress)
				}
				var dm dns.Msg
				if err := dm.Unpack(m.Wire); err != nil {
					t.Fatal(err)
				}
				if m.DNS.ID != dm.Id || int(m.DNS.Rcode) != dm.Rcode || m.DNS.IsResponse() != dm.Response {
					t.Errorf("header %+v, want id %d rcode %d", m.DNS, dm.Id, dm.Rcode)
				}
				// miekg writes a space in a label as "\ ", dig and we as "\032".
				wantName := strings.ReplaceAll(strings.ToLower(strings.TrimSuffix(dm.Question[0].Name, ".")), `\ `, `\032`)
				if string(m.DNS.Name) != wantName || m.DNS.QType != dm.Question[0].Qtype || m.DNS.QClass != dm.Question[0].Qclass {
					t.Errorf("question %q/%d/%d, want %q/%d/%d", m.DNS.Name, m.DNS.QType, m.DNS.QClass, wantName, dm.Question[0].Qtype, dm.Question[0].Qclass)
				}
				if len(m.DNS.Answers) != len(dm.Answer) {
					t.Fatalf("%d answers, want %d", len(m.DNS.Answers), len(dm.Answer))
				}
				for i, rr := range dm.Answer {
					got := m.DNS.Answers[i]
					h := rr.Header()
					// miekg's text form ends with the data, after a tab.
					text := strings.TrimSuffix(rr.String(), ".")
					if string(got.Name) != strings.TrimSuffix(h.Name, ".") || got.Type != h.Rrtype || got.TTL != h.Ttl || !strings.HasSuffix(text, "\t"+string(got.Data)) {
						t.Errorf("answer %d = %s %d %d %q, want %s", i, got.Name, got.Type, got.TTL, got.Data, rr)
					}
				}
			}
		})
	}
}

// TestDecodeHostile: bytes that are not dnstap or DNS give a sentinel,
// never a panic.
func TestDecodeHostile(t *testing.T) {
	qf, _ := mkTxn(clientN(1), tStart, "a.example", dns.TypeA, 0).frames(t)
	var m Msg
	for _, c := range []struct {
		name  string
		frame []byte
		want  error
	}{
		{"empty", nil, ErrNoMessage},
		{"garbage tag", []byte{0xff, 0xff, 0xff}, ErrNotDnstap},
		{"length past end", []byte{0x72, 0x7f, 1}, ErrNotDnstap},
		{"truncated frame", qf[:len(qf)-20], ErrNotDnstap},
		{"no type", qf[:len(qf)-2], ErrNoMessage},
	} {
		if err := m.Decode(c.frame); err != c.want {
			t.Errorf("%s: Decode = %v, want %v", c.name, err, c.want)
		}
	}
	// Every prefix of a valid frame decodes or fails cleanly.
	for i := range qf {
		_ = m.Decode(qf[:i])
	}
}

func TestDecodeAllocs(t *testing.T) {
	x := mkTxn(clientN(1), tStart, "www.example.com", dns.TypeA, 0, mustRR(t, "www.example.com. 300 IN A 203.0.113.1"))
	_, rf := x.frames(t)
	var m Msg
	if n := testing.AllocsPerRun(100, func() { _ = m.Decode(rf) }); n != 0 {
		t.Fatalf("Decode allocates %v per frame, want 0", n)
	}
}

func TestRegisteredDomain(t *testing.T) {
	for _, c := range []struct{ name, reg, sub string }{
		{"www.example.com", "example.com", "www"},
		{"a.b.example.co.uk", "example.co.uk", "a.b"},
		{"exfil.example", "exfil.example", ""},
		{"x.y.exfil.example", "exfil.example", "x.y"},
		{"com", "com", ""},
		{"", "", ""},
	} {
		reg := RegisteredDomain([]byte(c.name))
		if string(reg) != c.reg || string(Subdomain([]byte(c.name), reg)) != c.sub {
			t.Errorf("%q: registered %q sub %q, want %q %q", c.name, reg, Subdomain([]byte(c.name), reg), c.reg, c.sub)
		}
	}
}
