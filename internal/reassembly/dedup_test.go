package reassembly

import (
	"bytes"
	"encoding/binary"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// caseFrame returns the bytes of the named crafted frame of cases.
func caseFrame(t testing.TB, cases []decodeCase, name string) []byte {
	t.Helper()
	for _, tc := range cases {
		if tc.name == name {
			return mustHex(t, tc.frame)
		}
	}
	t.Fatalf("no case %q", name)
	return nil
}

// routed returns an Ethernet+IPv4 frame as the next router hop sends it:
// other MACs, TTL one lower, header checksum recomputed.
func routed(t testing.TB, frame []byte) []byte {
	t.Helper()
	b := bytes.Clone(frame)
	copy(b[0:12], []byte{0x02, 0, 0, 0, 0, 0x99, 0x02, 0, 0, 0, 0, 0x98})
	ip := b[ethernetLen : ethernetLen+ipv4MinHeaderLen]
	if ip[8] == 0 {
		t.Fatal("TTL 0")
	}
	ip[8]--
	ip[10], ip[11] = 0, 0
	var sum uint32
	for i := 0; i < len(ip); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	return b
}

// retagged returns a VLAN-tagged Ethernet frame with another VID.
func retagged(frame []byte, vid uint16) []byte {
	b := bytes.Clone(frame)
	binary.BigEndian.PutUint16(b[14:16], vid)
	return b
}

// dedupStep is one frame of a dedup scenario and what it must yield.
type dedupStep struct {
	frame []byte
	at    time.Duration // capture time after the scenario's start
	msgs  int           // UDP messages or TCP segments handed on from this frame
}

func TestDedup(t *testing.T) {
	q4 := caseFrame(t, linkCases, "ethernet ipv4 udp query")
	r6 := caseFrame(t, linkCases, "ethernet ipv6 udp response")
	v11 := caseFrame(t, linkCases, "802.1Q vlan 11")
	erspan := caseFrame(t, tunnelCases, "erspan type II") // carries r6's IPv6 packet
	seg := caseFrame(t, transportCases, "tcp segment to port 53")
	q6 := caseFrame(t, linkCases, "ethernet ipv6 udp query")
	const window = 10 * time.Millisecond
	tests := []struct {
		name             string
		steps            []dedupStep
		removed, evicted uint64
		tcpRetrans       uint64
	}{
		{"TTL-1 and a new checksum after a router hop", []dedupStep{
			{q4, 0, 1}, {routed(t, q4), 300 * time.Microsecond, 0},
		}, 1, 0, 0},
		{"the same packet on two VLANs", []dedupStep{
			{v11, 0, 1}, {retagged(v11, 12), time.Millisecond, 0},
		}, 1, 0, 0},
		{"plain, then inside ERSPAN", []dedupStep{
			{r6, 0, 1}, {erspan, 2 * time.Millisecond, 0},
		}, 1, 0, 0},
		{"inside ERSPAN, then plain", []dedupStep{
			{erspan, 0, 1}, {r6, 2 * time.Millisecond, 0},
		}, 1, 0, 0},
		{"three copies, the last at the window's edge", []dedupStep{
			{q4, 0, 1}, {routed(t, q4), time.Millisecond, 0}, {q4, window, 0},
		}, 2, 0, 0},
		{"a copy just after the window is kept", []dedupStep{
			{q4, 0, 1}, {q4, window + 1, 1},
		}, 0, 0, 0},
		{"a copy arriving a little earlier from another interface", []dedupStep{
			{q4, 5 * time.Millisecond, 1}, {routed(t, q4), 0, 0},
		}, 1, 0, 0},
		{"TCP retransmission inside the window: removed", []dedupStep{
			{seg, 0, 1}, {seg, 4 * time.Millisecond, 0},
		}, 1, 0, 0},
		{"TCP retransmission after the window: kept", []dedupStep{
			{seg, 0, 1}, {seg, 200 * time.Millisecond, 1},
		}, 0, 0, 1},
		{"a client's genuine retry after the window (IPv6: no IP ID to tell them apart)", []dedupStep{
			{q6, 0, 1}, {q6, time.Second, 1},
		}, 0, 0, 0},
		{"query and response are different packets", []dedupStep{
			{q4, 0, 1}, {caseFrame(t, linkCases, "ethernet ipv4 udp response"), 0, 1},
		}, 0, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DedupWindow = window
			s := &recordingSink{}
			a := NewAssembler(cfg, s)
			t0 := int64(1_700_000_000e9)
			for i, st := range tt.steps {
				kept := func() int { return int(a.stats.Decode[DecodeMessagesUDP].Load() + a.stats.TCP[TCPSegments].Load()) }
				before := kept()
				f := packet.Frame{Data: st.frame, Timestamp: t0 + int64(st.at), WireLen: len(st.frame), LinkType: packet.LinkTypeEthernet}
				a.HandleFrame(&f)
				if got := kept() - before; got != st.msgs {
					t.Errorf("frame %d: %d UDP messages or TCP segments, want %d (counters %v)", i+1, got, st.msgs, counters(a))
				}
			}
			if got := a.stats.Dedup[DedupRemoved].Load(); got != tt.removed {
				t.Errorf("dedup_removed = %d, want %d", got, tt.removed)
			}
			if got := a.stats.Dedup[DedupEvicted].Load(); got != tt.evicted {
				t.Errorf("dedup_evicted = %d, want %d", got, tt.evicted)
			}
			if got := a.stats.TCP[TCPRetransmissions].Load(); got != tt.tcpRetrans {
				t.Errorf("tcp_retransmissions = %d, want %d", got, tt.tcpRetrans)
			}
		})
	}
}

