package lab

import (
	"encoding/binary"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// TestMirror builds the point-to-point lab with BIND and Unbound, sends
// queries from both clients, and checks what the SPAN port got: every
// frame once (ingress and egress copies of one veth never overlap), both
// directions, Unbound's upstream queries from the resolver's address, and
// complete IP and UDP/TCP checksums in the copies (offloads off).
func TestMirror(t *testing.T) {
	m := NewMirror(t)
	named := StartNamed(t, m.Server, ServerV4, ServerV6)
	ub := StartUnbound(t, m.Client, []netip.Addr{ServerV4}, ResolverV4, ResolverV6)
	pcap := filepath.Join(t.TempDir(), "mirror.pcap")
	c := m.Monitor.StartCapture(t, m.SpanIf, pcap, "")
	digs := []struct {
		ns   *Netns
		args []string
		want string
	}{
		{m.Client, []string{"-b", ClientV4.String(), "@" + ServerV4.String(), "www." + ZoneAuth, "A"}, "192.0.2.80"},
		{m.Client, []string{"-b", ClientV6.String(), "@" + ServerV6.String(), "www." + ZoneAuth, "AAAA"}, "fd00:53::80"},
		{m.Server, []string{"-b", Client2V4.String(), "@" + ResolverV4.String(), NameLocal, "A"}, NameLocalAddr},
		{m.Server, []string{"-b", Client2V6.String(), "@" + ResolverV6.String(), "www." + ZoneAuth, "A"}, "192.0.2.80"},
		{m.Server, []string{"-b", Client2V4.String(), "@" + ResolverV4.String(), "+tcp", "txt." + ZoneAuth, "TXT"}, "hello from the lab"},
	}
	for _, d := range digs {
		if out := d.ns.Dig(t, d.args...); !strings.Contains(out, d.want) {
			t.Fatalf("dig %v: want %q in:\n%s", d.args, d.want, out)
		}
	}
	c.Stop(t)
	ub.Stop(t)
	named.Stop(t)

	dnsFrames := 0
	flows := map[[2]netip.Addr]int{} // DNS frames by (source, destination)
	mirroredDNSFrames(t, pcap, func(data []byte) {
		dnsFrames++
		src, dst, problem := checkFrame(data)
		if problem != "" {
			t.Errorf("%s: % x", problem, data)
		}
		flows[[2]netip.Addr{src, dst}]++
	})
	// 5 client queries and answers, and 2 forwarded queries and answers.
	if dnsFrames != 14 {
		t.Errorf("mirror holds %d frames with DNS names, want 14", dnsFrames)
	}
	for _, want := range []struct {
		src, dst netip.Addr
		n        int
	}{
		{ClientV4, ServerV4, 1}, {ServerV4, ClientV4, 1},
		{ClientV6, ServerV6, 1}, {ServerV6, ClientV6, 1},
		{Client2V4, ResolverV4, 2}, {ResolverV4, Client2V4, 2},
		{Client2V6, ResolverV6, 1}, {ResolverV6, Client2V6, 1},
		// Unbound's upstream queries come from its own address, not the
		// client's that shares its namespace.
		{ResolverV4, ServerV4, 2}, {ServerV4, ResolverV4, 2},
	} {
		if got := flows[[2]netip.Addr{want.src, want.dst}]; got != want.n {
			t.Errorf("%v -> %v: %d DNS frames, want %d (all: %v)", want.src, want.dst, got, want.n, flows)
		}
	}
}

// checkFrame decodes an Ethernet frame holding an unfragmented IP packet
// and verifies its IPv4 header checksum and its UDP or TCP checksum. It
// returns the IP addresses and a description of what is wrong, if
// anything.
func checkFrame(data []byte) (src, dst netip.Addr, problem string) {
	p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
	var pseudo []byte
	var proto layers.IPProtocol
	var payload []byte
	switch ip := p.NetworkLayer().(type) {
	case *layers.IPv4:
		src, _ = netip.AddrFromSlice(ip.SrcIP.To4())
		dst, _ = netip.AddrFromSlice(ip.DstIP.To4())
		if sum(ip.Contents) != 0xffff {
			return src, dst, "bad IPv4 header checksum"
		}
		proto, payload = ip.Protocol, ip.Payload
		pseudo = append(append(append([]byte{}, ip.SrcIP.To4()...), ip.DstIP.To4()...), 0, byte(proto))
		pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(payload)))
	case *layers.IPv6:
		src, _ = netip.AddrFromSlice(ip.SrcIP)
		dst, _ = netip.AddrFromSlice(ip.DstIP)
		proto, payload = ip.NextHeader, ip.Payload
		pseudo = append(append([]byte{}, ip.SrcIP...), ip.DstIP...)
		pseudo = binary.BigEndian.AppendUint32(pseudo, uint32(len(payload)))
		pseudo = append(pseudo, 0, 0, 0, byte(proto))
	default:
		return src, dst, "not IP"
	}
	if proto != layers.IPProtocolUDP && proto != layers.IPProtocolTCP {
		return src, dst, "not UDP or TCP"
	}
	if sum(append(pseudo, payload...)) != 0xffff {
		return src, dst, "bad " + proto.String() + " checksum (partial checksum from an offload?)"
	}
	return src, dst, ""
}

