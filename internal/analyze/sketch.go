package analyze

import (
	"math"
	"math/bits"
	"net/netip"
	"sort"
)

// hashBytes is FNV-1a (64-bit) finished with mix64: fixed, not seeded per
// process, so that the same input always gives the same estimates and the
// same alerts (a replayed file raises what the live run raised).
func hashBytes(b []byte) uint64 {
	h := uint64(14695981039346656037)
	for _, c := range b {
		h ^= uint64(c)
		h *= 1099511628211
	}
	return mix64(h)
}

func hashAddr(a netip.Addr) uint64 {
	v := a.As16()
	return hashBytes(v[:])
}

// mix64 spreads a hash again (splitmix64 finaliser), for the second and
// later rows of a sketch.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	return x ^ x>>31
}

// HLL is a HyperLogLog distinct counter (Flajolet et al. 2007) with 2^p
// one-byte registers: the standard error is 1.04/sqrt(2^p), 0.8% at p=14.
type HLL struct {
	p   uint8
	reg []uint8
}

// NewHLL returns a counter with 2^p registers (4 ≤ p ≤ 16).
func NewHLL(p uint8) *HLL { return &HLL{p: p, reg: make([]uint8, 1<<p)} }

// Add counts the item whose 64-bit hash is h.
func (h *HLL) Add(x uint64) {
	x = mix64(x)
	i := x >> (64 - h.p)
	r := uint8(bits.LeadingZeros64(x<<h.p|1<<(h.p-1))) + 1
	if r > h.reg[i] {
		h.reg[i] = r
	}
}

// Reset empties the counter.
func (h *HLL) Reset() { clear(h.reg) }

// Estimate returns the estimated number of distinct items, with the small
// range (linear counting) correction of the original paper.
func (h *HLL) Estimate() uint64 {
	m := float64(len(h.reg))
	var sum float64
	zeros := 0
	for _, r := range h.reg {
		sum += math.Ldexp(1, -int(r))
		if r == 0 {
			zeros++
		}
	}
	alpha := 0.7213 / (1 + 1.079/m)
	switch len(h.reg) {
	case 16:
		alpha = 0.673
	case 32:
		alpha = 0.697
	case 64:
		alpha = 0.709
	}
	e := alpha * m * m / sum
	if e <= 2.5*m && zeros > 0 {
		e = m * math.Log(m/float64(zeros))
	}
	return uint64(e + 0.5)
}

// CountMin is a count-min sketch (Cormode and Muthukrishnan 2005): Estimate
// never undercounts, and overcounts by at most e/width of the total with
// probability 1-e^-depth.
type CountMin struct {
	width uint64
	rows  [cmDepth][]uint32
}

const cmDepth = 4

// NewCountMin returns a sketch of 4 rows of width counters (a power of two).
func NewCountMin(width int) *CountMin {
	c := &CountMin{width: uint64(width)}
	for i := range c.rows {
		c.rows[i] = make([]uint32, width)
	}
	return c
}

// Add adds n to the item whose hash is h.
func (c *CountMin) Add(h uint64, n uint32) {
	for i := range c.rows {
		j := h & (c.width - 1)
		if v := c.rows[i][j] + n; v >= n {
			c.rows[i][j] = v
		}
		h = mix64(h + uint64(i))
	}
}

// Estimate returns the item's count (an upper bound).
func (c *CountMin) Estimate(h uint64) uint64 {
	est := uint32(math.MaxUint32)
	for i := range c.rows {
		est = min(est, c.rows[i][h&(c.width-1)])
		h = mix64(h + uint64(i))
	}
	return uint64(est)
}

// TopK keeps the heaviest keys of a stream in a fixed number of slots with
// the Space-Saving algorithm (Metwally et al. 2005): a new key takes the
// slot of the lightest one and inherits its count as its error, so Count is
// an upper bound and Count-Err a lower bound of the key's true weight. Any
// key heavier than total/capacity is guaranteed to be held. V is per-slot
// data the caller keeps (reset when a slot changes hands).
type TopK[K comparable, V any] struct {
	idx   map[K]int32
	slots []TopSlot[K, V]
	heap  []int32 // min-heap of slot indexes by Count
	// Evicted counts keys that lost their slot to a newer key.
	Evicted uint64
}

// TopSlot is one held key.
type TopSlot[K comparable, V any] struct {
	Key   K
	Count uint64 // upper bound of the key's weight
	Err   uint64 // how much of Count may belong to keys evicted before it
	Data  V
	pos   int32
}

// NewTopK returns a TopK of capacity slots.
func NewTopK[K comparable, V any](capacity int) *TopK[K, V] {
	return &TopK[K, V]{idx: make(map[K]int32, capacity), slots: make([]TopSlot[K, V], 0, capacity), heap: make([]int32, 0, capacity)}
}

// Add adds w to k and returns its slot (valid until the next Add) and
// whether the slot is new to k (its Data is then zero, for the caller to
// fill).
func (t *TopK[K, V]) Add(k K, w uint64) (*TopSlot[K, V], bool) {
	if i, ok := t.idx[k]; ok {
		s := &t.slots[i]
		s.Count += w
		t.down(s.pos)
		return s, false
	}
	if len(t.slots) < cap(t.slots) {
		i := int32(len(t.slots))
		t.slots = append(t.slots, TopSlot[K, V]{Key: k, Count: w, pos: int32(len(t.heap))})
		t.heap = append(t.heap, i)
		t.up(int32(len(t.heap) - 1))
		t.idx[k] = i
		return &t.slots[i], true
	}
	i := t.heap[0]
	s := &t.slots[i]
	delete(t.idx, s.Key)
	t.Evicted++
	var zero V
	s.Key, s.Err, s.Data = k, s.Count, zero
	s.Count += w
	t.idx[k] = i
	t.down(0)
	return s, true
}

