package merge

import (
	"hash/maphash"
)

// entry is one frame waiting in the window: a server frame (until its
// release, matched or not) or a wire frame (until a server frame matches it
// or its release).
type entry struct {
	frame  []byte  // owned copy: the server's frame as sent, or the sensor's
	msg    Message // parsed from frame; its slices alias frame
	ts     int64   // release key: message time, clamped to the window around arrival
	seq    uint64  // arrival order, to break ties in ts
	hash   uint64  // the class-and-bytes hash salted by the entry's side
	next   int32   // next in the hash chain, -1 at the end
	prev   int32   // previous in the hash chain, -1 at its head: unchaining costs O(1)
	heap   int32   // index in the heap
	server bool
	// chained: the entry can still be matched (it is in a hash chain).
	chained bool
	matched bool
}

// maxKeptFrameCap: a slot keeps its frame buffer for the next entry unless
// the buffer grew beyond this (a large answer), so that the table's memory
// stays near MaxEntries × typical frame size, not × 96 KiB.
const maxKeptFrameCap = 4 << 10

// table holds the entries of the window: slots, hash chains keyed by the
// DNS bytes and class, and a min-heap by (ts, seq) for release in time
// order. Everything is allocated once at its size limit.
type table struct {
	slots   []entry
	free    []int32
	buckets []int32
	mask    uint64
	heap    []int32
	seed    maphash.Seed
	salt    [2]uint64 // per side (wire, server): each side has chains of its own
	seq     uint64
	// capped counts lookups that gave up after maxCandidates entries of
	// the other side with the same bytes (a flood of one message).
	capped uint64
}

// maxCandidates bounds the entries a lookup compares: entries with the same
// class and bytes (the same query replayed from many ports) share a chain,
// and a lookup that walked all of them would cost O(window) per frame. The
// best match among the first 64 is taken, which for any real traffic is the
// only one there is.
const maxCandidates = 64

func side(server bool) int {
	if server {
		return 1
	}
	return 0
}

func (t *table) init(max int) {
	t.slots = make([]entry, max)
	t.free = make([]int32, max)
	for i := range t.free {
		t.free[i] = int32(max - 1 - i)
	}
	n := 1
	for n < 2*max {
		n <<= 1
	}
	t.buckets = make([]int32, n)
	for i := range t.buckets {
		t.buckets[i] = -1
	}
	t.mask = uint64(n - 1)
	t.heap = make([]int32, 0, max)
	// A per-process random seed: traffic cannot choose colliding DNS
	// messages to make one chain long.
	t.seed = maphash.MakeSeed()
	t.salt = [2]uint64{maphash.Bytes(t.seed, []byte("wire")), maphash.Bytes(t.seed, []byte("server"))}
}

func (t *table) full() bool { return len(t.free) == 0 }
func (t *table) len() int   { return len(t.heap) }

// hashOf hashes the class and the DNS bytes: the two things every match
// needs equal (addresses and ports may be excused, see classify).
func (t *table) hashOf(m *Message) uint64 {
	h := maphash.Bytes(t.seed, m.Wire)
	if m.IsResponse() {
		h ^= 0x9e3779b97f4a7c15 // any fixed odd constant flips the class apart
	}
	return h
}

// find returns the best unmatched entry of the other side for m (server
// says which side m is on), and how it matched; -1 when none.
func (t *table) find(m *Message, h uint64, server bool) (int32, matchKind) {
	best, bestKind := int32(-1), noMatch
	h ^= t.salt[side(!server)] // only the other side's chain
	n := 0
	for i := t.buckets[h&t.mask]; i >= 0; i = t.slots[i].next {
		e := &t.slots[i]
		if e.hash != h || e.server == server {
			continue
		}
		if n++; n > maxCandidates {
			t.capped++
			break
		}
		var k matchKind
		if server {
			k = classify(m, &e.msg)
		} else {
			k = classify(&e.msg, m)
		}
		if k < bestKind {
			best, bestKind = i, k
			if k == matchExact {
				break
			}
		}
	}
	return best, bestKind
}

