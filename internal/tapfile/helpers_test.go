package tapfile

// Test frames made by emit's own pipeline from hand-built messages, as the
// sensor writes them: the readers here are tested against the writer.

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testmsg"
)

// t0 is the capture time of the first sample frame: 2023-11-14 22:13:20 UTC.
const t0 = int64(1700000000) * int64(time.Second)

// msgSpec describes a test DNS message (internal/testmsg, shared with the
// other package that reads what the pipeline writes).
type msgSpec = testmsg.Spec

func message(t testing.TB, s msgSpec) *reassembly.Message { t.Helper(); return testmsg.Message(t, s) }

// collect is a FrameWriter that keeps copies of every frame.
type collect struct{ frames [][]byte }

func (c *collect) WriteFrame(b []byte) error {
	c.frames = append(c.frames, append([]byte(nil), b...))
	return nil
}

// sampleFrames returns encoded dnstap frames of every message type.
func sampleFrames(t testing.TB) [][]byte {
	t.Helper()
	out := &collect{}
	p := emit.NewPipeline(emit.Config{
		Servers: []emit.ServerSpec{
			{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: emit.RoleRecursive},
			{Prefix: netip.MustParsePrefix("2001:db8::53/128"), Role: emit.RoleAuthoritative},
		},
		Identity: []byte("sensor"), Version: []byte("test"),
	}, out)
	for i, s := range []msgSpec{
		{Src: "192.0.2.10:4000", Dst: "192.0.2.53:53", ID: 1},
		{Src: "192.0.2.53:53", Dst: "192.0.2.10:4000", ID: 1, Response: true},
		{Src: "192.0.2.53:5000", Dst: "198.51.100.1:53", ID: 2, QName: "ExAmple.org."},
		{Src: "198.51.100.1:53", Dst: "192.0.2.53:5000", ID: 2, QName: "ExAmple.org.", Response: true},
		{Src: "[2001:db8::10]:4000", Dst: "[2001:db8::53]:53", ID: 3},
		{Src: "[2001:db8::53]:53", Dst: "[2001:db8::10]:4000", ID: 3, Response: true},
		{Src: "192.0.2.10:4001", Dst: "192.0.2.53:53", ID: 4, Opcode: 5, Transport: 2},
		{Src: "192.0.2.53:53", Dst: "192.0.2.10:4001", ID: 4, Opcode: 5, Response: true, Transport: 2},
	} {
		s.TS = t0 + int64(i)*1e6 + 123
		p.HandleMessage(message(t, s))
	}
	return out.frames
}

func writeFile(t testing.TB, frames [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw := emit.NewFileWriter(&buf)
	for _, f := range frames {
		if err := fw.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// tempFile writes b to a file in the test's temporary directory.
func tempFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.dnstap")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