// Get returns k's slot, or nil.
func (t *TopK[K, V]) Get(k K) *TopSlot[K, V] {
	if i, ok := t.idx[k]; ok {
		return &t.slots[i]
	}
	return nil
}

// Len is the number of held keys.
func (t *TopK[K, V]) Len() int { return len(t.slots) }

// Sorted returns the held slots, heaviest first (ties by less when not
// nil). The slice is new; its slots are copies.
func (t *TopK[K, V]) Sorted(less func(a, b *TopSlot[K, V]) bool) []TopSlot[K, V] {
	out := append([]TopSlot[K, V](nil), t.slots...)
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Count != out[j].Count {
			return out[i].Count > out[j].Count
		}
		return less != nil && less(&out[i], &out[j])
	})
	return out
}

func (t *TopK[K, V]) swap(a, b int32) {
	t.heap[a], t.heap[b] = t.heap[b], t.heap[a]
	t.slots[t.heap[a]].pos = a
	t.slots[t.heap[b]].pos = b
}

func (t *TopK[K, V]) less(a, b int32) bool {
	return t.slots[t.heap[a]].Count < t.slots[t.heap[b]].Count
}

func (t *TopK[K, V]) up(i int32) {
	for i > 0 {
		p := (i - 1) / 2
		if !t.less(i, p) {
			return
		}
		t.swap(i, p)
		i = p
	}
}

func (t *TopK[K, V]) down(i int32) {
	n := int32(len(t.heap))
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		m := l
		if r := l + 1; r < n && t.less(r, l) {
			m = r
		}
		if !t.less(m, i) {
			return
		}
		t.swap(i, m)
		i = m
	}
}

// Best keeps the n items with the highest score, one per key (exact: an
// item is only ever displaced by a higher-scoring one).
type Best struct {
	n     int
	items []BestItem
	keys  map[uint64]struct{}
}

// BestItem is one kept item.
type BestItem struct {
	Key    uint64
	Score  float64
	Name   string
	Client netip.Addr
}

// NewBest returns a Best of n items.
func NewBest(n int) *Best { return &Best{n: n, keys: make(map[uint64]struct{}, n)} }

// Wants reports whether an item of this score and key would be kept, so
// that the caller builds its strings only then.
func (b *Best) Wants(key uint64, score float64) bool {
	if _, ok := b.keys[key]; ok {
		return false
	}
	return len(b.items) < b.n || score > b.items[len(b.items)-1].Score
}

// Add keeps the item if it is among the n best.
func (b *Best) Add(it BestItem) {
	if !b.Wants(it.Key, it.Score) {
		return
	}
	if len(b.items) == b.n {
		delete(b.keys, b.items[len(b.items)-1].Key)
		b.items = b.items[:len(b.items)-1]
	}
	i := sort.Search(len(b.items), func(i int) bool { return b.items[i].Score < it.Score })
	b.items = append(b.items, BestItem{})
	copy(b.items[i+1:], b.items[i:])
	b.items[i] = it
	b.keys[it.Key] = struct{}{}
}

// Items returns the kept items, best first; the slice is the Best's own.
func (b *Best) Items() []BestItem { return b.items }

// Hist is a latency histogram with logarithmic buckets, 8 per power of two
// from 1 µs (so a percentile is within 9% of the true value) up to 2^26 µs
// (67 s); values outside go to the end buckets. It counts exactly; only the
// position inside a bucket is lost.
type Hist struct {
	n      uint64
	max    int64
	counts [histBuckets]uint64
}

const (
	histSub     = 8
	histOctaves = 27
	histBuckets = histSub * histOctaves
)

// Add counts one duration in ns.
func (h *Hist) Add(ns int64) {
	h.n++
	h.max = max(h.max, ns)
	h.counts[histBucket(ns)]++
}

func histBucket(ns int64) int {
	us := ns / 1000
	if us < 1 {
		return 0
	}
	o := 63 - bits.LeadingZeros64(uint64(us)) // 2^o ≤ us
	var sub int
	if o >= 3 {
		sub = int(uint64(us)>>(o-3)) & (histSub - 1)
	} else {
		sub = int(uint64(us)<<(3-o)) & (histSub - 1)
	}
	b := o*histSub + sub
	return min(b, histBuckets-1)
}

// histUpper is the upper edge of bucket b in ns.
func histUpper(b int) float64 {
	o, sub := b/histSub, b%histSub
	return math.Ldexp(1+float64(sub+1)/histSub, o) * 1000
}

// N is the number of values counted.
func (h *Hist) N() uint64 { return h.n }

// Max is the largest value counted, in ns.
func (h *Hist) Max() int64 { return h.max }

// Quantile returns the upper edge of the bucket holding quantile q (0..1),
// in ns, capped at the largest value seen.
func (h *Hist) Quantile(q float64) float64 {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	rank = max(rank, 1)
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(histUpper(b), float64(h.max))
		}
	}
	return float64(h.max)
}
