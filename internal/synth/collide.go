package synth

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// The pending-query table of dnstap-sensor up to commit acf8099 hashed its
// key with a fixed multiply-mix and probed linearly (internal/emit/pair.go
// there). Anyone who reads the source can evaluate that hash offline and
// choose (source port, DNS ID) pairs whose queries share one probe run:
// issue 7 measured 40,000 such unanswered queries at ~140× the CPU of
// ordinary ones. This file is that attacker, so that tests and benchmarks
// can check that the hash the sensor uses now gives the attacker nothing.

const (
	mixMul1 = 0x9e3779b97f4a7c15
	mixMul2 = 0xff51afd7ed558ccd
)

func mix(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^v, mixMul2)
	return hi ^ lo
}

// MixWords is the fixed (unseeded) multiply-mix of words that the pairing
// hash was built from. Tests use it as the unseeded reference for tables
// keyed by other words (TCP flows, fragment sets).
func MixWords(words ...uint64) uint64 {
	h := uint64(len(words)) * mixMul1
	for _, w := range words {
		h = mix(h, w)
	}
	return h
}

func mixBytes(b []byte) uint64 {
	h := uint64(len(b)) * mixMul1
	for len(b) >= 8 {
		h = mix(h, binary.LittleEndian.Uint64(b))
		b = b[8:]
	}
	var tail uint64
	for i, c := range b {
		tail |= uint64(c) << (8 * i)
	}
	return mix(h, tail)
}

func mixAddrPort(h uint64, ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	h = mix(h, binary.LittleEndian.Uint64(a[:8]))
	return mix(h, binary.LittleEndian.Uint64(a[8:])^uint64(ap.Port())<<48)
}

// UnseededPairHash is the old pending-query hash of a query from client to
// server over transport (dnstap SocketProtocol: 1 UDP, 2 TCP) with DNS ID
// id and wire question q (name, type, class). The table looked a key up at
// hash & (index size - 1), the index size being the power of two at least
// twice MaxPending (2^17 for the default 65536).
func UnseededPairHash(client, server netip.AddrPort, transport uint8, id uint16, q []byte) uint64 {
	h := mix(mixBytes(q), uint64(id)|uint64(transport)<<16|uint64(len(q))<<24)
	return mixAddrPort(mixAddrPort(h, client), server)
}

// PortID is a query's source port and DNS ID.
type PortID struct{ Port, ID uint16 }

// PairCollisions returns n (source port, DNS ID) pairs for UDP queries from
// client to server asking q whose UnseededPairHash falls in the first
// slots positions of an index of 2^indexBits: with a fixed hash they all
// share a few probe runs. The search takes ports from 1024 up for each ID
// in turn; it is deterministic, and for n = 40,000 into 256 of 2^17
// positions it evaluates ~20 million hashes (a few tenths of a second).
// It returns fewer than n when the space runs out.
func PairCollisions(client netip.Addr, server netip.AddrPort, q []byte, n, indexBits, slots int) []PortID {
	mask := uint64(1)<<indexBits - 1
	out := make([]PortID, 0, n)
	qh := mixBytes(q)
	for id := 0; id < 1<<16 && len(out) < n; id++ {
		h := mix(qh, uint64(id)|1<<16|uint64(len(q))<<24)
		for port := 1024; port < 1<<16 && len(out) < n; port++ {
			ap := netip.AddrPortFrom(client, uint16(port))
			if mixAddrPort(mixAddrPort(h, ap), server)&mask < uint64(slots) {
				out = append(out, PortID{uint16(port), uint16(id)})
			}
		}
	}
	return out
}

// Query floods (KindQueryFlood, KindCollideFlood): one client asks one
// server the same question, again and again, and is never answered.
// CollideIndexBits and CollideSlots are the attack's target: the index
// of a default table (MaxPending 65536), 256 positions of it.
const (
	CollideIndexBits = 17
	CollideSlots     = 256
)

// FloodClient and FloodServer are the two ends of the query floods, and
// floodName the name every query asks for (A, IN).
var (
	FloodClient = netip.AddrFrom4([4]byte{100, 64, 0, 1})
	FloodServer = netip.AddrPortFrom(netip.AddrFrom4(serverHost(0).ip4), 53)
)

// FloodQuestion is the wire question of every query of the query floods:
// www.example.com A IN.
func FloodQuestion() []byte {
	return []byte("\x03www\x07example\x03com\x00\x00\x01\x00\x01")
}

// runQueryFlood writes unanswered queries from FloodClient to the first
// server: with random ports and IDs (KindQueryFlood), or with the pairs
// PairCollisions chose against the old pairing hash (KindCollideFlood).
// Both write the same packets, of the same sizes, at the same times; only
// the port and ID differ.
func (g *gen) runQueryFlood() {
	var chosen []PortID
	if g.o.Kind == KindCollideFlood {
		chosen = PairCollisions(FloodClient, FloodServer, FloodQuestion(), g.o.Packets, CollideIndexBits, CollideSlots)
	}
	src := host{mac: routerMAC, ip4: FloodClient.As4()}
	sv := &g.servers[0]
	var t int64
	msg := make([]byte, 0, 64)
	for i := 0; i < g.o.Packets; i++ {
		t += g.interarrival()
		p := PortID{Port: g.ephemeralPort(), ID: uint16(g.r.Uint32())}
		if chosen != nil {
			p = chosen[i%len(chosen)]
		}
		msg = appendHeader(msg[:0], p.ID, flagRD, 1, 0, 0, 0)
		msg = append(msg, FloodQuestion()...)
		g.buildUDP(&src, sv, false, p.Port, 53, msg)
		g.sendIP(t, &src, sv, false, protoUDP, g.r.Uint32()&0xffff, false)
		g.sum.Queries++
		g.sum.Unanswered++
	}
}