// TestDedupOff: without a window every copy is decoded.
func TestDedupOff(t *testing.T) {
	q4 := caseFrame(t, linkCases, "ethernet ipv4 udp query")
	_, s := runFrames([]packet.Frame{
		{Data: q4, Timestamp: 1e18, WireLen: len(q4), LinkType: packet.LinkTypeEthernet},
		{Data: routed(t, q4), Timestamp: 1e18, WireLen: len(q4), LinkType: packet.LinkTypeEthernet},
	})
	if len(s.msgs) != 2 {
		t.Fatalf("%d messages, want 2", len(s.msgs))
	}
}

// TestDedupCaptureOnTwoVLANs mirrors every frame of a real capture twice, as
// a SPAN session of two VLANs delivers it (one copy tagged 11, one 12, the
// second 200 µs later): with --dedup the messages are exactly those of the
// capture alone; without, each twice.
func TestDedupCaptureOnTwoVLANs(t *testing.T) {
	orig := readCapture(t, pcapPath("dnscap_vlan11.pcap"))
	var both []packet.Frame
	for _, f := range orig {
		c := f
		c.Data = retagged(f.Data, 12)
		c.Timestamp += 200e3
		both = append(both, f, c)
	}
	_, want := runFrames(orig)
	for _, window := range []time.Duration{0, 10 * time.Millisecond} {
		cfg := DefaultConfig()
		cfg.DedupWindow = window
		s := &recordingSink{}
		a := NewAssembler(cfg, s)
		for i := range both {
			a.HandleFrame(&both[i])
		}
		a.Flush()
		if window == 0 {
			if len(s.msgs) != 2*len(want.msgs) {
				t.Errorf("without dedup: %d messages, want %d", len(s.msgs), 2*len(want.msgs))
			}
			continue
		}
		if len(s.msgs) != len(want.msgs) {
			t.Fatalf("with dedup: %d messages, want %d", len(s.msgs), len(want.msgs))
		}
		for i := range s.msgs {
			if s.msgs[i].Src != want.msgs[i].Src || s.msgs[i].Timestamp != want.msgs[i].Timestamp || !bytes.Equal(s.msgs[i].Payload, want.msgs[i].Payload) {
				t.Errorf("message %d differs from the capture's own", i)
			}
		}
		// Every IP frame of the capture has its copy removed.
		ip := 0
		for _, f := range orig {
			if et := binary.BigEndian.Uint16(f.Data[16:18]); et == etherTypeIPv4 || et == etherTypeIPv6 {
				ip++
			}
		}
		if got := a.stats.Dedup[DedupRemoved].Load(); got != uint64(ip) {
			t.Errorf("dedup_removed = %d, want %d (one per IP frame)", got, ip)
		}
	}
}

