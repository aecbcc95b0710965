package reassembly

import (
	"bytes"
	"net/netip"
	"os/exec"
	"sort"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// wantUDP is the number of DNS-over-UDP messages each capture holds,
// counting reassembled fragmented datagrams once. It equals tshark's
// `dns && udp` count (testdata/pcaps/README.md gives tshark's total
// including TCP) except where a comment says why not.
var wantUDP = map[string]int{
	"arkime_gtp-iphone.pcap":                             6,
	"dnscap_1qtcpnosyn.pcap":                             0,
	"dnscap_dns.pcap":                                    82,
	"dnscap_dnso1tcp-bighole.pcap":                       0,
	"dnscap_dnso1tcp-midmiss.pcap":                       0,
	"dnscap_dnso1tcp.pcap":                               0,
	"dnscap_dnsotcp-many1pkt.pcap":                       0,
	"dnscap_dnsotcp-manyopkts.pcap":                      0,
	"dnscap_do1t-nosyn-1nolen.pcap":                      0,
	"dnscap_edns.pcap":                                   14,
	"dnscap_frags.pcap":                                  82, // 495 fragments of 82 datagrams
	"dnscap_ipv6-with-ethernet-padding.pcap":             1,
	"dnscap_sll2.pcap":                                   2,
	"dnscap_vlan11.pcap":                                 82,
	"dpkt_nb6-http.pcap":                                 16, // tshark 17: it also counts a query quoted in an ICMP error
	"lab_bind_frag.pcap":                                 10,
	"lab_bind_tcp.pcap":                                  4, // the TC=1 UDP exchanges before the TCP retries
	"lab_bind_udp.pcap":                                  26,
	"lab_realworld_big.pcap":                             2,
	"lab_realworld_cookie.pcap":                          24,
	"lab_realworld_dnsperf_tcp.pcap":                     0,
	"lab_realworld_dnssec.pcapng":                        24,
	"lab_realworld_fragq.pcap":                           4,
	"lab_realworld_offload.pcap":                         4,
	"lab_realworld_tfo.pcap":                             0,
	"lab_realworld_unbound_sll2.pcap.gz":                 20,
	"lab_realworld_unbound_udp.pcap":                     18,
	"lab_realworld_xfr.pcap":                             13, // tshark 14: it also counts the NOTIFY quoted in an ICMP port unreachable
	"netutils_dns_ipv6_tcp.pcap":                         0,
	"netutils_dnsdump_ip4_fragmented+udp.pcap":           2,
	"netutils_dnsdump_ip4_fragmented_query.pcap":         2,
	"netutils_dnsdump_ip6_fragmented+udp.pcap":           2,
	"netutils_dnsdump_ip6_fragmented_query.pcap":         1,
	"netutils_dnsdump_tcp_fastopen.pcap":                 0,
	"netutils_dnsdump_udp_truncated+tcp_fragmented.pcap": 2,
	"netutils_gre_ipv4_dns_tcp.pcap":                     0,
	"netutils_gre_ipv6_dns_tcp.pcap":                     0, // inner TCP on port 5301, not DNS's port
	"sv_datasets-08-state-ipv6-vlan.pcap":                3,
	"sv_dns-reversed-tcp-1.pcap":                         0,
	"sv_dns-tcp-multirequest-buffer.pcap":                0,
	"sv_dns-tcp-ts-gap.pcap":                             0,
	"sv_vxlan-decoder-03.pcap":                           16,
	"synthetic_erspan2_dnscap-dns.pcap":                  82,
	"synthetic_vxlangpe_dnscap-dns.pcap":                 82,
	"synthetic_pppoe-qinq_dnscap-dns.pcap":               82,
	"synthetic_ppi_dnscap-dns.pcap":                      82,
	"synthetic_pktap_dnscap-dns.pcap":                    82,
	"synthetic_pktap149_dnscap-dns.pcap":                 82,
	"synthetic_null-ethertype_dnscap-dns.pcap":           82,
	"synthetic_fddi_dnscap-dns.pcap":                     82,
	"synthetic_80211qos_dnscap-dns.pcap":                 82,
	"synthetic_sll1_dnscap-dns.pcap":                     82,
	"tcpdump_LINKTYPE_IPV6.pcap":                         1,
	"tcpdump_nflog.pcap":                                 4,
	// tshark: 1 ("Unknown operation (15)", malformed). Its header claims
	// QDCOUNT 64259, which no message of at most 65535 octets can hold:
	// not DNS (not_dns), by the rule in parseDNS.
	"tcpdump_dns-badlabel.pcap": 0,
	"zeek_dns-edns-ecs.pcap":    76, // tshark's 85 adds 9 TCP
	// All three are emitted as Malformed: a cut name, a pointer to itself,
	// a label running past the end.
	"zeek_dns-invalid-names.pcap":     3,
	"zeek_dns-loc-29-trunc-qinq.pcap": 2,
	// tshark: 2, both "[Packet size limited during capture]": the snaplen
	// (176) cut the DNS messages inside GENEVE/VXLAN. They are counted as
	// truncated and not emitted: dnstap carries whole wire messages, and
	// a cut one would be reported as a malformed message nobody sent.
	"zeek_geneve-vxlan-dns-truncated.pcap": 0,
	"zeek_gre-teb-outerfrag.pcap":          10,
	"zeek_ipv6-fragmented-dns.pcap":        5,
	"zeek_max-compression-depth.pcap":      1,
	"zeek_pcapng-multi-interface.pcapng":   6,
	"zeek_radiotap.pcap":                   2,
	"zeek_tunnels_gre-over-udp-4754.pcap":  4,
	"zeek_tunnels_gre-pptp.pcap":           2,
	"zeek_vxlan-triple-v2.pcap":            1,
}

func TestCapturesUDPMessages(t *testing.T) {
	for _, path := range testenv.Pcaps(t) {
		name := captureName(path)
		t.Run(name, func(t *testing.T) {
			want, ok := wantUDP[name]
			if !ok {
				// A capture added since this table was written: tshark's
				// count until someone checks it and adds a line.
				want = tsharkUDPDNS(t, path)
				t.Logf("%s is not in wantUDP; using tshark's count %d", name, want)
			}
			a, s := runFrames(readCapture(t, path))
			n := 0
			for _, m := range s.msgs {
				if m.Transport == TransportUDP {
					n++
				}
			}
			if n != want {
				t.Errorf("%d UDP DNS messages, want %d (counters %v)", n, want, counters(a))
			}
			if got := int(a.Stats().Decode[DecodeMessagesUDP].Load()); got != n {
				t.Errorf("messages_udp = %d, sink saw %d", got, n)
			}
		})
	}
}

// tsharkUDPDNS counts the frames tshark shows as DNS over UDP.
func tsharkUDPDNS(t *testing.T, path string) int {
	t.Helper()
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	out, err := exec.Command(tshark, "-r", path, "-Y", "dns && udp").Output()
	if err != nil {
		t.Fatalf("tshark %s: %v", path, err)
	}
	return bytes.Count(out, []byte("\n"))
}

// flowMsg is one UDP DNS message seen in one frame, for the differential test.
type flowMsg struct {
	src, dst netip.AddrPort
	payload  string
}

// gopacketUDPDNS decodes a frame with gopacket.NewPacket and returns the
// innermost UDP port-53 payload with its addresses, and whether the frame is
// one gopacket can judge: not a fragment, not truncated.
func gopacketUDPDNS(f *packet.Frame) ([]flowMsg, bool) {
	var first gopacket.Decoder
	switch f.LinkType {
	case packet.LinkTypeIPv4:
		first = layers.LayerTypeIPv4
	case packet.LinkTypeIPv6:
		first = layers.LayerTypeIPv6
	default:
		first = layers.LinkType(f.LinkType)
	}
	p := gopacket.NewPacket(f.Data, first, gopacket.DecodeOptions{NoCopy: true})
	if p.Metadata().Truncated || f.WireLen > len(f.Data) {
		return nil, false
	}
	if p.ErrorLayer() != nil {
		// A link type or header gopacket has no decoder for (PPI,
		// PKTAP, NFLOG, a BSD loopback header holding an EtherType):
		// it cannot judge the frame.
		return nil, false
	}
	var src, dst netip.Addr
	var out []flowMsg
	for _, l := range p.Layers() {
		switch l := l.(type) {
		case *layers.IPv4:
			if l.Flags&layers.IPv4MoreFragments != 0 || l.FragOffset != 0 {
				return nil, false
			}
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		case *layers.IPv6:
			src, _ = netip.AddrFromSlice(l.SrcIP)
			dst, _ = netip.AddrFromSlice(l.DstIP)
		case *layers.IPv6Fragment:
			return nil, false
		case *layers.UDP:
			if l.DstPort == 4754 || l.DstPort == 4790 {
				// GRE-in-UDP and VXLAN-GPE: gopacket stops at the
				// UDP payload.
				return nil, false
			}
			if l.SrcPort != 53 && l.DstPort != 53 {
				continue
			}
			var h Header
			if !parseDNS(l.Payload, &h) {
				continue
			}
			out = append(out, flowMsg{
				netip.AddrPortFrom(src.Unmap(), uint16(l.SrcPort)),
				netip.AddrPortFrom(dst.Unmap(), uint16(l.DstPort)),
				string(l.Payload),
			})
		}
	}
	return out, true
}

// frameSink records which frame each message came from.
type frameSink struct {
	frame int
	msgs  map[int][]flowMsg
}

func (s *frameSink) HandleMessage(m *Message) {
	if m.Transport != TransportUDP {
		return
	}
	s.msgs[s.frame] = append(s.msgs[s.frame], flowMsg{m.Src, m.Dst, string(m.Payload)})
}

// TestGopacketDifferential compares the 5-tuple and payload bytes of every
// UDP/53 message with gopacket.NewPacket's reading of the same frame, on
// every frame gopacket can judge alone (fragments need reassembly, which
// gopacket's decoders do not do).
func TestGopacketDifferential(t *testing.T) {
	judged, messages := 0, 0
	defer func() {
		t.Logf("%d frames judged, %d UDP DNS messages compared", judged, messages)
		// The captures hold several hundred plain UDP DNS frames: a
		// differential that compares none is broken, not passing.
		if judged < 1000 || messages < 400 {
			t.Errorf("only %d frames and %d messages compared", judged, messages)
		}
	}()
	for name, frames := range allCaptures(t) {
		t.Run(name, func(t *testing.T) {
			s := &frameSink{msgs: map[int][]flowMsg{}}
			a := NewAssembler(DefaultConfig(), s)
			compared := 0
			for i := range frames {
				s.frame = i
				a.HandleFrame(&frames[i])
				want, ok := gopacketUDPDNS(&frames[i])
				if !ok {
					continue
				}
				compared++
				judged++
				messages += len(want)
				got := s.msgs[i]
				if len(got) != len(want) {
					t.Errorf("frame %d: %d messages, gopacket %d", i+1, len(got), len(want))
					continue
				}
				for j := range got {
					if got[j].src != want[j].src || got[j].dst != want[j].dst || got[j].payload != want[j].payload {
						t.Errorf("frame %d: %v → %v %x, gopacket %v → %v %x", i+1,
							got[j].src, got[j].dst, got[j].payload, want[j].src, want[j].dst, want[j].payload)
					}
				}
			}
			if compared == 0 {
				t.Logf("no frame gopacket can judge alone")
			}
		})
	}
}

// miekgMalformedOK lists messages miekg/dns unpacks without error but that
// parseDNS marks Malformed, by capture and message index, with the reason.
var miekgMalformedOK = map[string]map[int]string{}

// TestParseDNSAgainstMiekg checks parseDNS on every DNS message the
// Assembler emits from the captures against miekg/dns's full Unpack: the
// header and first question must agree, and a message miekg unpacks must
// not be Malformed.
func TestParseDNSAgainstMiekg(t *testing.T) {
	all := allCaptures(t)
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	total, malformed := 0, 0
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			_, s := runFrames(all[name])
			for i, m := range s.msgs {
				total++
				var h Header
				if !parseDNS(m.Payload, &h) {
					t.Fatalf("message %d: emitted but parseDNS says not DNS", i)
				}
				if h.Malformed {
					malformed++
				}
				var msg dns.Msg
				err := msg.Unpack(m.Payload)
				if err != nil {
					if !h.Malformed {
						t.Logf("message %d: miekg: %v; parseDNS accepts it (it does not read RDATA)", i, err)
					}
					continue
				}
				if h.Malformed {
					if reason, ok := miekgMalformedOK[name][i]; ok {
						t.Logf("message %d: Malformed although miekg unpacks it: %s", i, reason)
					} else {
						t.Errorf("message %d: Malformed, but miekg unpacks it: %x", i, m.Payload)
					}
				}
				if h.ID != msg.Id || h.Response() != msg.Response || int(h.Opcode()) != msg.Opcode || int(h.Rcode()) != msg.Rcode&0xf {
					t.Errorf("message %d: header %+v disagrees with miekg %+v", i, h, msg.MsgHdr)
				}
				if int(h.QDCount) != len(msg.Question) || int(h.ANCount) != len(msg.Answer) || int(h.NSCount) != len(msg.Ns) {
					t.Errorf("message %d: counts %d/%d/%d, miekg %d/%d/%d", i, h.QDCount, h.ANCount, h.NSCount, len(msg.Question), len(msg.Answer), len(msg.Ns))
				}
				if len(msg.Question) > 0 {
					q := msg.Question[0]
					name, off, err := dns.UnpackDomainName(m.Payload, 12)
					if err != nil || name != q.Name || !bytes.Equal(h.Question, m.Payload[12:off+4]) {
						t.Errorf("message %d: Question %x, miekg %v", i, h.Question, q)
					}
				} else if h.Question != nil {
					t.Errorf("message %d: Question %x without a question", i, h.Question)
				}
			}
		})
	}
	t.Logf("%d messages, %d malformed", total, malformed)
}
