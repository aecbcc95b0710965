package reassembly

import (
	"bytes"
	"net/netip"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

func TestIPDecode(t *testing.T) { runDecodeCases(t, ipCases) }

// fragCase is a datagram sent as fragments, one frame each, and the message
// it must become.
type fragCase struct {
	name     string
	frames   []string
	src, dst string
	payload  []byte
	nested   uint64 // expected frag_nested: fragments found inside reassembled datagrams
	vlan     uint16
}

// TestFragments checks what the decoder hands the defragmenter (keys,
// offsets, IPv6 extension headers after the fragment header, fragments in
// fragmented tunnels) through the datagram that comes out.
func TestFragments(t *testing.T) {
	for _, tc := range fragCases {
		t.Run(tc.name, func(t *testing.T) {
			s := &recordingSink{}
			a := NewAssembler(DefaultConfig(), s)
			for i, h := range tc.frames {
				data := mustHexVar(h)
				f := packet.Frame{Data: data, Timestamp: 1_700_000_000e9 + int64(i)*1e6, WireLen: len(data), LinkType: packet.LinkTypeEthernet}
				a.HandleFrame(&f)
				if i < len(tc.frames)-1 && len(s.msgs) != 0 {
					t.Fatalf("message after fragment %d of %d", i+1, len(tc.frames))
				}
			}
			if len(s.msgs) != 1 {
				t.Fatalf("%d messages, want 1 (counters %v)", len(s.msgs), counters(a))
			}
			m := s.msgs[0]
			if m.Src != netip.MustParseAddrPort(tc.src) || m.Dst != netip.MustParseAddrPort(tc.dst) || !bytes.Equal(m.Payload, tc.payload) {
				t.Errorf("message %v → %v %x, want %s → %s %x", m.Src, m.Dst, m.Payload, tc.src, tc.dst, tc.payload)
			}
			if m.Timestamp != 1_700_000_000e9+int64(len(tc.frames)-1)*1e6 {
				t.Errorf("timestamp %d is not the last fragment's", m.Timestamp)
			}
			if got := a.stats.Decode[DecodeFragNested].Load(); got != tc.nested {
				t.Errorf("frag_nested = %d, want %d", got, tc.nested)
			}
			if a.vlan != tc.vlan {
				t.Errorf("vlan = %d, want %d", a.vlan, tc.vlan)
			}
		})
	}
}

// TestExpiryFromCaptureTime checks that the tables age by capture time, not
// the wall clock: a lone fragment is dropped once a later frame is more than
// the fragment timeout past it, or at Flush.
func TestExpiryFromCaptureTime(t *testing.T) {
	cfg := DefaultConfig()
	t0 := int64(1_700_000_000e9)
	cases := []struct {
		name  string
		later int64 // capture time of a second, unrelated frame; 0: none
		flush bool
		want  uint64 // datagrams expired
	}{
		{name: "within timeout", later: t0 + int64(cfg.FragmentTimeout) - 1e9},
		{name: "past timeout", later: t0 + int64(cfg.FragmentTimeout) + 2e9, want: 1},
		{name: "flush", flush: true, want: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := NewAssembler(cfg, &nopSink{})
			f := packet.Frame{Data: fragLone, Timestamp: t0, WireLen: len(fragLone), LinkType: packet.LinkTypeEthernet}
			a.HandleFrame(&f)
			if tc.later != 0 {
				arp := packet.Frame{Data: make([]byte, 42), Timestamp: tc.later, WireLen: 42, LinkType: packet.LinkTypeEthernet}
				a.HandleFrame(&arp)
			}
			if tc.flush {
				a.Flush()
			}
			if got := counters(a)["frag_timeout"]; got != tc.want {
				t.Errorf("frag_timeout = %d, want %d (counters %v)", got, tc.want, counters(a))
			}
		})
	}
}