// TestDedupChosenCollisions drives the table with chosen hash values: what
// shares a bucket, or even a hash, with another identity must not be taken
// for it, and a full bucket evicts its oldest identity, counted.
func TestDedupChosenCollisions(t *testing.T) {
	var st Stats
	d := newDeduper(int64(time.Second), 4*dedupWays, &st) // 4 buckets
	const ts = int64(1e18)
	bucket0 := func(i uint64) uint64 { return i << 32 } // low bits 0: all in bucket 0
	for i := uint64(1); i <= dedupWays; i++ {
		if d.seen(bucket0(i), ts+int64(i)) {
			t.Fatalf("identity %d taken for a duplicate", i)
		}
	}
	if d.seen(bucket0(1)|1<<63, ts) {
		t.Fatal("same bucket, same low bits, other hash: taken for a duplicate")
	}
	// That insert evicted the oldest (identity 1).
	if got := st.Dedup[DedupEvicted].Load(); got != 1 {
		t.Fatalf("evicted = %d, want 1", got)
	}
	if d.seen(bucket0(1), ts+10) {
		t.Fatal("an evicted identity is still found")
	}
	for i := uint64(3); i <= dedupWays; i++ {
		if !d.seen(bucket0(i), ts+20) {
			t.Fatalf("identity %d in a crowded bucket not found", i)
		}
	}
	if st.Dedup[DedupRemoved].Load() != dedupWays-2 {
		t.Fatalf("removed = %d, want %d", st.Dedup[DedupRemoved].Load(), dedupWays-2)
	}
	// Other buckets are untouched by bucket 0's crowd.
	if d.seen(bucket0(3)|1, ts) {
		t.Fatal("a hash of another bucket taken for a duplicate")
	}
	// Expired entries are reused without counting an eviction.
	ev := st.Dedup[DedupEvicted].Load()
	for i := uint64(10); i < 10+dedupWays; i++ {
		d.seen(bucket0(i), ts+int64(10*time.Second))
	}
	if got := st.Dedup[DedupEvicted].Load(); got != ev {
		t.Fatalf("expired entries counted as evictions: %d → %d", ev, got)
	}
}

// TestDedupFlood: a flood of distinct packets keeps the table at its size;
// every packet is decoded, and each one beyond the table's capacity
// evicts one identity.
func TestDedupFlood(t *testing.T) {
	q4 := caseFrame(t, linkCases, "ethernet ipv4 udp query")
	cfg := DefaultConfig()
	cfg.DedupWindow = time.Minute
	cfg.DedupEntries = 64
	a := NewAssembler(cfg, &nopSink{})
	size := len(a.dedup.entries)
	const n = 100_000
	f := packet.Frame{Data: bytes.Clone(q4), WireLen: len(q4), LinkType: packet.LinkTypeEthernet, Timestamp: 1e18}
	for i := 0; i < n; i++ {
		binary.BigEndian.PutUint32(f.Data[ethernetLen+ipv4MinHeaderLen+udpHeaderLen+12:], uint32(i)) // the question name: every packet distinct
		f.Timestamp++
		a.HandleFrame(&f)
	}
	if len(a.dedup.entries) != size || size != 64 {
		t.Fatalf("table of %d entries, was %d", len(a.dedup.entries), size)
	}
	if got := a.stats.Decode[DecodeMessagesUDP].Load(); got != n {
		t.Errorf("%d messages, want %d", got, n)
	}
	if got := a.stats.Dedup[DedupRemoved].Load(); got != 0 {
		t.Errorf("dedup_removed = %d, want 0", got)
	}
	// Buckets fill unevenly: each of the 64 entries is taken once without
	// an eviction at most, so at least n-64 inserts evicted.
	if got := a.stats.Dedup[DedupEvicted].Load(); got < n-64 || got > n {
		t.Errorf("dedup_evicted = %d, want between %d and %d", got, n-64, n)
	}
}

