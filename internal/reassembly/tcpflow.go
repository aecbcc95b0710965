package reassembly

// The TCP flow index: connection keys in both directions, their hash and
// comparison, and the bounded table of connections (least recently active
// first) that segments find their flow in.

import (
	"encoding/binary"
	"net/netip"

	"github.com/dnstap-sensor/dnstap-sensor/internal/bounded"
)

// flowKey names a connection in both directions: a is the lower endpoint.
type flowKey struct {
	a, b netip.AddrPort
	vlan uint16
}

// flowWords is a flowKey as plain words, the form the index hashes and
// compares: 40 bytes without pointers against flowKey's 72 with them.
// Addresses are in their 16-byte form; marks keeps what that form loses
// (the address families, whether a zone is set) so that different keys
// stay different words. Keys with a zone (never decoded from a frame) also
// compare their flowKey.
type flowWords struct {
	ah, al, bh, bl uint64
	marks          uint64 // a port<<48 | b port<<32 | vlan<<16 | zoned<<4 | family(b)<<2 | family(a)
}

// flowZoned is the marks bit of a key with an IPv6 zone.
const flowZoned = 1 << 4

// addrWords returns a in its 16-byte form as two words, and its family:
// 0 for the zero Addr, 1 for IPv4, 2 for IPv6. IPv4 goes through As4, which
// the compiler keeps in registers; As16's array is copied through memory
// in a way that stalls the CPU (a 16-byte load of two 8-byte stores).
func addrWords(a netip.Addr) (hi, lo, family uint64) {
	if a.Is4() {
		v := a.As4()
		return 0, 0xffff<<32 | uint64(binary.BigEndian.Uint32(v[:])), 1
	}
	v := a.As16()
	hi, lo = binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
	if a.Is6() {
		return hi, lo, 2
	}
	return hi, lo, 0
}

// tcpFlow is one connection: a slot of tcpReassembler.flows, keyed by its
// words, with Time the capture time of its latest segment. Its
// out-of-order pieces live apart, in tcpReassembler.ranges. What every
// segment reads (the key words, the activity time, the hash, both
// directions) comes first, so that a segment touches three cache lines of
// its flow; the flowKey is read when the flow ends. The size is a multiple
// of 64 bytes (TestTCPFlowLayout).
type tcpFlow = bounded.Entry[flowWords, flowState]

// flowState is a connection's value in the flow table.
type flowState struct {
	dir [2]tcpDir // [0]: from key.a, [1]: from key.b
	key flowKey
}

// tracked is the number of connections held; never above MaxFlows.
func (r *tcpReassembler) tracked() int { return r.flows.Len() }

// flowHash hashes w with the flow table's seeded hash. Keys come from the
// network, so the seed is random: without it a peer could send many
// connections that share one probe run.
func (r *tcpReassembler) flowHash(w *flowWords) uint32 { return r.flows.Hash(w) }

// matches reports whether flow slot i holds the key w (k, when zoned).
func (r *tcpReassembler) matches(i int32, w *flowWords, k *flowKey) bool {
	f := r.flows.At(i)
	// Word by word: comparing the structs calls memequal.
	return f.Key.al == w.al && f.Key.bl == w.bl && f.Key.marks == w.marks &&
		f.Key.ah == w.ah && f.Key.bh == w.bh && (w.marks&flowZoned == 0 || f.Val.key == *k)
}

// keyOf sets k and w to the key of the connection from src to dst and
// returns the direction that is (0: src is k.a, the lower endpoint in
// netip's order: by family, then address, then port).
func keyOf(src, dst netip.AddrPort, vlan uint16, k *flowKey, w *flowWords) int {
	sa, da := src.Addr(), dst.Addr()
	var fs, fd uint64
	w.ah, w.al, fs = addrWords(sa)
	w.bh, w.bl, fd = addrWords(da)
	zoned := fs == 2 && sa.Zone() != "" || fd == 2 && da.Zone() != ""
	var swap bool
	if fs == fd && !zoned {
		// The words order addresses as netip does within a family.
		swap = w.bh < w.ah || w.bh == w.ah && (w.bl < w.al || w.bl == w.al && dst.Port() < src.Port())
	} else {
		swap = da.Less(sa) || da == sa && dst.Port() < src.Port()
	}
	k.a, k.b, k.vlan = src, dst, vlan
	di := 0
	if swap {
		k.a, k.b = dst, src
		w.ah, w.al, w.bh, w.bl = w.bh, w.bl, w.ah, w.al
		fs, fd = fd, fs
		di = 1
	}
	w.marks = uint64(k.a.Port())<<48 | uint64(k.b.Port())<<32 | uint64(vlan)<<16 | fd<<2 | fs
	if zoned {
		w.marks |= flowZoned
	}
	return di
}

