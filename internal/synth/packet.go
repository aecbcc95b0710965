package synth

import "encoding/binary"

const (
	ethLen   = 14
	ip4Len   = 20
	ip6Len   = 40
	fragHLen = 8    // IPv6 fragment extension header (RFC 8200 §4.5)
	mtu      = 1500 // Ethernet: what a server's NIC sends
	// maxFrame bounds one frame: the largest is an unfragmented TCP segment
	// or an IP fragment, both within the MTU; TCP segments here never exceed
	// the MSS, and UDP datagrams beyond the MTU are always fragmented.
	maxFrame = ethLen + mtu

	protoTCP  = 6
	protoUDP  = 17
	protoFrag = 44 // IPv6 fragment header
)

// host is one end of the traffic. Clients sit behind a router, so their
// frames carry the router's MAC; each server has its own.
type host struct {
	mac [6]byte
	ip4 [4]byte
	ip6 [16]byte
}

var routerMAC = [6]byte{0x00, 0x1c, 0x73, 0x00, 0x00, 0x01}

// clientHost returns client i: 10.0.0.0/8 and 2001:db8:100::/48, avoiding .0
// and .255 final octets.
func clientHost(i int) host {
	h := host{mac: routerMAC}
	h.ip4 = [4]byte{10, byte(1 + i/(254*256)), byte(i / 254), byte(1 + i%254)}
	h.ip6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 0, 0x02, 0x1c, 0, 0, 0, byte(i >> 16), byte(i >> 8), byte(i)}
	return h
}

// serverHost returns server i: 192.0.2.53+i and 2001:db8::53:i (documentation
// prefixes, RFC 5737 and RFC 3849).
func serverHost(i int) host {
	return host{
		mac: [6]byte{0x52, 0x54, 0x00, 0x00, 0x00, byte(0x10 + i)},
		ip4: [4]byte{192, 0, 2, byte(53 + i)},
		ip6: [16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53, 0, byte(i)},
	}
}

// csum adds b to a one's-complement running sum (RFC 1071). It takes eight
// bytes a step: fragment-heavy captures checksum 4 KB datagrams, and this is
// where generating them spent its time.
func csum(sum uint32, b []byte) uint32 {
	acc := uint64(sum)
	for len(b) >= 8 {
		v := binary.BigEndian.Uint64(b)
		acc += v>>48 + (v>>32)&0xffff + (v>>16)&0xffff + v&0xffff
		b = b[8:]
	}
	for len(b) >= 2 {
		acc += uint64(b[0])<<8 | uint64(b[1])
		b = b[2:]
	}
	if len(b) == 1 {
		acc += uint64(b[0]) << 8
	}
	for acc > 0xffffffff {
		acc = acc>>32 + acc&0xffffffff
	}
	return uint32(acc>>16) + uint32(acc&0xffff) // fits: at most 0x1fffe
}

func fold(sum uint32) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return ^uint16(sum)
}

// pseudo returns the pseudo-header sum for a transport checksum (RFC 768,
// RFC 793, RFC 8200 §8.1).
func pseudo(src, dst *host, v6 bool, proto uint8, l4len int) uint32 {
	var s uint32
	if v6 {
		s = csum(csum(0, src.ip6[:]), dst.ip6[:])
	} else {
		s = csum(csum(0, src.ip4[:]), dst.ip4[:])
	}
	return s + uint32(proto) + uint32(l4len)
}

// buildUDP sets g.l4 to a UDP header and payload with a correct checksum.
func (g *gen) buildUDP(src, dst *host, v6 bool, sport, dport uint16, payload []byte) {
	l4 := append(g.l4[:8], payload...)
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	l4[6], l4[7] = 0, 0
	c := fold(csum(pseudo(src, dst, v6, protoUDP, len(l4)), l4))
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(l4[6:], c)
	g.l4 = l4
}

// TCP flags.
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpPSH = 0x08
	tcpACK = 0x10
)

// buildTCP sets g.l4 to a TCP segment with a correct checksum. Every segment
// carries the timestamp option, as Linux sends it; SYNs carry the usual
// MSS, SACK-permitted, timestamp and window-scale options.
func (g *gen) buildTCP(src, dst *host, v6 bool, sport, dport uint16, seq, ack uint32, flags uint8, tsval, tsecr uint32, payload []byte) {
	hl := 32
	if flags&tcpSYN != 0 {
		hl = 40
	}
	l4 := g.l4[:hl]
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], dport)
	binary.BigEndian.PutUint32(l4[4:], seq)
	binary.BigEndian.PutUint32(l4[8:], ack)
	l4[12] = byte(hl/4) << 4
	l4[13] = flags
	win := uint16(502)
	if flags&tcpSYN != 0 {
		win = 64240
	}
	binary.BigEndian.PutUint16(l4[14:], win)
	l4[16], l4[17], l4[18], l4[19] = 0, 0, 0, 0
	o := l4[20:]
	if flags&tcpSYN != 0 {
		mss := uint16(1460)
		if v6 {
			mss = 1440
		}
		o[0], o[1] = 2, 4 // MSS
		binary.BigEndian.PutUint16(o[2:], mss)
		o[4], o[5] = 4, 2  // SACK permitted
		o[6], o[7] = 8, 10 // timestamps
		binary.BigEndian.PutUint32(o[8:], tsval)
		binary.BigEndian.PutUint32(o[12:], tsecr)
		o[16] = 1                     // NOP
		o[17], o[18], o[19] = 3, 3, 7 // window scale 7
	} else {
		o[0], o[1], o[2], o[3] = 1, 1, 8, 10
		binary.BigEndian.PutUint32(o[4:], tsval)
		binary.BigEndian.PutUint32(o[8:], tsecr)
	}
	l4 = append(l4, payload...)
	binary.BigEndian.PutUint16(l4[16:], fold(csum(pseudo(src, dst, v6, protoTCP, len(l4)), l4)))
	g.l4 = l4
}

