package reassembly

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
)

// dnsName encodes a dotted name in wire form.
func dnsName(name string) []byte {
	var b []byte
	for _, l := range strings.Split(strings.TrimSuffix(name, "."), ".") {
		if l == "" {
			continue
		}
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

// dnsQuery is a one-question A query.
func dnsQuery(id uint16, name string) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0)
	b = append(b, dnsName(name)...)
	return append(b, 0, 1, 0, 1)
}

// dnsTXT is a response to a TXT question with one TXT record, padded with
// character-strings so that the message is exactly size bytes (at least 45
// for a short name).
func dnsTXT(id uint16, name string, size int) []byte {
	b := binary.BigEndian.AppendUint16(nil, id)
	b = append(b, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0)
	b = append(b, dnsName(name)...)
	b = append(b, 0, 16, 0, 1)
	b = append(b, 0xc0, 12, 0, 16, 0, 1, 0, 0, 0, 60)
	rdlen := size - len(b) - 2
	if rdlen < 1 {
		panic("dnsTXT: size too small")
	}
	b = binary.BigEndian.AppendUint16(b, uint16(rdlen))
	for rdlen > 0 {
		n := min(rdlen-1, 255)
		b = append(b, byte(n))
		b = append(b, bytes.Repeat([]byte{'x'}, n)...)
		rdlen -= n + 1
	}
	return b
}

// framed prefixes each message with its RFC 1035 §4.2.2 length.
func framed(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

// cat concatenates byte slices.
func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	tcli = netip.MustParseAddrPort("192.0.2.10:40000")
	tsrv = netip.MustParseAddrPort("192.0.2.53:53")
)

const (
	cISN = uint32(1000)
	sISN = uint32(5000)
	t0   = int64(1_700_000_000_000_000_000)
)

// seg describes one crafted segment: from the client (or server), at
// stream offset off (bytes after the SYN), with flags and payload, at t0+ms.
type seg struct {
	srv   bool
	off   uint32
	flags uint8
	data  []byte
	ms    int64
	ack   uint32 // stream offset acknowledged in the other direction
	seq   *uint32
}

// got is one delivered message.
type got struct {
	srv bool // sent by the server
	msg []byte
	ms  int64
}

type tcpCase struct {
	name     string
	cfg      func(*Config)
	cISN     uint32
	sISN     uint32
	segs     []seg
	noFlush  bool
	want     []got
	counters map[string]uint64
}

// tcpRun feeds segments to a fresh reassembler and records deliveries.
type tcpRun struct {
	r     *tcpReassembler
	stats Stats
	got   []got
	t     testing.TB
}

func newTCPRun(t testing.TB, cfg Config) *tcpRun {
	tr := &tcpRun{t: t}
	tr.r = newTCPReassembler(cfg, &tr.stats, func(src, dst netip.AddrPort, msg []byte, ts int64) {
		srv := src == tsrv
		if !srv && src != tcli {
			srv = src.Port() == 53
		}
		if l := len(msg); l > 65535 {
			t.Fatalf("delivered %d bytes", l)
		}
		tr.got = append(tr.got, got{srv: srv, msg: bytes.Clone(msg), ms: (ts - t0) / int64(time.Millisecond)})
	})
	return tr
}

func (tr *tcpRun) counters() map[string]uint64 {
	m := map[string]uint64{}
	for i := range tr.stats.TCP {
		if v := tr.stats.TCP[i].Load(); v != 0 {
			m[tcpCounterNames[i]] = v
		}
	}
	return m
}

func (c *tcpCase) segment(s seg) *tcpSegment {
	out := &tcpSegment{src: tcli, dst: tsrv, flags: s.flags, payload: s.data, ts: t0 + s.ms*int64(time.Millisecond)}
	isn, peer := c.cISN, c.sISN
	if s.srv {
		out.src, out.dst = tsrv, tcli
		isn, peer = c.sISN, c.cISN
	}
	out.seq = isn + 1 + s.off
	if s.flags&tcpSYN != 0 {
		out.seq = isn + s.off
	}
	if s.seq != nil {
		out.seq = *s.seq
	}
	if s.flags&tcpACK != 0 {
		out.ack = peer + 1 + s.ack
	}
	return out
}

// handshake is SYN, SYN-ACK, ACK.
var handshake = []seg{
	{flags: tcpSYN},
	{srv: true, flags: tcpSYN | tcpACK},
	{flags: tcpACK},
}

func withHandshake(s ...seg) []seg { return append(append([]seg{}, handshake...), s...) }

