package reassembly

import (
	"encoding/binary"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// EtherTypes the decoder follows (IEEE Registration Authority).
const (
	etherTypeIPv4      = 0x0800
	etherTypeIPv6      = 0x86dd
	etherTypeVLAN      = 0x8100 // IEEE 802.1Q C-tag
	etherTypeQinQ      = 0x88a8 // IEEE 802.1ad S-tag
	etherTypeQinQOld   = 0x9100 // pre-802.1ad vendor S-tag
	etherTypeMPLS      = 0x8847
	etherTypeMPLSMulti = 0x8848
	etherTypeTEB       = 0x6558 // Transparent Ethernet Bridging (GRE, GENEVE)
	etherTypeERSPAN2   = 0x88be // GRE protocol of ERSPAN type I and II
	etherTypeERSPAN3   = 0x22eb // GRE protocol of ERSPAN type III
	etherTypePPPoES    = 0x8864 // PPPoE session stage (RFC 2516 §4)
	etherTypePPP       = 0x880b // PPP, as GRE carries it (RFC 2637 §4.1)
	etherTypeMaxLen    = 1500   // IEEE 802.3: values up to this are a length, not an EtherType
)

// Link header lengths.
const (
	ethernetLen = 14 // destination, source, EtherType
	vlanTagLen  = 4  // TCI, inner EtherType
	sllLen      = 16 // Linux cooked v1: https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL.html
	sll2Len     = 20 // Linux cooked v2: https://www.tcpdump.org/linktypes/LINKTYPE_LINUX_SLL2.html
	nullLen     = 4  // BSD loopback address family
)

// BSD address families seen in LINKTYPE_NULL and LINKTYPE_LOOP headers
// (https://www.tcpdump.org/linktypes/LINKTYPE_NULL.html): AF_INET is 2
// everywhere; AF_INET6 is 24 on NetBSD/OpenBSD/BSD/OS, 28 on FreeBSD/
// DragonFly, 30 on Darwin.
const (
	afINET         = 2
	afINET6BSD     = 24
	afINET6FreeBSD = 28
	afINET6Darwin  = 30
)

// link decodes the link layer of a frame of type lt.
func (a *Assembler) link(lt packet.LinkType, b []byte) {
	switch lt {
	case packet.LinkTypeEthernet:
		a.ether(b, 0)
	case packet.LinkTypeRaw:
		a.ipByVersion(b, 0)
	case packet.LinkTypeIPv4:
		a.ip4(b, 0)
	case packet.LinkTypeIPv6:
		a.ip6(b, 0)
	case packet.LinkTypeLinuxSLL:
		if len(b) < sllLen {
			a.short(DecodeLinkBadHeader)
			return
		}
		a.etherType(binary.BigEndian.Uint16(b[14:16]), b[sllLen:], 0, true)
	case packet.LinkTypeLinuxSLL2:
		if len(b) < sll2Len {
			a.short(DecodeLinkBadHeader)
			return
		}
		a.etherType(binary.BigEndian.Uint16(b[0:2]), b[sll2Len:], 0, true)
	case packet.LinkTypeNull:
		a.null(b)
	case packet.LinkTypeLoop:
		if len(b) < nullLen {
			a.short(DecodeLinkBadHeader)
			return
		}
		a.addressFamily(binary.BigEndian.Uint32(b[0:4]), b[nullLen:])
	case packet.LinkTypeNFLOG:
		a.nflog(b)
	case packet.LinkTypePPI:
		a.ppi(b)
	case packet.LinkTypePKTAP, packet.LinkTypePKTAPMac:
		a.pktap(b)
	default:
		a.linkInner(lt, b)
	}
}

// linkInner decodes the link types that a pseudo-header (PPI, PKTAP) may
// name for the frame after it. Pseudo-headers themselves are not among
// them, so a frame cannot nest them.
func (a *Assembler) linkInner(lt packet.LinkType, b []byte) {
	switch lt {
	case packet.LinkTypeEthernet:
		a.ether(b, 0)
	case packet.LinkTypeRaw:
		a.ipByVersion(b, 0)
	case packet.LinkTypeNull:
		a.null(b)
	case packet.LinkTypeIEEE80211:
		a.wifi(b)
	case packet.LinkTypeRadiotap:
		a.radiotap(b)
	case packet.LinkTypeFDDI:
		a.fddi(b)
	default:
		a.count(DecodeUnknownLinkType)
	}
}

// null decodes a BSD loopback header (LINKTYPE_NULL): an address family in
// the host byte order of the capturing machine, which the file does not
// record. The family is small, so whichever order gives a value below 2^16
// is the right one. Some writers put an EtherType there instead, in either
// byte order; a value above the largest 802.3 length cannot be a family,
// and Wireshark's null dissector reads such a value as an EtherType too.
func (a *Assembler) null(b []byte) {
	if len(b) < nullLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	af := binary.LittleEndian.Uint32(b[0:4])
	if af > 0xffff {
		af = binary.BigEndian.Uint32(b[0:4])
	}
	if af > etherTypeMaxLen && af <= 0xffff {
		a.etherType(uint16(af), b[nullLen:], 0, true)
		return
	}
	a.addressFamily(af, b[nullLen:])
}

// addressFamily dispatches a BSD loopback payload by its address family.
func (a *Assembler) addressFamily(af uint32, b []byte) {
	switch af {
	case afINET:
		a.ip4(b, 0)
	case afINET6BSD, afINET6FreeBSD, afINET6Darwin:
		a.ip6(b, 0)
	default:
		a.count(DecodeNotIP)
	}
}

// ether decodes an Ethernet II header. depth is the encapsulation depth of
// the frame (0 for the captured frame, more inside VXLAN, GENEVE, GRE TEB or
// ERSPAN). Padding after the IP packet (frames below the 60-byte minimum, or
// trailers) is left in place: the IP decoders trim by their own lengths.
func (a *Assembler) ether(b []byte, depth int) {
	if len(b) < ethernetLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	a.etherType(binary.BigEndian.Uint16(b[12:14]), b[ethernetLen:], depth, depth == 0)
}

// etherType dispatches b by EtherType et, first stripping any stack of VLAN
// tags. outer says the tags are the captured frame's own, whose outermost VID
// keys fragments and flows (when the kernel did not already report one).
func (a *Assembler) etherType(et uint16, b []byte, depth int, outer bool) {
	for tags := 0; et == etherTypeVLAN || et == etherTypeQinQ || et == etherTypeQinQOld; tags++ {
		if tags == maxVLANTags {
			a.count(DecodeVLANDepth)
			return
		}
		if len(b) < vlanTagLen {
			a.short(DecodeLinkBadHeader)
			return
		}
		if outer && a.vlan == 0 {
			a.vlan = binary.BigEndian.Uint16(b[0:2]) & 0x0fff
		}
		outer = false
		et = binary.BigEndian.Uint16(b[2:4])
		b = b[vlanTagLen:]
	}
	switch et {
	case etherTypeIPv4:
		a.ip4(b, depth)
	case etherTypeIPv6:
		a.ip6(b, depth)
	case etherTypeMPLS, etherTypeMPLSMulti:
		a.mpls(b, depth)
	case etherTypePPPoES:
		a.pppoe(b, depth)
	default:
		a.count(DecodeNotIP)
	}
}

// mpls skips an MPLS label stack (RFC 3032 §2.1: 4 octets a label, S bit
// marks the bottom) and decodes what follows as IP by its version nibble.
// RFC 3032 leaves the payload type to the label's binding; IP by version
// nibble is what every passive decoder does, and other payloads (pseudowires)
// are counted as not IP.
func (a *Assembler) mpls(b []byte, depth int) {
	for n := 0; ; n++ {
		if n == maxMPLSLabels {
			a.count(DecodeMPLSDepth)
			return
		}
		if len(b) < 4 {
			a.short(DecodeLinkBadHeader)
			return
		}
		bottom := b[2]&0x01 != 0
		b = b[4:]
		if bottom {
			break
		}
	}
	if len(b) == 0 {
		a.short(DecodeLinkBadHeader)
		return
	}
	a.ipByVersion(b, depth)
}

// ipByVersion decodes b as IPv4 or IPv6 by its version nibble (LINKTYPE_RAW,
// ERSPAN III IP frames).
func (a *Assembler) ipByVersion(b []byte, depth int) {
	if len(b) == 0 {
		a.short(DecodeIPBadHeader)
		return
	}
	switch b[0] >> 4 {
	case 4:
		a.ip4(b, depth)
	case 6:
		a.ip6(b, depth)
	default:
		a.count(DecodeNotIP)
	}
}