// sum is the RFC 1071 one's complement sum of b, folded to 16 bits: 0xffff
// over data that includes a correct checksum.
func sum(b []byte) uint16 {
	var s uint32
	for len(b) >= 2 {
		s += uint32(b[0])<<8 | uint32(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		s += uint32(b[0]) << 8
	}
	for s > 0xffff {
		s = s>>16 + s&0xffff
	}
	return uint16(s)
}

// TestCheckFrame makes sure checkFrame notices the partial checksums an
// offload leaves: correct frames pass, a changed checksum fails.
func TestCheckFrame(t *testing.T) {
	build := func(t *testing.T, v6 bool) []byte {
		t.Helper()
		eth := &layers.Ethernet{SrcMAC: []byte{2, 0, 0, 0, 0, 2}, DstMAC: []byte{2, 0, 0, 0, 0, 0x53}, EthernetType: layers.EthernetTypeIPv4}
		udp := &layers.UDP{SrcPort: 40000, DstPort: 53}
		var ip gopacket.SerializableLayer
		if v6 {
			eth.EthernetType = layers.EthernetTypeIPv6
			ip6 := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolUDP, SrcIP: ClientV6.AsSlice(), DstIP: ServerV6.AsSlice()}
			_ = udp.SetNetworkLayerForChecksum(ip6)
			ip = ip6
		} else {
			ip4 := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolUDP, SrcIP: ClientV4.AsSlice(), DstIP: ServerV4.AsSlice()}
			_ = udp.SetNetworkLayerForChecksum(ip4)
			ip = ip4
		}
		buf := gopacket.NewSerializeBuffer()
		opts := gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true}
		if err := gopacket.SerializeLayers(buf, opts, eth, ip, udp, gopacket.Payload("\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x03www\x03lab\x07example\x00\x00\x01\x00\x01")); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	for _, tc := range []struct {
		name    string
		v6      bool
		corrupt int // byte offset to change, from the end of the frame; 0: none
		want    string
	}{
		{"v4 ok", false, 0, ""},
		{"v6 ok", true, 0, ""},
		{"v4 payload changed", false, 1, "bad UDP checksum"},
		{"v6 payload changed", true, 1, "bad UDP checksum"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := build(t, tc.v6)
			if tc.corrupt > 0 {
				b[len(b)-tc.corrupt] ^= 0x40
			}
			_, _, problem := checkFrame(b)
			if !strings.HasPrefix(problem, tc.want) || (tc.want == "") != (problem == "") {
				t.Errorf("checkFrame: %q, want %q", problem, tc.want)
			}
		})
	}
}
