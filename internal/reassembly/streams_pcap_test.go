package reassembly

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// streamCaptures are the captures with DNS over TCP or in IP fragments, with
// the messages the whole Assembler must rebuild from each (tshark 4.x
// agrees on every count: `tshark -r X -Y dns -T fields -e dns.id`).
var streamCaptures = []struct {
	name     string
	tcp, udp int
	counters map[string]uint64 // TCP and fragment counters that must match exactly
}{
	{"dnscap_dnso1tcp.pcap", 82, 0, map[string]uint64{"tcp_flows_created": 1, "tcp_flows_closed": 1}},
	{"dnscap_dnso1tcp-midmiss.pcap", 6, 0, map[string]uint64{"tcp_gaps_skipped": 2, "tcp_resyncs": 2}},
	{"dnscap_dnso1tcp-bighole.pcap", 41, 0, map[string]uint64{"tcp_gaps_skipped": 2, "tcp_resyncs": 1}},
	{"dnscap_dnsotcp-many1pkt.pcap", 4, 0, nil},
	{"dnscap_dnsotcp-manyopkts.pcap", 3, 0, nil},
	{"dnscap_1qtcpnosyn.pcap", 2, 0, map[string]uint64{"tcp_resyncs": 2}},
	{"dnscap_do1t-nosyn-1nolen.pcap", 2, 0, map[string]uint64{"tcp_resyncs": 1}},
	{"netutils_dns_ipv6_tcp.pcap", 2, 0, nil},
	{"netutils_dnsdump_tcp_fastopen.pcap", 8, 0, map[string]uint64{"tcp_flows_created": 4, "tcp_flows_closed": 4}},
	{"netutils_dnsdump_udp_truncated+tcp_fragmented.pcap", 2, 2, map[string]uint64{"tcp_retransmissions": 2}},
	{"netutils_gre_ipv4_dns_tcp.pcap", 4, 0, nil},
	{"sv_dns-reversed-tcp-1.pcap", 1, 0, map[string]uint64{"tcp_resyncs": 1}},
	{"sv_dns-tcp-multirequest-buffer.pcap", 40, 0, nil},
	{"sv_dns-tcp-ts-gap.pcap", 5, 0, map[string]uint64{"tcp_gaps_skipped": 1, "tcp_resyncs": 1}},
	{"dnscap_frags.pcap", 0, 82, map[string]uint64{"frag_in": 495, "frag_reassembled": 82}},
	{"netutils_dnsdump_ip4_fragmented+udp.pcap", 0, 2, map[string]uint64{"frag_reassembled": 1}},
	{"netutils_dnsdump_ip4_fragmented_query.pcap", 0, 2, map[string]uint64{"frag_reassembled": 2}},
	{"netutils_dnsdump_ip6_fragmented+udp.pcap", 0, 2, map[string]uint64{"frag_reassembled": 1}},
	{"netutils_dnsdump_ip6_fragmented_query.pcap", 0, 1, map[string]uint64{"frag_reassembled": 1}},
	// One response's first fragment is missing from the capture.
	{"zeek_ipv6-fragmented-dns.pcap", 0, 5, map[string]uint64{"frag_reassembled": 1, "frag_timeout": 1}},
	{"zeek_dns-edns-ecs.pcap", 9, 76, map[string]uint64{"frag_reassembled": 4}},
}

func pcapPath(name string) string {
	return filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name)
}

// TestAssemblerStreams runs the whole Assembler over the TCP and fragment
// captures: message counts, the reassembly counters, every message's header
// against tshark's dissection, and the exact bytes of every message against
// what tshark saw on the wire.
func TestAssemblerStreams(t *testing.T) {
	for _, c := range streamCaptures {
		t.Run(c.name, func(t *testing.T) {
			a, s := runFrames(readCapture(t, pcapPath(c.name)))
			tcp, udp := 0, 0
			for _, m := range s.msgs {
				if m.Transport == TransportTCP {
					tcp++
				} else {
					udp++
				}
			}
			if tcp != c.tcp || udp != c.udp {
				t.Errorf("got %d TCP and %d UDP messages, want %d and %d", tcp, udp, c.tcp, c.udp)
			}
			got := counters(a)
			for k, v := range c.counters {
				if got[k] != v {
					t.Errorf("%s = %d, want %d (all: %v)", k, got[k], v, got)
				}
			}
			if a.tcp.heldBytes() != 0 || a.frag.heldBytes() != 0 {
				t.Errorf("held after Flush: tcp %d, frag %d", a.tcp.heldBytes(), a.frag.heldBytes())
			}
			compareWithTshark(t, c.name, s.msgs)
		})
	}
}

// compareWithTshark checks each message's (source port, ID, flags, length)
// against tshark's DNS dissection as multisets, and that each message's
// bytes are what crossed the wire: a UDP message equals a (reassembled) UDP
// payload tshark saw; a TCP message with its length prefix lies in the
// stream of TCP payloads of its direction or in a PDU tshark reassembled.
func compareWithTshark(t *testing.T, name string, msgs []gotMessage) {
	t.Helper()
	compareWithTsharkFilter(t, name, "", msgs)
}

