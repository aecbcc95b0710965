package e2e

import (
	"encoding/binary"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/miekg/dns"
)

// dedupCraft builds the frames of TestDedupCrafted: what two mirror points
// make of a few DNS exchanges.
type dedupCraft struct {
	t  *testing.T
	t0 time.Time
}

var (
	craftClient  = net.IPv4(192, 0, 2, 10).To4()
	craftServer  = net.IPv4(192, 0, 2, 53).To4()
	craftClient6 = net.ParseIP("2001:db8::10")
	craftServer6 = net.ParseIP("2001:db8::53")
	craftMAC1    = net.HardwareAddr{0x02, 0, 0, 0, 0, 1}
	craftMAC2    = net.HardwareAddr{0x02, 0, 0, 0, 0, 2}
	craftMAC3    = net.HardwareAddr{0x02, 0, 0, 0, 0, 3}
)

func (c *dedupCraft) msg(id uint16, response bool) []byte {
	m := new(dns.Msg)
	m.SetQuestion("www.example.com.", dns.TypeA)
	m.Id = id
	if response {
		m.Response = true
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "www.example.com.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(198, 51, 100, 7)}}
	}
	b, err := m.Pack()
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *dedupCraft) serialize(ls ...gopacket.SerializableLayer) []byte {
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}, ls...); err != nil {
		c.t.Fatal(err)
	}
	return append([]byte(nil), buf.Bytes()...)
}

// udp4 is an IPv4 UDP frame, tagged with vlan when not 0.
func (c *dedupCraft) udp4(src, dst net.IP, sport, dport uint16, ttl uint8, ipid uint16, vlan uint16, srcMAC net.HardwareAddr, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: ttl, Id: ipid, Protocol: layers.IPProtocolUDP, SrcIP: src, DstIP: dst}
	udp := &layers.UDP{SrcPort: layers.UDPPort(sport), DstPort: layers.UDPPort(dport)}
	udp.SetNetworkLayerForChecksum(ip)
	eth := &layers.Ethernet{SrcMAC: srcMAC, DstMAC: craftMAC3, EthernetType: layers.EthernetTypeIPv4}
	if vlan == 0 {
		return c.serialize(eth, ip, udp, gopacket.Payload(payload))
	}
	eth.EthernetType = layers.EthernetTypeDot1Q
	return c.serialize(eth, &layers.Dot1Q{VLANIdentifier: vlan, Type: layers.EthernetTypeIPv4}, ip, udp, gopacket.Payload(payload))
}

func (c *dedupCraft) udp6(payload []byte) []byte {
	ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: craftClient6, DstIP: craftServer6}
	udp := &layers.UDP{SrcPort: 40001, DstPort: 53}
	udp.SetNetworkLayerForChecksum(ip)
	return c.serialize(&layers.Ethernet{SrcMAC: craftMAC1, DstMAC: craftMAC3, EthernetType: layers.EthernetTypeIPv6}, ip, udp, gopacket.Payload(payload))
}

func (c *dedupCraft) tcp4(src, dst net.IP, sport, dport uint16, seq, ack uint32, syn, fin bool, payload []byte) []byte {
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src, DstIP: dst}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(sport), DstPort: layers.TCPPort(dport), Seq: seq, Ack: ack,
		SYN: syn, FIN: fin, ACK: !syn || ack != 0, PSH: len(payload) > 0, Window: 65535}
	tcp.SetNetworkLayerForChecksum(ip)
	return c.serialize(&layers.Ethernet{SrcMAC: craftMAC1, DstMAC: craftMAC3, EthernetType: layers.EthernetTypeIPv4}, ip, tcp, gopacket.Payload(payload))
}

// erspan wraps an Ethernet frame in ERSPAN type II over GRE over IPv4, as
// a remote SPAN session delivers it.
func (c *dedupCraft) erspan(inner []byte) []byte {
	hdr := make([]byte, 4+4+8)
	binary.BigEndian.PutUint16(hdr[0:], 0x1000) // GRE: sequence number present, version 0
	binary.BigEndian.PutUint16(hdr[2:], 0x88be) // ERSPAN type II
	binary.BigEndian.PutUint32(hdr[4:], 1)
	binary.BigEndian.PutUint16(hdr[8:], 1<<12) // ERSPAN version 1 (type II), VLAN 0
	binary.BigEndian.PutUint16(hdr[10:], 7)    // session 7
	ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolGRE, SrcIP: net.IPv4(203, 0, 113, 1).To4(), DstIP: net.IPv4(203, 0, 113, 2).To4()}
	return c.serialize(&layers.Ethernet{SrcMAC: craftMAC2, DstMAC: craftMAC3, EthernetType: layers.EthernetTypeIPv4}, ip, gopacket.Payload(append(hdr, inner...)))
}

func (c *dedupCraft) at(d time.Duration, data []byte) frame {
	return frame{gopacket.CaptureInfo{Timestamp: c.t0.Add(d), CaptureLength: len(data), Length: len(data)}, data}
}

