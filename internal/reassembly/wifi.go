package reassembly

import "encoding/binary"

// IEEE 802.11 MAC header (IEEE 802.11-2020 §9.2.4).
const (
	wifiHdrLen      = 24 // frame control, duration, three addresses, sequence control
	wifiAddr4Len    = 6  // fourth address, present when both To DS and From DS are set
	wifiQoSLen      = 2  // QoS Control, in QoS data subtypes
	wifiHTLen       = 4  // HT Control, in QoS frames with +HTC (the Order bit)
	wifiTypeData    = 2
	wifiSubQoS      = 0x08 // subtype bit: QoS data
	wifiSubNoData   = 0x04 // subtype bit: no frame body (Null, CF-Ack/Poll without data)
	wifiFlagToDS    = 0x01
	wifiFlagFromDS  = 0x02
	wifiFlagMoreFr  = 0x04
	wifiFlagProtect = 0x40
	wifiFlagOrder   = 0x80
	wifiQoSAMSDU    = 0x80 // QoS Control bit 7: the body is an A-MSDU
	radiotapMinLen  = 8    // version, pad, length, first present word
	radiotapTSFT    = 0x01 // present bit 0: TSFT, 8 octets aligned to 8
	radiotapFlags   = 0x02 // present bit 1: Flags, 1 octet
	radiotapExt     = 1 << 31
	radiotapDataPad = 0x20 // Flags: padding between the 802.11 header and the body, to 4 octets
	ppiMinLen       = 8    // version, flags, length, DLT
)

// wifi decodes an IEEE 802.11 frame (LINKTYPE_IEEE802_11) without FCS
// handling: the IP decoders cut the payload to their own lengths, so a
// trailing FCS is ignored. Only data frames carry IP. Protected frames
// (WEP, TKIP, CCMP, GCMP) cannot be read without the keys and are counted
// apart; fragmented MSDUs and A-MSDUs are rare in monitor captures and
// counted as unsupported.
func (a *Assembler) wifi(b []byte) { a.wifiPadded(b, false) }

// wifiPadded is wifi for a frame whose body may start at the next multiple
// of 4 octets after the MAC header (radiotap's data-pad flag, set by
// Atheros drivers among others).
func (a *Assembler) wifiPadded(b []byte, pad bool) {
	if len(b) < 2 {
		a.short(DecodeLinkBadHeader)
		return
	}
	fc0, flags := b[0], b[1]
	if fc0&0x03 != 0 {
		// Protocol version 0 is the only one of IEEE 802.11-2020;
		// version 1 is the PV1 short frame of 802.11ah.
		a.count(DecodeLinkBadHeader)
		return
	}
	subtype := fc0 >> 4
	if (fc0>>2)&0x03 != wifiTypeData || subtype&wifiSubNoData != 0 {
		a.count(DecodeNotIP)
		return
	}
	hlen := wifiHdrLen
	if flags&(wifiFlagToDS|wifiFlagFromDS) == wifiFlagToDS|wifiFlagFromDS {
		hlen += wifiAddr4Len
	}
	qos := subtype&wifiSubQoS != 0
	qosOff := hlen // QoS Control follows the addresses, before HT Control
	if qos {
		hlen += wifiQoSLen
		if flags&wifiFlagOrder != 0 {
			hlen += wifiHTLen
		}
	}
	body := hlen
	if pad {
		body = (hlen + 3) &^ 3
	}
	if len(b) < body {
		a.short(DecodeLinkBadHeader)
		return
	}
	if flags&wifiFlagProtect != 0 {
		a.count(DecodeWiFiProtected)
		return
	}
	fragNum := binary.LittleEndian.Uint16(b[22:24]) & 0x0f
	if flags&wifiFlagMoreFr != 0 || fragNum != 0 || qos && b[qosOff]&wifiQoSAMSDU != 0 {
		a.count(DecodeWiFiUnsupported)
		return
	}
	a.snap(b[body:], 0)
}

// radiotap skips a radiotap header (https://www.radiotap.org/: version 0,
// pad, little-endian length of the whole header, present bitmaps, fields)
// and decodes the 802.11 frame after it. Of the fields only Flags matters:
// its data-pad bit moves the frame body; rates, signal and channel say
// nothing about the packet.
func (a *Assembler) radiotap(b []byte) {
	if len(b) < radiotapMinLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	n := int(binary.LittleEndian.Uint16(b[2:4]))
	if b[0] != 0 || n < radiotapMinLen {
		a.count(DecodeLinkBadHeader)
		return
	}
	if n > len(b) {
		a.short(DecodeLinkBadHeader)
		return
	}
	h := b[:n]
	first := binary.LittleEndian.Uint32(h[4:8])
	pad := false
	if first&radiotapFlags != 0 {
		// Fields follow the last present word (bit 31 chains another),
		// each aligned to its natural size: only TSFT comes before Flags.
		off := 8
		for w := first; w&radiotapExt != 0; off += 4 {
			if off+4 > n {
				a.count(DecodeLinkBadHeader)
				return
			}
			w = binary.LittleEndian.Uint32(h[off : off+4])
		}
		if first&radiotapTSFT != 0 {
			off = (off+7)&^7 + 8
		}
		if off >= n {
			a.count(DecodeLinkBadHeader)
			return
		}
		pad = h[off]&radiotapDataPad != 0
	}
	a.wifiPadded(b[n:], pad)
}

// ppi skips a Per-Packet Information header (PPI specification 1.0.10,
// CACE Technologies: version 0, flags, little-endian header length and
// DLT) and decodes the frame after it as that DLT, typically 802.11.
func (a *Assembler) ppi(b []byte) {
	if len(b) < ppiMinLen {
		a.short(DecodeLinkBadHeader)
		return
	}
	n := int(binary.LittleEndian.Uint16(b[2:4]))
	if b[0] != 0 || n < ppiMinLen {
		a.count(DecodeLinkBadHeader)
		return
	}
	if n > len(b) {
		a.short(DecodeLinkBadHeader)
		return
	}
	dlt := binary.LittleEndian.Uint32(b[4:8])
	if dlt > 0xffff {
		a.count(DecodeUnknownLinkType)
		return
	}
	a.linkInner(dltLinkType(dlt), b[n:])
}
