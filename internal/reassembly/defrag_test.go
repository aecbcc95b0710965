package reassembly

import (
	"bytes"
	"encoding/binary"
	"math"
	"net/netip"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"github.com/dnstap-sensor/dnstap-sensor/internal/synth"
	"github.com/gopacket/gopacket/layers"
)

// udpDatagram is a UDP header and a DNS response of size bytes in all, as a
// fragmented datagram's payload would be.
func udpDatagram(size int) []byte {
	msg := dnsTXT(7, "frag.example", size-8)
	b := binary.BigEndian.AppendUint16(nil, 53)
	b = binary.BigEndian.AppendUint16(b, 33333)
	b = binary.BigEndian.AppendUint16(b, uint16(size))
	b = append(b, 0, 0)
	return append(b, msg...)
}

// frag is one crafted fragment of datagram fragKeys[v] (0: IPv4, 1: IPv6,
// 2 and 3: other IPv4 datagrams, 4: IPv4 carrying TCP).
type frag struct {
	v    int
	off  int
	more bool
	data []byte
	ms   int64
}

type fragOut struct {
	at   int // index of the fragment that completed it
	data []byte
}

var fragKeys = []fragKey{
	{src: netip.MustParseAddr("192.0.2.53"), dst: netip.MustParseAddr("192.0.2.10"), id: 0x1234, proto: 17},
	{src: netip.MustParseAddr("2001:db8::53"), dst: netip.MustParseAddr("2001:db8::10"), id: 0xdeadbeef, proto: 17},
	{src: netip.MustParseAddr("192.0.2.53"), dst: netip.MustParseAddr("192.0.2.10"), id: 0x1235, proto: 17},
	{src: netip.MustParseAddr("192.0.2.53"), dst: netip.MustParseAddr("192.0.2.10"), id: 0x1236, proto: 17},
	{src: netip.MustParseAddr("192.0.2.53"), dst: netip.MustParseAddr("192.0.2.10"), id: 0x1237, proto: 6},
}

// split cuts d into fragments of n bytes (n a multiple of 8) for datagram v.
func split(v int, d []byte, n int, ms int64) []frag {
	var out []frag
	for off := 0; off < len(d); off += n {
		end := min(off+n, len(d))
		out = append(out, frag{v: v, off: off, more: end < len(d), data: d[off:end], ms: ms})
	}
	return out
}

func reversed(f []frag) []frag {
	out := make([]frag, len(f))
	for i := range f {
		out[len(f)-1-i] = f[i]
	}
	return out
}

