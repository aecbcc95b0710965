package reassembly

import (
	"hash/maphash"
	"net/netip"
)

// DedupCounter indexes Stats.Dedup.
type DedupCounter int

// Dedup counters (all zero while Config.DedupWindow is 0).
const (
	DedupRemoved DedupCounter = iota // packets dropped as copies of one seen within the window
	DedupEvicted                     // identities displaced from a full bucket before their window ended
	numDedupCounters
)

var dedupCounterNames = [numDedupCounters]string{
	DedupRemoved: "dedup_removed",
	DedupEvicted: "dedup_evicted",
}

const (
	// DefaultDedupEntries is the dedup table's size when Config.DedupEntries
	// is 0: at 16 bytes an entry, 1 MiB, which holds a 100 ms window at
	// 650k packets/s before live identities are evicted.
	DefaultDedupEntries = 65536
	// dedupWays is the entries of one bucket: a new identity displaces
	// the oldest of its bucket only, so a flood costs a bounded probe.
	// Four 16-byte entries are one 64-byte cache line: a lookup costs one
	// cache miss, which is most of the stage's cost.
	dedupWays = 4
)

// dedupSeed keys the identity hash, once per process, so that no one can
// craft packets whose identities collide (and so drop another's packet as
// a duplicate) without knowing it.
var dedupSeed = maphash.MakeSeed()

// dedupEntry is one identity seen: its hash and the capture time of its
// first sighting. ts 0 is free.
type dedupEntry struct {
	hash uint64
	ts   int64
}

// deduper removes copies of a packet that a SPAN session delivers twice or
// more (several mirrored ports, both directions of a routed path, another
// VLAN, a tunnel). A packet's identity is what no hop between the copies
// changes: IP version, addresses, IPv4 identification, protocol and
// fragment field, and the whole IP payload (transport header with ports,
// sequence numbers and checksum, and data). Link headers, VLAN tags,
// encapsulation, TTL or hop limit, DSCP/ECN and the IPv4 header checksum are
// left out. Identities live in a fixed table of buckets; a copy is one
// whose identity was first seen at most window ago, in capture time.
//
// Two different packets count as one only if their 64-bit keyed hashes
// agree: a chance of 2^-64 per pair held in the window (at 1M packets/s and
// 65536 identities held, once in about 10^7 years).
type deduper struct {
	window  int64
	mask    uint64
	entries []dedupEntry // len(mask+1) * dedupWays
	h       maphash.Hash
	scratch [40]byte
	stats   *Stats
}

func newDeduper(window int64, entries int, stats *Stats) *deduper {
	if entries <= 0 {
		entries = DefaultDedupEntries
	}
	buckets := 1
	for buckets*dedupWays < entries {
		buckets <<= 1
	}
	d := &deduper{
		window:  window,
		mask:    uint64(buckets - 1),
		entries: make([]dedupEntry, buckets*dedupWays),
		stats:   stats,
	}
	d.h.SetSeed(dedupSeed)
	return d
}

// identity hashes an IP packet's identity: version, protocol (IPv4) or
// first next header (IPv6), addresses, id (IPv4 identification), frag
// (IPv4 flags and fragment offset) and payload.
func (d *deduper) identity(version, proto byte, src, dst netip.Addr, id uint32, frag uint16, payload []byte) uint64 {
	b := d.scratch[:0]
	b = append(b, version, proto, byte(id>>24), byte(id>>16), byte(id>>8), byte(id), byte(frag>>8), byte(frag))
	if version == 4 {
		s, t := src.As4(), dst.As4()
		b = append(b, s[:]...)
		b = append(b, t[:]...)
	} else {
		s, t := src.As16(), dst.As16()
		b = append(b, s[:]...)
		b = append(b, t[:]...)
	}
	d.h.Reset()
	d.h.Write(b)
	d.h.Write(payload)
	return d.h.Sum64()
}

// seen reports whether identity hash was first seen within the window
// before (or after: copies from several interfaces may arrive a little out
// of order) ts, and records it when not.
func (d *deduper) seen(hash uint64, ts int64) bool {
	if ts == 0 {
		ts = 1 // 0 marks a free entry
	}
	bucket := d.entries[(hash&d.mask)*dedupWays:][:dedupWays]
	victim := 0
	for i := range bucket {
		e := &bucket[i]
		if e.ts == 0 {
			victim = i
			continue
		}
		age := ts - e.ts
		if age < 0 {
			age = -age
		}
		if age > d.window {
			e.ts = 0 // expired: free for reuse, not an eviction
			victim = i
			continue
		}
		if e.hash == hash {
			d.stats.Dedup[DedupRemoved].Inc()
			return true
		}
		if bucket[victim].ts != 0 && e.ts < bucket[victim].ts {
			victim = i
		}
	}
	if bucket[victim].ts != 0 {
		d.stats.Dedup[DedupEvicted].Inc()
	}
	bucket[victim] = dedupEntry{hash: hash, ts: ts}
	return false
}

// duplicate is the Assembler's dedup stage: after each IP header is decoded
// (the outer one of a tunnel and the inner one alike), before fragments and
// transport. Fragments are checked one by one, so a datagram rebuilt from
// them is not checked again. It is false when dedup is off.
func (a *Assembler) duplicate(version, proto byte, src, dst netip.Addr, id uint32, frag uint16, payload []byte) bool {
	d := a.dedup
	if d == nil {
		return false
	}
	return d.seen(d.identity(version, proto, src, dst, id, frag, payload), a.ts)
}
