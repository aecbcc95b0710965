package reassembly

import (
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

func TestLinkDecode(t *testing.T) { runDecodeCases(t, linkCases) }

// TestLinkTypesAgree checks the decoder against packet's table of decoded
// link types, for all 65536 values: a table entry without a decoder case (or
// a case without an entry) would let the CLI accept a file whose every frame
// is then counted as unknown, or refuse one the decoder reads.
func TestLinkTypesAgree(t *testing.T) {
	a := NewAssembler(DefaultConfig(), &nopSink{})
	f := packet.Frame{Data: []byte{}, Timestamp: 1_700_000_000e9}
	for v := 0; v <= 0xffff; v++ {
		lt := packet.LinkType(v)
		before := a.Stats().Decode[DecodeUnknownLinkType].Load()
		f.LinkType = lt
		a.HandleFrame(&f)
		unknown := a.Stats().Decode[DecodeUnknownLinkType].Load() != before
		if unknown == lt.Supported() {
			t.Errorf("link type %d (%v): decoder counts it unknown: %v, packet table says supported: %v", v, lt, unknown, lt.Supported())
		}
	}
}
