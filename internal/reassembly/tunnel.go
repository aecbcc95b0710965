package reassembly

import "encoding/binary"

// GRE header bits (RFC 2784 §2, RFC 2890 §2, RFC 1701 §2.1 for R).
const (
	greFlagC       = 0x80 // checksum (and reserved1) present
	greFlagR       = 0x40 // RFC 1701 routing present (deprecated by RFC 2784)
	greFlagK       = 0x20 // key present (RFC 2890)
	greFlagS       = 0x10 // sequence number present (RFC 2890)
	greFlagA       = 0x80 // enhanced GRE (version 1): acknowledgment number present (RFC 2637 §4.1)
	greVersionMask = 0x07
	greMinLen      = 4
)

// Tunnel header lengths.
const (
	erspan2Len     = 8  // ERSPAN type II header (draft-foschiano-erspan-03 §4.1)
	erspan3Len     = 12 // ERSPAN type III header (§4.2)
	erspan3SubLen  = 8  // type III platform-specific subheader, present when O is set
	erspan3FTEther = 0  // type III frame type: Ethernet
	erspan3FTIP    = 2  // type III frame type: IP
	vxlanLen       = 8  // RFC 7348 §5
	vxlanFlagI     = 0x08
	geneveMinLen   = 8 // RFC 8926 §3.4, without options
	gpeLen         = 8 // VXLAN-GPE header (draft-ietf-nvo3-vxlan-gpe-12 §3.3)
	gpeFlagP       = 0x04
	gpeVersionMask = 0x30
	gpeIPv4        = 1 // VXLAN-GPE Next Protocol values (§3.4)
	gpeIPv6        = 2
	gpeEthernet    = 3
	gpeNSH         = 4
	gpeMPLS        = 5
)

// enter checks that one more level of encapsulation is allowed.
func (a *Assembler) enter(depth int) bool {
	if depth+1 > maxEncapDepth {
		a.count(DecodeTunnelDepth)
		return false
	}
	return true
}

// gre decodes a GRE header and what it carries: IPv4, IPv6, Ethernet
// (transparent bridging), ERSPAN or PPP. Version 1 is PPTP's enhanced GRE
// (RFC 2637 §4.1), which carries PPP. RFC 1701 source routing is counted as
// unsupported.
func (a *Assembler) gre(b []byte, depth int) {
	if !a.enter(depth) {
		return
	}
	depth++
	if len(b) < greMinLen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	flags := b[0]
	switch b[1] & greVersionMask {
	case 0:
	case 1:
		a.greV1(b, depth)
		return
	default:
		a.count(DecodeTunnelBadHeader)
		return
	}
	if flags&greFlagR != 0 {
		a.count(DecodeTunnelUnsupported)
		return
	}
	proto := binary.BigEndian.Uint16(b[2:4])
	hlen := greMinLen
	if flags&greFlagC != 0 {
		hlen += 4
	}
	if flags&greFlagK != 0 {
		hlen += 4
	}
	seq := flags&greFlagS != 0
	if seq {
		hlen += 4
	}
	if len(b) < hlen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	b = b[hlen:]
	switch proto {
	case etherTypeIPv4:
		a.ip4(b, depth)
	case etherTypeIPv6:
		a.ip6(b, depth)
	case etherTypeTEB:
		a.ether(b, depth)
	case etherTypeERSPAN2:
		if !seq {
			// ERSPAN type I: no ERSPAN header, the mirrored frame
			// follows GRE directly; type II sets S and adds one.
			a.ether(b, depth)
			return
		}
		a.erspan2(b, depth)
	case etherTypeERSPAN3:
		a.erspan3(b, depth)
	case etherTypePPP:
		a.ppp(b, depth)
	default:
		a.count(DecodeTunnelUnsupported)
	}
}

// greV1 decodes PPTP's enhanced GRE header (RFC 2637 §4.1): C, R, s and
// Recur zero, K set, protocol 0x880B; the key holds the payload length and
// call ID; sequence (S) and acknowledgment (A) numbers are optional. The
// PPP frame is cut to the payload length; an acknowledgment alone carries
// none.
func (a *Assembler) greV1(b []byte, depth int) {
	flags := b[0]
	if flags&(greFlagC|greFlagR) != 0 || flags&greFlagK == 0 || binary.BigEndian.Uint16(b[2:4]) != etherTypePPP {
		a.count(DecodeTunnelBadHeader)
		return
	}
	hlen := greMinLen + 4
	if flags&greFlagS != 0 {
		hlen += 4
	}
	if b[1]&greFlagA != 0 {
		hlen += 4
	}
	if len(b) < hlen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if hlen+n > len(b) {
		a.short(DecodeTunnelBadHeader)
		return
	}
	if n == 0 {
		a.count(DecodeNotIP)
		return
	}
	a.ppp(b[hlen:hlen+n], depth)
}