// insert copies frame into a free slot (the caller checked full), parses it
// there and puts it in the heap and, when chain, in its hash chain.
func (t *table) insert(frame []byte, m *Message, h uint64, ts int64, server, chain, matched bool) int32 {
	i := t.free[len(t.free)-1]
	t.free = t.free[:len(t.free)-1]
	e := &t.slots[i]
	e.frame = append(e.frame[:0], frame...)
	e.msg = *m
	e.msg.Wire = rebase(m.Wire, frame, e.frame)
	e.msg.Extra = rebase(m.Extra, frame, e.frame)
	h ^= t.salt[side(server)]
	e.ts, e.hash, e.server, e.matched = ts, h, server, matched
	t.seq++
	e.seq = t.seq
	e.chained = chain
	if chain {
		b := &t.buckets[h&t.mask]
		e.next, e.prev = *b, -1
		if *b >= 0 {
			t.slots[*b].prev = i
		}
		*b = i
	} else {
		e.next, e.prev = -1, -1
	}
	e.heap = int32(len(t.heap))
	t.heap = append(t.heap, i)
	t.up(int(e.heap))
	return i
}

// unchain takes entry i out of its hash chain.
func (t *table) unchain(i int32) {
	e := &t.slots[i]
	if !e.chained {
		return
	}
	e.chained = false
	if e.prev >= 0 {
		t.slots[e.prev].next = e.next
	} else {
		t.buckets[e.hash&t.mask] = e.next
	}
	if e.next >= 0 {
		t.slots[e.next].prev = e.prev
	}
	e.next, e.prev = -1, -1
}

// remove frees entry i (out of its chain and the heap).
func (t *table) remove(i int32) {
	t.unchain(i)
	e := &t.slots[i]
	h := int(e.heap)
	last := len(t.heap) - 1
	if h != last {
		t.swap(h, last)
	}
	t.heap = t.heap[:last]
	if h != last {
		t.down(h)
		t.up(h)
	}
	t.release(i)
}

// min returns the heap's first entry, or -1.
func (t *table) min() int32 {
	if len(t.heap) == 0 {
		return -1
	}
	return t.heap[0]
}

// popMin takes the first entry out of the heap and its chain; the caller
// uses it, then calls release.
func (t *table) popMin() int32 {
	i := t.heap[0]
	last := len(t.heap) - 1
	t.swap(0, last)
	t.heap = t.heap[:last]
	t.down(0)
	t.unchain(i)
	return i
}

// release returns slot i to the free list.
func (t *table) release(i int32) {
	e := &t.slots[i]
	if cap(e.frame) > maxKeptFrameCap {
		e.frame = nil
	}
	e.msg = Message{}
	t.free = append(t.free, i)
}

func (t *table) less(a, b int) bool {
	x, y := &t.slots[t.heap[a]], &t.slots[t.heap[b]]
	return x.ts < y.ts || (x.ts == y.ts && x.seq < y.seq)
}

func (t *table) swap(a, b int) {
	t.heap[a], t.heap[b] = t.heap[b], t.heap[a]
	t.slots[t.heap[a]].heap = int32(a)
	t.slots[t.heap[b]].heap = int32(b)
}

func (t *table) up(j int) {
	for j > 0 {
		p := (j - 1) / 2
		if !t.less(j, p) {
			return
		}
		t.swap(j, p)
		j = p
	}
}

func (t *table) down(j int) {
	n := len(t.heap)
	for {
		l := 2*j + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && t.less(r, l) {
			c = r
		}
		if !t.less(c, j) {
			return
		}
		t.swap(c, j)
		j = c
	}
}

// rebase returns the part of to that sub is of from. Parse slices its
// fields out of the frame with two-index slices, so a field's offset is
// the difference of the capacities.
func rebase(sub, from, to []byte) []byte {
	if sub == nil {
		return nil
	}
	off := cap(from) - cap(sub)
	return to[off : off+len(sub) : off+len(sub)]
}
