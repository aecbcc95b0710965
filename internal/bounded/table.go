package bounded

import (
	"fmt"
	"hash/maphash"
	"reflect"
	"unsafe"
)

// None is the slot number of no entry.
const None int32 = -1

// Entry is one slot of a Table: the key, the capture time the age list is
// ordered by, and the caller's value. Key comes first and Time right after
// it, so that a caller can order V's fields for what each lookup reads
// (reassembly's TCP flow keeps its hot state in the first three cache
// lines).
type Entry[K comparable, V any] struct {
	Key K
	// Time is the capture time (ns) Expired compares with the timeout.
	// Insert sets it; after that it is the caller's to update, together
	// with Touch, which moves the entry to the newest end.
	Time int64
	hash uint32
	Val  V
}

// Hash returns the hash the entry is indexed under.
func (e *Entry[K, V]) Hash() uint32 { return e.hash }

// link is an entry's place in the age list. Links live apart from the
// entries: moving an entry to the newest end writes to two neighbours, and
// 8-byte links stay in the CPU cache where whole entries do not.
type link struct{ prev, next int32 }

// Table is a bounded set of entries keyed by K, owned by one goroutine.
// Entries are addressed by slot number (0 ≤ slot < the limit given to
// Init), which stays valid until the entry is removed. K must hold no
// pointers and no padding: the hash reads its memory (Init panics
// otherwise).
//
// The zero Table is not usable; call Init.
type Table[K comparable, V any] struct {
	// index maps a hash to slot numbers: each element is the entry's 32-bit
	// hash above slot+1 (0: empty), so that a probe compares hashes without
	// touching the entries, and a removal can move later elements back.
	// Its length is a power of two at least twice Max: runs stay short.
	index   []uint64
	mask    uint32
	seed    maphash.Seed
	entries []Entry[K, V] // grows up to Max, then slots are reused
	links   []link        // parallel to entries
	free    []int32       // removed slots, reused first
	head    int32         // oldest
	tail    int32         // newest
	n       int
	timeout int64
	keySize uintptr
	// probes counts index elements examined, by every operation: the
	// measure of how well the hash spreads the keys it is given. A lookup
	// costs one or two while keys spread; keys chosen to collide make it
	// grow with the table.
	probes uint64
}

// Init sets the table up for limit entries (at least 1) that expire after
// timeout (ns of capture time) without Touch. Memory for every entry is
// reserved here but written only as entries are first used, so a quiet
// link never pays for the limit in RSS. Each Init draws a new random
// seed.
func (t *Table[K, V]) Init(limit int, timeout int64) {
	if err := plain(reflect.TypeFor[K]()); err != nil {
		panic(fmt.Sprintf("bounded: key type %v: %v", reflect.TypeFor[K](), err))
	}
	limit = min(max(limit, 1), 1<<30)
	size := 8
	for size < 2*limit {
		size *= 2
	}
	// Reserved, not grown by append: growing copies the table and leaves
	// the old copy to the garbage collector, which (nothing else
	// allocating) lets the heap reach twice the table first; a SYN flood
	// measured 122 MB RSS that way.
	t.index = make([]uint64, size)
	t.mask = uint32(size - 1)
	t.seed = maphash.MakeSeed()
	t.entries = make([]Entry[K, V], 0, limit)
	t.links = make([]link, 0, limit)
	t.free = make([]int32, 0, limit)
	t.head, t.tail = None, None
	t.n = 0
	t.timeout = timeout
	var k K
	t.keySize = unsafe.Sizeof(k)
	t.probes = 0
}

// plain reports why t is not a key the hash may read as bytes: pointers
// would hash addresses and padding would hash garbage.
func plain(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Bool, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return nil
	case reflect.Array:
		return plain(t.Elem())
	case reflect.Struct:
		var sum uintptr
		for i := range t.NumField() {
			f := t.Field(i)
			if err := plain(f.Type); err != nil {
				return fmt.Errorf("field %s: %w", f.Name, err)
			}
			if f.Offset != sum {
				return fmt.Errorf("padding before field %s", f.Name)
			}
			sum += f.Type.Size()
		}
		if sum != t.Size() {
			return fmt.Errorf("%d bytes of padding at the end", t.Size()-sum)
		}
		return nil
	}
	return fmt.Errorf("kind %v may hold pointers or padding", t.Kind())
}

// Hash returns the table's hash of k: maphash, keyed by the table's random
// seed, over k's memory.
func (t *Table[K, V]) Hash(k *K) uint32 {
	return uint32(maphash.Bytes(t.seed, unsafe.Slice((*byte)(unsafe.Pointer(k)), t.keySize)))
}

// HashPrefix makes Hash read only the first n bytes of a key (0 < n ≤ the
// key's size), for a key whose tail is already summarised by a seeded hash
// in its head: emit's pending-query key carries a hash of the whole question
// before a 48-byte copy of its start, which need not be hashed again. Keys
// still compare whole. Call it after Init.
func (t *Table[K, V]) HashPrefix(n uintptr) {
	if n > 0 && n < t.keySize {
		t.keySize = n
	}
}

// HashBytes returns a seeded hash of b, for a caller that keys on a hash
// of variable-length data (emit's question): it must be as unpredictable as
// the index hash, or chosen data would make keys that compare equal.
func (t *Table[K, V]) HashBytes(b []byte) uint64 { return maphash.Bytes(t.seed, b) }

// Len returns the number of entries.
func (t *Table[K, V]) Len() int { return t.n }

// Full reports whether Insert needs a slot freed first.
func (t *Table[K, V]) Full() bool { return len(t.free) == 0 && len(t.entries) == cap(t.entries) }

