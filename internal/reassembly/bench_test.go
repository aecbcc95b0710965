package reassembly

import (
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// benchFrames are UDP DNS frames as a resolver's mirror port carries them:
// a query and its answer, over IPv4 and over IPv6, Ethernet framed.
func benchFrames(tb testing.TB) map[string][]packet.Frame {
	tb.Helper()
	find := func(cases []decodeCase, name string) []byte {
		for _, tc := range cases {
			if tc.name == name {
				return mustHex(tb, tc.frame)
			}
		}
		tb.Fatalf("no case %q", name)
		return nil
	}
	mk := func(b []byte) packet.Frame {
		return packet.Frame{Data: b, Timestamp: 1_700_000_000e9, WireLen: len(b), LinkType: packet.LinkTypeEthernet}
	}
	return map[string][]packet.Frame{
		"IPv4": {mk(find(linkCases, "ethernet ipv4 udp query")), mk(find(linkCases, "ethernet ipv4 udp response"))},
		"IPv6": {mk(find(linkCases, "ethernet ipv6 udp query")), mk(find(linkCases, "ethernet ipv6 udp response"))},
		"VLAN": {mk(find(linkCases, "802.1Q vlan 11"))},
	}
}

// TestHandleFrameAllocs proves the UDP path allocates nothing, tunnels and
// failures included.
func TestHandleFrameAllocs(t *testing.T) {
	var frames []packet.Frame
	for _, fs := range benchFrames(t) {
		frames = append(frames, fs...)
	}
	for _, cases := range [][]decodeCase{linkCases, ipCases, tunnelCases, pppCases, gtpCases, wifiCases, fddiCases, nflogCases, pktapCases} {
		for _, tc := range cases {
			frames = append(frames, packet.Frame{Data: mustHex(t, tc.frame), Timestamp: 1_700_000_000e9, WireLen: len(mustHex(t, tc.frame)), LinkType: tc.link})
		}
	}
	a := NewAssembler(DefaultConfig(), &nopSink{})
	for i := range frames {
		a.HandleFrame(&frames[i]) // warm up
	}
	n := testing.AllocsPerRun(100, func() {
		for i := range frames {
			frames[i].Timestamp += 1e7 // crosses the 1 s expiry tick every 100 runs
			a.HandleFrame(&frames[i])
		}
	})
	if n != 0 {
		t.Fatalf("HandleFrame allocates %v per %d frames, want 0", n, len(frames))
	}
}

// BenchmarkHandleFrameUDP measures decode and parse of one UDP DNS message,
// from the Ethernet header to the Sink, with a Sink that does nothing.
func BenchmarkHandleFrameUDP(b *testing.B) {
	for _, v := range []string{"IPv4", "IPv6", "VLAN"} {
		b.Run(v, func(b *testing.B) {
			frames := benchFrames(b)[v]
			s := &nopSink{}
			a := NewAssembler(DefaultConfig(), s)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				a.HandleFrame(&frames[i%len(frames)])
			}
			b.StopTimer()
			if s.n != b.N {
				b.Fatalf("%d messages for %d frames", s.n, b.N)
			}
		})
	}
}

// BenchmarkParseDNS measures the DNS header, question and section walk alone.
func BenchmarkParseDNS(b *testing.B) {
	var h Header
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		parseDNS(testResponse, &h)
	}
}
