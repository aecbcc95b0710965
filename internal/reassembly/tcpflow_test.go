package reassembly

import (
	"fmt"
	"net/netip"
	"runtime"
	"testing"
	"unsafe"

	"github.com/dnstap-sensor/dnstap-sensor/internal/synth"
)

func unsafeSizeofFlow() uintptr { return unsafe.Sizeof(tcpFlow{}) }

func unsafeSizeofFlowKey() uintptr { return unsafe.Sizeof(flowKey{}) }

// TestTCPFlowEviction checks the LRU: the least recently active connection
// goes first, and what it held is counted.
func TestTCPFlowEviction(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFlows = 2
	tr := newTCPRun(t, cfg)
	q := framed(dnsQuery(1, "a.example"))
	mk := func(port uint16, data []byte, ms int64) *tcpSegment {
		return &tcpSegment{src: netip.AddrPortFrom(tcli.Addr(), port), dst: tsrv, flags: tcpACK, seq: 100, payload: data, ts: t0 + ms*1e6}
	}
	tr.r.segment(mk(1, q[:5], 1)) // flow 1, partial
	tr.r.segment(mk(2, q[:5], 2)) // flow 2, partial
	s := mk(1, q[5:], 3)          // flow 1 again: now the most recent
	s.seq = 105
	tr.r.segment(s)
	tr.r.segment(mk(3, q, 4)) // evicts flow 2
	if tr.r.tracked() != 2 {
		t.Fatalf("tracked %d flows", tr.r.tracked())
	}
	want := map[string]uint64{"tcp_segments": 4, "tcp_flows_created": 3, "tcp_flows_evicted": 1, "tcp_messages": 2,
		"tcp_resyncs": 2, "tcp_bytes_discarded": 5}
	if c := tr.counters(); !equalCounts(c, want) {
		t.Errorf("counters\n got %v\nwant %v", c, want)
	}
	if len(tr.got) != 2 {
		t.Errorf("got %d messages", len(tr.got))
	}
}

// TestTCPSYNFlood sends a million SYNs to distinct ports: the table never
// exceeds MaxFlows, every flow beyond it is evicted, and the heap stays
// within what MaxFlows allows.
func TestTCPSYNFlood(t *testing.T) {
	const n = 1_000_000
	cfg := DefaultConfig()
	cfg.MaxFlows = 4096
	var stats Stats
	r := newTCPReassembler(cfg, &stats, func(netip.AddrPort, netip.AddrPort, []byte, int64) {})
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	s := &tcpSegment{dst: tsrv, flags: tcpSYN}
	base := netip.MustParseAddr("198.51.100.0").As4()
	maxTracked := 0
	for i := range n {
		a := base
		a[2], a[3] = byte(i>>16), byte(i>>8)
		s.src = netip.AddrPortFrom(netip.AddrFrom4(a), uint16(i))
		s.seq = uint32(i)
		s.ts = t0 + int64(i)*1000 // 1 µs apart: nothing times out
		r.segment(s)
		if i%4096 == 0 {
			maxTracked = max(maxTracked, r.tracked())
		}
	}
	maxTracked = max(maxTracked, r.tracked())
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	if maxTracked > cfg.MaxFlows {
		t.Errorf("tracked %d flows, max %d", maxTracked, cfg.MaxFlows)
	}
	if got := stats.TCP[TCPFlowsEvicted].Load(); got != n-uint64(cfg.MaxFlows) {
		t.Errorf("evicted %d, want %d", got, n-cfg.MaxFlows)
	}
	if got := stats.TCP[TCPFlowsCreated].Load(); got != n {
		t.Errorf("created %d, want %d", got, n)
	}
	// Bound: the flow slots and the index, each at most MaxFlows entries,
	// with a factor 2 for map growth slack and 1 MiB for the runtime.
	flowSize := int(unsafeSizeofFlow())
	bound := uint64(cfg.MaxFlows*(flowSize+2*int(unsafeSizeofFlowKey())+8)*2 + 1<<20)
	grew := int64(after.HeapAlloc) - int64(before.HeapAlloc)
	t.Logf("heap grew %d bytes for %d flows (bound %d, flow %d bytes)", grew, cfg.MaxFlows, bound, flowSize)
	if grew > int64(bound) {
		t.Errorf("heap grew %d bytes, bound %d", grew, bound)
	}
	runtime.KeepAlive(r)
}