// Oldest returns the slot of the entry inserted or touched longest ago, or
// None.
func (t *Table[K, V]) Oldest() int32 { return t.head }

// Newer returns the slot after i in age order (towards the newest), or
// None: a caller that must pass over some old entries walks
// Oldest, Newer(Oldest), ….
func (t *Table[K, V]) Newer(i int32) int32 { return t.links[i].next }

// Expired returns Oldest when its Time is more than the timeout before
// now, else None. The age list is in Insert/Touch order, which is capture
// order but for small reorderings between interfaces; those only delay an
// expiry. Callers loop until None: O(1) when nothing expires.
func (t *Table[K, V]) Expired(now int64) int32 {
	if h := t.head; h >= 0 && now-t.entries[h].Time > t.timeout {
		return h
	}
	return None
}

// At returns the entry in slot i, valid until it is removed.
func (t *Table[K, V]) At(i int32) *Entry[K, V] { return &t.entries[i] }

// Probes returns how many index elements every operation so far examined.
func (t *Table[K, V]) Probes() uint64 { return t.probes }

// Probe starts a walk over the slots whose hash is h, for a caller whose
// keys need more than == to compare (reassembly's zoned TCP keys):
//
//	for p, i := t.Probe(h); i != bounded.None; p, i = t.Next(p, h) {
//		if matches(i) { … }
//	}
//
// It returns the walk's position and the first such slot, or None.
func (t *Table[K, V]) Probe(h uint32) (uint32, int32) { return t.scan(h&t.mask, h) }

// Next continues a walk from position p.
func (t *Table[K, V]) Next(p, h uint32) (uint32, int32) { return t.scan((p+1)&t.mask, h) }

func (t *Table[K, V]) scan(p, h uint32) (uint32, int32) {
	for {
		t.probes++
		e := t.index[p]
		if e == 0 {
			return p, None
		}
		if uint32(e>>32) == h {
			return p, int32(uint32(e)) - 1
		}
		p = (p + 1) & t.mask
	}
}

// Find returns the slot holding k, whose hash is h, or None.
func (t *Table[K, V]) Find(k *K, h uint32) int32 {
	for p, i := t.Probe(h); i != None; p, i = t.Next(p, h) {
		if t.entries[i].Key == *k {
			return i
		}
	}
	return None
}

// Insert adds k, whose hash is h, as the newest entry, with Time now, and
// returns its slot. Val is zero in a slot never used before; a reused slot
// keeps the Val its last entry left, for the caller to reset (reassembly
// keeps pointers there that must survive). Insert does not look for k
// first. The table must not be Full: which entry goes, and what that
// counts as, is the caller's to decide (see Oldest).
func (t *Table[K, V]) Insert(k *K, h uint32, now int64) int32 {
	var i int32
	if l := len(t.free); l > 0 {
		i = t.free[l-1]
		t.free = t.free[:l-1]
	} else {
		i = int32(len(t.entries))
		t.entries = t.entries[:i+1] // panics when Full: a caller bug, never traffic
		t.links = t.links[:i+1]
	}
	e := &t.entries[i]
	e.Key = *k
	e.Time = now
	e.hash = h
	p := h & t.mask
	for t.probes++; t.index[p] != 0; t.probes++ {
		p = (p + 1) & t.mask
	}
	t.index[p] = uint64(h)<<32 | uint64(uint32(i+1))
	t.links[i] = link{prev: t.tail, next: None}
	if t.tail >= 0 {
		t.links[t.tail].next = i
	} else {
		t.head = i
	}
	t.tail = i
	t.n++
	return i
}

// Touch makes slot i the newest entry. The caller updates its Time.
func (t *Table[K, V]) Touch(i int32) {
	if t.tail == i {
		return
	}
	t.unlink(i)
	t.links[i] = link{prev: t.tail, next: None}
	t.links[t.tail].next = i
	t.tail = i
}

func (t *Table[K, V]) unlink(i int32) {
	l := t.links[i]
	if l.prev >= 0 {
		t.links[l.prev].next = l.next
	} else {
		t.head = l.next
	}
	if l.next >= 0 {
		t.links[l.next].prev = l.prev
	} else {
		t.tail = l.prev
	}
}

// Remove takes slot i out of the table; the slot is reused by a later
// Insert. Its Key and Val are left as they are.
func (t *Table[K, V]) Remove(i int32) {
	h := t.entries[i].hash
	p := h & t.mask
	for t.probes++; uint32(t.index[p]) != uint32(i+1); t.probes++ {
		p = (p + 1) & t.mask
	}
	// Backward-shift deletion (Knuth's algorithm R): move later elements
	// of the run back over the hole, so that lookups never need
	// tombstones.
	for {
		t.index[p] = 0
		q := p
		for {
			q = (q + 1) & t.mask
			t.probes++
			e := t.index[q]
			if e == 0 {
				t.unlink(i)
				t.free = append(t.free, i)
				t.n--
				return
			}
			// The element at q may fill the hole at p unless its home
			// lies cyclically in (p, q].
			if home := uint32(e>>32) & t.mask; (q-home)&t.mask >= (q-p)&t.mask {
				t.index[p] = e
				p = q
				break
			}
		}
	}
}

// EntryBytes is what one entry of a table's limit costs in memory: the
// entry itself, its age link, its free-list slot and its index elements
// (two per entry when the limit is a power of two, as every default is;
// up to four otherwise). Memory budgets are stated with it.
func EntryBytes[K comparable, V any]() uintptr {
	var e Entry[K, V]
	return unsafe.Sizeof(e) + unsafe.Sizeof(link{}) + unsafe.Sizeof(int32(0)) + 2*unsafe.Sizeof(uint64(0))
}
