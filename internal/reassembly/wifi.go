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
	ppiMinLen       = 8    // version, flags, length, DLT
)

// wifi decodes an IEEE 802.11 frame (LINKTYPE_IEEE802_11) without FCS
// handling: the IP decoders cut the payload to their own lengths, so a
// trailing FCS is ignored. Only data frames carry IP. Protected frames
// (WEP, TKIP, CCMP, GCMP) cannot be read without the keys and are counted
// apart; fragmented MSDUs and A-MSDUs are rare in monitor captures and
// counted as unsupported.
func (a *Assembler) wifi(b []byte) {
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
	if len(b) < hlen {
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
	a.snap(b[hlen:], 0)
}

// radiotap skips a radiotap header (https://www.radiotap.org/: version 0,
// pad, little-endian length of the whole header) and decodes the 802.11
// frame after it. The fields themselves (rates, signal, channel) say
// nothing about the packet's contents.
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
	a.wifi(b[n:])
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