func TestDefragmenter(t *testing.T) {
	d3000 := udpDatagram(3000)
	d1000 := udpDatagram(1000)
	v4 := split(0, d3000, 1232, 1)
	v6 := split(1, d3000, 1232, 1)
	conflict := bytes.Clone(d3000[1224:1240])
	conflict[0] ^= 0xff
	big := bytes.Repeat([]byte{1}, 1024)

	cases := []struct {
		name     string
		cfg      func(*Config)
		frags    []frag
		end      bool // expire everything at the end, as Flush does
		want     []fragOut
		counters map[string]uint64
	}{
		{
			name:     "IPv4 in order",
			frags:    v4,
			want:     []fragOut{{2, d3000}},
			counters: map[string]uint64{"frag_in": 3, "frag_reassembled": 1},
		},
		{
			name:     "IPv4 reverse order",
			frags:    reversed(v4),
			want:     []fragOut{{2, d3000}},
			counters: map[string]uint64{"frag_in": 3, "frag_reassembled": 1},
		},
		{
			name:     "IPv6 reverse order",
			frags:    reversed(v6),
			want:     []fragOut{{2, d3000}},
			counters: map[string]uint64{"frag_in": 3, "frag_reassembled": 1},
		},
		{
			name:     "two datagrams interleaved",
			frags:    []frag{v4[0], v6[2], v4[1], v6[0], v6[1], v4[2]},
			want:     []fragOut{{4, d3000}, {5, d3000}},
			counters: map[string]uint64{"frag_in": 6, "frag_reassembled": 2},
		},
		{
			name:     "exact duplicate (IPv4 and IPv6)",
			frags:    []frag{v4[0], v4[0], v6[1], v6[1], v4[1], v6[0], v4[2], v6[2]},
			want:     []fragOut{{6, d3000}, {7, d3000}},
			counters: map[string]uint64{"frag_in": 8, "frag_reassembled": 2, "frag_duplicate": 2},
		},
		{
			name: "IPv4 overlap with the same bytes (re-fragmented retransmission) is kept",
			frags: []frag{
				{v: 0, off: 0, more: true, data: d3000[:1232]},
				{v: 0, off: 1200, more: true, data: d3000[1200:2400]},
				{v: 0, off: 2400, more: false, data: d3000[2400:]},
			},
			want:     []fragOut{{2, d3000}},
			counters: map[string]uint64{"frag_in": 3, "frag_reassembled": 1},
		},
		{
			name: "IPv4 overlap with different bytes drops the datagram and what follows",
			frags: []frag{
				v4[0],
				{v: 0, off: 1224, more: true, data: conflict},
				v4[1], v4[2],
			},
			counters: map[string]uint64{"frag_in": 4, "frag_overlap": 1, "frag_after_drop": 2},
		},
		{
			name: "IPv6 overlap, even with the same bytes, drops the datagram (RFC 5722)",
			frags: []frag{
				{v: 1, off: 0, more: true, data: d3000[:1232]},
				{v: 1, off: 1200, more: true, data: d3000[1200:2400]},
				{v: 1, off: 2400, more: false, data: d3000[2400:]},
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 3, "frag_overlap": 1, "frag_after_drop": 1},
		},
		{
			name:     "timeout: a late fragment starts over",
			cfg:      func(c *Config) { c.FragmentTimeout = time.Second },
			frags:    []frag{v4[0], v4[1], {v: 0, off: 2464, data: v4[2].data, ms: 1002}},
			end:      true,
			counters: map[string]uint64{"frag_in": 3, "frag_timeout": 2},
		},
		{
			name:     "atomic fragment passes through",
			frags:    []frag{{v: 1, off: 0, more: false, data: d1000}},
			want:     []fragOut{{0, d1000}},
			counters: map[string]uint64{"frag_in": 1, "frag_atomic": 1},
		},
		{
			name: "empty fragment; a first fragment just holding the UDP header",
			frags: []frag{
				{v: 0, off: 0, more: true, data: d1000[:0]},
				{v: 2, off: 0, more: true, data: d1000[:8]},
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 2, "frag_bad_length": 1, "frag_timeout": 1},
		},
		{
			name: "tiny TCP first fragment and IPv4 offset 8 (RFC 1858)",
			frags: []frag{
				{v: 4, off: 0, more: true, data: d1000[:16]}, // TCP needs 20
				{v: 0, off: 0, more: true, data: d1000[:16]}, // UDP needs 8
				{v: 0, off: 8, more: true, data: d1000[8:16]},
				{v: 1, off: 8, more: true, data: d1000[8:16]}, // IPv6 has no FO=1 rule
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 4, "frag_tiny": 2, "frag_timeout": 2},
		},
		{
			name: "non-last fragment not a multiple of 8",
			frags: []frag{
				{v: 0, off: 0, more: true, data: d1000[:1001-1-4]},
				{v: 0, off: 0, more: true, data: d1000[:1000]},
				{v: 0, off: 1000, more: false, data: []byte{}},
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 3, "frag_bad_length": 2, "frag_timeout": 1},
		},
		{
			name: "teardrop: last fragment ends inside held data",
			frags: []frag{
				{v: 0, off: 0, more: true, data: d1000[:40]},
				{v: 0, off: 24, more: false, data: d1000[24:28]},
				{v: 0, off: 40, more: false, data: d1000[40:100]},
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 3, "frag_bad_length": 1, "frag_after_drop": 1},
		},
		{
			name: "two different last fragments",
			frags: []frag{
				{v: 0, off: 1000, more: false, data: d1000[:8]},
				{v: 0, off: 800, more: false, data: d1000[:8]},
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 2, "frag_bad_length": 1},
		},
		{
			name: "past 65535 (ping of death)",
			frags: []frag{
				{v: 0, off: 0, more: true, data: d1000[:1000-1000%8]},
				{v: 0, off: 65528, more: false, data: d1000[:16]},
				{v: 0, off: 65520, more: false, data: d1000[:15]},
			},
			end:      true,
			counters: map[string]uint64{"frag_in": 3, "frag_too_big": 1, "frag_after_drop": 1},
		},
		{
			name: "too many pieces",
			frags: func() []frag {
				var f []frag
				for i := range maxFragsPerSet + 1 {
					f = append(f, frag{v: 0, off: 8 + 16*(i+1), more: true, data: d1000[:8]})
				}
				return f
			}(),
			end:      true,
			counters: map[string]uint64{"frag_in": maxFragsPerSet + 1, "frag_too_many": 1},
		},
		{
			name:  "MaxFragmentSets: the oldest datagram goes",
			cfg:   func(c *Config) { c.MaxFragmentSets = 2 },
			frags: []frag{v4[0], v6[0], {v: 2, off: 0, more: true, data: big}, v4[1], v4[2], v6[1], v6[2]},
			// v4 was evicted by key 2; its later pieces start a new set,
			// which evicts v6; then v6's pieces start one, evicting key 2.
			end:      true,
			counters: map[string]uint64{"frag_in": 7, "frag_evicted_sets": 3, "frag_timeout": 2},
		},
		{
			name:     "MaxFragmentBytes: the oldest datagram goes",
			cfg:      func(c *Config) { c.MaxFragmentBytes = 4 * fragChunkSize },
			frags:    []frag{v4[0], v6[0], v6[1], v6[2], v4[1], v4[2]},
			want:     []fragOut{{3, d3000}},
			end:      true,
			counters: map[string]uint64{"frag_in": 6, "frag_evicted_bytes": 1, "frag_reassembled": 1, "frag_timeout": 1},
		},
		{
			name:     "MaxFragmentBytes below one datagram",
			cfg:      func(c *Config) { c.MaxFragmentBytes = 2 * fragChunkSize },
			frags:    v4,
			end:      true,
			counters: map[string]uint64{"frag_in": 3, "frag_evicted_bytes": 1, "frag_timeout": 1},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			var stats Stats
			d := newDefragmenter(cfg, &stats)
			var out []fragOut
			for i, f := range tc.frags {
				got, ok := d.add(fragKeys[f.v], f.off, f.more, f.data, t0+f.ms*int64(time.Millisecond))
				if ok {
					out = append(out, fragOut{i, bytes.Clone(got)})
				}
				if d.heldBytes() > cfg.MaxFragmentBytes || d.inProgress() > cfg.MaxFragmentSets {
					t.Fatalf("after %d: %d bytes in %d sets held", i, d.heldBytes(), d.inProgress())
				}
			}
			if tc.end {
				d.expire(math.MaxInt64)
				if d.heldBytes() != 0 || d.inProgress() != 0 {
					t.Errorf("%d bytes in %d sets held after expiry", d.heldBytes(), d.inProgress())
				}
			}
			if len(out) != len(tc.want) {
				t.Errorf("got %d datagrams, want %d", len(out), len(tc.want))
			}
			for i := range min(len(out), len(tc.want)) {
				if out[i].at != tc.want[i].at || !bytes.Equal(out[i].data, tc.want[i].data) {
					t.Errorf("datagram %d: completed by fragment %d, %d bytes; want %d, %d bytes", i, out[i].at, len(out[i].data), tc.want[i].at, len(tc.want[i].data))
				}
			}
			c := map[string]uint64{}
			for i := range stats.Frag {
				if v := stats.Frag[i].Load(); v != 0 {
					c[fragCounterNames[i]] = v
				}
			}
			if !equalCounts(c, tc.counters) {
				t.Errorf("counters\n got %v\nwant %v", c, tc.counters)
			}
		})
	}
}

