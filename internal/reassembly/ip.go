package reassembly

import (
	"encoding/binary"
	"net/netip"
)

// IP protocol numbers (IANA "Assigned Internet Protocol Numbers").
const (
	protoHopOpts  = 0
	protoIPv4     = 4 // IP-in-IP (RFC 2003)
	protoTCP      = 6
	protoUDP      = 17
	protoIPv6     = 41 // IPv6 in IP (RFC 2473, RFC 4213)
	protoRouting  = 43
	protoFragment = 44
	protoGRE      = 47
	protoESP      = 50
	protoAH       = 51
	protoNoNext   = 59
	protoDstOpts  = 60
)

const (
	ipv4MinHeaderLen = 20 // RFC 791 §3.1, IHL 5
	ipv6HeaderLen    = 40 // RFC 8200 §3
	ipv6FragLen      = 8  // RFC 8200 §4.5
)

// ip4 decodes an IPv4 header (RFC 791 §3.1). The payload is cut to the total
// length, which drops Ethernet padding and trailers. The header checksum is
// not checked: captures taken on the sending host carry checksums the NIC
// fills in later.
func (a *Assembler) ip4(b []byte, depth int) {
	if len(b) < ipv4MinHeaderLen {
		a.short(DecodeIPBadHeader)
		return
	}
	if b[0]>>4 != 4 {
		a.count(DecodeIPBadHeader)
		return
	}
	if a.steer != nil {
		a.steer.see(netip.AddrFrom4([4]byte(b[12:16])), netip.AddrFrom4([4]byte(b[16:20])))
		return
	}
	ihl := int(b[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(b[2:4]))
	if ihl < ipv4MinHeaderLen || total < ihl {
		a.count(DecodeIPBadHeader)
		return
	}
	if total > len(b) {
		a.short(DecodeIPBadLength)
		return
	}
	payload := b[ihl:total:total]
	src := netip.AddrFrom4([4]byte(b[12:16]))
	dst := netip.AddrFrom4([4]byte(b[16:20]))
	proto := b[9]
	frag := binary.BigEndian.Uint16(b[6:8])
	if a.duplicate(4, proto, src, dst, uint32(binary.BigEndian.Uint16(b[4:6])), frag, payload) {
		return
	}
	more := frag&0x2000 != 0
	offset := int(frag&0x1fff) * 8
	if more || offset != 0 {
		k := fragKey{
			src:   src,
			dst:   dst,
			id:    uint32(binary.BigEndian.Uint16(b[4:6])),
			proto: proto,
			vlan:  a.vlan,
		}
		whole, ok := a.addFragment(k, offset, more, payload)
		if !ok {
			return
		}
		a.inFrag++
		a.transport(proto, src, dst, whole, depth)
		a.inFrag--
		return
	}
	a.transport(proto, src, dst, payload, depth)
}

// addFragment hands one fragment to the defragmenter. A fragment found
// inside a datagram the defragmenter just reassembled (a fragmented tunnel
// inside a fragmented tunnel) aliases the defragmenter's own buffer, which
// add may overwrite while copying from it; such a fragment is copied aside
// first.
func (a *Assembler) addFragment(k fragKey, offset int, more bool, payload []byte) ([]byte, bool) {
	if a.inFrag > 0 {
		a.count(DecodeFragNested)
		a.fragBuf = append(a.fragBuf[:0], payload...)
		payload = a.fragBuf
	}
	return a.frag.add(k, offset, more, payload, a.ts)
}

// ip6 decodes an IPv6 header (RFC 8200 §3). The payload is cut to the
// payload length, which drops Ethernet padding and trailers.
func (a *Assembler) ip6(b []byte, depth int) {
	if len(b) < ipv6HeaderLen {
		a.short(DecodeIPBadHeader)
		return
	}
	if b[0]>>4 != 6 {
		a.count(DecodeIPBadHeader)
		return
	}
	if a.steer != nil {
		a.steer.see(netip.AddrFrom16([16]byte(b[8:24])), netip.AddrFrom16([16]byte(b[24:40])))
		return
	}
	plen := int(binary.BigEndian.Uint16(b[4:6]))
	if plen == 0 {
		a.count(DecodeIPv6Jumbo)
		return
	}
	if ipv6HeaderLen+plen > len(b) {
		a.short(DecodeIPBadLength)
		return
	}
	end := ipv6HeaderLen + plen
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	if a.duplicate(6, b[6], src, dst, 0, 0, b[ipv6HeaderLen:end]) {
		return
	}
	a.ip6Ext(b[6], src, dst, b[ipv6HeaderLen:end:end], depth, false)
}

// ip6Ext walks IPv6 extension headers starting with next header nh, then
// decodes the transport. reassembled says b is a datagram rebuilt from
// fragments, which must not hold another fragment header (RFC 8200 §4.5).
func (a *Assembler) ip6Ext(nh uint8, src, dst netip.Addr, b []byte, depth int, reassembled bool) {
	for n := 0; ; n++ {
		if n == maxIPv6ExtHeaders {
			a.count(DecodeIPv6ExtLimit)
			return
		}
		var hlen int
		switch nh {
		case protoHopOpts, protoRouting, protoDstOpts:
			if len(b) < 8 {
				a.count(DecodeIPBadHeader)
				return
			}
			hlen = (int(b[1]) + 1) * 8 // RFC 8200 §4.3: in 8-octet units, not counting the first 8
		case protoAH:
			if len(b) < 8 {
				a.count(DecodeIPBadHeader)
				return
			}
			hlen = (int(b[1]) + 2) * 4 // RFC 4302 §2.2: in 4-octet units, minus 2
		case protoFragment:
			if len(b) < ipv6FragLen || reassembled {
				a.count(DecodeIPBadHeader)
				return
			}
			next := b[0]
			fo := binary.BigEndian.Uint16(b[2:4])
			offset := int(fo &^ 7)
			more := fo&1 != 0
			payload := b[ipv6FragLen:]
			if offset == 0 && !more {
				// An atomic fragment (RFC 6946 §4): process it
				// on its own, outside the reassembly table.
				nh, b, reassembled = next, payload, true
				continue
			}
			k := fragKey{
				src:   src,
				dst:   dst,
				id:    binary.BigEndian.Uint32(b[4:8]),
				proto: next,
				vlan:  a.vlan,
			}
			whole, ok := a.addFragment(k, offset, more, payload)
			if !ok {
				return
			}
			a.inFrag++
			a.ip6Ext(next, src, dst, whole, depth, true)
			a.inFrag--
			return
		case protoESP:
			a.count(DecodeESP)
			return
		case protoNoNext:
			a.count(DecodeNotUDPTCP)
			return
		default:
			a.transport(nh, src, dst, b, depth)
			return
		}
		if hlen > len(b) {
			a.count(DecodeIPBadHeader)
			return
		}
		nh = b[0]
		b = b[hlen:]
	}
}

// transport decodes the payload of an IP packet (or a reassembled datagram)
// of protocol proto; src and dst are that packet's addresses.
func (a *Assembler) transport(proto uint8, src, dst netip.Addr, b []byte, depth int) {
	switch proto {
	case protoUDP:
		a.udp(src, dst, b, depth)
	case protoTCP:
		a.tcpSeg(src, dst, b)
	case protoIPv4:
		if a.enter(depth) {
			a.ip4(b, depth+1)
		}
	case protoIPv6:
		if a.enter(depth) {
			a.ip6(b, depth+1)
		}
	case protoGRE:
		a.gre(b, depth)
	case protoESP:
		a.count(DecodeESP)
	default:
		a.count(DecodeNotUDPTCP)
	}
}
