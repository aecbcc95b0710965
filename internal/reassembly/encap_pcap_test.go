package reassembly

import (
	"bytes"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// encapCaptures hold DNS inside the encapsulations and link types added for
// mirrors as they are really cabled (PPPoE, GTP-U, PPTP, GRE-in-UDP,
// VXLAN-GPE, NFLOG, 802.11, PPI, PKTAP, FDDI, BSD loopback holding an
// EtherType), with the messages the Assembler must find and the decode
// counters that must match exactly.
var encapCaptures = []struct {
	name     string
	udp      int
	counters map[string]uint64
}{
	{"arkime_gtp-iphone.pcap", 6, nil},
	// Besides DNS: PPPoE discovery, LCP echoes, a query quoted in an
	// ICMP error (tshark counts it as a 17th message; it is no message
	// that crossed the wire on its own).
	{"dpkt_nb6-http.pcap", 16, map[string]uint64{"not_ip": 6, "not_udp_tcp": 1}},
	{"tcpdump_nflog.pcap", 4, nil},
	{"zeek_radiotap.pcap", 2, nil},
	{"zeek_tunnels_gre-over-udp-4754.pcap", 4, nil},
	{"zeek_tunnels_gre-pptp.pcap", 2, nil},
	{"synthetic_80211qos_dnscap-dns.pcap", 82, map[string]uint64{"wifi_protected": 14}},
	{"synthetic_ppi_dnscap-dns.pcap", 82, nil},
	{"synthetic_pktap_dnscap-dns.pcap", 82, nil},
	{"synthetic_pktap149_dnscap-dns.pcap", 82, nil},
	{"synthetic_fddi_dnscap-dns.pcap", 82, nil},
	{"synthetic_null-ethertype_dnscap-dns.pcap", 82, nil},
	{"synthetic_vxlangpe_dnscap-dns.pcap", 82, nil},
	{"synthetic_pppoe-qinq_dnscap-dns.pcap", 82, nil},
}

// TestEncapCaptures checks the messages found in every capture of a newer
// encapsulation or link type against tshark's: the same (port, ID, flags,
// length) multiset and the same bytes. ICMP errors are left out on both
// sides: tshark dissects the DNS message an error quotes.
func TestEncapCaptures(t *testing.T) {
	for _, c := range encapCaptures {
		t.Run(c.name, func(t *testing.T) {
			a, s := runFrames(readCapture(t, pcapPath(c.name)))
			if n := len(s.msgs); n != c.udp || int(a.stats.Decode[DecodeMessagesUDP].Load()) != c.udp {
				t.Errorf("%d messages, want %d UDP (counters %v)", n, c.udp, counters(a))
			}
			got := counters(a)
			for k, v := range c.counters {
				if got[k] != v {
					t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
				}
			}
			compareWithTsharkFilter(t, c.name, "!icmp && !icmpv6", s.msgs)
		})
	}
}

// TestSyntheticEncapsSameMessages checks that every synthetic capture made
// from dnscap's dns.pcap by testdata/genencap yields exactly the messages of
// the original: same addresses, ports, times and bytes, in the same order.
// Whatever wraps a packet must not change what is found inside it.
func TestSyntheticEncapsSameMessages(t *testing.T) {
	_, orig := runFrames(readCapture(t, pcapPath("dnscap_dns.pcap")))
	for _, c := range encapCaptures {
		if !strings.HasPrefix(c.name, "synthetic_") {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			_, s := runFrames(readCapture(t, pcapPath(c.name)))
			if len(s.msgs) != len(orig.msgs) {
				t.Fatalf("%d messages, dns.pcap has %d", len(s.msgs), len(orig.msgs))
			}
			for i, m := range s.msgs {
				o := orig.msgs[i]
				if m.Src != o.Src || m.Dst != o.Dst || m.Timestamp != o.Timestamp || m.Transport != o.Transport || !bytes.Equal(m.Payload, o.Payload) {
					t.Errorf("message %d: %v → %v at %d, dns.pcap has %v → %v at %d", i, m.Src, m.Dst, m.Timestamp, o.Src, o.Dst, o.Timestamp)
				}
			}
		})
	}
}

// BenchmarkHandleFrameEncap is the cost of one UDP DNS query through each
// newer encapsulation or link type, against plain Ethernet.
func BenchmarkHandleFrameEncap(b *testing.B) {
	for _, c := range []struct {
		cases []decodeCase
		name  string
	}{
		{linkCases, "ethernet ipv4 udp query"},
		{pppCases, "pppoe under QinQ"},
		{gtpCases, "gtp two extension headers"},
		{tunnelCases, "pptp enhanced gre with sequence"},
		{tunnelCases, "vxlan-gpe ipv4"},
		{wifiCases, "radiotap tsft, extended bitmap, data pad"},
		{nflogCases, "nflog ipv4"},
		{pktapCases, "pktap ethernet ipv4"},
	} {
		b.Run(c.name, func(b *testing.B) {
			var link packet.LinkType
			for _, tc := range c.cases {
				if tc.name == c.name {
					link = tc.link
				}
			}
			data := caseFrame(b, c.cases, c.name)
			f := packet.Frame{Data: data, WireLen: len(data), LinkType: link, Timestamp: 1e18}
			s := &nopSink{}
			a := NewAssembler(DefaultConfig(), s)
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				a.HandleFrame(&f)
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
			if s.n != b.N {
				b.Fatalf("%d messages from %d frames", s.n, b.N)
			}
		})
	}
}