// keyOf4 is keyOf for two IPv4 endpoints, without the flowKey: most DNS
// over TCP is IPv4, its words are built in registers, and the flowKey is
// needed only for a new flow (setKey). Writing a 72-byte flowKey through a
// pointer for every segment costs more than all the rest: the compiler
// builds it aside and copies it with 16-byte loads of 8-byte stores, which
// stall.
func keyOf4(src, dst netip.AddrPort, vlan uint16, w *flowWords) int {
	a, b := src.Addr().As4(), dst.Addr().As4()
	x := 0xffff<<32 | uint64(binary.BigEndian.Uint32(a[:]))
	y := 0xffff<<32 | uint64(binary.BigEndian.Uint32(b[:]))
	sp, dp := src.Port(), dst.Port()
	if y < x || y == x && dp < sp {
		*w = flowWords{al: y, bl: x, marks: uint64(dp)<<48 | uint64(sp)<<32 | uint64(vlan)<<16 | 1<<2 | 1}
		return 1
	}
	*w = flowWords{al: x, bl: y, marks: uint64(sp)<<48 | uint64(dp)<<32 | uint64(vlan)<<16 | 1<<2 | 1}
	return 0
}

// setKey sets k to the key of s's connection, s going in direction di.
func (s *tcpSegment) setKey(di int, k *flowKey) {
	if di == 0 {
		k.a, k.b = s.src, s.dst
	} else {
		k.a, k.b = s.dst, s.src
	}
	k.vlan = s.vlan
}

// lookup returns the slot of the flow with key w (k) and hash h, or -1.
func (r *tcpReassembler) lookup(w *flowWords, k *flowKey, h uint32) int32 {
	for p, i := r.flows.Probe(h); i != bounded.None; p, i = r.flows.Next(p, h) {
		if r.matches(i, w, k) {
			return i
		}
	}
	return -1
}

// endFlow finishes both directions of flow i and frees its slot.
func (r *tcpReassembler) endFlow(i int32) {
	f := r.flows.At(i)
	r.finish(&f.Val.dir[0], f.Val.key.a, f.Val.key.b)
	r.finish(&f.Val.dir[1], f.Val.key.b, f.Val.key.a)
	r.flows.Remove(i)
	f.Val.key = flowKey{} // drop the netip handles
	if r.last == i {
		r.last = -1
	}
}

// newFlow takes a slot for k, evicting the least recently active
// connection when MaxFlows are tracked.
func (r *tcpReassembler) newFlow(w *flowWords, k *flowKey, h uint32, now int64) int32 {
	if r.flows.Full() {
		r.stats.TCP[TCPFlowsEvicted].Inc()
		r.endFlow(r.flows.Oldest())
	}
	i := r.flows.Insert(w, h, now)
	r.stats.TCP[TCPFlowsCreated].Inc()
	f := r.flows.At(i)
	if f.Val.dir[0].r == nil { // a slot used for the first time
		f.Val.dir[0].r = &r.ranges[i][0]
		f.Val.dir[1].r = &r.ranges[i][1]
	}
	f.Val.key = *k
	return i
}

// touch marks flow i active at now, moving it to the recent end.
func (r *tcpReassembler) touch(i int32, now int64) {
	if f := r.flows.At(i); now > f.Time {
		f.Time = now
	}
	r.flows.Touch(i)
}

// expire drops connections idle longer than the timeout at now, delivering
// whole messages they still hold. Flows are kept least recently active
// first, so it stops at the first live one: O(1) when nothing expires.
func (r *tcpReassembler) expire(now int64) {
	for i := r.flows.Expired(now); i != bounded.None; i = r.flows.Expired(now) {
		r.stats.TCP[TCPFlowsExpired].Inc()
		r.endFlow(i)
	}
}

// flush ends every stream at the end of input: holes are skipped, whole
// messages after them delivered, partial messages counted and dropped.
func (r *tcpReassembler) flush() {
	for i := r.flows.Oldest(); i != bounded.None; i = r.flows.Oldest() {
		r.endFlow(i)
	}
}
