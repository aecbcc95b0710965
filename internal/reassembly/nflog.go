package reassembly

import "encoding/binary"

// NFLOG (LINKTYPE_NFLOG, https://www.tcpdump.org/linktypes/LINKTYPE_NFLOG.html):
// a 4-octet header (address family, version 0, resource ID), then TLVs
// whose length (including the 4-octet TLV header) and type are in the host
// byte order of the capturing machine, each padded to 4 octets.
const (
	nflogHeaderLen = 4
	nflogTLVLen    = 4
	nflogPayload   = 9 // NFULA_PAYLOAD: the packet, from its network header
	nflogTypeMask  = 0x7fff
	linuxAFINET    = 2  // Linux AF_INET
	linuxAFINET6   = 10 // Linux AF_INET6
)

// nflog finds the NFULA_PAYLOAD TLV of an NFLOG record and decodes it as
// the IP version the header's family names. The file does not record the
// TLVs' byte order: TLV types are below 256, so the half of the first type
// field that is zero tells it.
func (a *Assembler) nflog(b []byte) {
	if len(b) < nflogHeaderLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	if b[1] != 0 {
		a.count(DecodeLinkBadHeader)
		return
	}
	family := b[0]
	b = b[nflogHeaderLen:]
	var order binary.ByteOrder = binary.LittleEndian
	if len(b) >= nflogTLVLen && b[2] == 0 && b[3] != 0 {
		order = binary.BigEndian
	}
	for len(b) >= nflogTLVLen {
		n := int(order.Uint16(b[0:2]))
		typ := order.Uint16(b[2:4]) & nflogTypeMask
		if n < nflogTLVLen {
			a.count(DecodeLinkBadHeader)
			return
		}
		if n > len(b) {
			a.short(DecodeLinkBadHeader)
			return
		}
		if typ == nflogPayload {
			p := b[nflogTLVLen:n]
			switch family {
			case linuxAFINET:
				a.ip4(p, 0)
			case linuxAFINET6:
				a.ip6(p, 0)
			default:
				a.count(DecodeNotIP)
			}
			return
		}
		n = (n + 3) &^ 3
		if n > len(b) {
			break
		}
		b = b[n:]
	}
	// No payload TLV: the rule logged metadata only (or the snaplen cut
	// the record before it).
	a.short(DecodeLinkBadHeader)
}