// erspan2 decodes an ERSPAN type II header: Ver(4)=1, VLAN(12), COS(3),
// En(2), T(1), Session ID(10), Reserved(12), Index(20); the mirrored
// Ethernet frame follows.
func (a *Assembler) erspan2(b []byte, depth int) {
	if len(b) < erspan2Len {
		a.short(DecodeTunnelBadHeader)
		return
	}
	if b[0]>>4 != 1 {
		a.count(DecodeTunnelBadHeader)
		return
	}
	a.ether(b[erspan2Len:], depth)
}

// erspan3 decodes an ERSPAN type III header: Ver(4)=2, VLAN(12), COS(3),
// BSO(2), T(1), Session ID(10), Timestamp(32), SGT(16), P(1), FT(5),
// HW ID(6), D(1), Gra(2), O(1), then an 8-octet platform-specific subheader
// when O is set, then the mirrored frame of type FT.
func (a *Assembler) erspan3(b []byte, depth int) {
	if len(b) < erspan3Len {
		a.short(DecodeTunnelBadHeader)
		return
	}
	if b[0]>>4 != 2 {
		a.count(DecodeTunnelBadHeader)
		return
	}
	ft := (b[10] >> 2) & 0x1f
	hlen := erspan3Len
	if b[11]&0x01 != 0 {
		hlen += erspan3SubLen
	}
	if len(b) < hlen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	b = b[hlen:]
	switch ft {
	case erspan3FTEther:
		a.ether(b, depth)
	case erspan3FTIP:
		a.ipByVersion(b, depth)
	default:
		a.count(DecodeTunnelUnsupported)
	}
}

// vxlan decodes a VXLAN header (RFC 7348 §5); an Ethernet frame follows.
// Like Linux, it requires the I flag, which every VXLAN sender sets: a UDP
// 4789 payload without it is not VXLAN.
func (a *Assembler) vxlan(b []byte, depth int) {
	if !a.enter(depth) {
		return
	}
	if len(b) < vxlanLen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	if b[0]&vxlanFlagI == 0 {
		a.count(DecodeTunnelBadHeader)
		return
	}
	a.ether(b[vxlanLen:], depth+1)
}

// geneve decodes a GENEVE header (RFC 8926 §3.4): Ver(2)=0, Opt Len(6) in
// 4-octet units, O, C, Rsvd(6), Protocol Type(16), VNI(24), Reserved(8),
// options; then a frame of the protocol type.
func (a *Assembler) geneve(b []byte, depth int) {
	if !a.enter(depth) {
		return
	}
	depth++
	if len(b) < geneveMinLen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	if b[0]>>6 != 0 {
		a.count(DecodeTunnelBadHeader)
		return
	}
	hlen := geneveMinLen + int(b[0]&0x3f)*4
	if len(b) < hlen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	proto := binary.BigEndian.Uint16(b[2:4])
	b = b[hlen:]
	switch proto {
	case etherTypeTEB:
		a.ether(b, depth)
	case etherTypeIPv4:
		a.ip4(b, depth)
	case etherTypeIPv6:
		a.ip6(b, depth)
	default:
		a.count(DecodeTunnelUnsupported)
	}
}

// vxlanGPE decodes a VXLAN Generic Protocol Extension header
// (draft-ietf-nvo3-vxlan-gpe-12 §3.3): Ver(2)=0, I, P, B, O, reserved,
// Next Protocol(8), VNI(24), reserved(8). Without P the payload is
// Ethernet, as in VXLAN; with it, Next Protocol names the payload.
func (a *Assembler) vxlanGPE(b []byte, depth int) {
	if !a.enter(depth) {
		return
	}
	depth++
	if len(b) < gpeLen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	if b[0]&gpeVersionMask != 0 {
		a.count(DecodeTunnelBadHeader)
		return
	}
	next := b[3]
	if b[0]&gpeFlagP == 0 {
		next = gpeEthernet
	}
	b = b[gpeLen:]
	switch next {
	case gpeIPv4:
		a.ip4(b, depth)
	case gpeIPv6:
		a.ip6(b, depth)
	case gpeEthernet:
		a.ether(b, depth)
	case gpeMPLS:
		a.mpls(b, depth)
	default:
		// NSH (service function chaining) and experimental values.
		a.count(DecodeTunnelUnsupported)
	}
}
