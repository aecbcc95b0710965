package reassembly

import (
	"encoding/binary"
	"math/bits"
	"math/rand/v2"
	"net/netip"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// Steerer picks the worker of a frame when several workers share one input
// (file input with --workers): a symmetric hash of the outermost IP
// addresses, so that both directions of a flow, every fragment of a
// datagram (non-first fragments carry no ports) and every packet inside a
// tunnel between two endpoints reach the same worker, as the kernel's
// fanout in hash+defrag mode does. Ports are left out on purpose: a
// fragmented answer and its unfragmented query must meet in one pairing
// table. The cost is balance: one busy address pair is one worker's load.
//
// The link layers are decoded by the Assembler's own code, stopping at the
// first IP header, so a link type or encapsulation the decoder learns is
// steered with no change here. A Steerer belongs to one goroutine.
type Steerer struct {
	asm    *Assembler
	k0, k1 uint64 // per-process random keys of the address hash
	found  bool
	h      uint64
}

// NewSteerer returns a Steerer with random keys: the assignment of flows to
// workers is not predictable from outside. What a chosen skew could do is
// load one worker with everything, which makes N workers as fast as one,
// no worse: so the hash needs spread and secret keys, not the collision
// resistance of the tables' maphash (which cost 2.5 times as much here).
func NewSteerer() *Steerer {
	s := &Steerer{k0: rand.Uint64(), k1: rand.Uint64()}
	// No fragment or TCP tables: decoding stops at the outermost IP
	// header (ip4, ip6), before anything would reach them.
	s.asm = &Assembler{cfg: DefaultConfig(), steer: s}
	return s
}

// Hash returns the frame's steering hash and whether it has an IP header at
// all (frames without one carry no DNS; any worker may count them).
// It does not allocate.
func (s *Steerer) Hash(f *packet.Frame) (uint64, bool) {
	s.found = false
	// Only the link layers' walk down to the first IP header: none of
	// HandleFrame's counting and table ageing, which steering has no use
	// for (it was a third of the reader's cost per frame).
	a := s.asm
	a.vlan, a.snapped, a.inFrag = f.VLAN, f.WireLen > len(f.Data), 0
	a.link(f.LinkType, f.Data)
	return s.h, s.found
}

// see hashes the outermost addresses. The sum of the two addresses' hashes
// is the same in both directions.
func (s *Steerer) see(src, dst netip.Addr) {
	s.h, s.found = s.addrHash(src)+s.addrHash(dst), true
}

func (s *Steerer) addrHash(a netip.Addr) uint64 {
	b := a.As16()
	hi, lo := bits.Mul64(binary.BigEndian.Uint64(b[:8])^s.k0, 0x9e3779b97f4a7c15)
	hi, lo = bits.Mul64(hi^lo^binary.BigEndian.Uint64(b[8:])^s.k1, 0xff51afd7ed558ccd)
	return hi ^ lo
}