// TestTCPChosenCollisions opens connections whose keys were chosen offline
// to share a few probe runs of an unseeded hash (the multiply-mix the
// pending-query table used, synth.MixWords, over the flow words). The flow
// index must spread them as it spreads any keys: a few index elements
// examined per segment. With a fixed hash the same keys cost a walk of the
// whole run each, so this fails if the seed is ever removed.
func TestTCPChosenCollisions(t *testing.T) {
	const (
		maxFlows = 4096 // an index of 2^13
		mask     = 1<<13 - 1
		slots    = 32
		n        = 2000
	)
	// The attacker's search: client addresses and ports until n keys land
	// in the first slots homes of the unseeded hash.
	var srcs []netip.AddrPort
	homes := map[uint64]bool{}
	for i := 0; len(srcs) < n; i++ {
		src := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, byte(i >> 16), byte(i >> 8)}), uint16(1024+i&0xff))
		var w flowWords
		keyOf4(src, tsrv, 0, &w)
		if h := synth.MixWords(w.ah, w.al, w.bh, w.bl, w.marks) & mask; h < slots {
			srcs = append(srcs, src)
			homes[h] = true
		}
	}
	cfg := DefaultConfig()
	cfg.MaxFlows = maxFlows
	var stats Stats
	r := newTCPReassembler(cfg, &stats, func(netip.AddrPort, netip.AddrPort, []byte, int64) {})
	q := framed(dnsQuery(1, "a.example"))
	for i, src := range srcs {
		r.segment(&tcpSegment{src: src, dst: tsrv, flags: tcpSYN, seq: 1, ts: t0 + int64(i)})
	}
	for i, src := range srcs { // the flows again, from the other end of the index's runs
		r.segment(&tcpSegment{src: src, dst: tsrv, flags: tcpACK, seq: 2, payload: q, ts: t0 + n + int64(i)})
	}
	if got := stats.TCP[TCPMessages].Load(); got != n || r.tracked() != n {
		t.Fatalf("%d messages from %d flows, want %d from %d", got, r.tracked(), n, n)
	}
	// A SYN is a lookup that misses and an insert, a data segment a
	// lookup that hits: at a load of 1/4, one or two elements each
	// (measured 1.7 per segment). Unseeded, the n keys form one run and
	// the SYNs alone walk n²/2 = 2 million.
	probes := r.flows.Probes()
	t.Logf("%.2f probes per segment (%d homes unseeded)", float64(probes)/(2*n), len(homes))
	if probes > 4*2*n {
		t.Fatalf("%d probes for %d segments, want at most %d: chosen keys share probe runs, the flow index's hash is not seeded",
			probes, 2*n, 4*2*n)
	}
}

// TestTCPFlowLayout keeps tcpFlow a whole number of cache lines, with
// what every segment reads (key words, hash, both directions' state) in
// its first three, so that flows in the slot array never straddle more
// lines than they must.
func TestTCPFlowLayout(t *testing.T) {
	var f tcpFlow
	if size := unsafe.Sizeof(f); size%64 != 0 {
		t.Errorf("tcpFlow is %d bytes, not a multiple of 64", size)
	}
	if end := unsafe.Offsetof(f.Val) + unsafe.Offsetof(f.Val.dir) + unsafe.Sizeof(f.Val.dir); end > 3*64 {
		t.Errorf("direction state ends at byte %d, past the third cache line", end)
	}
}

