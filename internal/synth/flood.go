package synth

// floodHost returns the i'th spoofed flood source: 100.64.0.0/10 (RFC 6598)
// and 2001:db8:f100::/40, with port 1024 + i%perAddr, so every packet of a
// million has its own address and port pair.
func floodHost(i, perAddr int) (host, uint16) {
	a := i / perAddr
	h := host{mac: routerMAC}
	h.ip4 = [4]byte{100, 64 | byte(a>>16)&63, byte(a >> 8), byte(a)}
	h.ip6 = [16]byte{0x20, 0x01, 0x0d, 0xb8, 0xf1, 0, 0, 0, 0, 0, 0, 0, 0, byte(a >> 16), byte(a >> 8), byte(a)}
	return h, uint16(1024 + i%perAddr)
}

// runSYNFlood writes one SYN per packet toward port 53 of a server, from
// distinct sources, never followed by anything: every one is a new flow the
// sensor must bound.
func (g *gen) runSYNFlood() {
	var t int64
	for i := 0; i < g.o.Packets; i++ {
		t += g.interarrival()
		src, port := floodHost(i, 50000)
		sv := &g.servers[g.r.IntN(len(g.servers))]
		v6 := g.v6()
		g.buildTCP(&src, sv, v6, port, 53, g.r.Uint32(), 0, tcpSYN, g.r.Uint32(), 0, nil)
		g.sendIP(t, &src, sv, v6, protoTCP, g.r.Uint32(), false)
		g.sum.TCPConns++
	}
}

// runFragFlood writes fragment sets toward port 53 that never complete:
// mostly the first fragment alone, sometimes the first and a middle one, or
// a middle or last one alone. A quarter of the sets use full-MTU fragments,
// the rest 256-byte ones (more sets per byte, as an attacker would send).
func (g *gen) runFragFlood() {
	var t int64
	payload := make([]byte, 4*fragSize(false))
	for i := range payload {
		payload[i] = byte(g.r.Uint32())
	}
	for i := 0; g.sum.Packets < g.o.Packets; i++ {
		t += g.interarrival()
		// One source address per set: fragments of different sets can
		// never be taken for one datagram (RFC 791 keys on source,
		// destination, protocol and ID).
		src, port := floodHost(i, 1)
		sv := &g.servers[g.r.IntN(len(g.servers))]
		v6 := g.v6()
		per := 256
		if g.r.IntN(4) == 0 {
			per = fragSize(v6)
		}
		// Three fragments and a short last one.
		g.buildUDP(&src, sv, v6, port, 53, payload[:3*per+g.r.IntN(per-8)])
		id := g.r.Uint32()
		if !v6 {
			id &= 0xffff
		}
		switch x := g.r.IntN(10); {
		case x < 6 || g.sum.Packets+2 > g.o.Packets:
			g.sendFragment(t, &src, sv, v6, protoUDP, id, 0, per)
		case x < 8:
			g.sendFragment(t, &src, sv, v6, protoUDP, id, 0, per)
			g.sendFragment(t+12e3, &src, sv, v6, protoUDP, id, per, 2*per)
		case x < 9:
			g.sendFragment(t, &src, sv, v6, protoUDP, id, per, 2*per)
		default:
			g.sendFragment(t, &src, sv, v6, protoUDP, id, 3*per, len(g.l4))
		}
		g.sum.FragmentedMessages++
	}
}