// compareWithTsharkFilter is compareWithTshark on the frames tshark's
// display filter keeps (all when filter is empty).
func compareWithTsharkFilter(t *testing.T, name, filter string, msgs []gotMessage) {
	t.Helper()
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	args := []string{"-r", pcapPath(name), "-o", "tcp.check_checksum:FALSE"}
	if filter != "" {
		args = append(args, "-Y", filter)
	}
	out, err := exec.Command(tshark, append(args,
		"-T", "fields", "-E", "separator=|", "-e", "tcp.srcport", "-e", "udp.srcport", "-e", "dns.id", "-e", "dns.flags",
		"-e", "dns.length", "-e", "udp.length", "-e", "tcp.payload", "-e", "udp.payload", "-e", "tcp.reassembled.data")...).Output()
	if err != nil {
		t.Fatalf("tshark: %v", err)
	}
	last := func(s string) string {
		f := strings.Split(s, ",")
		return f[len(f)-1]
	}
	var want []string
	streams := map[string][]byte{} // TCP payloads by source port, in capture order
	var pdus [][]byte              // PDUs tshark reassembled, and UDP payloads
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 9 {
			continue
		}
		if f[0] != "" {
			p, _ := hex.DecodeString(last(f[6]))
			streams[f[0]] = append(streams[f[0]], p...)
			if r, _ := hex.DecodeString(f[8]); len(r) > 0 {
				pdus = append(pdus, r)
			}
		} else if f[7] != "" {
			p, _ := hex.DecodeString(last(f[7]))
			pdus = append(pdus, p)
		}
		if f[2] == "" {
			continue
		}
		ids, flags := strings.Split(f[2], ","), strings.Split(f[3], ",")
		for i := range ids {
			id, _ := strconv.ParseUint(ids[i], 0, 16)
			fl, _ := strconv.ParseUint(flags[i], 0, 16)
			if f[0] != "" {
				lens := strings.Split(f[4], ",")
				l, _ := strconv.Atoi(lens[min(i, len(lens)-1)])
				want = append(want, fmt.Sprintf("tcp %s id=%d flags=%#x len=%d", f[0], id, fl, l))
			} else if p := last(f[1]); p != "5353" && p != "5355" {
				// (mDNS and LLMNR are not port 53: the sensor leaves them.)
				l, _ := strconv.Atoi(last(f[5]))
				want = append(want, fmt.Sprintf("udp %s id=%d flags=%#x len=%d", p, id, fl, l-8))
			}
		}
	}
	var have []string
	for _, m := range msgs {
		proto := "udp"
		if m.Transport == TransportTCP {
			proto = "tcp"
		}
		have = append(have, fmt.Sprintf("%s %d id=%d flags=%#x len=%d", proto, m.Src.Port(), m.DNS.ID, m.DNS.Flags, len(m.Payload)))
		if m.Transport == TransportTCP {
			framed := binary.BigEndian.AppendUint16(nil, uint16(len(m.Payload)))
			framed = append(framed, m.Payload...)
			ok := bytes.Contains(streams[strconv.Itoa(int(m.Src.Port()))], framed)
			for _, p := range pdus {
				ok = ok || bytes.Contains(p, framed)
			}
			if !ok {
				t.Errorf("TCP message id=%d from port %d: bytes not seen on the wire", m.DNS.ID, m.Src.Port())
			}
			continue
		}
		ok := false
		for _, p := range pdus {
			ok = ok || bytes.Equal(p, m.Payload)
		}
		if !ok {
			t.Errorf("UDP message id=%d from port %d: bytes differ from every UDP payload tshark saw", m.DNS.ID, m.Src.Port())
		}
	}
	sort.Strings(want)
	sort.Strings(have)
	if strings.Join(want, "\n") != strings.Join(have, "\n") {
		t.Errorf("messages differ from tshark's\n got:\n%s\nwant:\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
	}
}

// BenchmarkHandleFrameStreams runs the whole Assembler over captures again
// and again and reports the cost per DNS message: dnscap_dns (UDP) against
// the same kind of traffic over TCP (dnscap_dnso1tcp: 41 exchanges on one
// connection, every length prefix in a segment of its own, plus handshake,
// ACKs and FIN) and IPv4 fragments (dnscap_frags). The capture's
// timestamps are shifted forward on each pass so time never runs back.
func BenchmarkHandleFrameStreams(b *testing.B) {
	for _, name := range []string{"dnscap_dns.pcap", "dnscap_dnso1tcp.pcap", "dnscap_frags.pcap"} {
		b.Run(name, func(b *testing.B) {
			frames := readCapture(b, pcapPath(name))
			span := frames[len(frames)-1].Timestamp - frames[0].Timestamp + 1e9
			s := &nopSink{}
			a := NewAssembler(DefaultConfig(), s)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				f := &frames[i%len(frames)]
				if i > 0 && i%len(frames) == 0 {
					for j := range frames {
						frames[j].Timestamp += span
					}
				}
				a.HandleFrame(f)
			}
			b.StopTimer()
			if s.n > 0 {
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(s.n), "ns/message")
			}
		})
	}
}