// TestDefragFlood sends fragment sets that never complete: first fragments
// of 1232 bytes (the byte cap binds) and of 8 bytes (the set cap binds).
// Neither cap is ever exceeded, every set is accounted for, and the heap
// stays within what the caps allow.
func TestDefragFlood(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
	}{{"large first fragments", 1232}, {"small first fragments", 8}} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 200_000
			cfg := DefaultConfig()
			cfg.MaxFragmentSets = 1024
			cfg.MaxFragmentBytes = 1 << 20
			cfg.FragmentTimeout = 10 * time.Second
			var stats Stats
			d := newDefragmenter(cfg, &stats)
			runtime.GC()
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			payload := udpDatagram(3000)[:tc.size]
			k := fragKeys[0]
			for i := range n {
				k.id = uint32(i)
				k.src = netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
				// 100 µs apart: 20 s in all, so some sets also time out.
				if _, ok := d.add(k, 0, true, payload, t0+int64(i)*100_000); ok {
					t.Fatal("an incomplete datagram completed")
				}
				if d.heldBytes() > cfg.MaxFragmentBytes || d.inProgress() > cfg.MaxFragmentSets {
					t.Fatalf("after %d: %d bytes in %d sets", i, d.heldBytes(), d.inProgress())
				}
			}
			runtime.GC()
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			gone := stats.Frag[FragTimeout].Load() + stats.Frag[FragEvictedSets].Load() + stats.Frag[FragEvictedBytes].Load()
			if gone+uint64(d.inProgress()) != n {
				t.Errorf("%d sets dropped + %d held != %d sent", gone, d.inProgress(), n)
			}
			// Bound: the slots and index for MaxFragmentSets, the chunks for
			// MaxFragmentBytes, the output buffer, and 1 MiB for the runtime.
			bound := int64(cfg.MaxFragmentSets*(int(unsafe.Sizeof(fragSet{}))+2*int(unsafe.Sizeof(fragKey{}))+8)*2 +
				cfg.MaxFragmentBytes + maxDatagramPayload + 1<<20)
			grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
			t.Logf("%s: heap grew %d bytes (bound %d); counters timeout=%d evicted_sets=%d evicted_bytes=%d", tc.name, grew, bound,
				stats.Frag[FragTimeout].Load(), stats.Frag[FragEvictedSets].Load(), stats.Frag[FragEvictedBytes].Load())
			if grew > bound {
				t.Errorf("heap grew %d bytes, bound %d", grew, bound)
			}
			runtime.KeepAlive(d)
		})
	}
}