func runTCPCases(t *testing.T, cases []tcpCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			if tc.cISN == 0 && tc.sISN == 0 {
				tc.cISN, tc.sISN = cISN, sISN
			}
			tr := newTCPRun(t, cfg)
			for _, s := range tc.segs {
				tr.r.segment(tc.segment(s))
			}
			if !tc.noFlush {
				tr.r.flush()
			}
			if len(tr.got) != len(tc.want) {
				t.Errorf("got %d messages, want %d", len(tr.got), len(tc.want))
			}
			for i := range min(len(tr.got), len(tc.want)) {
				g, w := tr.got[i], tc.want[i]
				if g.srv != w.srv || !bytes.Equal(g.msg, w.msg) || g.ms != w.ms {
					t.Errorf("message %d: got srv=%v ms=%d %x\nwant srv=%v ms=%d %x", i, g.srv, g.ms, g.msg, w.srv, w.ms, w.msg)
				}
			}
			if c := tr.counters(); !equalCounts(c, tc.counters) {
				t.Errorf("counters\n got %v\nwant %v", c, tc.counters)
			}
			if tr.r.heldBytes() != 0 && !tc.noFlush {
				t.Errorf("%d bytes still held after flush", tr.r.heldBytes())
			}
		})
	}
}

func TestTCPReassembler(t *testing.T) {
	q1, q2, q3 := dnsQuery(1, "a.example"), dnsQuery(2, "b.example"), dnsQuery(3, "c.example")
	r1, r2 := dnsTXT(1, "a.example", 300), dnsTXT(2, "b.example", 1000)
	big := dnsTXT(9, "big.example", 3000)
	f1, f2, f3 := framed(q1), framed(q2), framed(q3)
	fr1, fr2, fbig := framed(r1), framed(r2), framed(big)
	n1 := uint32(len(f1))
	n2 := uint32(len(f2))
	nr1 := uint32(len(fr1))
	nbig := uint32(len(fbig))
	u := func(n int) uint32 { return uint32(n) }
	hs := func(extra map[string]uint64) map[string]uint64 {
		m := map[string]uint64{"tcp_segments": 3, "tcp_flows_created": 1}
		for k, v := range extra {
			if v == 0 {
				delete(m, k)
				continue
			}
			m[k] += v
		}
		return m
	}

	// 1-byte segments of q1, from the prefix on.
	var oneByte []seg
	for i := range f1 {
		oneByte = append(oneByte, seg{off: u(i), flags: tcpACK, data: f1[i : i+1], ms: int64(10 + i)})
	}
	// Wrap-around: the client ISN puts 2^32 in the middle of fbig.
	wrapISN := uint32(1<<32 - 1 - 1500)

	cases := []tcpCase{
		{
			name: "query and response, one segment each",
			segs: withHandshake(
				seg{off: 0, flags: tcpACK | 0x08, data: f1, ms: 10},
				seg{srv: true, off: 0, flags: tcpACK | 0x08, data: fr1, ms: 11, ack: n1},
			),
			want:     []got{{false, q1, 10}, {true, r1, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 2, "tcp_messages": 2}),
		},
		{
			name: "several messages in one segment",
			segs: withHandshake(
				seg{flags: tcpACK, data: cat(f1, f2, f3), ms: 10},
			),
			want:     []got{{false, q1, 10}, {false, q2, 10}, {false, q3, 10}},
			counters: hs(map[string]uint64{"tcp_segments": 1, "tcp_messages": 3}),
		},
		{
			name: "one message over many segments, time of the last",
			segs: withHandshake(
				seg{srv: true, off: 0, flags: tcpACK, data: fbig[:1000], ms: 10},
				seg{srv: true, off: 1000, flags: tcpACK, data: fbig[1000:2000], ms: 11},
				seg{srv: true, off: 2000, flags: tcpACK, data: fbig[2000:], ms: 12},
			),
			want:     []got{{true, big, 12}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1}),
		},
		{
			name:     "1-byte segments",
			segs:     withHandshake(oneByte...),
			want:     []got{{false, q1, int64(10 + len(f1) - 1)}},
			counters: hs(map[string]uint64{"tcp_segments": uint64(len(f1)), "tcp_messages": 1}),
		},
		{
			name: "segment boundaries inside messages and prefixes",
			segs: withHandshake(
				seg{flags: tcpACK, data: cat(f1, f2[:1]), ms: 10},
				seg{off: n1 + 1, flags: tcpACK, data: cat(f2[1:20]), ms: 11},
				seg{off: n1 + 20, flags: tcpACK, data: cat(f2[20:], f3[:5]), ms: 12},
				seg{off: n1 + n2 + 5, flags: tcpACK, data: f3[5:], ms: 13},
			),
			want:     []got{{false, q1, 10}, {false, q2, 12}, {false, q3, 13}},
			counters: hs(map[string]uint64{"tcp_segments": 4, "tcp_messages": 3}),
		},
		{
			name: "out of order: reverse, the filling segment's time",
			segs: withHandshake(
				seg{srv: true, off: 2000, flags: tcpACK, data: fbig[2000:], ms: 10},
				seg{srv: true, off: 1000, flags: tcpACK, data: fbig[1000:2000], ms: 11},
				seg{srv: true, off: 0, flags: tcpACK, data: fbig[:1000], ms: 12},
			),
			want:     []got{{true, big, 12}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1}),
		},
		{
			name: "out of order: whole messages held behind a hole",
			segs: withHandshake(
				seg{off: n1, flags: tcpACK, data: cat(f2, f3), ms: 10},
				seg{off: 0, flags: tcpACK, data: f1, ms: 11},
			),
			want:     []got{{false, q1, 11}, {false, q2, 11}, {false, q3, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 2, "tcp_messages": 3}),
		},
		{
			name: "identical retransmission",
			segs: withHandshake(
				seg{flags: tcpACK, data: f1, ms: 10},
				seg{flags: tcpACK, data: f1, ms: 11},
				seg{off: n1, flags: tcpACK, data: f2[:10], ms: 12},
				seg{off: n1, flags: tcpACK, data: f2[:10], ms: 13},
				seg{off: n1 + 10, flags: tcpACK, data: f2[10:], ms: 14},
			),
			want:     []got{{false, q1, 10}, {false, q2, 14}},
			counters: hs(map[string]uint64{"tcp_segments": 5, "tcp_messages": 2, "tcp_retransmissions": 2}),
		},
		{
			name: "overlapping retransmission with different bytes: first copy wins",
			segs: withHandshake(
				seg{srv: true, flags: tcpACK, data: fr1[:20], ms: 10},
				// covers [10, 60): bytes 10..19 differ from the first copy
				seg{srv: true, off: 10, flags: tcpACK, data: cat(bytes.Repeat([]byte{0xee}, 10), fr1[20:60]), ms: 11},
				seg{srv: true, off: 60, flags: tcpACK, data: fr1[60:], ms: 12},
			),
			want:     []got{{true, r1, 12}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1, "tcp_retransmissions": 1, "tcp_conflicts": 1}),
		},
		{
			name: "overlapping out-of-order pieces with different bytes",
			segs: withHandshake(
				seg{srv: true, off: 1000, flags: tcpACK, data: fbig[1000:2000], ms: 10},
				seg{srv: true, off: 1500, flags: tcpACK, data: cat(bytes.Repeat([]byte{0xee}, 500), fbig[2000:]), ms: 11},
				seg{srv: true, off: 0, flags: tcpACK, data: fbig[:1000], ms: 12},
			),
			want:     []got{{true, big, 12}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1, "tcp_retransmissions": 1, "tcp_conflicts": 1}),
		},
		{
			name: "retransmission of delivered data is not delivered again",
			segs: withHandshake(
				seg{flags: tcpACK, data: cat(f1, f2), ms: 10},
				seg{flags: tcpACK, data: cat(f1, f2, f3), ms: 11},
			),
			want:     []got{{false, q1, 10}, {false, q2, 10}, {false, q3, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 2, "tcp_messages": 3, "tcp_retransmissions": 1}),
		},
		{
			name: "pipelined queries, responses out of order",
			segs: withHandshake(
				seg{flags: tcpACK, data: cat(f1, f2), ms: 10},
				seg{srv: true, flags: tcpACK, data: fr2[:500], ms: 11, ack: n1 + n2},
				seg{flags: tcpACK, data: f3, off: n1 + n2, ms: 12, ack: 500},
				seg{srv: true, off: 500, flags: tcpACK, data: cat(fr2[500:], fr1), ms: 13},
			),
			want:     []got{{false, q1, 10}, {false, q2, 10}, {false, q3, 12}, {true, r2, 13}, {true, r1, 13}},
			counters: hs(map[string]uint64{"tcp_segments": 4, "tcp_messages": 5}),
		},
		{
			name: "TCP Fast Open: query in the SYN",
			segs: []seg{
				{flags: tcpSYN, data: f1, ms: 1},
				{srv: true, flags: tcpSYN | tcpACK, ack: n1, ms: 2},
				{srv: true, flags: tcpACK, data: fr1, ack: n1, ms: 3},
			},
			want:     []got{{false, q1, 1}, {true, r1, 3}},
			counters: map[string]uint64{"tcp_segments": 3, "tcp_flows_created": 1, "tcp_messages": 2},
		},
		{
			name: "retransmitted TFO SYN",
			segs: []seg{
				{flags: tcpSYN, data: f1, ms: 1},
				{flags: tcpSYN, data: f1, ms: 2},
			},
			want:     []got{{false, q1, 1}},
			counters: map[string]uint64{"tcp_segments": 2, "tcp_flows_created": 1, "tcp_messages": 1, "tcp_retransmissions": 1},
		},
		{
			name: "mid-stream pickup at a boundary",
			segs: []seg{
				{flags: tcpACK, off: 7000, data: cat(f1, f2), ms: 1},
			},
			want:     []got{{false, q1, 1}, {false, q2, 1}},
			counters: map[string]uint64{"tcp_segments": 1, "tcp_flows_created": 1, "tcp_messages": 2, "tcp_resyncs": 1},
		},
		{
			name: "mid-stream pickup inside a message",
			segs: []seg{
				{srv: true, flags: tcpACK, off: 7000, data: cat(fr2[600:], fr1, f2), ms: 1},
				{srv: true, flags: tcpACK, off: 7000 + u(len(fr2)-600+len(fr1)+len(f2)), data: f3, ms: 2},
			},
			want:     []got{{true, r1, 1}, {true, q2, 1}, {true, q3, 2}},
			counters: map[string]uint64{"tcp_segments": 2, "tcp_flows_created": 1, "tcp_messages": 3, "tcp_resyncs": 1, "tcp_bytes_discarded": uint64(len(fr2) - 600)},
		},
		{
			name: "SYN lost, pickup from the first data",
			segs: []seg{
				{srv: true, flags: tcpSYN | tcpACK, ms: 1},
				{flags: tcpACK, data: cat(f1[:10]), ms: 2},
				{flags: tcpACK, off: 10, data: cat(f1[10:], f2), ms: 3},
				{srv: true, flags: tcpACK, data: fr1, ack: n1 + n2, ms: 4},
			},
			want:     []got{{false, q1, 3}, {false, q2, 3}, {true, r1, 4}},
			counters: map[string]uint64{"tcp_segments": 4, "tcp_flows_created": 1, "tcp_messages": 3, "tcp_resyncs": 1},
		},
		{
			name: "gap ACKed past inside a message: stays in step",
			segs: withHandshake(
				seg{srv: true, flags: tcpACK, data: fbig[:1000], ms: 10},
				// [1000, 2000) never captured
				seg{srv: true, off: 2000, flags: tcpACK, data: cat(fbig[2000:], fr1), ms: 11},
				seg{flags: tcpACK, off: 0, ack: nbig + nr1, ms: 12},
			),
			want: []got{{true, r1, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1, "tcp_gaps_skipped": 1, "tcp_gap_bytes": 1000,
				"tcp_partial_messages": 1, "tcp_bytes_discarded": uint64(1000 + len(fbig) - 2000)}),
		},
		{
			// A SPAN port mirrors each direction through its own queue: the
			// server's ACK of the whole query overtakes the query's first
			// segment. The hole must wait for it, not be skipped at the ACK.
			name: "segment behind the peer's ACK of it (mirror reordering)",
			segs: withHandshake(
				seg{off: 20, flags: tcpACK, data: f1[20:], ms: 10},
				seg{srv: true, flags: tcpACK, ack: n1, ms: 11},
				seg{off: 0, flags: tcpACK, data: f1[:20], ms: 12},
			),
			noFlush:  true,
			want:     []got{{false, q1, 12}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1}),
		},
		{
			// The same hole, ACKed past after the grace: the sensor missed
			// the segment, so the data after it is used without waiting
			// for the end of the connection.
			name: "hole ACKed past after the reordering grace: skipped at the ACK",
			segs: withHandshake(
				seg{off: n1, flags: tcpACK, data: cat(f2, f3), ms: 10},
				seg{srv: true, flags: tcpACK, ack: n1 + n2 + u(len(f3)), ms: 10 + 150},
			),
			noFlush:  true,
			want:     []got{{false, q2, 10}, {false, q3, 10}},
			counters: hs(map[string]uint64{"tcp_segments": 2, "tcp_messages": 2, "tcp_gaps_skipped": 1, "tcp_gap_bytes": uint64(n1), "tcp_resyncs": 1}),
		},

		{
			name: "gap over a boundary: resynchronise",
			segs: withHandshake(
				seg{srv: true, flags: tcpACK, data: fbig[:1000], ms: 10},
				// fbig[1000:] and fr1[:100] never captured
				seg{srv: true, off: nbig + 100, flags: tcpACK, data: cat(fr1[100:], fr2), ms: 11},
				seg{flags: tcpACK, off: 0, ack: nbig + nr1 + u(len(fr2)), ms: 12},
			),
			want: []got{{true, r2, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1, "tcp_gaps_skipped": 1, "tcp_gap_bytes": uint64(len(fbig) - 1000 + 100),
				"tcp_partial_messages": 1, "tcp_bytes_discarded": uint64(1000 + len(fr1) - 100), "tcp_resyncs": 1}),
		},
		{
			name: "gap never filled nor ACKed: skipped at the end of input",
			segs: withHandshake(
				seg{flags: tcpACK, data: f1[:10], ms: 10},
				seg{flags: tcpACK, off: n1, data: cat(f2, f3), ms: 11},
			),
			want: []got{{false, q2, 11}, {false, q3, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 2, "tcp_messages": 2, "tcp_gaps_skipped": 1, "tcp_gap_bytes": uint64(n1 - 10),
				"tcp_partial_messages": 1, "tcp_bytes_discarded": 10}),
		},
		{
			name: "gap never filled: skipped after the gap timeout",
			segs: withHandshake(
				seg{flags: tcpACK, data: f1[:10], ms: 10},
				seg{flags: tcpACK, off: n1, data: f2, ms: 11},
				seg{flags: tcpACK, off: n1 + n2, data: f3, ms: 11 + tcpGapTimeout.Milliseconds() + 1},
			),
			noFlush: true,
			want:    []got{{false, q2, 11}, {false, q3, 11 + tcpGapTimeout.Milliseconds() + 1}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 2, "tcp_gaps_skipped": 1, "tcp_gap_bytes": uint64(n1 - 10),
				"tcp_partial_messages": 1, "tcp_bytes_discarded": 10}),
		},
		{
			name: "out of order beyond the bound: skip the hole",
			cfg:  func(c *Config) { c.MaxOutOfOrderBytes = 50 },
			segs: withHandshake(
				seg{flags: tcpACK, data: f1[:10], ms: 10},
				seg{flags: tcpACK, off: n1, data: f2, ms: 11},            // fits in 100 past the hole
				seg{flags: tcpACK, off: n1 + n2, data: f3, ms: 12},       // does not
				seg{flags: tcpACK, off: 10, data: f1[10:], ms: 13},       // too late
				seg{flags: tcpACK, off: n1 + n2 + 500, data: f3, ms: 14}, // far ahead, alone
			),
			noFlush: true,
			// The first skip ends inside q1, whose length is known: in step.
			// The second starts at a boundary and hides the next: resync.
			want: []got{{false, q2, 11}, {false, q3, 12}, {false, q3, 14}},
			counters: hs(map[string]uint64{"tcp_segments": 5, "tcp_messages": 3, "tcp_gaps_skipped": 2, "tcp_gap_bytes": uint64(n1-10) + 500 - uint64(len(f3)),
				"tcp_partial_messages": 1, "tcp_bytes_discarded": 10, "tcp_retransmissions": 1, "tcp_resyncs": 1}),
		},
		{
			name: "too many out-of-order pieces",
			segs: withHandshake(func() []seg {
				var s []seg
				for i := range maxTCPRanges + 1 {
					s = append(s, seg{flags: tcpACK, off: u(10 + 2*i), data: fbig[10+2*i : 11+2*i], ms: 10})
				}
				return append(s, seg{flags: tcpACK, off: 0, data: fbig, ms: 11})
			}()...),
			want:     []got{{false, big, 11}},
			counters: hs(map[string]uint64{"tcp_segments": maxTCPRanges + 2, "tcp_messages": 1, "tcp_out_of_order_dropped": 1, "tcp_retransmissions": 1}),
		},
		{
			name: "wrap-around across 2^32, in order and out of order",
			cISN: wrapISN, sISN: sISN,
			segs: withHandshake(
				seg{flags: tcpACK, off: 0, data: fbig[:1000], ms: 10},
				seg{flags: tcpACK, off: 2000, data: cat(fbig[2000:], f1), ms: 11},
				seg{flags: tcpACK, off: 1000, data: fbig[1000:2000], ms: 12},
				seg{flags: tcpACK, off: nbig + n1, data: f2, ms: 13},
			),
			want:     []got{{false, big, 12}, {false, q1, 12}, {false, q2, 13}},
			counters: hs(map[string]uint64{"tcp_segments": 4, "tcp_messages": 3}),
		},
		{
			name: "RST mid-message",
			segs: withHandshake(
				seg{srv: true, flags: tcpACK, data: cat(fr1, fr2[:100]), ms: 10},
				seg{srv: true, flags: tcpRST, off: nr1 + 100, ms: 11},
				seg{srv: true, flags: tcpACK, off: nr1 + 100, data: fr2[100:], ms: 12}, // a new, mid-stream flow
			),
			want: []got{{true, r1, 10}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 1, "tcp_flows_closed": 1, "tcp_partial_messages": 1,
				"tcp_bytes_discarded": uint64(100 + len(fr2) - 100), "tcp_flows_created": 1}),
		},
		{
			name: "FIN both ways closes; late ACK ignored",
			segs: withHandshake(
				seg{flags: tcpACK | tcpFIN, data: f1, ms: 10},
				seg{srv: true, flags: tcpACK | tcpFIN, data: fr1, ms: 11, ack: n1 + 1},
				seg{flags: tcpACK, off: n1 + 1, ack: nr1 + 1, ms: 12},
			),
			want:     []got{{false, q1, 10}, {true, r1, 11}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_messages": 2, "tcp_flows_closed": 1, "tcp_ignored": 1}),
		},
		{
			name: "FIN with a partial message",
			segs: withHandshake(
				seg{flags: tcpACK, data: f1[:5], ms: 10},
				seg{flags: tcpACK | tcpFIN, off: 5, ms: 11},
				seg{srv: true, flags: tcpACK | tcpFIN, ms: 12, ack: 6},
			),
			want:     nil,
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_flows_closed": 1, "tcp_partial_messages": 1, "tcp_bytes_discarded": 5}),
		},
		{
			name: "idle timeout",
			cfg:  func(c *Config) { c.FlowTimeout = time.Second },
			segs: withHandshake(
				seg{flags: tcpACK, data: f1[:5], ms: 10},
				seg{flags: tcpACK, off: 5, data: f1[5:], ms: 2000}, // after the timeout: a new mid-stream flow
			),
			want: nil,
			counters: hs(map[string]uint64{"tcp_segments": 2, "tcp_flows_expired": 1, "tcp_flows_created": 1, "tcp_partial_messages": 1,
				"tcp_bytes_discarded": uint64(5 + len(f1) - 5)}),
		},
		{
			name: "new SYN on the same ports ends the old connection",
			segs: withHandshake(
				seg{flags: tcpACK, data: f1[:5], ms: 10},
				seg{flags: tcpSYN, seq: ptr(uint32(90000)), ms: 11},
				seg{flags: tcpACK, seq: ptr(uint32(90001)), data: f2, ms: 12},
			),
			want: []got{{false, q2, 12}},
			counters: hs(map[string]uint64{"tcp_segments": 3, "tcp_flows_closed": 1, "tcp_flows_created": 1, "tcp_partial_messages": 1,
				"tcp_bytes_discarded": 5, "tcp_messages": 1}),
		},
		{
			name: "message longer than MaxStreamBytes: skipped in step",
			cfg:  func(c *Config) { c.MaxStreamBytes = 1024; c.MaxOutOfOrderBytes = 512 },
			segs: withHandshake(
				seg{srv: true, flags: tcpACK, data: fbig[:1000], ms: 10},
				seg{srv: true, off: 1000, flags: tcpACK, data: fbig[1000:2000], ms: 11},
				seg{srv: true, off: 2000, flags: tcpACK, data: cat(fbig[2000:], fr1), ms: 12},
				seg{srv: true, off: nbig + nr1, flags: tcpACK, data: fbig, ms: 13}, // whole in one segment: delivered
			),
			want: []got{{true, r1, 12}, {true, big, 13}},
			counters: hs(map[string]uint64{"tcp_segments": 4, "tcp_messages": 2, "tcp_too_long": 1, "tcp_partial_messages": 1,
				"tcp_bytes_discarded": uint64(len(fbig))}),
		},
		{
			name: "bad length prefix: resynchronise",
			segs: withHandshake(
				seg{flags: tcpACK, data: cat(f1, []byte{0, 3, 1, 2, 3}, f2), ms: 10},
			),
			want:     []got{{false, q1, 10}, {false, q2, 10}},
			counters: hs(map[string]uint64{"tcp_segments": 1, "tcp_messages": 2, "tcp_bad_length": 1, "tcp_resyncs": 1, "tcp_bytes_discarded": 5}),
		},
		{
			name: "garbage that never resynchronises",
			segs: withHandshake(
				seg{flags: tcpACK, data: bytes.Repeat([]byte{0}, 3000), ms: 10},
			),
			want:     nil,
			counters: hs(map[string]uint64{"tcp_segments": 1, "tcp_bytes_discarded": 3000, "tcp_bad_length": 1}),
		},
		{
			name:     "pure ACK and RST for unknown connections create nothing",
			segs:     []seg{{flags: tcpACK, ms: 1}, {flags: tcpRST, ms: 2}, {flags: tcpRST | tcpACK, data: f1, ms: 3}},
			want:     nil,
			counters: map[string]uint64{"tcp_segments": 3, "tcp_ignored": 3},
		},
	}
	runTCPCases(t, cases)
}

