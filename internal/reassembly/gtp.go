package reassembly

import "encoding/binary"

// GTPv1-U constants (3GPP TS 29.281 §5.1, §5.2).
const (
	gtpHeaderLen    = 8 // flags, message type, length, TEID
	gtpOptLen       = 4 // sequence number, N-PDU number, next extension header type
	gtpVersion1     = 1
	gtpFlagPT       = 0x10 // protocol type: GTP (1), not GTP' (0)
	gtpFlagE        = 0x04 // extension header present
	gtpFlagS        = 0x02 // sequence number present
	gtpFlagPN       = 0x01 // N-PDU number present
	gtpMsgGPDU      = 0xff // G-PDU: a user packet (T-PDU) follows
	maxGTPExtHeader = 16   // extension headers walked; TS 29.281 defines fewer than ten types
)

// gtpU decodes a GTPv1-U header (3GPP TS 29.281 §5.1): Version(3)=1, PT=1,
// spare, E, S, PN, Message Type, Length (octets after the first eight),
// TEID; then, when any of E, S or PN is set, Sequence Number(16), N-PDU
// Number(8) and Next Extension Header Type(8), and the chain of extension
// headers (§5.2: Length in 4-octet units, content, next type). A G-PDU
// carries one IP packet; the other messages (echo, error indication, end
// marker) are signalling and not IP.
func (a *Assembler) gtpU(b []byte, depth int) {
	if !a.enter(depth) {
		return
	}
	depth++
	if len(b) < gtpHeaderLen {
		a.short(DecodeTunnelBadHeader)
		return
	}
	flags := b[0]
	if flags>>5 != gtpVersion1 || flags&gtpFlagPT == 0 {
		a.count(DecodeTunnelBadHeader)
		return
	}
	end := gtpHeaderLen + int(binary.BigEndian.Uint16(b[2:4]))
	if end > len(b) {
		a.short(DecodeTunnelBadHeader)
		return
	}
	b = b[:end:end]
	off := gtpHeaderLen
	if flags&(gtpFlagE|gtpFlagS|gtpFlagPN) != 0 {
		off += gtpOptLen
		if off > len(b) {
			a.count(DecodeTunnelBadHeader)
			return
		}
		next := b[off-1]
		if flags&gtpFlagE == 0 {
			next = 0
		}
		for n := 0; next != 0; n++ {
			if n == maxGTPExtHeader || off >= len(b) {
				a.count(DecodeTunnelBadHeader)
				return
			}
			hlen := int(b[off]) * 4
			if hlen == 0 || off+hlen > len(b) {
				a.count(DecodeTunnelBadHeader)
				return
			}
			next = b[off+hlen-1]
			off += hlen
		}
	}
	if b[1] != gtpMsgGPDU {
		a.count(DecodeNotIP)
		return
	}
	a.ipByVersion(b[off:], depth)
}
