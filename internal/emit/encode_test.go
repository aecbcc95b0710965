package emit

import (
	"bytes"
	"net/netip"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"
)

func addrBytesOf(ap netip.AddrPort) []byte {
	a := ap.Addr().Unmap()
	if a.Is4() {
		v := a.As4()
		return v[:]
	}
	v := a.As16()
	return v[:]
}

// reference builds the golang-dnstap value that AppendDnstap must encode to
// the same bytes.
func reference(identity, version []byte, r *Record) *dnstap.Dnstap {
	mt := dnstap.Message_Type(r.Type)
	fam := dnstap.SocketFamily_INET
	if !r.QueryAddr.Addr().Unmap().Is4() {
		fam = dnstap.SocketFamily_INET6
	}
	proto_ := dnstap.SocketProtocol(r.Protocol)
	qp, rp := uint32(r.QueryAddr.Port()), uint32(r.ResponseAddr.Port())
	m := &dnstap.Message{
		Type:            &mt,
		SocketFamily:    &fam,
		SocketProtocol:  &proto_,
		QueryAddress:    addrBytesOf(r.QueryAddr),
		ResponseAddress: addrBytesOf(r.ResponseAddr),
		QueryPort:       &qp,
		ResponsePort:    &rp,
		QueryMessage:    r.QueryMessage,
		ResponseMessage: r.ResponseMessage,
	}
	if r.HasQueryTime {
		s, ns := uint64(r.QueryTime/1e9), uint32(r.QueryTime%1e9)
		m.QueryTimeSec, m.QueryTimeNsec = &s, &ns
	}
	if r.HasResponseTime {
		s, ns := uint64(r.ResponseTime/1e9), uint32(r.ResponseTime%1e9)
		m.ResponseTimeSec, m.ResponseTimeNsec = &s, &ns
	}
	typ := dnstap.Dnstap_MESSAGE
	d := &dnstap.Dnstap{Type: &typ, Message: m}
	if len(identity) > 0 {
		d.Identity = identity
	}
	if len(version) > 0 {
		d.Version = version
	}
	return d
}

func TestAppendDnstapEqualsProtoMarshal(t *testing.T) {
	query := wire(t, msgSpec{ID: 7, QName: "www.example.org."})
	resp := wire(t, msgSpec{ID: 7, QName: "www.example.org.", Response: true})
	big := make([]byte, 70000) // three-byte length varints
	big[0] = 1
	addrs := []struct {
		name   string
		qa, ra string
	}{
		{"v4", "192.0.2.10:40000", "198.51.100.53:53"},
		{"v6", "[2001:db8::10]:5353", "[2001:db8::53]:53"},
		{"port0", "192.0.2.10:0", "198.51.100.53:53"},
	}
	ids := []struct {
		name              string
		identity, version []byte
	}{
		{"with-identity", []byte("sensor1.example"), []byte("dnstap-sensor 0.1")},
		{"no-identity", nil, nil},
	}
	for _, a := range addrs {
		for _, id := range ids {
			for typ := AuthQuery; typ <= UpdateResponse; typ++ {
				for _, tr := range []uint8{1, 2} {
					r := Record{
						Type:         typ,
						Protocol:     tr,
						QueryAddr:    netip.MustParseAddrPort(a.qa),
						ResponseAddr: netip.MustParseAddrPort(a.ra),
					}
					if typ.IsQuery() {
						r.HasQueryTime, r.QueryTime = true, 1700000000123456789
						r.QueryMessage = query
					} else {
						r.HasQueryTime, r.QueryTime = typ != ForwarderResponse, 1700000000123456789
						r.HasResponseTime, r.ResponseTime = true, 1700000000999999999
						r.ResponseMessage = resp
					}
					if typ == ToolResponse {
						r.ResponseMessage = big
					}
					name := a.name + "/" + id.name + "/" + typ.String() + "/" + []string{"", "udp", "tcp"}[tr]
					t.Run(name, func(t *testing.T) {
						got := AppendDnstap([]byte("prefix"), id.identity, id.version, &r)
						if !bytes.HasPrefix(got, []byte("prefix")) {
							t.Fatal("AppendDnstap overwrote dst")
						}
						got = got[len("prefix"):]
						want, err := proto.Marshal(reference(id.identity, id.version, &r))
						if err != nil {
							t.Fatal(err)
						}
						if !bytes.Equal(got, want) {
							t.Fatalf("bytes differ\n got %x\nwant %x", got, want)
						}
						var back dnstap.Dnstap
						if err := proto.Unmarshal(got, &back); err != nil {
							t.Fatal(err)
						}
						if back.Message.GetType() != dnstap.Message_Type(typ) {
							t.Fatalf("type %v, want %v", back.Message.GetType(), typ)
						}
					})
				}
			}
		}
	}
}

func TestSplitTime(t *testing.T) {
	for _, tc := range []struct {
		in   int64
		sec  uint64
		nsec uint32
	}{
		{0, 0, 0},
		{999999999, 0, 999999999},
		{1000000000, 1, 0},
		{1700000000123456789, 1700000000, 123456789},
		{-1, ^uint64(0), 999999999},
	} {
		s, ns := splitTime(tc.in)
		if s != tc.sec || ns != tc.nsec || ns >= 1e9 {
			t.Errorf("splitTime(%d) = %d, %d; want %d, %d", tc.in, s, ns, tc.sec, tc.nsec)
		}
	}
}