// TestDedupCrafted (issue #9) runs the sensor binary over crafted captures
// of two mirror points with --dedup 10ms: a query seen on VLAN 11 and again
// on VLAN 12 after a router hop (TTL-1, new checksum, other MACs); its
// response plain and inside ERSPAN; a DNS-over-TCP exchange whose query
// segment is retransmitted within the window (removed as a copy) and whose
// response segment is retransmitted after it (kept, and recognised by the
// TCP reassembler); an IPv6 query retried by the client, byte for byte,
// after the window (kept: two messages). Then the same frames split in two
// files, the originals in one and the copies in the other, merged by the
// sensor: the same result. Without --dedup every copy is a message.
func TestDedupCrafted(t *testing.T) {
	bin := sensorBin(t)
	c := &dedupCraft{t: t, t0: time.Unix(1_700_000_000, 0)}
	ms := time.Millisecond
	q, r := c.msg(0x1111, false), c.msg(0x1111, true)
	tq, tr := c.msg(0x2222, false), c.msg(0x2222, true)
	lp := func(b []byte) []byte { return append(binary.BigEndian.AppendUint16(nil, uint16(len(b))), b...) }
	respPlain := c.udp4(craftServer, craftClient, 53, 40000, 64, 77, 0, craftMAC2, r)
	const cseq, sseq = 1000, 5000
	originals := []frame{
		c.at(0, c.udp4(craftClient, craftServer, 40000, 53, 64, 42, 11, craftMAC1, q)),
		c.at(1*ms, respPlain),
		c.at(10*ms, c.tcp4(craftClient, craftServer, 40010, 53, cseq, 0, true, false, nil)),
		c.at(11*ms, c.tcp4(craftServer, craftClient, 53, 40010, sseq, cseq+1, true, false, nil)),
		c.at(12*ms, c.tcp4(craftClient, craftServer, 40010, 53, cseq+1, sseq+1, false, false, lp(tq))),
		c.at(14*ms, c.tcp4(craftServer, craftClient, 53, 40010, sseq+1, cseq+1+uint32(len(tq)+2), false, false, lp(tr))),
		c.at(20*ms, c.udp6(q)),
		c.at(1020*ms, c.udp6(q)), // the client's retry, after the window
		c.at(1500*ms, c.tcp4(craftClient, craftServer, 40010, 53, cseq+1+uint32(len(tq)+2), sseq+1+uint32(len(tr)+2), false, true, nil)),
	}
	copies := []frame{
		c.at(300*time.Microsecond, c.udp4(craftClient, craftServer, 40000, 53, 63, 42, 12, craftMAC2, q)),
		c.at(3*ms, c.erspan(respPlain)),
		c.at(13*ms, originals[4].data),  // retransmission within 10 ms
		c.at(214*ms, originals[5].data), // retransmission after 200 ms
	}
	all := append(append([]frame(nil), originals...), copies...)
	slicesSortByTime(all)
	dir := t.TempDir()
	one, first, second := filepath.Join(dir, "all.pcap"), filepath.Join(dir, "originals.pcap"), filepath.Join(dir, "copies.pcap")
	writeFrames(t, one, all)
	writeFrames(t, first, originals)
	writeFrames(t, second, copies)

	for _, tt := range []struct {
		name                       string
		args                       []string
		udp, tcp, removed, retrans uint64
	}{
		{"one file, --dedup 10ms", []string{"-r", one, "--dedup", "10ms"}, 4, 2, 3, 1},
		{"two files merged, --dedup 10ms", []string{"-r", first, "-r", second, "--dedup", "10ms"}, 4, 2, 3, 1},
		{"one file, no dedup", []string{"-r", one}, 6, 2, 0, 2},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(bin, append(tt.args, "-w", filepath.Join(t.TempDir(), "out.dnstap"))...).CombinedOutput()
			if err != nil {
				t.Fatalf("sensor: %v\n%s", err, out)
			}
			s := string(out)
			m := summaryMessagesByProto.FindStringSubmatch(s)
			if m == nil {
				t.Fatalf("no DNS messages line:\n%s", s)
			}
			if m[1] != itoa(tt.udp) || m[2] != itoa(tt.tcp) {
				t.Errorf("UDP %s, TCP %s messages, want %d and %d:\n%s", m[1], m[2], tt.udp, tt.tcp, s)
			}
			if got := optionalCounter(s, "dedup_removed"); got != tt.removed {
				t.Errorf("dedup_removed %d, want %d:\n%s", got, tt.removed, s)
			}
			if got := optionalCounter(s, "tcp_retransmissions"); got != tt.retrans {
				t.Errorf("tcp_retransmissions %d, want %d:\n%s", got, tt.retrans, s)
			}
		})
	}
}

// summaryMessagesByProto reads "DNS messages N  (UDP U, TCP T)".
var summaryMessagesByProto = regexp.MustCompile(`DNS messages\s+\d+\s+\(UDP (\d+), TCP (\d+)\)`)

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

// optionalCounter reads "name N" from a summary, which lists only counters
// that are not zero: 0 when absent.
func optionalCounter(summary, name string) uint64 {
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\s+(\d+)`).FindStringSubmatch(summary)
	if m == nil {
		return 0
	}
	v, _ := strconv.ParseUint(m[1], 10, 64)
	return v
}

func slicesSortByTime(f []frame) {
	slices.SortStableFunc(f, func(a, b frame) int { return a.ci.Timestamp.Compare(b.ci.Timestamp) })
}
