package reassembly

import (
	"encoding/binary"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// PKTAP header (Darwin's net/pktap.h, LINKTYPE_PKTAP): little-endian, as
// every machine that writes it is; the fields after the DLT (interface
// name, process, service class) do not concern the packet's contents.
const (
	pktapMinLen    = 108 // sizeof(struct pktap_header); tcpdump rejects shorter
	pktapRecPacket = 1   // PTH_TYPE_PACKET: a packet follows; PTH_TYPE_NONE (0) carries none
	dltRawDarwin   = 12  // DLT_RAW on Darwin and Linux; files say LINKTYPE_RAW (101)
)

// pktap decodes a PKTAP header (the macOS "-i pktap" and "-k" captures):
// header length, record type and the DLT of the frame that follows.
func (a *Assembler) pktap(b []byte) {
	if len(b) < pktapMinLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	n := int(binary.LittleEndian.Uint32(b[0:4]))
	if n < pktapMinLen {
		a.count(DecodeLinkBadHeader)
		return
	}
	if n > len(b) {
		a.short(DecodeLinkBadHeader)
		return
	}
	if binary.LittleEndian.Uint32(b[4:8]) != pktapRecPacket {
		a.count(DecodeNotIP)
		return
	}
	dlt := binary.LittleEndian.Uint32(b[8:12])
	if dlt > 0xffff {
		a.count(DecodeUnknownLinkType)
		return
	}
	a.linkInner(dltLinkType(dlt), b[n:])
}

// dltLinkType maps a DLT_* value, as pseudo-headers written by libpcap's
// host carry it, to the LINKTYPE_* the decoder switches on. They are equal
// but for raw IP.
func dltLinkType(dlt uint32) packet.LinkType {
	if dlt == dltRawDarwin {
		return packet.LinkTypeRaw
	}
	return packet.LinkType(dlt)
}
