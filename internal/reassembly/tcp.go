package reassembly

import (
	"encoding/binary"
	"net/netip"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/bounded"
)

// TCPCounter indexes Stats.TCP.
type TCPCounter int

// TCP counters. Bytes that never reach a delivered message are counted
// either as tcp_gap_bytes (never captured) or tcp_bytes_discarded (captured,
// then thrown away).
const (
	TCPSegments           TCPCounter = iota // segments seen
	TCPMessages                             // whole messages delivered
	TCPIgnored                              // segments without data for no tracked connection (late ACK, FIN, RST)
	TCPFlowsCreated                         // connections tracked
	TCPFlowsClosed                          // connections ended by FIN in both directions, RST, or a new SYN on the same ports
	TCPFlowsExpired                         // connections idle longer than FlowTimeout
	TCPFlowsEvicted                         // connections dropped, oldest first, to stay under MaxFlows
	TCPFlowsEvictedMemory                   // connections dropped, oldest first, to keep stream buffers under MaxTCPBufferBytes
	TCPGapsSkipped                          // holes in a stream given up on (ACKed past, out-of-order bound, timeout, end)
	TCPGapBytes                             // bytes in those holes, never captured
	TCPResyncs                              // message boundaries found by search after a pickup mid-stream or a gap
	TCPBytesDiscarded                       // captured bytes thrown away: partial messages, data before a boundary, oversized messages
	TCPOutOfOrderDropped                    // segments dropped because a direction already holds maxTCPRanges pieces
	TCPRetransmissions                      // segments carrying bytes already seen
	TCPConflicts                            // of those, segments whose repeated bytes differ (the first copy is kept)
	TCPPartialMessages                      // messages cut by a gap, RST, FIN, timeout, eviction or end of input
	TCPTooLong                              // messages longer than MaxStreamBytes can hold and not in one segment, skipped
	TCPBadLength                            // length prefixes below a DNS header (12): the stream is not at a boundary
	numTCPCounters
)

var tcpCounterNames = [numTCPCounters]string{
	TCPSegments:           "tcp_segments",
	TCPMessages:           "tcp_messages",
	TCPIgnored:            "tcp_ignored",
	TCPFlowsCreated:       "tcp_flows_created",
	TCPFlowsClosed:        "tcp_flows_closed",
	TCPFlowsExpired:       "tcp_flows_expired",
	TCPFlowsEvicted:       "tcp_flows_evicted",
	TCPFlowsEvictedMemory: "tcp_flows_evicted_memory",
	TCPGapsSkipped:        "tcp_gaps_skipped",
	TCPGapBytes:           "tcp_gap_bytes",
	TCPResyncs:            "tcp_resyncs",
	TCPBytesDiscarded:     "tcp_bytes_discarded",
	TCPOutOfOrderDropped:  "tcp_out_of_order_dropped",
	TCPRetransmissions:    "tcp_retransmissions",
	TCPConflicts:          "tcp_conflicts",
	TCPPartialMessages:    "tcp_partial_messages",
	TCPTooLong:            "tcp_too_long",
	TCPBadLength:          "tcp_bad_length",
}

// TCP header flags (RFC 9293 §3.1).
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
)

const (
	// maxTCPMessage is the largest framed message: the RFC 1035 §4.2.2
	// two-byte length prefix and up to 65535 bytes after it.
	maxTCPMessage = 2 + 65535

	// maxTCPRanges bounds the separate out-of-order pieces one direction
	// holds. Real loss leaves one or two holes in a DNS exchange; more
	// pieces only serve to make the sensor work.
	maxTCPRanges = 8

	// tcpGapTimeout is how long a hole may wait for a retransmission before
	// the data after it is used without it. A hole the receiver also missed
	// is retransmitted after an RTO (at least 200 ms on Linux, 1 s per RFC
	// 6298), so a few seconds covers a couple of backoffs; a hole only the
	// sensor missed is never retransmitted and is skipped as soon as the
	// peer ACKs past it.
	tcpGapTimeout = 3 * time.Second

	// tcpAckedGapGrace is how long a hole the peer has ACKed past may wait
	// for its segment anyway. A SPAN port mirrors the two directions
	// through different queues, so a segment can reach the sensor after
	// the peer's ACK of it: skipping at the ACK lost 28 of 600 messages of
	// a dnsperf TCP capture with every second client segment moved behind
	// the server's ACK. Mirror reordering is far below a millisecond; a hole
	// still open after this was missed by the sensor, not reordered.
	tcpAckedGapGrace = 100 * time.Millisecond

	// minTCPBufClass is the smallest pooled stream buffer: a typical DNS
	// message and its prefix fit.
	minTCPBufClass = 512
)

