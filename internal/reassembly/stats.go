package reassembly

import "sync/atomic"

// Counter is a single-writer counter: only the goroutine that owns the
// Assembler increments it, so Inc needs no locked read-modify-write, yet
// metrics and the summary may read it from any goroutine.
type Counter struct{ v atomic.Uint64 }

// Inc adds one. Only the owning goroutine may call it.
func (c *Counter) Inc() { c.v.Store(c.v.Load() + 1) }

// Add adds n. Only the owning goroutine may call it.
func (c *Counter) Add(n uint64) { c.v.Store(c.v.Load() + n) }

// Load returns the current value; safe from any goroutine.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Stats are an Assembler's counters, grouped by the part of the path that
// owns them. Each group is an array indexed by an enum whose names are in
// the matching *CounterNames array (assembler.go, defrag.go, tcp.go, dedup.go).
type Stats struct {
	Decode [numDecodeCounters]Counter
	Frag   [numFragCounters]Counter
	TCP    [numTCPCounters]Counter
	Dedup  [numDedupCounters]Counter
}

// Each calls fn for every counter with its stable name (used in the summary
// and in metrics), in a fixed order.
func (s *Stats) Each(fn func(name string, v uint64)) {
	for i := range s.Decode {
		fn(decodeCounterNames[i], s.Decode[i].Load())
	}
	for i := range s.Frag {
		fn(fragCounterNames[i], s.Frag[i].Load())
	}
	for i := range s.TCP {
		fn(tcpCounterNames[i], s.TCP[i].Load())
	}
	for i := range s.Dedup {
		fn(dedupCounterNames[i], s.Dedup[i].Load())
	}
}
