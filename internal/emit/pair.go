package emit

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
)

// questionPrefix is how many bytes of the first question a pending query
// keeps. Together with the question's length and a 64-bit hash of all of it,
// that tells questions apart exactly in practice, at a fixed 48 bytes per
// slot instead of 260 (a 255-byte name plus type and class). The bytes are
// compared as they are: DNS 0x20 mixed case is echoed by the server, so the
// case must match.
const questionPrefix = 48

// pairKey identifies a transaction: both ends, the transport, the DNS ID and
// the first question. It is a plain comparable value.
type pairKey struct {
	init, resp netip.AddrPort
	qhash      uint64
	id         uint16
	qlen       uint16
	transport  uint8
	qpre       [questionPrefix]byte
}

func makeKey(k *pairKey, init, resp netip.AddrPort, transport uint8, id uint16, q []byte) {
	k.init, k.resp = init, resp
	k.transport = transport
	k.id = id
	k.qlen = uint16(len(q))
	k.qhash = hashBytes(q)
	k.qpre = [questionPrefix]byte{}
	copy(k.qpre[:], q)
}

const (
	hashMul1 = 0x9e3779b97f4a7c15
	hashMul2 = 0xff51afd7ed558ccd
)

func mix(h, v uint64) uint64 {
	hi, lo := bits.Mul64(h^v, hashMul2)
	return hi ^ lo
}

// hashBytes is a small multiply-mix hash: the table needs speed and spread,
// not resistance to chosen collisions (the probe length is bounded by the
// load factor, and a collision only costs a comparison).
func hashBytes(b []byte) uint64 {
	h := uint64(len(b)) * hashMul1
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

func hashAddrPort(h uint64, ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	h = mix(h, binary.LittleEndian.Uint64(a[:8]))
	h = mix(h, binary.LittleEndian.Uint64(a[8:])^uint64(ap.Port())<<48)
	return h
}

func (k *pairKey) hash() uint64 {
	h := mix(k.qhash, uint64(k.id)|uint64(k.transport)<<16|uint64(k.qlen)<<24)
	h = hashAddrPort(h, k.init)
	return hashAddrPort(h, k.resp)
}

// pairSlot is a pending query. Slots live in one preallocated array and are
// linked oldest-first for expiry and eviction.
type pairSlot struct {
	key        pairKey
	hash       uint64
	queryTime  int64
	prev, next int32 // age list; next doubles as the free-list link
	index      int32 // position in pairTable.index, kept up to date by moves
}

const nilSlot = -1

// pairTable holds queries waiting for their response: an open-addressing
// index (linear probing, backward-shift deletion, so there are no tombstones
// and no rehashing under churn) over a fixed array of slots. Nothing
// allocates after init.
type pairTable struct {
	index      []int32 // slot number + 1, or 0 for empty; len is a power of two ≥ 2×max
	mask       uint64
	slots      []pairSlot
	free       int32 // free list of slots released before
	used       int32 // slots[used:] have never been handed out
	head, tail int32 // oldest, newest
	n          int
	timeout    int64
}

func (t *pairTable) init(max int, timeout int64) {
	size := 1
	for size < 2*max {
		size <<= 1
	}
	// Neither array is written here: the index's zero value means empty
	// and slots are handed out from a high-water mark before the free list
	// is used, so memory that a quiet link never needs is never touched
	// (65536 pending queries take 11 MB of address space, not of RSS).
	t.index = make([]int32, size)
	t.mask = uint64(size - 1)
	t.slots = make([]pairSlot, max)
	t.used = 0
	t.free = nilSlot
	t.head, t.tail = nilSlot, nilSlot
	t.timeout = timeout
}

// find returns the slot holding k, or nilSlot.
func (t *pairTable) find(k *pairKey, h uint64) int32 {
	for i := h & t.mask; ; i = (i + 1) & t.mask {
		s := t.index[i] - 1
		if s == nilSlot {
			return nilSlot
		}
		if t.slots[s].hash == h && t.slots[s].key == *k {
			return s
		}
	}
}

func (t *pairTable) unlink(s int32) {
	sl := &t.slots[s]
	if sl.prev != nilSlot {
		t.slots[sl.prev].next = sl.next
	} else {
		t.head = sl.next
	}
	if sl.next != nilSlot {
		t.slots[sl.next].prev = sl.prev
	} else {
		t.tail = sl.prev
	}
}

func (t *pairTable) pushBack(s int32) {
	sl := &t.slots[s]
	sl.prev, sl.next = t.tail, nilSlot
	if t.tail != nilSlot {
		t.slots[t.tail].next = s
	} else {
		t.head = s
	}
	t.tail = s
}

// remove takes slot s out of the index and the age list and frees it.
func (t *pairTable) remove(s int32) {
	// Backward-shift deletion: pull later members of the probe run into
	// the hole so that lookups never need tombstones.
	i := uint64(t.slots[s].index)
	for j := (i + 1) & t.mask; ; j = (j + 1) & t.mask {
		o := t.index[j] - 1
		if o == nilSlot {
			break
		}
		home := t.slots[o].hash & t.mask
		// o may move to i if its home is not in the cyclic range (i, j].
		if (j-home)&t.mask >= (j-i)&t.mask {
			t.index[i] = o + 1
			t.slots[o].index = int32(i)
			i = j
		}
	}
	t.index[i] = 0
	t.unlink(s)
	t.slots[s].next = t.free
	t.free = s
	t.n--
}

// insert adds a query at time now. A full table evicts its oldest query
// first. It reports whether an equal key was already pending (a
// retransmission or a reused ID): that entry takes the newer time.
func (t *pairTable) insert(k *pairKey, now int64, c *counts) {
	h := k.hash()
	if e := t.find(k, h); e != nilSlot {
		c[cntDuplicateQuery]++
		t.slots[e].queryTime = now
		t.unlink(e)
		t.pushBack(e)
		return
	}
	if t.free == nilSlot && int(t.used) == len(t.slots) {
		t.remove(t.head)
		c[cntUnansweredEvicted]++
	}
	var n int32
	if t.free != nilSlot {
		n = t.free
		t.free = t.slots[n].next
	} else {
		n = t.used
		t.used++
	}
	sl := &t.slots[n]
	sl.key = *k
	sl.hash = h
	sl.queryTime = now
	i := h & t.mask
	for t.index[i] != 0 {
		i = (i + 1) & t.mask
	}
	t.index[i] = n + 1
	sl.index = int32(i)
	t.pushBack(n)
	t.n++
}

// take removes the query matching k and returns its time.
func (t *pairTable) take(k *pairKey) (int64, bool) {
	s := t.find(k, k.hash())
	if s == nilSlot {
		return 0, false
	}
	qt := t.slots[s].queryTime
	t.remove(s)
	return qt, true
}

// expire counts and drops queries older than the timeout at capture time
// now. The age list is in arrival order, which is capture order except for
// small reorderings between interfaces; those only delay an expiry.
func (t *pairTable) expire(now int64, c *counts) {
	for t.head != nilSlot && now-t.slots[t.head].queryTime > t.timeout {
		t.remove(t.head)
		c[cntUnansweredExpired]++
	}
}

func (t *pairTable) flush(c *counts) {
	for t.head != nilSlot {
		t.remove(t.head)
		c[cntUnansweredFlush]++
	}
}