// TestDefragChosenCollisions sends first fragments of datagrams whose keys
// were chosen offline to share a few probe runs of an unseeded hash
// (synth.MixWords over the key words). The set table must spread them as
// it spreads any keys; with a fixed hash each fragment walks the whole run,
// so this fails if the seed is ever removed.
func TestDefragChosenCollisions(t *testing.T) {
	const (
		maxSets = 1024 // an index of 2^11
		mask    = 1<<11 - 1
		slots   = 16
		n       = 800
	)
	var keys []fragKey
	homes := map[uint64]bool{}
	k := fragKeys[0]
	for id := uint32(0); len(keys) < n; id++ {
		k.id = id
		var w fragWords
		k.words(&w)
		if h := synth.MixWords(w.sh, w.sl, w.dh, w.dl, w.marks) & mask; h < slots {
			keys = append(keys, k)
			homes[h] = true
		}
	}
	cfg := DefaultConfig()
	cfg.MaxFragmentSets = maxSets
	cfg.MaxFragmentBytes = 4 * n * fragChunkSize
	var stats Stats
	d := newDefragmenter(cfg, &stats)
	fr := split(0, udpDatagram(3000), 1232, 0)
	for _, k := range keys {
		d.add(k, fr[0].off, true, fr[0].data, t0)
	}
	for _, k := range keys { // and every datagram completed
		d.add(k, fr[1].off, true, fr[1].data, t0)
		if _, ok := d.add(k, fr[2].off, false, fr[2].data, t0); !ok {
			t.Fatalf("datagram %d not reassembled", k.id)
		}
	}
	if got := stats.Frag[FragReassembled].Load(); got != n || d.inProgress() != 0 {
		t.Fatalf("%d reassembled, %d in progress, want %d and 0", got, d.inProgress(), n)
	}
	// Measured 2.4 elements examined per fragment; unseeded, the first
	// fragments alone walk n²/2 = 320,000.
	probes := d.sets.Probes()
	t.Logf("%.2f probes per fragment (%d homes unseeded)", float64(probes)/(3*n), len(homes))
	if probes > 4*3*n {
		t.Fatalf("%d probes for %d fragments, want at most %d: chosen keys share probe runs, the set table's hash is not seeded",
			probes, 3*n, 4*3*n)
	}
}

// TestDefragAllocs checks that steady-state reassembly allocates nothing,
// with sets created, completed, evicted and timed out.
func TestDefragAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFragmentSets = 16
	cfg.MaxFragmentBytes = 32 * fragChunkSize
	var stats Stats
	d := newDefragmenter(cfg, &stats)
	dg := udpDatagram(3000)
	fr := split(0, dg, 1232, 0)
	i := 0
	run := func() {
		i++
		k := fragKeys[i%2]
		k.id = uint32(i)
		now := t0 + int64(i)*int64(time.Second)
		d.add(k, fr[2].off, false, fr[2].data, now)
		d.add(k, fr[0].off, true, fr[0].data, now)
		if i%3 != 0 { // every third stays incomplete until evicted or timed out
			if _, ok := d.add(k, fr[1].off, true, fr[1].data, now); !ok {
				t.Fatal("not reassembled")
			}
		}
	}
	for range 1000 {
		run()
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("%v allocations per datagram, want 0", n)
	}
}

// BenchmarkDefrag reassembles a 3000-byte datagram from three fragments.
func BenchmarkDefrag(b *testing.B) {
	var stats Stats
	d := newDefragmenter(DefaultConfig(), &stats)
	fr := split(0, udpDatagram(3000), 1232, 0)
	k := fragKeys[0]
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		k.id = uint32(i)
		d.add(k, fr[0].off, fr[0].more, fr[0].data, t0)
		d.add(k, fr[1].off, fr[1].more, fr[1].data, t0)
		if _, ok := d.add(k, fr[2].off, fr[2].more, fr[2].data, t0); !ok {
			b.Fatal("not reassembled")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(3*b.N), "ns/fragment")
}

