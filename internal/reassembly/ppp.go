package reassembly

import "encoding/binary"

// PPP and PPPoE constants.
const (
	pppoeHeaderLen   = 6    // RFC 2516 §4: VER, TYPE, CODE, SESSION_ID, LENGTH
	pppoeVerType     = 0x11 // VER 1, TYPE 1: the only values RFC 2516 defines
	pppoeCodeSession = 0x00 // CODE of a session-stage data packet
	pppAddress       = 0xff // RFC 1662 §3.1: All-Stations address
	pppControl       = 0x03 // RFC 1662 §3.1: Unnumbered Information
	pppProtoIPv4     = 0x0021
	pppProtoIPv6     = 0x0057
)

// pppoe decodes a PPPoE session-stage header (RFC 2516 §4, EtherType
// 0x8864) and the PPP frame it carries. The payload is cut to the LENGTH
// field, which drops Ethernet padding.
func (a *Assembler) pppoe(b []byte, depth int) {
	if len(b) < pppoeHeaderLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	if b[0] != pppoeVerType || b[1] != pppoeCodeSession {
		a.count(DecodeLinkBadHeader)
		return
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if pppoeHeaderLen+n > len(b) {
		a.short(DecodeLinkBadHeader)
		return
	}
	a.ppp(b[pppoeHeaderLen:pppoeHeaderLen+n], depth)
}

// ppp decodes a PPP frame without HDLC framing (RFC 1661 §2) and hands on
// IPv4 or IPv6. The address and control octets (RFC 1662 §3.1) are
// skipped when present: they are omitted under Address-and-Control-Field-
// Compression, and PPTP peers send them. A protocol field whose first
// octet is odd is one octet long (Protocol-Field-Compression, RFC 1661
// §6.5): protocol numbers have an even first and an odd last octet.
// Other protocols (LCP, IPCP, CCP, compressed or encrypted data) are not IP.
func (a *Assembler) ppp(b []byte, depth int) {
	if len(b) >= 2 && b[0] == pppAddress && b[1] == pppControl {
		b = b[2:]
	}
	if len(b) == 0 {
		a.short(DecodeLinkBadHeader)
		return
	}
	var proto uint16
	if b[0]&1 != 0 {
		proto, b = uint16(b[0]), b[1:]
	} else {
		if len(b) < 2 {
			a.short(DecodeLinkBadHeader)
			return
		}
		proto, b = binary.BigEndian.Uint16(b[0:2]), b[2:]
	}
	switch proto {
	case pppProtoIPv4:
		a.ip4(b, depth)
	case pppProtoIPv6:
		a.ip6(b, depth)
	default:
		a.count(DecodeNotIP)
	}
}