func ptr[T any](v T) *T { return &v }

// TestTCPAllocs checks that steady-state segments allocate nothing: whole
// messages, split messages, out-of-order pieces and new connections that
// replace old ones.
func TestTCPAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxFlows = 64
	var stats Stats
	delivered := 0
	r := newTCPReassembler(cfg, &stats, func(_, _ netip.AddrPort, msg []byte, _ int64) { delivered++ })
	q := framed(dnsQuery(1, "a.example"))
	big := framed(dnsTXT(2, "b.example", 3000))
	stream := cat(q, q, big, q)
	port := uint16(0)
	run := func() {
		port++
		src := netip.AddrPortFrom(tcli.Addr(), 1024+port%256) // churns through MaxFlows
		s := tcpSegment{src: src, dst: tsrv, flags: tcpSYN, seq: 7, ts: t0 + int64(port)*1e6}
		r.segment(&s)
		s.flags = tcpACK
		// in order, split, then out of order
		s.seq, s.payload = 8, stream[:40]
		r.segment(&s)
		s.seq, s.payload = 8+1000, stream[1000:]
		r.segment(&s)
		s.seq, s.payload = 8+40, stream[40:1000]
		r.segment(&s)
		s.flags, s.payload = tcpRST, nil
		r.segment(&s)
	}
	for range 1000 {
		run()
	}
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("%v allocations per connection, want 0", n)
	}
	if delivered == 0 || stats.TCP[TCPConflicts].Load() != 0 {
		t.Errorf("delivered %d, counters %s", delivered, statsString(&stats))
	}
}

