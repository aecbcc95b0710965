package reassembly

import (
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
