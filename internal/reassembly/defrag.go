package reassembly

import "net/netip"

// STUB: the defragmenter is being written; signatures are agreed, bodies are not.

// FragCounter indexes Stats.Frag.
type FragCounter int

// Fragment counters.
const (
	FragIn          FragCounter = iota // fragments seen
	FragReassembled                    // datagrams completed
	numFragCounters
)

var fragCounterNames = [numFragCounters]string{
	FragIn:          "frag_in",
	FragReassembled: "frag_reassembled",
}

// fragKey identifies one datagram being reassembled: RFC 791 §3.2 (source,
// destination, protocol, identification) and RFC 8200 §4.5 (source,
// destination, identification).
type fragKey struct {
	src, dst netip.Addr
	id       uint32 // IPv4 identification widened, or the IPv6 fragment header's
	proto    uint8  // IPv4 protocol; for IPv6 the fragment header's next header
	vlan     uint16
}

type defragmenter struct {
	stats *Stats
}

func newDefragmenter(cfg Config, stats *Stats) *defragmenter {
	return &defragmenter{stats: stats}
}

// add takes one fragment: offset is its byte offset in the datagram's
// payload, more its more-fragments flag, payload the bytes after the IP
// header (IPv4) or the fragment header (IPv6), now its capture time. When the
// fragment completes its datagram, add returns the whole reassembled payload
// and true; the slice aliases the defragmenter's buffer and is valid until the
// next call to add.
func (d *defragmenter) add(k fragKey, offset int, more bool, payload []byte, now int64) ([]byte, bool) {
	d.stats.Frag[FragIn].Inc()
	return nil, false
}

// expire drops datagrams not completed within the timeout of now.
func (d *defragmenter) expire(now int64) {}
