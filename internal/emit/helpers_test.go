package emit

import (
	"net/netip"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testmsg"
)

// msgSpec describes a test DNS message (internal/testmsg, shared with the
// other package that reads what the pipeline writes).
type msgSpec = testmsg.Spec

func wire(t testing.TB, s msgSpec) []byte { t.Helper(); return testmsg.Wire(t, s) }

func message(t testing.TB, s msgSpec) *reassembly.Message { t.Helper(); return testmsg.Message(t, s) }

func fillHeader(h *reassembly.Header, b []byte) { testmsg.FillHeader(h, b) }

// collect is a FrameWriter that keeps copies of every frame.
type collect struct{ frames [][]byte }

func (c *collect) WriteFrame(b []byte) error {
	c.frames = append(c.frames, append([]byte(nil), b...))
	return nil
}

// discard is a FrameWriter that drops frames.
type discard struct{ n int }

func (d *discard) WriteFrame(b []byte) error { d.n += len(b); return nil }

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
