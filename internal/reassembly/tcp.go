package reassembly

import "net/netip"

// STUB: the TCP reassembler is being written; signatures are agreed, bodies are not.

// TCPCounter indexes Stats.TCP.
type TCPCounter int

// TCP counters.
const (
	TCPSegments TCPCounter = iota // segments seen
	TCPMessages                   // whole messages delivered
	numTCPCounters
)

var tcpCounterNames = [numTCPCounters]string{
	TCPSegments: "tcp_segments",
	TCPMessages: "tcp_messages",
}

// TCP header flags (RFC 9293 §3.1).
const (
	tcpFIN = 0x01
	tcpSYN = 0x02
	tcpRST = 0x04
	tcpACK = 0x10
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

type tcpReassembler struct {
	stats   *Stats
	deliver deliverFunc
}

func newTCPReassembler(cfg Config, stats *Stats, deliver deliverFunc) *tcpReassembler {
	return &tcpReassembler{stats: stats, deliver: deliver}
}

// segment takes one TCP segment of a DNS connection.
func (r *tcpReassembler) segment(s *tcpSegment) {
	r.stats.TCP[TCPSegments].Inc()
}

// expire drops connections idle longer than the timeout at now.
func (r *tcpReassembler) expire(now int64) {}

// flush ends every stream at the end of input: partial messages are counted
// and dropped.
func (r *tcpReassembler) flush() {}
