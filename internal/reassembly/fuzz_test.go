package reassembly

import (
	"testing"
	"time"
	"unsafe"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// fuzzConfig keeps the tables small so that a fresh Assembler per input is
// cheap; the limits themselves are the reassemblers' business.
func fuzzConfig() Config {
	return Config{
		MaxFlows:           16,
		MaxStreamBytes:     2 * 65537,
		MaxOutOfOrderBytes: 65537,
		FlowTimeout:        60 * time.Second,
		MaxFragmentSets:    16,
		MaxFragmentBytes:   1 << 20,
		FragmentTimeout:    30 * time.Second,
	}
}

// within reports whether inner lies inside outer's memory.
func within(inner, outer []byte) bool {
	if len(inner) == 0 {
		return true
	}
	if len(outer) == 0 {
		return false
	}
	o := uintptr(unsafe.Pointer(unsafe.SliceData(outer)))
	i := uintptr(unsafe.Pointer(unsafe.SliceData(inner)))
	return i >= o && i+uintptr(len(inner)) <= o+uintptr(len(outer))
}

// checkSink verifies every message against the frame it came from.
type checkSink struct {
	t     *testing.T
	frame []byte
	a     *Assembler
}

func (s *checkSink) HandleMessage(m *Message) {
	t := s.t
	if len(m.Payload) < dnsHeaderLen {
		t.Fatalf("message of %d octets", len(m.Payload))
	}
	var h Header
	if !parseDNS(m.Payload, &h) || h.Malformed != m.DNS.Malformed || h.ID != m.DNS.ID {
		t.Fatalf("Message.DNS %+v disagrees with its payload", m.DNS)
	}
	if !within(m.DNS.Question, m.Payload) {
		t.Fatalf("Question outside Payload")
	}
	if !m.Src.IsValid() || !m.Dst.IsValid() {
		t.Fatalf("invalid addresses %v → %v", m.Src, m.Dst)
	}
	// UDP messages from whole datagrams alias the frame; reassembled ones
	// and TCP ones live in the reassemblers' buffers.
	if m.Transport == TransportUDP && s.a.stats.Frag[FragReassembled].Load() == 0 && !within(m.Payload, s.frame) {
		t.Fatalf("UDP payload outside the frame")
	}
}

// FuzzHandleFrame decodes arbitrary bytes as any link type: it must never
// panic, and every message must be consistent and lie within its frame.
func FuzzHandleFrame(f *testing.F) {
	for _, p := range testenv.Pcaps(f) {
		for _, fr := range readCapture(f, p) {
			f.Add(uint16(fr.LinkType), fr.Data)
		}
	}
	for _, cases := range [][]decodeCase{linkCases, ipCases, transportCases, tunnelCases, pppCases, gtpCases, wifiCases, fddiCases, nflogCases, pktapCases} {
		for _, tc := range cases {
			f.Add(uint16(tc.link), mustHex(f, tc.frame))
		}
	}
	for _, fc := range fragCases {
		for _, h := range fc.frames {
			f.Add(uint16(packet.LinkTypeEthernet), mustHexVar(h))
		}
	}
	f.Fuzz(func(t *testing.T, lt uint16, data []byte) {
		s := &checkSink{t: t, frame: data}
		a := NewAssembler(fuzzConfig(), s)
		s.a = a
		fr := packet.Frame{Data: data, Timestamp: 1e18, WireLen: len(data), LinkType: packet.LinkType(lt)}
		a.HandleFrame(&fr)
		// Again, as if the snaplen had cut it, and a second later.
		fr.WireLen = len(data) + 100
		fr.Timestamp += 1e9
		a.HandleFrame(&fr)
		a.Flush()
		if got := a.stats.Decode[DecodeFrames].Load(); got != 2 {
			t.Fatalf("frames = %d, want 2", got)
		}
	})
}

// FuzzParseDNS parses arbitrary bytes: no panic, Question within msg, and
// plausibleDNS never accepts what parseDNS rejects or marks Malformed.
func FuzzParseDNS(f *testing.F) {
	for _, p := range testenv.Pcaps(f) {
		_, s := runFrames(readCapture(f, p))
		for _, m := range s.msgs {
			f.Add(m.Payload)
		}
	}
	f.Add(pointerChain(128))
	f.Add(pointerChain(129))
	f.Fuzz(func(t *testing.T, msg []byte) {
		var h Header
		ok := parseDNS(msg, &h)
		if ok && len(msg) < dnsHeaderLen {
			t.Fatalf("accepted %d octets", len(msg))
		}
		if !within(h.Question, msg) {
			t.Fatalf("Question outside the message")
		}
		if h.Question != nil && (len(h.Question) < dnsMinQuestionLen || &h.Question[0] != &msg[dnsHeaderLen]) {
			t.Fatalf("Question %x is not the first question", h.Question)
		}
		if plausibleDNS(msg) && (!ok || h.Malformed) {
			t.Fatalf("plausible but parseDNS = %v, Malformed = %v", ok, h.Malformed)
		}
	})
}