// Fuzz input for the defragmenter: records of
//
//	ctl(1) offset(2) len(2) payload(len)
//
// ctl bits 0-1: which of four datagrams (IPv4 UDP, IPv6, IPv4 UDP, IPv4
// TCP … see fragKeys), bit 2: more fragments, bit 3: 2 s pass before it
// (else 1 ms). The offset is taken as given, so unaligned ones occur.
const fuzzFragRecord = 5

func encodeFuzzFrag(b []byte, v int, off int, more bool, p []byte) []byte {
	ctl := byte(v & 3)
	if more {
		ctl |= 4
	}
	b = append(b, ctl)
	b = binary.BigEndian.AppendUint16(b, uint16(off))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
	return append(b, p...)
}

// fragFuzzSeeds turns the fragments of the fragment captures into fuzz
// input, one seed per capture.
func fragFuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range streamCaptures {
		if c.counters["frag_reassembled"] == 0 {
			continue
		}
		var in []byte
		ids := map[uint32]int{}
		sel := func(id uint32, v6 bool) int {
			if _, ok := ids[id]; !ok {
				ids[id] = len(ids)
			}
			if v6 {
				return 1
			}
			return []int{0, 2}[ids[id]%2]
		}
		for _, p := range decodedPackets(t, pcapPath(c.name)) {
			if l := p.Layer(layers.LayerTypeIPv6Fragment); l != nil {
				f := l.(*layers.IPv6Fragment)
				in = encodeFuzzFrag(in, sel(f.Identification, true), int(f.FragmentOffset)*8, f.MoreFragments, f.Payload)
				continue
			}
			if l := p.Layer(layers.LayerTypeIPv4); l != nil {
				ip := l.(*layers.IPv4)
				if ip.Flags&layers.IPv4MoreFragments != 0 || ip.FragOffset != 0 {
					in = encodeFuzzFrag(in, sel(uint32(ip.Id), false), int(ip.FragOffset)*8, ip.Flags&layers.IPv4MoreFragments != 0, ip.Payload)
				}
			}
		}
		seeds = append(seeds, in)
	}
	return seeds
}

func FuzzDefrag(f *testing.F) {
	for _, s := range fragFuzzSeeds(f) {
		f.Add(s)
	}
	d := udpDatagram(3000)
	var seed []byte
	for _, fr := range reversed(split(1, d, 1232, 0)) {
		seed = encodeFuzzFrag(seed, fr.v, fr.off, fr.more, fr.data)
	}
	f.Add(seed)
	cfg := DefaultConfig()
	cfg.MaxFragmentSets = 3
	cfg.MaxFragmentBytes = 8 * fragChunkSize
	cfg.FragmentTimeout = 5 * time.Second
	f.Fuzz(func(t *testing.T, in []byte) {
		var stats Stats
		d := newDefragmenter(cfg, &stats)
		ts := t0
		for len(in) >= fuzzFragRecord {
			ctl := in[0]
			off := int(binary.BigEndian.Uint16(in[1:3]))
			n := min(int(binary.BigEndian.Uint16(in[3:5])), len(in)-fuzzFragRecord)
			p := in[fuzzFragRecord : fuzzFragRecord+n]
			in = in[fuzzFragRecord+n:]
			if ctl&8 != 0 {
				ts += 2 * int64(time.Second)
			} else {
				ts += int64(time.Millisecond)
			}
			more := ctl&4 != 0
			out, ok := d.add(fragKeys[ctl&3], off, more, p, ts)
			if ok {
				// The completing fragment's bytes are in place (a
				// conflicting overlap would have dropped the datagram),
				// and a last fragment sets the length.
				if len(out) > maxDatagramPayload || off+len(p) > len(out) || !bytes.Equal(out[off:off+len(p)], p) {
					t.Fatalf("datagram of %d bytes from fragment at %d+%d", len(out), off, len(p))
				}
				if !more && len(out) != off+len(p) {
					t.Fatalf("datagram of %d bytes, last fragment ends at %d", len(out), off+len(p))
				}
			}
			if d.heldBytes() > cfg.MaxFragmentBytes || d.inProgress() > cfg.MaxFragmentSets {
				t.Fatalf("%d bytes in %d sets held", d.heldBytes(), d.inProgress())
			}
		}
		d.expire(math.MaxInt64)
		if d.heldBytes() != 0 || d.inProgress() != 0 {
			t.Fatalf("after expiry: %d bytes in %d sets held", d.heldBytes(), d.inProgress())
		}
	})
}
