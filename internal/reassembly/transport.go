package reassembly

import (
	"encoding/binary"
	"net/netip"
)

// Transport header lengths and tunnel ports.
const (
	udpHeaderLen    = 8  // RFC 768
	tcpMinHeaderLen = 20 // RFC 9293 §3.1, data offset 5
	vxlanPort       = 4789
	genevePort      = 6081
	gtpUPort        = 2152 // 3GPP TS 29.281 §4.4.2.3
	greUDPPort      = 4754 // RFC 8086 §3
	vxlanGPEPort    = 4790 // draft-ietf-nvo3-vxlan-gpe-12 §3.2
)

// udp decodes a UDP header (RFC 768) and hands on DNS (either port 53) or a
// tunnel (destination port 4789 VXLAN, 6081 GENEVE, 2152 GTP-U, 4754
// GRE-in-UDP, 4790 VXLAN-GPE). The payload is cut to
// the UDP length. The checksum is not checked, for the same reason as the
// IPv4 header checksum.
func (a *Assembler) udp(src, dst netip.Addr, b []byte, depth int) {
	if len(b) < udpHeaderLen {
		a.short(DecodeUDPBadHeader)
		return
	}
	sport := binary.BigEndian.Uint16(b[0:2])
	dport := binary.BigEndian.Uint16(b[2:4])
	ulen := int(binary.BigEndian.Uint16(b[4:6]))
	if ulen < udpHeaderLen {
		a.count(DecodeUDPBadHeader)
		return
	}
	if ulen > len(b) {
		a.short(DecodeUDPBadHeader)
		return
	}
	payload := b[udpHeaderLen:ulen:ulen]
	switch {
	case sport == dnsPort || dport == dnsPort:
		a.deliver(netip.AddrPortFrom(src, sport), netip.AddrPortFrom(dst, dport), payload, TransportUDP, a.ts)
	case dport == vxlanPort:
		a.vxlan(payload, depth)
	case dport == genevePort:
		a.geneve(payload, depth)
	case dport == gtpUPort:
		a.gtpU(payload, depth)
	case dport == greUDPPort:
		a.gre(payload, depth)
	case dport == vxlanGPEPort:
		a.vxlanGPE(payload, depth)
	default:
		a.count(DecodeNonDNSPort)
	}
}

// tcpSeg decodes a TCP header (RFC 9293 §3.1) of a DNS connection and hands
// the segment to the stream reassembler. b is already cut to the IP length.
// a.seg.payload is left pointing at the frame after the call: only the
// Assembler (and its tests) read it, and the next segment overwrites it.
func (a *Assembler) tcpSeg(src, dst netip.Addr, b []byte) {
	if len(b) < tcpMinHeaderLen {
		a.short(DecodeTCPBadHeader)
		return
	}
	sport := binary.BigEndian.Uint16(b[0:2])
	dport := binary.BigEndian.Uint16(b[2:4])
	if sport != dnsPort && dport != dnsPort {
		a.count(DecodeNonDNSPort)
		return
	}
	doff := int(b[12]>>4) * 4
	if doff < tcpMinHeaderLen || doff > len(b) {
		a.count(DecodeTCPBadHeader)
		return
	}
	s := &a.seg
	s.src = netip.AddrPortFrom(src, sport)
	s.dst = netip.AddrPortFrom(dst, dport)
	s.vlan = a.vlan
	s.seq = binary.BigEndian.Uint32(b[4:8])
	s.ack = binary.BigEndian.Uint32(b[8:12])
	s.flags = b[13]
	s.payload = b[doff:len(b):len(b)]
	s.ts = a.ts
	a.tcp.segment(s)
}