// TestTCPFlowKeys checks that keyOf names both directions of a connection
// alike, orders the endpoints as netip does, and keeps apart keys that
// differ only in what the 16-byte address form loses (family, zone) or in
// the VLAN.
func TestTCPFlowKeys(t *testing.T) {
	ap := netip.MustParseAddrPort
	cases := []struct {
		name     string
		src, dst netip.AddrPort
	}{
		{"ipv4 client first", ap("192.0.2.1:40000"), ap("192.0.2.53:53")},
		{"ipv4 server first", ap("192.0.2.53:53"), ap("192.0.2.1:40000")},
		{"ipv4 same address", ap("192.0.2.1:53"), ap("192.0.2.1:40000")},
		{"ipv6", ap("[2001:db8::1]:40000"), ap("[2001:db8::53]:53")},
		{"ipv6 high word differs", ap("[2001:db9::1]:40000"), ap("[2001:db8::53]:53")},
		{"ipv4-mapped ipv6", ap("[::ffff:192.0.2.1]:40000"), ap("[::ffff:192.0.2.53]:53")},
		{"mixed families", ap("[::ffff:192.0.2.1]:40000"), ap("192.0.2.53:53")},
		{"zoned", ap("[fe80::1%eth0]:40000"), ap("[fe80::1%eth1]:53")},
		{"zoned same port", ap("[fe80::1%eth1]:53"), ap("[fe80::1%eth0]:53")},
		{"zero addresses", netip.AddrPortFrom(netip.Addr{}, 2), netip.AddrPortFrom(netip.Addr{}, 1)},
	}
	seen := map[flowWords]flowKey{}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var k, k2 flowKey
			var w, w2 flowWords
			di := keyOf(tc.src, tc.dst, 7, &k, &w)
			di2 := keyOf(tc.dst, tc.src, 7, &k2, &w2)
			if k != k2 || w != w2 || di+di2 != 1 {
				t.Fatalf("directions differ: %v/%v %d, %v/%v %d", k, w, di, k2, w2, di2)
			}
			// The old rule: a is the lower endpoint in netip's order.
			swap := tc.dst.Addr().Less(tc.src.Addr()) || tc.dst.Addr() == tc.src.Addr() && tc.dst.Port() < tc.src.Port()
			if want := map[bool]int{false: 0, true: 1}[swap]; di != want {
				t.Errorf("direction %d, want %d (key %v)", di, want, k)
			}
			if tc.src.Addr().Is4() && tc.dst.Addr().Is4() {
				var w4 flowWords
				var k4 flowKey
				di4 := keyOf4(tc.src, tc.dst, 7, &w4)
				(&tcpSegment{src: tc.src, dst: tc.dst, vlan: 7}).setKey(di4, &k4)
				if di4 != di || k4 != k || w4 != w {
					t.Errorf("keyOf4 = %d %v %v, keyOf = %d %v %v", di4, k4, w4, di, k, w)
				}
			}
			var kv flowKey
			var wv flowWords
			keyOf(tc.src, tc.dst, 8, &kv, &wv)
			if wv == w {
				t.Errorf("VLAN 7 and 8 share words %v", w)
			}
			if other, ok := seen[w]; ok && other != k && w.marks&flowZoned == 0 {
				t.Errorf("words %v also name %v", w, other)
			}
			seen[w] = k
		})
	}
}

// TestTCPFlowIndex churns the open-addressing index through inserts and
// removals in a table small enough for long probe runs, and checks every
// lookup against a map.
func TestTCPFlowIndex(t *testing.T) {
	for _, maxFlows := range []int{1, 5, 37, 300} {
		t.Run(fmt.Sprint(maxFlows), func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MaxFlows = maxFlows
			var stats Stats
			r := newTCPReassembler(cfg, &stats, func(netip.AddrPort, netip.AddrPort, []byte, int64) {})
			type entry struct {
				k flowKey
				w flowWords
			}
			mkKey := func(n int) entry {
				var e entry
				a := netip.AddrFrom4([4]byte{198, 51, 100, byte(n % 7)})
				port := uint16(1024 + n)
				switch n % 6 {
				case 0, 3:
					a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(n % 5)})
				case 1:
					// Four keys with the same words, told apart by the
					// zone alone.
					a = netip.AddrFrom16([16]byte{0xfe, 0x80, 15: 1}).WithZone(fmt.Sprint("eth", n/6%4))
					port = 1024
				}
				keyOf(netip.AddrPortFrom(a, port), netip.AddrPortFrom(a, 53), 0, &e.k, &e.w)
				return e
			}
			live := map[flowKey]int32{}
			rng := uint32(1)
			for step := range 20000 {
				rng = rng*1664525 + 1013904223
				e := mkKey(int(rng>>8) % (3 * maxFlows))
				h := r.flowHash(&e.w)
				got := r.lookup(&e.w, &e.k, h)
				want, ok := live[e.k]
				if !ok {
					want = -1
				}
				if got != want {
					t.Fatalf("step %d: lookup %v = %d, want %d", step, e.k, got, want)
				}
				switch {
				case got >= 0:
					r.endFlow(got)
					delete(live, e.k)
				default:
					if len(live) == maxFlows {
						for k, i := range live {
							if i == r.flows.Oldest() {
								delete(live, k)
							}
						}
					}
					live[e.k] = r.newFlow(&e.w, &e.k, h, t0)
				}
				if r.tracked() != len(live) {
					t.Fatalf("step %d: tracked %d, want %d", step, r.tracked(), len(live))
				}
			}
			for k, i := range live {
				var w flowWords
				var k2 flowKey
				keyOf(k.a, k.b, k.vlan, &k2, &w)
				if got := r.lookup(&w, &k2, r.flowHash(&w)); got != i {
					t.Errorf("lookup %v = %d, want %d", k, got, i)
				}
			}
		})
	}
}