// BenchmarkTCPMessages measures one long-lived connection carrying many
// messages: most whole in a segment, one in three split across two.
func BenchmarkTCPMessages(b *testing.B) {
	var stats Stats
	r := newTCPReassembler(DefaultConfig(), &stats, func(_, _ netip.AddrPort, msg []byte, _ int64) {})
	q := framed(dnsQuery(1, "www.example.com"))
	resp := framed(dnsTXT(1, "www.example.com", 200))
	s := tcpSegment{src: tcli, dst: tsrv, flags: tcpSYN, seq: 1, ts: t0}
	r.segment(&s)
	s2 := tcpSegment{src: tsrv, dst: tcli, flags: tcpSYN | tcpACK, seq: 1, ts: t0}
	r.segment(&s2)
	s.flags, s2.flags = tcpACK, tcpACK
	s.seq, s2.seq = 2, 2
	b.ReportAllocs()
	b.ResetTimer()
	msgs := 0
	for i := 0; i < b.N; i++ {
		s.payload = q
		r.segment(&s)
		s.seq += uint32(len(q))
		if i%3 == 0 {
			s2.payload = resp[:50]
			r.segment(&s2)
			s2.seq += 50
			s2.payload = resp[50:]
		} else {
			s2.payload = resp
		}
		r.segment(&s2)
		s2.seq += uint32(len(s2.payload))
		msgs += 2
	}
	b.StopTimer()
	if got := stats.TCP[TCPMessages].Load(); got != uint64(msgs) {
		b.Fatalf("delivered %d of %d", got, msgs)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(msgs), "ns/message")
}

