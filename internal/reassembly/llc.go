package reassembly

import "encoding/binary"

// IEEE 802.2 LLC with a SNAP header (RFC 1042): DSAP 0xAA, SSAP 0xAA,
// control 0x03 (UI), a 3-octet OUI and an EtherType.
const (
	snapLen     = 8
	snapSAP     = 0xaa
	llcUI       = 0x03
	fddiHdrLen  = 13 // frame control, destination, source
	fddiFCMask  = 0xf8
	fddiFCAsync = 0x50 // frame control 0101 0PPP: asynchronous LLC frame, priority PPP
)

// snap decodes an LLC/SNAP header and dispatches by its EtherType. Only the
// two OUIs that carry EtherTypes are followed: 00-00-00 (RFC 1042) and
// 00-00-F8 (802.1H bridge tunnel, which some access points use for
// AppleTalk and IPX but may use for anything). Plain LLC (spanning tree,
// NetBIOS) is not IP.
func (a *Assembler) snap(b []byte, depth int) {
	if len(b) < 3 {
		a.short(DecodeLinkBadHeader)
		return
	}
	if b[0] != snapSAP || b[1] != snapSAP || b[2] != llcUI {
		a.count(DecodeNotIP)
		return
	}
	if len(b) < snapLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	if b[3] != 0 || b[4] != 0 || (b[5] != 0 && b[5] != 0xf8) {
		a.count(DecodeNotIP)
		return
	}
	a.etherType(binary.BigEndian.Uint16(b[6:8]), b[snapLen:], depth, depth == 0)
}

// fddi decodes an FDDI frame (LINKTYPE_FDDI, ANSI X3.139): frame control,
// destination and source addresses, then LLC. Only asynchronous LLC
// frames carry IP; SMT and MAC frames are not IP.
func (a *Assembler) fddi(b []byte) {
	if len(b) < fddiHdrLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	if b[0]&fddiFCMask != fddiFCAsync {
		a.count(DecodeNotIP)
		return
	}
	a.snap(b[fddiHdrLen:], 0)
}
