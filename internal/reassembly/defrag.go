package reassembly

import (
	"net/netip"

	"github.com/dnstap-sensor/dnstap-sensor/internal/bounded"
)

// FragCounter indexes Stats.Frag.
type FragCounter int

// Fragment counters. Every fragment that does not end up in a reassembled
// datagram is counted under exactly one reason.
const (
	FragIn           FragCounter = iota // fragments seen
	FragReassembled                     // datagrams completed from several fragments
	FragAtomic                          // offset 0 without more-fragments (RFC 6946 atomic fragment), passed through
	FragTimeout                         // datagrams dropped incomplete after FragmentTimeout
	FragEvictedSets                     // datagrams dropped (oldest first) to make room under MaxFragmentSets
	FragEvictedBytes                    // datagrams dropped (oldest first) to stay under MaxFragmentBytes
	FragOverlap                         // datagrams dropped for an overlap (IPv6: any; IPv4: conflicting bytes)
	FragAfterDrop                       // fragments of a datagram already dropped for overlap or bad length, until its timeout
	FragDuplicate                       // exact duplicates of a fragment already held, ignored
	FragTooBig                          // datagrams dropped for reaching past 65535 bytes (ping of death)
	FragTiny                            // fragments dropped by RFC 1858 rules (tiny first fragment, IPv4 offset 8)
	FragBadLength                       // fragments empty, not a multiple of 8 before the last, or past the known end
	FragTooMany                         // datagrams dropped for arriving in more than maxFragsPerSet pieces
	numFragCounters
)