// statsString renders the non-zero counters for failure messages.
func statsString(s *Stats) string {
	var b strings.Builder
	s.Each(func(name string, v uint64) {
		if v != 0 {
			fmt.Fprintf(&b, "%s=%d ", name, v)
		}
	})
	return b.String()
}

// Fuzz input for the TCP reassembler: a sequence of records
//
//	ctl(1) seq(4) ack(4) len(2) payload(len)
//
// ctl bit 0: direction (server to client), bits 1-2: which of four
// connections, bit 3 SYN, 4 FIN, 5 RST, 6 ACK, 7: 4 s pass before it (else
// 1 ms), so gap and idle timeouts fire.
const fuzzTCPRecord = 11

func encodeFuzzSegment(b []byte, srv bool, conn int, flags uint8, seq, ack uint32, payload []byte) []byte {
	ctl := byte(conn&3) << 1
	if srv {
		ctl |= 1
	}
	for i, f := range []uint8{tcpSYN, tcpFIN, tcpRST, tcpACK} {
		if flags&f != 0 {
			ctl |= 1 << (3 + i)
		}
	}
	b = append(b, ctl)
	b = binary.BigEndian.AppendUint32(b, seq)
	b = binary.BigEndian.AppendUint32(b, ack)
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	return append(b, payload...)
}