func TestDedupAllocs(t *testing.T) {
	q4 := caseFrame(t, linkCases, "ethernet ipv4 udp query")
	r6 := caseFrame(t, tunnelCases, "erspan type II")
	cfg := DefaultConfig()
	cfg.DedupWindow = 10 * time.Millisecond
	a := NewAssembler(cfg, &nopSink{})
	frames := []packet.Frame{
		{Data: q4, WireLen: len(q4), LinkType: packet.LinkTypeEthernet, Timestamp: 1e18},
		{Data: routed(t, q4), WireLen: len(q4), LinkType: packet.LinkTypeEthernet, Timestamp: 1e18},
		{Data: r6, WireLen: len(r6), LinkType: packet.LinkTypeEthernet, Timestamp: 1e18},
	}
	n := testing.AllocsPerRun(100, func() {
		for i := range frames {
			frames[i].Timestamp += 1e7
			a.HandleFrame(&frames[i])
		}
	})
	if n != 0 {
		t.Fatalf("%v allocations per run, want 0", n)
	}
}

// FuzzDedup decodes arbitrary bytes twice within the window and once after
// it: the copy must yield nothing, whatever the frame holds.
func FuzzDedup(f *testing.F) {
	for _, cases := range [][]decodeCase{linkCases, tunnelCases, transportCases, pppCases, gtpCases} {
		for _, tc := range cases {
			f.Add(uint16(tc.link), mustHex(f, tc.frame), uint16(0))
		}
	}
	f.Fuzz(func(t *testing.T, lt uint16, data []byte, ttlAt uint16) {
		cfg := fuzzConfig()
		cfg.DedupWindow = 10 * time.Millisecond
		cfg.DedupEntries = 16
		s := &recordingSink{}
		a := NewAssembler(cfg, s)
		fr := packet.Frame{Data: data, Timestamp: 1e18, WireLen: len(data), LinkType: packet.LinkType(lt)}
		a.HandleFrame(&fr)
		first := len(s.msgs)
		fr.Timestamp += 5e6
		a.HandleFrame(&fr)
		if len(s.msgs) != first {
			t.Fatalf("the copy yielded %d more messages", len(s.msgs)-first)
		}
		fr.Timestamp += 1e9
		a.HandleFrame(&fr)
		a.Flush()
	})
}

// BenchmarkDedup is the cost of the dedup stage per packet: distinct UDP
// DNS packets decoded with dedup off and on (each is looked up and
// inserted), and copies removed.
func BenchmarkDedup(b *testing.B) {
	q4 := caseFrame(b, linkCases, "ethernet ipv4 udp query")
	for _, v := range []struct {
		name   string
		window time.Duration
		copies bool
	}{{"off", 0, false}, {"on-distinct", 10 * time.Millisecond, false}, {"on-copies", 10 * time.Millisecond, true}} {
		b.Run(v.name, func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.DedupWindow = v.window
			a := NewAssembler(cfg, &nopSink{})
			f := packet.Frame{Data: bytes.Clone(q4), WireLen: len(q4), LinkType: packet.LinkTypeEthernet, Timestamp: 1e18}
			id := f.Data[ethernetLen+4 : ethernetLen+6]
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				if !v.copies || i%2 == 0 {
					binary.BigEndian.PutUint16(id, uint16(i)) // a new IPv4 ID
				}
				f.Timestamp += 1000
				a.HandleFrame(&f)
			}
			// On a shared machine wall time includes waiting for a
			// core; the process's CPU time does not.
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// cpuTime is the process's user and system CPU time in nanoseconds.
func cpuTime() int64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return ru.Utime.Nano() + ru.Stime.Nano()
}