var fragCounterNames = [numFragCounters]string{
	FragIn:           "frag_in",
	FragReassembled:  "frag_reassembled",
	FragAtomic:       "frag_atomic",
	FragTimeout:      "frag_timeout",
	FragEvictedSets:  "frag_evicted_sets",
	FragEvictedBytes: "frag_evicted_bytes",
	FragOverlap:      "frag_overlap",
	FragAfterDrop:    "frag_after_drop",
	FragDuplicate:    "frag_duplicate",
	FragTooBig:       "frag_too_big",
	FragTiny:         "frag_tiny",
	FragBadLength:    "frag_bad_length",
	FragTooMany:      "frag_too_many",
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

// fragWords is a fragKey as plain words, the form the set table hashes
// and compares: addresses in their 16-byte form, and in marks what that
// form loses (the families). Zones are not kept; addresses decoded from a
// frame have none.
type fragWords struct {
	sh, sl, dh, dl uint64
	marks          uint64 // id<<32 | vlan<<16 | proto<<8 | family(dst)<<2 | family(src)
}

func (k *fragKey) words(w *fragWords) {
	var fs, fd uint64
	w.sh, w.sl, fs = addrWords(k.src)
	w.dh, w.dl, fd = addrWords(k.dst)
	w.marks = uint64(k.id)<<32 | uint64(k.vlan)<<16 | uint64(k.proto)<<8 | fd<<2 | fs
}

const (
	// maxDatagramPayload bounds offset+length of any fragment: the IPv4
	// total length and the IPv6 payload length are 16-bit fields, so
	// nothing legitimate reassembles past it (RFC 791 §3.1, RFC 8200 §4.5).
	maxDatagramPayload = 65535

	// fragChunkSize is the unit in which fragment bytes are held. Memory is
	// accounted in whole chunks, so MaxFragmentBytes bounds what is really
	// pinned even when an attacker sends 8-byte fragments far apart. 1 KiB
	// keeps the waste under a common 1232..1480-byte fragment small.
	fragChunkSize  = 1024
	fragChunkShift = 10
	maxSetChunks   = (maxDatagramPayload + fragChunkSize - 1) / fragChunkSize // 64

	// fragBlockChunks chunks are allocated at a time, lazily, and never
	// freed: after warm-up the pool allocates nothing.
	fragBlockChunks = 64

	// maxFragsPerSet bounds the fragments one datagram may arrive in. A
	// 65535-byte payload cut at the IPv6 minimum MTU (1232 bytes of data per
	// fragment) needs 54; more than this is a resource attack, not DNS.
	maxFragsPerSet = 64

	// The transport headers that must fit in a first fragment (RFC 1858,
	// RFC 7112): IP protocol numbers and minimum header sizes.
	fragProtoTCP  = 6
	fragProtoUDP  = 17
	fragUDPHdrLen = 8
	fragTCPHdrLen = 20
)

// fragRange is one fragment's place in the datagram payload, [off, end).
type fragRange struct{ off, end int32 }

// fragSet is one datagram in progress: the value of a slot of
// defragmenter.sets, whose Time is the capture time of the first fragment
// (RFC 791/8200 time out from it; later fragments do not Touch it).
type fragSet struct {
	total  int32 // payload length once the last fragment is seen, else -1
	dead   bool  // dropped (overlap, bad length): swallow its fragments until timeout
	nfrag  int32
	nchunk int32
	maxEnd int32                     // furthest byte held
	frags  [maxFragsPerSet]fragRange // sorted by off
	chunks [maxSetChunks]int32       // chunk index+1 holding [i*1K, (i+1)*1K); 0 when absent
}

// defragmenter reassembles IPv4 and IPv6 fragments, driven by capture time
// only. It is owned by one goroutine.
//
// Overlap policy. IPv6 follows RFC 5722: any overlap drops the whole
// datagram, and later fragments of it are swallowed until it times out;
// only an exact duplicate (same offset, length and bytes) is ignored, as RFC
// 8200 §4.5 allows. IPv4 has no such rule, and stacks disagree on whose
// bytes win an overlap (the teardrop and Ptacek–Newsham evasion cases), so a
// sensor that picked either would sometimes record bytes the host never
// used. Overlaps whose bytes agree (a retransmission, possibly
// re-fragmented) are accepted; overlaps whose bytes differ drop the
// datagram like IPv6.
type defragmenter struct {
	stats *Stats
	sets  bounded.Table[fragWords, fragSet] // oldest first

	chunkBlocks [][]byte // each fragBlockChunks*fragChunkSize bytes
	freeChunks  []int32  // chunk indices not in use
	maxChunks   int      // MaxFragmentBytes / fragChunkSize
	usedChunks  int

	out [maxDatagramPayload]byte // the reassembled datagram handed back by add
}

func newDefragmenter(cfg Config, stats *Stats) *defragmenter {
	maxSets := cfg.MaxFragmentSets
	if maxSets < 1 {
		maxSets = 1
	}
	maxChunks := cfg.MaxFragmentBytes / fragChunkSize
	d := &defragmenter{
		stats:      stats,
		freeChunks: make([]int32, 0, maxChunks),
		maxChunks:  maxChunks,
	}
	d.sets.Init(maxSets, int64(cfg.FragmentTimeout))
	return d
}

// heldBytes is the memory pinned by fragments in progress, in whole chunks;
// it never exceeds MaxFragmentBytes.
func (d *defragmenter) heldBytes() int { return d.usedChunks * fragChunkSize }

// inProgress is the number of datagrams held, dropped ones awaiting their
// timeout included; it never exceeds MaxFragmentSets.
func (d *defragmenter) inProgress() int { return d.sets.Len() }

// add takes one fragment: offset is its byte offset in the datagram's
// payload, more its more-fragments flag, payload the bytes after the IP
// header (IPv4) or the fragment header (IPv6), now its capture time. When the
// fragment completes its datagram, add returns the whole reassembled payload
// and true; the slice aliases the defragmenter's buffer (or, for an atomic
// fragment, payload itself) and is valid until the next call to add.
func (d *defragmenter) add(k fragKey, offset int, more bool, payload []byte, now int64) ([]byte, bool) {
	d.stats.Frag[FragIn].Inc()
	d.expire(now)

	end := offset + len(payload)
	switch {
	case offset == 0 && !more:
		// RFC 6946: an atomic fragment is a whole datagram, reassembled
		// independently of any set with the same identification.
		d.stats.Frag[FragAtomic].Inc()
		return payload, true
	case offset < 0 || end > maxDatagramPayload:
		d.stats.Frag[FragTooBig].Inc()
		var w fragWords
		k.words(&w)
		if i := d.sets.Find(&w, d.sets.Hash(&w)); i != bounded.None {
			d.kill(i)
		}
		return nil, false
	case len(payload) == 0, offset&7 != 0, more && len(payload)&7 != 0:
		// RFC 791 §3.2 / RFC 8200 §4.5: every fragment but the last
		// carries a multiple of 8 octets.
		d.stats.Frag[FragBadLength].Inc()
		return nil, false
	case offset == 8 && k.src.Is4():
		// RFC 1858 §3.2: FO=1 can only serve to rewrite the TCP flags of
		// an accepted first fragment.
		d.stats.Frag[FragTiny].Inc()
		return nil, false
	case offset == 0 && len(payload) < minFirstFragment(k.proto):
		// RFC 1858 §3.1, RFC 7112: the first fragment must hold the
		// whole transport header, or a filter never saw the ports.
		d.stats.Frag[FragTiny].Inc()
		return nil, false
	}

	var w fragWords
	k.words(&w)
	h := d.sets.Hash(&w)
	i := d.sets.Find(&w, h)
	if i == bounded.None {
		i = d.newSet(&w, h, now)
	}
	s := &d.sets.At(i).Val
	if s.dead {
		d.stats.Frag[FragAfterDrop].Inc()
		return nil, false
	}
	off32, end32 := int32(offset), int32(end)
	if (s.total >= 0 && (end32 > s.total || !more && end32 != s.total)) ||
		(!more && s.maxEnd > end32) {
		// A second, different last fragment, or data past the end.
		d.stats.Frag[FragBadLength].Inc()
		d.kill(i)
		return nil, false
	}

	// Find where the fragment goes and check what it overlaps.
	pos := s.nfrag
	for j := int32(0); j < s.nfrag; j++ {
		f := s.frags[j]
		if f.off > off32 && pos == s.nfrag {
			pos = j
		}
		if f.end <= off32 || f.off >= end32 {
			continue
		}
		lo, hi := max(f.off, off32), min(f.end, end32)
		same := d.equal(s, lo, payload[lo-off32:hi-off32])
		if f.off == off32 && f.end == end32 && same {
			d.stats.Frag[FragDuplicate].Inc()
			return nil, false
		}
		if !same || k.src.Is6() {
			d.stats.Frag[FragOverlap].Inc()
			d.kill(i)
			return nil, false
		}
	}
	if s.nfrag == maxFragsPerSet {
		d.stats.Frag[FragTooMany].Inc()
		d.kill(i)
		return nil, false
	}
	if !d.reserve(i, off32, end32) {
		return nil, false
	}
	d.write(s, off32, payload)
	copy(s.frags[pos+1:s.nfrag+1], s.frags[pos:s.nfrag])
	s.frags[pos] = fragRange{off32, end32}
	s.nfrag++
	s.maxEnd = max(s.maxEnd, end32)
	if !more {
		s.total = end32
	}
	if s.total < 0 {
		return nil, false
	}
	covered := int32(0)
	for j := int32(0); j < s.nfrag && s.frags[j].off <= covered; j++ {
		covered = max(covered, s.frags[j].end)
	}
	if covered < s.total {
		return nil, false
	}
	n := s.total
	for c := int32(0); c<<fragChunkShift < n; c++ {
		copy(d.out[c<<fragChunkShift:n], d.chunk(s.chunks[c]))
	}
	d.release(i)
	d.stats.Frag[FragReassembled].Inc()
	return d.out[:n], true
}

// minFirstFragment is how many payload bytes a first fragment of proto
// must carry.
func minFirstFragment(proto uint8) int {
	switch proto {
	case fragProtoUDP:
		return fragUDPHdrLen
	case fragProtoTCP:
		return fragTCPHdrLen
	}
	return 1
}

// expire drops datagrams not completed within the timeout of now. Sets are
// kept in creation order, so it stops at the first one still young: O(1)
// when nothing expires.
func (d *defragmenter) expire(now int64) {
	for i := d.sets.Expired(now); i != bounded.None; i = d.sets.Expired(now) {
		if !d.sets.At(i).Val.dead {
			d.stats.Frag[FragTimeout].Inc()
		}
		d.release(i)
	}
}

// newSet takes a slot for w, evicting the oldest datagram when the table is
// full.
func (d *defragmenter) newSet(w *fragWords, h uint32, now int64) int32 {
	if d.sets.Full() {
		o := d.sets.Oldest()
		if !d.sets.At(o).Val.dead {
			d.stats.Frag[FragEvictedSets].Inc()
		}
		d.release(o)
	}
	i := d.sets.Insert(w, h, now)
	s := &d.sets.At(i).Val
	s.total = -1
	s.dead = false
	s.nfrag = 0
	s.nchunk = 0
	s.maxEnd = 0
	return i
}

// kill drops a datagram's bytes but keeps its slot, so that its remaining
// fragments are swallowed until it times out (RFC 5722 §4).
func (d *defragmenter) kill(i int32) {
	s := &d.sets.At(i).Val
	d.freeChunksOf(s)
	s.dead = true
	s.nfrag = 0
}

// release frees slot i and everything it holds.
func (d *defragmenter) release(i int32) {
	d.freeChunksOf(&d.sets.At(i).Val)
	d.sets.Remove(i)
}

func (d *defragmenter) freeChunksOf(s *fragSet) {
	if s.nchunk == 0 {
		return
	}
	for c := range s.chunks {
		if s.chunks[c] != 0 {
			d.freeChunks = append(d.freeChunks, s.chunks[c]-1)
			s.chunks[c] = 0
		}
	}
	d.usedChunks -= int(s.nchunk)
	s.nchunk = 0
}

// reserve makes sure set i has chunks for [off, end), evicting the oldest
// other datagrams when MaxFragmentBytes would be exceeded. When even that
// cannot make room, set i itself is dropped and reserve reports false.
func (d *defragmenter) reserve(i int32, off, end int32) bool {
	s := &d.sets.At(i).Val
	for c := off >> fragChunkShift; c <= (end-1)>>fragChunkShift; c++ {
		if s.chunks[c] != 0 {
			continue
		}
		ci, ok := d.takeChunk(i)
		if !ok {
			d.stats.Frag[FragEvictedBytes].Inc()
			d.release(i)
			return false
		}
		s.chunks[c] = ci + 1
		s.nchunk++
	}
	return true
}

// takeChunk returns a free chunk, evicting the oldest datagrams other than
// keep while the byte cap is reached.
func (d *defragmenter) takeChunk(keep int32) (int32, bool) {
	for d.usedChunks >= d.maxChunks {
		v := d.sets.Oldest()
		for v != bounded.None && (v == keep || d.sets.At(v).Val.nchunk == 0) {
			v = d.sets.Newer(v)
		}
		if v == bounded.None {
			return 0, false
		}
		d.stats.Frag[FragEvictedBytes].Inc()
		d.release(v)
	}
	if len(d.freeChunks) == 0 {
		b := len(d.chunkBlocks)
		d.chunkBlocks = append(d.chunkBlocks, make([]byte, fragBlockChunks*fragChunkSize))
		for c := fragBlockChunks - 1; c >= 0; c-- {
			d.freeChunks = append(d.freeChunks, int32(b*fragBlockChunks+c))
		}
	}
	ci := d.freeChunks[len(d.freeChunks)-1]
	d.freeChunks = d.freeChunks[:len(d.freeChunks)-1]
	d.usedChunks++
	return ci, true
}

// chunk returns the bytes of chunk index+1 v.
func (d *defragmenter) chunk(v int32) []byte {
	ci := int(v - 1)
	b := d.chunkBlocks[ci/fragBlockChunks]
	o := (ci % fragBlockChunks) * fragChunkSize
	return b[o : o+fragChunkSize : o+fragChunkSize]
}

// write copies p into set s at payload offset off; its chunks are reserved.
func (d *defragmenter) write(s *fragSet, off int32, p []byte) {
	for len(p) > 0 {
		c := d.chunk(s.chunks[off>>fragChunkShift])
		n := copy(c[off&(fragChunkSize-1):], p)
		p = p[n:]
		off += int32(n)
	}
}

// equal reports whether set s holds exactly p at payload offset off.
func (d *defragmenter) equal(s *fragSet, off int32, p []byte) bool {
	for len(p) > 0 {
		c := d.chunk(s.chunks[off>>fragChunkShift])[off&(fragChunkSize-1):]
		n := min(len(c), len(p))
		if string(c[:n]) != string(p[:n]) {
			return false
		}
		p = p[n:]
		off += int32(n)
	}
	return true
}