// tcpFuzzSeeds turns every TCP segment of the TCP captures into fuzz input,
// one seed per capture.
func tcpFuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, c := range streamCaptures {
		if c.tcp == 0 {
			continue
		}
		var in []byte
		conns := map[[2]uint16]int{}
		for _, p := range decodedPackets(t, pcapPath(c.name)) {
			l := p.Layer(layers.LayerTypeTCP)
			if l == nil {
				continue
			}
			tc := l.(*layers.TCP)
			srv := tc.SrcPort == 53
			k := [2]uint16{uint16(tc.SrcPort), uint16(tc.DstPort)}
			if srv {
				k = [2]uint16{k[1], k[0]}
			}
			if _, ok := conns[k]; !ok {
				conns[k] = len(conns)
			}
			var flags uint8
			if tc.SYN {
				flags |= tcpSYN
			}
			if tc.FIN {
				flags |= tcpFIN
			}
			if tc.RST {
				flags |= tcpRST
			}
			if tc.ACK {
				flags |= tcpACK
			}
			in = encodeFuzzSegment(in, srv, conns[k], flags, tc.Seq, tc.Ack, tc.Payload)
		}
		seeds = append(seeds, in)
	}
	return seeds
}

// decodedPackets decodes every frame of a capture with gopacket (test only:
// it allocates freely).
func decodedPackets(t testing.TB, path string) []gopacket.Packet {
	t.Helper()
	var out []gopacket.Packet
	for _, f := range readCapture(t, path) {
		var dec gopacket.Decoder = layers.LinkType(f.LinkType)
		switch f.LinkType {
		case 228:
			dec = layers.LayerTypeIPv4
		case 229:
			dec = layers.LayerTypeIPv6
		}
		out = append(out, gopacket.NewPacket(f.Data, dec, gopacket.Default))
	}
	return out
}

