package analyze

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/miekg/dns"
)

var (
	tServer = netip.MustParseAddrPort("192.0.2.53:53")
	tStart  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
)

// txn is one query and its answer as dnstap frames (CLIENT_QUERY and
// CLIENT_RESPONSE, as the sensor writes them).
type txn struct {
	client netip.AddrPort
	t      int64 // query time; the answer comes 2 ms later
	q, r   *dns.Msg
}

func mkTxn(client netip.AddrPort, t int64, name string, qtype uint16, rcode int, answers ...dns.RR) txn {
	q := new(dns.Msg)
	q.SetQuestion(dns.Fqdn(name), qtype)
	q.Id = uint16(t)
	r := new(dns.Msg)
	r.SetReply(q)
	r.Rcode = rcode
	r.Answer = answers
	return txn{client: client, t: t, q: q, r: r}
}

func mustRR(t testing.TB, s string) dns.RR {
	t.Helper()
	rr, err := dns.NewRR(s)
	if err != nil {
		t.Fatal(err)
	}
	return rr
}

// frames returns the dnstap payloads of the query and the response.
func (x txn) frames(t testing.TB) (q, r []byte) {
	t.Helper()
	qb, err := x.q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	rb, err := x.r.Pack()
	if err != nil {
		t.Fatal(err)
	}
	q = emit.AppendDnstap(nil, []byte("sensor1"), []byte("test"), &emit.Record{Type: emit.ClientQuery, Protocol: 1,
		QueryAddr: x.client, ResponseAddr: tServer, HasQueryTime: true, QueryTime: x.t, QueryMessage: qb})
	r = emit.AppendDnstap(nil, []byte("sensor1"), []byte("test"), &emit.Record{Type: emit.ClientResponse, Protocol: 1,
		QueryAddr: x.client, ResponseAddr: tServer, HasQueryTime: true, QueryTime: x.t,
		HasResponseTime: true, ResponseTime: x.t + 2*int64(time.Millisecond), ResponseMessage: rb})
	return q, r
}

func clientN(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), 40000)
}
