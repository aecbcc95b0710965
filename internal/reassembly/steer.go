package reassembly

import (
	"encoding/binary"
	"hash/maphash"
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
	seed   maphash.Seed
	found  bool
	lo, hi [16]byte
}

// NewSteerer returns a Steerer with a random seed (the assignment of flows
// to workers must not be predictable from outside: a chosen skew could load
// one worker with everything).
func NewSteerer() *Steerer {
	s := &Steerer{seed: maphash.MakeSeed()}
	s.asm = &Assembler{cfg: DefaultConfig(), steer: s}
	s.asm.frag = newDefragmenter(s.asm.cfg, &s.asm.stats)
	s.asm.tcp = newTCPReassembler(s.asm.cfg, &s.asm.stats, s.asm.deliverTCP)
	return s
}

// Hash returns the frame's steering hash and whether it has an IP header at
// all (frames without one carry no DNS; any worker may count them).
// It does not allocate.
func (s *Steerer) Hash(f *packet.Frame) (uint64, bool) {
	s.found = false
	s.asm.HandleFrame(f)
	if !s.found {
		return 0, false
	}
	var b [32]byte
	copy(b[:16], s.lo[:])
	copy(b[16:], s.hi[:])
	return maphash.Bytes(s.seed, b[:]), true
}

// see records the outermost addresses in a fixed order, so that both
// directions hash alike.
func (s *Steerer) see(src, dst netip.Addr) {
	a, b := src.As16(), dst.As16()
	if binary.BigEndian.Uint64(a[:8]) > binary.BigEndian.Uint64(b[:8]) ||
		(binary.BigEndian.Uint64(a[:8]) == binary.BigEndian.Uint64(b[:8]) && binary.BigEndian.Uint64(a[8:]) > binary.BigEndian.Uint64(b[8:])) {
		a, b = b, a
	}
	s.lo, s.hi, s.found = a, b, true
}
