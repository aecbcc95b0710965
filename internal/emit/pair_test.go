package emit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/synth"
)

// BenchmarkPairTable is one transaction's life in a half-full pending
// table: the query's key, its insert, the response's key and its take.
func BenchmarkPairTable(b *testing.B) {
	var pt pairTable
	pt.init(DefaultMaxPending, int64(time.Hour))
	var c counts
	q := []byte("\x03www\x07example\x03com\x00\x00\x01\x00\x01")
	cl, sv := netip.MustParseAddrPort(cli), netip.MustParseAddrPort(srv)
	for i := range DefaultMaxPending / 2 {
		var k pairKey
		pt.makeKey(&k, netip.AddrPortFrom(cl.Addr(), uint16(i)), sv, 1, 7, q)
		pt.insert(&k, 0, &c)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var k pairKey
		pt.makeKey(&k, cl, sv, 1, uint16(i), q)
		pt.insert(&k, 0, &c)
		pt.makeKey(&k, cl, sv, 1, uint16(i), q)
		if _, ok := pt.take(&k); !ok {
			b.Fatal("not found")
		}
	}
}

// TestPairTableChosenCollisions is the pending-query table under the attack
// of issue 7: queries whose (source port, DNS ID) were chosen offline to
// share a few probe runs of the old, unseeded pairing hash. The table must
// spread them as it spreads any keys: a few index elements examined per
// operation. With a fixed hash the same keys cost thousands each, so this
// fails if the seed is ever removed.
func TestPairTableChosenCollisions(t *testing.T) {
	const (
		maxPending = 8192 // an index of 2^14
		indexBits  = 14
		slots      = 64
		n          = 4000
	)
	q := synth.FloodQuestion()
	pairs := synth.PairCollisions(synth.FloodClient, synth.FloodServer, q, n, indexBits, slots)
	if len(pairs) != n {
		t.Fatalf("%d colliding pairs, want %d", len(pairs), n)
	}
	// The attack holds against the unseeded hash: n keys in a few homes,
	// so one run of n elements that every insert walks to its end.
	homes := map[uint64]bool{}
	for _, p := range pairs {
		homes[synth.UnseededPairHash(netip.AddrPortFrom(synth.FloodClient, p.Port), synth.FloodServer, 1, p.ID, q)&(1<<indexBits-1)] = true
	}
	if len(homes) > slots {
		t.Fatalf("chosen keys take %d homes of the unseeded hash, want at most %d", len(homes), slots)
	}

	var pt pairTable
	pt.init(maxPending, int64(time.Hour))
	var c counts
	key := func(p synth.PortID) *pairKey {
		var k pairKey
		pt.makeKey(&k, netip.AddrPortFrom(synth.FloodClient, p.Port), synth.FloodServer, 1, p.ID, q)
		return &k
	}
	for _, p := range pairs {
		pt.insert(key(p), t0, &c)
	}
	inserted := pt.t.Probes()
	for _, p := range pairs {
		if _, ok := pt.take(key(p)); !ok {
			t.Fatalf("query %v not found", p)
		}
	}
	taken := pt.t.Probes() - inserted
	if pt.len() != 0 || c != (counts{}) {
		t.Fatalf("%d left, counters %v", pt.len(), c)
	}
	// An insert is a lookup that misses and an insert; a take, a lookup
	// that hits and a removal. At a load of 1/4 each walks one or two
	// elements: measured 2.3 per insert and 3.3 per take. Unseeded, the
	// inserts alone walk n²/2 = 8 million.
	t.Logf("probes: %.2f per insert, %.2f per take (%d homes unseeded)", float64(inserted)/n, float64(taken)/n, len(homes))
	if inserted > 5*n || taken > 5*n {
		t.Fatalf("%d probes for %d inserts, %d for %d takes, want at most %d each: chosen keys share probe runs, the table's hash is not seeded",
			inserted, n, taken, n, 5*n)
	}
}
