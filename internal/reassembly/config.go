package reassembly

import "time"

// Config bounds every table the Assembler keeps. Each limit has an idle
// timeout and counters of what was evicted or dropped; eviction is oldest
// first and never blocks.
type Config struct {
	// TCP streams.
	MaxFlows           int           // TCP connections tracked at once; the oldest is evicted beyond it
	MaxStreamBytes     int           // bytes buffered for one direction of one connection (a partial message plus what follows it)
	MaxOutOfOrderBytes int           // bytes held ahead of a gap, per direction
	FlowTimeout        time.Duration // a connection idle this long (capture time) is dropped
	MaxTCPBufferBytes  int           // stream buffers of all connections together; the least recently active connections are evicted beyond it

	// IP fragments.
	MaxFragmentSets  int           // datagrams being reassembled at once
	MaxFragmentBytes int           // bytes held across all datagrams being reassembled
	FragmentTimeout  time.Duration // a datagram not completed within this (capture time) is dropped (RFC 791 suggests 15 s, RFC 8200 60 s)

	// Duplicate removal (SPAN copies); off when DedupWindow is 0.
	DedupWindow  time.Duration // a packet whose identity was first seen at most this long ago (capture time) is dropped
	DedupEntries int           // identities held; 0 means DefaultDedupEntries. The oldest of a full bucket is evicted
}

// DefaultConfig returns limits that hold a busy resolver's DNS traffic in a
// few tens of MiB at worst.
func DefaultConfig() Config {
	return Config{
		MaxFlows:           65536,
		MaxStreamBytes:     2 * 65537, // two maximal DNS messages with their length prefixes
		MaxOutOfOrderBytes: 65537,
		FlowTimeout:        60 * time.Second,
		MaxTCPBufferBytes:  64 << 20,
		MaxFragmentSets:    8192,
		MaxFragmentBytes:   16 << 20,
		FragmentTimeout:    30 * time.Second,
	}
}