func FuzzTCPReassembler(f *testing.F) {
	for _, s := range tcpFuzzSeeds(f) {
		f.Add(s)
	}
	q := framed(dnsQuery(1, "a.example"), dnsQuery(2, "b.example"))
	f.Add(encodeFuzzSegment(encodeFuzzSegment(nil, false, 0, tcpSYN, 1, 0, q[:7]), false, 0, tcpACK, 9, 0, q[7:]))
	cfg := DefaultConfig()
	cfg.MaxFlows = 2
	cfg.MaxStreamBytes = 4096
	cfg.MaxOutOfOrderBytes = 1024
	cfg.FlowTimeout = 10 * time.Second
	f.Fuzz(func(t *testing.T, in []byte) { runFuzzTCP(t, cfg, in) })
}

func runFuzzTCP(t *testing.T, cfg Config, in []byte) {
	var stats Stats
	r := newTCPReassembler(cfg, &stats, func(_, _ netip.AddrPort, msg []byte, _ int64) {
		if len(msg) < dnsHeaderLen || len(msg) > 65535 {
			t.Fatalf("delivered %d bytes", len(msg))
		}
		// msg was cut from just after its length prefix: the two bytes
		// before it in the same buffer must say its length.
		p := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(msg)), -2)), 2)
		if l := int(p[0])<<8 | int(p[1]); l != len(msg) {
			t.Fatalf("delivered %d bytes under a prefix of %d", len(msg), l)
		}
	})
	ts := t0
	for len(in) >= fuzzTCPRecord {
		ctl := in[0]
		s := tcpSegment{src: tcli, dst: tsrv, seq: binary.BigEndian.Uint32(in[1:5]), ack: binary.BigEndian.Uint32(in[5:9]), ts: ts}
		n := min(int(binary.BigEndian.Uint16(in[9:11])), len(in)-fuzzTCPRecord)
		s.payload = in[fuzzTCPRecord : fuzzTCPRecord+n]
		in = in[fuzzTCPRecord+n:]
		s.src = netip.AddrPortFrom(tcli.Addr(), 40000+uint16(ctl>>1&3))
		if ctl&1 != 0 {
			s.src, s.dst = s.dst, s.src
		}
		for i, fl := range []uint8{tcpSYN, tcpFIN, tcpRST, tcpACK} {
			if ctl&(1<<(3+i)) != 0 {
				s.flags |= fl
			}
		}
		if ctl&0x80 != 0 {
			ts += 4 * int64(time.Second)
		} else {
			ts += int64(time.Millisecond)
		}
		s.ts = ts
		r.segment(&s)
		if r.tracked() > cfg.MaxFlows || r.heldBytes() > 2*cfg.MaxFlows*cfg.MaxStreamBytes {
			t.Fatalf("%d flows, %d bytes held", r.tracked(), r.heldBytes())
		}
	}
	r.flush()
	if r.tracked() != 0 || r.heldBytes() != 0 {
		t.Fatalf("after flush: %d flows, %d bytes held", r.tracked(), r.heldBytes())
	}
}