// sendIP wraps g.l4 in IP and Ethernet and writes it at time t (ns since
// start), fragmenting it when it exceeds the MTU. It returns the number of
// packets written. reverse sends the fragments last first.
func (g *gen) sendIP(t int64, src, dst *host, v6 bool, proto uint8, ipID uint32, reverse bool) int {
	hl, maxPay := ip4Len, mtu-ip4Len
	if v6 {
		hl, maxPay = ip6Len, mtu-ip6Len
	}
	if len(g.l4) <= maxPay {
		f := g.ethHeader(src, dst, v6)
		g.ipHeader(f[ethLen:], src, dst, v6, proto, len(g.l4), ipID, proto == protoTCP, 0, false)
		n := copy(f[ethLen+hl:], g.l4)
		g.pw.write(t, f[:ethLen+hl+n])
		g.sum.Packets++
		if v6 {
			g.sum.IPv6++
		}
		return 1
	}
	per := fragSize(v6)
	nfrag := (len(g.l4) + per - 1) / per
	for k := 0; k < nfrag; k++ {
		i := k
		if reverse {
			i = nfrag - 1 - k
		}
		off := i * per
		g.sendFragment(t+int64(k)*12_000, src, dst, v6, proto, ipID, off, min(off+per, len(g.l4)))
	}
	g.sum.FragmentedMessages++
	return nfrag
}

// fragSize is the payload of every fragment but the last: the most that
// fits the MTU, a multiple of 8 (RFC 791 §2.3, RFC 8200 §4.5).
func fragSize(v6 bool) int {
	if v6 {
		return (mtu - ip6Len - fragHLen) &^ 7
	}
	return (mtu - ip4Len) &^ 7
}

func (g *gen) ethHeader(src, dst *host, v6 bool) []byte {
	f := g.pkt[:]
	copy(f[0:6], dst.mac[:])
	copy(f[6:12], src.mac[:])
	if v6 {
		f[12], f[13] = 0x86, 0xdd
	} else {
		f[12], f[13] = 0x08, 0x00
	}
	return f
}

// sendFragment writes the bytes [off, end) of g.l4 as one IP fragment; more
// fragments follow unless end is the end of g.l4.
func (g *gen) sendFragment(t int64, src, dst *host, v6 bool, proto uint8, ipID uint32, off, end int) {
	f := g.ethHeader(src, dst, v6)
	more := end < len(g.l4)
	if v6 {
		g.ipHeader(f[ethLen:], src, dst, true, protoFrag, fragHLen+end-off, 0, false, 0, false)
		fh := f[ethLen+ip6Len:]
		fh[0], fh[1] = proto, 0
		fo := uint16(off) // the offset in 8-byte units sits in the top 13 bits
		if more {
			fo |= 1
		}
		binary.BigEndian.PutUint16(fh[2:], fo)
		binary.BigEndian.PutUint32(fh[4:], ipID)
		n := copy(f[ethLen+ip6Len+fragHLen:], g.l4[off:end])
		g.pw.write(t, f[:ethLen+ip6Len+fragHLen+n])
		g.sum.IPv6++
	} else {
		g.ipHeader(f[ethLen:], src, dst, false, proto, end-off, ipID, false, off/8, more)
		n := copy(f[ethLen+ip4Len:], g.l4[off:end])
		g.pw.write(t, f[:ethLen+ip4Len+n])
	}
	g.sum.Packets++
	g.sum.Fragments++
}

// fragCount returns how many packets sendIP will write for an IP payload of
// n bytes.
func fragCount(n int, v6 bool) int {
	if (v6 && n <= mtu-ip6Len) || (!v6 && n <= mtu-ip4Len) {
		return 1
	}
	per := fragSize(v6)
	return (n + per - 1) / per
}

// ipHeader writes an IPv4 or IPv6 header for a payload of plen bytes.
// fragOff is in 8-byte units (IPv4 only; IPv6 fragments carry their own
// header).
func (g *gen) ipHeader(b []byte, src, dst *host, v6 bool, proto uint8, plen int, id uint32, df bool, fragOff int, more bool) {
	if v6 {
		b[0], b[1], b[2], b[3] = 0x60, 0, 0, 0
		binary.BigEndian.PutUint16(b[4:], uint16(plen))
		b[6] = proto
		b[7] = 64
		copy(b[8:24], src.ip6[:])
		copy(b[24:40], dst.ip6[:])
		return
	}
	b[0], b[1] = 0x45, 0
	binary.BigEndian.PutUint16(b[2:], uint16(ip4Len+plen))
	binary.BigEndian.PutUint16(b[4:], uint16(id))
	ff := uint16(fragOff)
	if df {
		ff |= 0x4000
	}
	if more {
		ff |= 0x2000
	}
	binary.BigEndian.PutUint16(b[6:], ff)
	b[8] = 64
	b[9] = proto
	b[10], b[11] = 0, 0
	copy(b[12:16], src.ip4[:])
	copy(b[16:20], dst.ip4[:])
	binary.BigEndian.PutUint16(b[10:], fold(csum(0, b[:ip4Len])))
}