// tcpSegment is one decoded TCP segment. payload aliases the capture buffer.
type tcpSegment struct {
	src, dst netip.AddrPort
	vlan     uint16
	seq, ack uint32
	flags    uint8
	payload  []byte
	ts       int64 // capture time, ns
}

// deliverFunc receives one whole DNS message (without its length prefix)
// from a TCP stream, with the capture time of the segment that completed it.
// msg is valid only during the call.
type deliverFunc func(src, dst netip.AddrPort, msg []byte, ts int64)

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

// tcpRange is a piece of out-of-order data held at buffer positions [s, e),
// with the capture time of the latest segment in it.
type tcpRange struct {
	s, e int32
	ts   int64
}

// Direction states.
const (
	dirNone    uint8 = iota // nothing seen: the first segment sets the sequence
	dirSynced               // buf[0] (or the next byte) starts a message, or d.skip bytes from it do
	dirHunting              // the boundary is unknown: search for a plausible length prefix
)

// tcpDir is one direction of a connection. Stream bytes are addressed by
// buffer position: buf[0:n] is contiguous data not yet consumed (a partial
// message, or data being searched for a boundary); the byte at position p
// has sequence number next+(p-n). Out-of-order pieces lie beyond n, sorted.
type tcpDir struct {
	// nr comes first: a segment without data reads it in both directions,
	// and in this order both fall in the flow's first two cache lines.
	nr        int32
	state     uint8
	synSeen   bool
	fin       bool
	n         int32
	skip      int32                   // bytes still to drop before the next boundary (a message too long to hold, or cut by a gap)
	next      uint32                  // sequence number of position n
	isn       uint32                  // SYN's sequence number, when synSeen
	holeSince int64                   // capture time the first out-of-order piece arrived
	buf       []byte                  // pooled, nil when nothing is held
	r         *[maxTCPRanges]tcpRange // the flow slot's entry in tcpReassembler.ranges; r[:nr] are in use
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

// tcpReassembler rebuilds DNS messages from TCP segments (RFC 1035 §4.2.2,
// RFC 7766), one stream per connection direction, driven by capture time
// only. It is owned by one goroutine.
//
// Whole messages in a segment that continues the stream are delivered
// straight from the segment; only a message cut by a segment boundary, or
// data out of order, is copied into a pooled buffer. Repeated bytes keep the
// first copy: the receiver has that one, since a retransmission only repeats
// what was already sent.
type tcpReassembler struct {
	stats      *Stats
	deliver    deliverFunc
	timeout    int64
	maxFlows   int
	maxStream  int32 // buffer positions never reach past it
	maxOOO     int32 // out-of-order data never reaches past n+maxOOO
	maxHold    int32 // largest framed message a buffer may collect
	gapTimeout int64

	// flows finds a connection by its key words, least recently active
	// first. It replaces a map[flowKey]int32, whose lookup (hashing a
	// 72-byte key field by field, then a control word and a slot apart)
	// took a quarter of the time of a whole run over a TCP capture.
	flows bounded.Table[flowWords, flowState]
	// last is the slot of the previous segment's flow (or -1): segments of
	// one connection come in runs.
	last int32
	// ranges holds each flow slot's out-of-order pieces, per direction,
	// apart from tcpFlow because they are rarely used and would double
	// its size.
	ranges [][2][maxTCPRanges]tcpRange

	classes []int32    // buffer capacities, ascending; the last is maxStream
	pool    [][][]byte // free buffers per class
	held    int        // capacity of the buffers handed out
	// allocated is the capacity of every buffer made and not yet let go,
	// in use or pooled; maxBuf bounds it (MaxTCPBufferBytes), so that
	// MaxFlows connections each holding a partial message cannot take
	// MaxFlows × 2 × MaxStreamBytes.
	allocated int
	maxBuf    int
}

func newTCPReassembler(cfg Config, stats *Stats, deliver deliverFunc) *tcpReassembler {
	r := &tcpReassembler{
		stats:      stats,
		deliver:    deliver,
		timeout:    int64(cfg.FlowTimeout),
		maxFlows:   max(cfg.MaxFlows, 1),
		maxStream:  int32(max(min(cfg.MaxStreamBytes, 1<<30), 16)),
		maxOOO:     int32(max(min(cfg.MaxOutOfOrderBytes, 1<<30), 0)),
		gapTimeout: int64(min(tcpGapTimeout, cfg.FlowTimeout)),
		last:       -1,
	}
	r.maxHold = min(r.maxStream, maxTCPMessage)
	// One connection may always hold both of its directions in full.
	r.maxBuf = max(cfg.MaxTCPBufferBytes, 2*int(r.maxStream))
	r.flows.Init(r.maxFlows, r.timeout)
	// Made in full: tcpDir.r points into it, so it must never move.
	r.ranges = make([][2][maxTCPRanges]tcpRange, r.maxFlows)
	for c := int32(minTCPBufClass); c < r.maxStream; c *= 2 {
		r.classes = append(r.classes, c)
	}
	r.classes = append(r.classes, r.maxStream)
	r.pool = make([][][]byte, len(r.classes))
	return r
}

// heldBytes is the capacity of the stream buffers in use.
func (r *tcpReassembler) heldBytes() int { return r.held }

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

// segment takes one TCP segment of a DNS connection.
func (r *tcpReassembler) segment(s *tcpSegment) {
	r.stats.TCP[TCPSegments].Inc()
	if r.flows.Expired(s.ts) != bounded.None {
		r.expire(s.ts) // not inlined: checked here first, as it rarely has work
	}

	var k flowKey
	var w flowWords
	var di int
	if sa, da := s.src.Addr(), s.dst.Addr(); sa.Is4() && da.Is4() {
		di = keyOf4(s.src, s.dst, s.vlan, &w) // k is set when needed: zoned keys are not IPv4
	} else {
		di = keyOf(s.src, s.dst, s.vlan, &k, &w)
	}
	var h uint32
	i := r.last
	if i >= 0 && r.matches(i, &w, &k) {
		h = r.flows.At(i).Hash()
	} else {
		h = r.flowHash(&w)
		i = r.lookup(&w, &k, h)
	}
	if i < 0 {
		if s.flags&tcpRST != 0 || len(s.payload) == 0 && s.flags&tcpSYN == 0 {
			r.stats.TCP[TCPIgnored].Inc()
			return
		}
		s.setKey(di, &k)
		i = r.newFlow(&w, &k, h, s.ts)
	} else {
		r.touch(i, s.ts)
	}
	r.last = i
	f := r.flows.At(i)
	if s.flags&tcpRST != 0 {
		// RFC 9293 §3.5.2: data on a RST is diagnostic text, not stream.
		r.endFlow(i)
		r.stats.TCP[TCPFlowsClosed].Inc()
		return
	}
	d, o := &f.Val.dir[di], &f.Val.dir[1-di]
	seq := s.seq
	if s.flags&tcpSYN != 0 {
		if d.state != dirNone && !(d.synSeen && d.isn == s.seq) {
			// A new connection on the same ports (or a SYN after data
			// picked up mid-stream): the old one is over.
			r.endFlow(i)
			r.stats.TCP[TCPFlowsClosed].Inc()
			s.setKey(di, &k)
			i = r.newFlow(&w, &k, h, s.ts)
			r.last = i
			f = r.flows.At(i)
			d, o = &f.Val.dir[di], &f.Val.dir[1-di]
		}
		if d.state == dirNone {
			d.state = dirSynced
			d.synSeen = true
			d.isn = s.seq
			d.next = s.seq + 1
		}
		seq++ // the SYN occupies one sequence number; TFO data follows it
	}

	// Holes that will never be filled: the peer ACKed past data we hold
	// beyond the hole (so the peer had the hole's bytes and nobody will
	// resend them) and the hole outlived the reordering grace, or the hole
	// outlived tcpGapTimeout.
	if o.nr > 0 && (s.flags&tcpACK != 0 && int32(s.ack-o.seqAt(o.r[0].e)) >= 0 && s.ts-o.holeSince > int64(tcpAckedGapGrace) ||
		s.ts-o.holeSince > r.gapTimeout) {
		r.skipGap(o, int64(o.r[0].s), s.dst, s.src)
	}
	if d.nr > 0 && s.ts-d.holeSince > r.gapTimeout {
		r.skipGap(d, int64(d.r[0].s), s.src, s.dst)
	}

	if len(s.payload) > 0 {
		r.data(d, seq, s.payload, s.ts, s.src, s.dst)
	}
	if s.flags&tcpFIN != 0 {
		d.fin = true
		if o.fin {
			r.endFlow(i)
			r.stats.TCP[TCPFlowsClosed].Inc()
		}
	}
}

// seqAt is the sequence number of buffer position p.
func (d *tcpDir) seqAt(p int32) uint32 { return d.next + uint32(p-d.n) }

// data places one segment's payload, starting at sequence number seq, in
// direction d and delivers every message it completes.
func (r *tcpReassembler) data(d *tcpDir, seq uint32, p []byte, ts int64, src, dst netip.AddrPort) {
	if d.state == dirNone {
		// Picked up mid-stream: nothing says this segment starts a message.
		d.state = dirHunting
		d.next = seq
	}
	off := int64(int32(seq - d.next)) // RFC 9293 §3.4 serial arithmetic: wraps at 2^32
	if off < 0 {
		r.stats.TCP[TCPRetransmissions].Inc()
		k := min(-off, int64(len(p)))
		// Compare what is still held (the current partial message); what
		// was already delivered or dropped is gone.
		if j := -(int64(d.n) + off); j < k {
			j = max(j, 0)
			pos := int64(d.n) + off + j
			if string(d.buf[pos:pos+k-j]) != string(p[j:k]) {
				r.stats.TCP[TCPConflicts].Inc()
			}
		}
		p = p[k:]
		off = 0
		if len(p) == 0 {
			return
		}
	}
	for off > 0 {
		end := int64(d.n) + off + int64(len(p))
		if end-int64(d.n) <= int64(r.maxOOO) && end <= int64(r.maxStream) {
			r.outOfOrder(d, d.n+int32(off), p, ts)
			return
		}
		// Past the out-of-order bound: give up on the first hole.
		if d.nr > 0 {
			r.skipGap(d, int64(d.r[0].s), src, dst)
		} else {
			r.skipGap(d, int64(d.n)+off, src, dst)
		}
		off = int64(int32(seq - d.next))
		if off < 0 {
			// The skip moved past part of this segment (it overlapped the
			// piece now in use): that part is already held.
			k := min(-off, int64(len(p)))
			p = p[k:]
			off = 0
			if len(p) == 0 {
				return
			}
		}
	}

	// In order. Finish a pending partial message with just the bytes it
	// needs, so that what follows can be delivered from the segment.
	for len(p) > 0 && d.n > 0 && d.nr == 0 && d.state == dirSynced {
		want := int32(2)
		if d.n >= 2 {
			want = int32(d.buf[0])<<8 | int32(d.buf[1]) + 2
		}
		c := min(want-d.n, int32(len(p)))
		r.ensure(d, d.n+c)
		copy(d.buf[d.n:], p[:c])
		d.n += c
		d.next += uint32(c)
		p = p[c:]
		if d.n >= 2 {
			r.drain(d, ts, src, dst)
		}
	}
	if len(p) == 0 {
		return
	}
	if d.n == 0 && d.nr == 0 && d.state == dirSynced {
		used := r.consume(d, p, ts, src, dst)
		d.next += uint32(used)
		p = p[used:]
		if len(p) == 0 {
			return
		}
	}
	// The rest goes through the buffer: a partial message, data being
	// searched for a boundary, or data filling a hole.
	for len(p) > 0 {
		c := min(int32(len(p)), r.maxStream-d.n)
		if c <= 0 {
			// Cannot happen: drain leaves less than maxHold.
			r.stats.TCP[TCPBytesDiscarded].Add(uint64(d.n))
			r.compact(d, d.n)
			continue
		}
		r.write(d, d.n, p[:c], ts)
		p = p[c:]
		r.drain(d, ts, src, dst)
	}
}

// outOfOrder holds p at buffer position pos, beyond a hole.
func (r *tcpReassembler) outOfOrder(d *tcpDir, pos int32, p []byte, ts int64) {
	end := pos + int32(len(p))
	// Find the pieces p touches; a new separate piece needs a free slot.
	touch := false
	for k := int32(0); k < d.nr; k++ {
		if d.r[k].s <= end && d.r[k].e >= pos {
			touch = true
			break
		}
	}
	if !touch && d.nr == maxTCPRanges {
		r.stats.TCP[TCPOutOfOrderDropped].Inc()
		return
	}
	if d.nr == 0 {
		d.holeSince = ts
	}
	r.write(d, pos, p, ts)
}

// write copies p to buffer position pos (at or beyond n), keeping bytes
// already held (first copy wins), and records the range. Data at n extends
// the contiguous part, swallowing the pieces it reaches.
func (r *tcpReassembler) write(d *tcpDir, pos int32, p []byte, ts int64) {
	end := pos + int32(len(p))
	r.ensure(d, end)
	cur := pos
	dup, conflict := false, false
	for k := int32(0); k < d.nr && cur < end; k++ {
		g := d.r[k]
		if g.e <= cur {
			continue
		}
		if g.s >= end {
			break
		}
		if g.s > cur {
			copy(d.buf[cur:g.s], p[cur-pos:])
			cur = g.s
		}
		hi := min(g.e, end)
		dup = true
		if string(d.buf[cur:hi]) != string(p[cur-pos:hi-pos]) {
			conflict = true
		}
		cur = hi
	}
	if cur < end {
		copy(d.buf[cur:end], p[cur-pos:])
	}
	if dup {
		r.stats.TCP[TCPRetransmissions].Inc()
		if conflict {
			r.stats.TCP[TCPConflicts].Inc()
		}
	}

	if pos == d.n {
		n := end
		k := int32(0)
		for k < d.nr && d.r[k].s <= n {
			n = max(n, d.r[k].e)
			k++
		}
		d.dropRanges(k)
		d.next += uint32(n - d.n)
		d.n = n
		return
	}
	// Insert [pos, end) and merge whatever it touches.
	k := int32(0)
	for k < d.nr && d.r[k].e < pos {
		k++
	}
	j := k
	nr := tcpRange{s: pos, e: end, ts: ts}
	for j < d.nr && d.r[j].s <= end {
		nr.s = min(nr.s, d.r[j].s)
		nr.e = max(nr.e, d.r[j].e)
		nr.ts = max(nr.ts, d.r[j].ts)
		j++
	}
	// Replace d.r[k:j] by nr.
	if j == k {
		copy(d.r[k+1:d.nr+1], d.r[k:d.nr])
		d.nr++
	} else if j > k+1 {
		copy(d.r[k+1:], d.r[j:d.nr])
		d.nr -= j - k - 1
	}
	d.r[k] = nr
}

// dropRanges removes the first k out-of-order pieces.
func (d *tcpDir) dropRanges(k int32) {
	if k == 0 {
		return
	}
	copy(d.r[:], d.r[k:d.nr])
	d.nr -= k
}

// skipGap gives up on the hole at [n, resume): the bytes in it were never
// captured. The stream stays in step when the hole ends inside the message
// it interrupted (its length prefix says where the next one starts);
// otherwise the next boundary is searched for. Data held after the hole is
// then delivered.
func (r *tcpReassembler) skipGap(d *tcpDir, resume int64, src, dst netip.AddrPort) {
	hole := resume - int64(d.n)
	r.stats.TCP[TCPGapsSkipped].Inc()
	if hole > 0 {
		// Never negative in a real stream; two connections forced onto one
		// 4-tuple at once made it so, and it must not count as 16 EiB.
		r.stats.TCP[TCPGapBytes].Add(uint64(hole))
	}
	if d.state == dirSynced {
		var msgEnd int64 = -1 // position of the next boundary, if known
		switch {
		case d.skip > 0:
			msgEnd = int64(d.skip) // n is 0 while skipping
			d.skip = 0
		case d.n >= 2:
			msgEnd = int64(d.buf[0])<<8 | int64(d.buf[1]) + 2
		}
		if d.n > 0 {
			r.stats.TCP[TCPPartialMessages].Inc()
		}
		if msgEnd >= resume {
			d.skip = int32(msgEnd - resume)
		} else {
			d.state = dirHunting
		}
	}
	r.stats.TCP[TCPBytesDiscarded].Add(uint64(d.n))
	ts := int64(0)
	if d.nr > 0 && int64(d.r[0].s) == resume {
		// The first piece becomes the contiguous part.
		g := d.r[0]
		ts = g.ts
		d.next = d.seqAt(g.e)
		copy(d.buf, d.buf[g.s:d.end()])
		d.dropRanges(1)
		for k := int32(0); k < d.nr; k++ {
			d.r[k].s -= g.s
			d.r[k].e -= g.s
		}
		d.n = g.e - g.s
	} else {
		d.next += uint32(resume - int64(d.n))
		d.n = 0
		d.nr = 0
	}
	if d.nr > 0 {
		d.holeSince = d.r[0].ts
	}
	if d.n == 0 && d.nr == 0 {
		r.putBuf(d)
		return
	}
	r.drain(d, ts, src, dst)
}

// end is the buffer position after the last byte held.
func (d *tcpDir) end() int32 {
	if d.nr > 0 {
		return d.r[d.nr-1].e
	}
	return d.n
}

// drain delivers the whole messages at the front of the buffer, searching
// for a boundary first when the stream is not in step, and keeps the rest.
func (r *tcpReassembler) drain(d *tcpDir, ts int64, src, dst netip.AddrPort) {
	for d.n > 0 {
		if d.state == dirHunting {
			i, found := r.hunt(d.buf[:d.n])
			if i > 0 {
				r.stats.TCP[TCPBytesDiscarded].Add(uint64(i))
				r.compact(d, i)
			}
			if !found {
				return
			}
			r.stats.TCP[TCPResyncs].Inc()
			d.state = dirSynced
		}
		used := r.consume(d, d.buf[:d.n], ts, src, dst)
		r.compact(d, used)
		if d.state == dirSynced {
			return
		}
	}
}

// compact drops the first k bytes of the buffer.
func (r *tcpReassembler) compact(d *tcpDir, k int32) {
	if k == 0 {
		return
	}
	e := d.end()
	copy(d.buf, d.buf[k:e])
	d.n -= k
	for j := int32(0); j < d.nr; j++ {
		d.r[j].s -= k
		d.r[j].e -= k
	}
	if d.n == 0 && d.nr == 0 {
		r.putBuf(d)
	}
}

// consume delivers the whole framed messages at the start of b, which is at
// a boundary (after d.skip bytes), and returns how many bytes it used; the
// rest is a partial message, or the stream fell out of step (d.state).
func (r *tcpReassembler) consume(d *tcpDir, b []byte, ts int64, src, dst netip.AddrPort) int32 {
	i := int32(0)
	n := int32(len(b))
	for {
		if d.skip > 0 {
			k := min(d.skip, n-i)
			r.stats.TCP[TCPBytesDiscarded].Add(uint64(k))
			d.skip -= k
			i += k
			if d.skip > 0 {
				return i
			}
		}
		if n-i < 2 {
			return i
		}
		l := int32(b[i])<<8 | int32(b[i+1])
		if l < dnsHeaderLen {
			r.stats.TCP[TCPBadLength].Inc()
			d.state = dirHunting
			return i
		}
		if n-i-2 >= l {
			r.stats.TCP[TCPMessages].Inc()
			r.deliver(src, dst, b[i+2:i+2+l:i+2+l], ts)
			i += 2 + l
			continue
		}
		if l+2 > r.maxHold {
			r.stats.TCP[TCPTooLong].Inc()
			r.stats.TCP[TCPPartialMessages].Inc()
			d.skip = l + 2
			continue
		}
		return i
	}
}

// hunt searches b for a message boundary: a length prefix followed by a
// plausible DNS message (and, when present, by another sane prefix). It
// returns the boundary and true, or how many leading bytes can be dropped
// because no boundary can start there, and false while it waits for more.
func (r *tcpReassembler) hunt(b []byte) (int32, bool) {
	n := int32(len(b))
	for i := int32(0); i+2 <= n; i++ {
		l := int32(b[i])<<8 | int32(b[i+1])
		if l < dnsHeaderLen {
			continue
		}
		avail := n - i - 2
		if avail < dnsHeaderLen {
			return i, false
		}
		if !plausibleHeader(b[i+2:i+2+dnsHeaderLen], l) {
			continue
		}
		if l+2 > r.maxHold {
			return i, true // cannot hold it to check more: consume skips it
		}
		if avail < l {
			return i, false // keep it until it is whole
		}
		if !plausibleDNS(b[i+2 : i+2+l]) {
			continue
		}
		if rest := avail - l; rest >= 2 {
			j := i + 2 + l
			l2 := int32(b[j])<<8 | int32(b[j+1])
			if l2 < dnsHeaderLen || rest-2 >= dnsHeaderLen && !plausibleHeader(b[j+2:j+2+dnsHeaderLen], l2) {
				continue
			}
		}
		return i, true
	}
	return max(n-1, 0), false
}

// plausibleHeader is a cheap first test of a DNS header h for a message of
// l bytes, before the whole message is there for plausibleDNS: the same
// wire facts (RFC 1035 §4.1.1: Z is zero, an assigned opcode and RCODE,
// one question at most in practice, counts that fit in the length).
func plausibleHeader(h []byte, l int32) bool {
	flags := int32(h[2])<<8 | int32(h[3])
	qd := int32(h[4])<<8 | int32(h[5])
	rrs := int32(h[6])<<8 | int32(h[7]) + int32(h[8])<<8 | int32(h[9]) + int32(h[10])<<8 | int32(h[11])
	if flags&dnsFlagZ != 0 || qd > 1 || flags&0xf > 11 {
		return false
	}
	switch (flags >> 11) & 0xf {
	case 0, 2, 4, 5, 6:
	default:
		return false
	}
	return qd*dnsMinQuestionLen+rrs*dnsMinRRLen <= l-dnsHeaderLen
}

// finish ends direction d of a flow that is going away: holes are skipped
// so that whole messages after them are still delivered, and what remains
// is a partial message.
func (r *tcpReassembler) finish(d *tcpDir, src, dst netip.AddrPort) {
	for d.nr > 0 {
		r.skipGap(d, int64(d.r[0].s), src, dst)
	}
	if d.n > 0 {
		if d.state == dirSynced {
			r.stats.TCP[TCPPartialMessages].Inc()
		}
		r.stats.TCP[TCPBytesDiscarded].Add(uint64(d.n))
	}
	r.putBuf(d)
	*d = tcpDir{r: d.r}
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

// ensure makes d.buf hold at least need bytes, moving what it holds to a
// larger pooled buffer. need never exceeds maxStream.
func (r *tcpReassembler) ensure(d *tcpDir, need int32) {
	if int32(cap(d.buf)) >= need {
		return
	}
	c := 0
	for r.classes[c] < need {
		c++
	}
	if len(r.pool[c]) == 0 {
		r.makeRoom(int(r.classes[c]))
	}
	var b []byte
	if l := len(r.pool[c]); l > 0 {
		b = r.pool[c][l-1]
		r.pool[c][l-1] = nil
		r.pool[c] = r.pool[c][:l-1]
	} else {
		b = make([]byte, r.classes[c])
		r.allocated += len(b)
	}
	r.held += len(b)
	if d.buf != nil {
		copy(b, d.buf[:d.end()])
		r.putBuf(d)
	}
	d.buf = b
}

// makeRoom keeps allocated+size within maxBuf before a new buffer is made:
// first by letting pooled buffers go, largest first, then by evicting the
// least recently active connections (their buffers return to the pool and
// are let go in turn). The connection of the segment being handled (r.last)
// is never evicted; maxBuf is at least what it can hold.
func (r *tcpReassembler) makeRoom(size int) {
	for r.allocated+size > r.maxBuf {
		if r.dropPooled() {
			continue
		}
		o := r.flows.Oldest()
		if o == bounded.None || o == r.last {
			return
		}
		r.stats.TCP[TCPFlowsEvictedMemory].Inc()
		r.endFlow(o)
	}
}

// dropPooled lets one pooled buffer go (to the garbage collector), the
// largest first; false when the pool is empty.
func (r *tcpReassembler) dropPooled() bool {
	for c := len(r.pool) - 1; c >= 0; c-- {
		if l := len(r.pool[c]); l > 0 {
			r.allocated -= len(r.pool[c][l-1])
			r.pool[c][l-1] = nil
			r.pool[c] = r.pool[c][:l-1]
			return true
		}
	}
	return false
}

// allocatedBytes is the capacity of every stream buffer alive, in use or
// pooled; never above MaxTCPBufferBytes but for the current connection.
func (r *tcpReassembler) allocatedBytes() int { return r.allocated }

// putBuf returns d's buffer to the pool.
func (r *tcpReassembler) putBuf(d *tcpDir) {
	if d.buf == nil {
		return
	}
	b := d.buf[:cap(d.buf)]
	d.buf = nil
	r.held -= len(b)
	for c := range r.classes {
		if int(r.classes[c]) == len(b) {
			r.pool[c] = append(r.pool[c], b)
			return
		}
	}
}
