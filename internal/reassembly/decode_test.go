package reassembly

import (
	"bytes"
	"encoding/hex"
	"net/netip"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// decodeCase is one crafted frame and what decoding it must produce: a
// message (src set), a TCP segment handed to the stream reassembler (tcp
// set), or exactly one count of counter.
type decodeCase struct {
	name      string
	link      packet.LinkType
	frame     string // hex; see mustHex
	wireLen   int    // Frame.WireLen; 0 means len(frame)
	frameVLAN uint16 // Frame.VLAN, as AF_PACKET reports a stripped tag

	src, dst  string // expected Message (or segment) addresses
	payload   []byte // expected Message.Payload (or segment payload)
	malformed bool   // expected Message.DNS.Malformed
	tcp       bool   // a TCP segment, not a message
	seq       uint32
	flags     uint8
	vlan      uint16 // expected VLAN keying fragments and flows

	counter DecodeCounter // when src is empty: the one counter the frame ends in
}

// mustHexVar decodes a hex constant of the test tables.
func mustHexVar(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// decodeOutcomeCounters are the decode counters that record a frame's
// outcome, i.e. every counter but frames.
func outcomeCounters(a *Assembler) map[string]uint64 {
	m := map[string]uint64{}
	for i := range a.stats.Decode {
		if v := a.stats.Decode[i].Load(); v != 0 && DecodeCounter(i) != DecodeFrames {
			m[decodeCounterNames[i]] = v
		}
	}
	return m
}

func runDecodeCases(t *testing.T, cases []decodeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			data := mustHex(t, tc.frame)
			f := packet.Frame{Data: data, Timestamp: 1_700_000_000_123_456_789, WireLen: len(data), LinkType: tc.link, VLAN: tc.frameVLAN}
			if tc.wireLen != 0 {
				f.WireLen = tc.wireLen
			}
			s := &recordingSink{}
			a := NewAssembler(DefaultConfig(), s)
			a.HandleFrame(&f)
			got := outcomeCounters(a)
			if a.vlan != tc.vlan {
				t.Errorf("vlan = %d, want %d", a.vlan, tc.vlan)
			}
			switch {
			case tc.tcp:
				// Whether the stream reassembler delivers a message from
				// one segment of an unseen connection is its own business
				// (tcp_test.go); here only what it was handed matters, and
				// that anything it delivered went out as TCP.
				if n := got["messages_tcp"]; len(got) > 1 || len(got) == 1 && n == 0 {
					t.Fatalf("counters %v; want only a TCP segment", got)
				}
				for _, m := range s.msgs {
					if m.Transport != TransportTCP || m.Src.String() != tc.src || !bytes.Equal(m.Payload, tc.payload[2:]) {
						t.Errorf("TCP message %+v does not match the segment", m)
					}
				}
				seg := a.seg
				if seg.src != netip.MustParseAddrPort(tc.src) || seg.dst != netip.MustParseAddrPort(tc.dst) {
					t.Errorf("segment %v → %v, want %s → %s", seg.src, seg.dst, tc.src, tc.dst)
				}
				if seg.seq != tc.seq || seg.flags != tc.flags || seg.vlan != tc.vlan || seg.ts != f.Timestamp {
					t.Errorf("segment seq %d flags %#x vlan %d ts %d, want %d %#x %d %d", seg.seq, seg.flags, seg.vlan, seg.ts, tc.seq, tc.flags, tc.vlan, f.Timestamp)
				}
				if !bytes.Equal(seg.payload, tc.payload) {
					t.Errorf("segment payload %x, want %x", seg.payload, tc.payload)
				}
			case tc.src != "":
				if len(s.msgs) != 1 {
					t.Fatalf("got %d messages (counters %v), want 1", len(s.msgs), got)
				}
				m := s.msgs[0]
				if m.Src != netip.MustParseAddrPort(tc.src) || m.Dst != netip.MustParseAddrPort(tc.dst) {
					t.Errorf("message %v → %v, want %s → %s", m.Src, m.Dst, tc.src, tc.dst)
				}
				if m.Transport != TransportUDP || m.Timestamp != f.Timestamp {
					t.Errorf("transport %d ts %d, want UDP %d", m.Transport, m.Timestamp, f.Timestamp)
				}
				if !bytes.Equal(m.Payload, tc.payload) {
					t.Errorf("payload\n %x, want\n %x", m.Payload, tc.payload)
				}
				if m.DNS.Malformed != tc.malformed {
					t.Errorf("Malformed = %v, want %v", m.DNS.Malformed, tc.malformed)
				}
				want := map[string]uint64{"messages_udp": 1}
				if tc.malformed {
					want["dns_malformed"] = 1
				}
				if !equalCounts(got, want) {
					t.Errorf("counters %v, want %v", got, want)
				}
			default:
				if len(s.msgs) != 0 {
					t.Fatalf("got %d messages, want none", len(s.msgs))
				}
				want := map[string]uint64{decodeCounterNames[tc.counter]: 1}
				if !equalCounts(got, want) {
					t.Errorf("counters %v, want %v", got, want)
				}
			}
		})
	}
}

func equalCounts(a, b map[string]uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
