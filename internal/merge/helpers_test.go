package merge

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net/netip"
	"os"
	"sync"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// memOutput is a downstream emit.Output that keeps every frame it is given.
type memOutput struct {
	mu     sync.Mutex
	frames [][]byte
	closed bool
	stats  emit.OutputStats
}

func (o *memOutput) WriteBatch(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		o.frames = append(o.frames, bytes.Clone(b[4:4+l]))
		b = b[4+l:]
		o.stats.AddDelivered(1)
	}
	return nil
}
func (o *memOutput) Flush() error { return nil }
func (o *memOutput) Close() error {
	o.mu.Lock()
	o.closed = true
	o.mu.Unlock()
	return nil
}
func (o *memOutput) Stats() *emit.OutputStats { return &o.stats }

func (o *memOutput) all() [][]byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([][]byte(nil), o.frames...)
}

// batch encodes frames as Frame Streams data frames.
func batch(frames ...[]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// fileOf is a one-way Frame Streams file of frames, for tapfile.Compare.
func fileOf(t testing.TB, frames [][]byte) *bytes.Reader {
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
	return bytes.NewReader(buf.Bytes())
}

// readFrames returns every data frame of a Frame Streams file.
func readFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	return readFrameStream(t, f)
}

func readFrameStream(t testing.TB, r io.Reader) [][]byte {
	t.Helper()
	fr := emit.NewFrameReader(r)
	var out [][]byte
	for {
		b, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, bytes.Clone(b))
	}
}

// frameList is an emit.FrameWriter keeping copies.
type frameList struct{ frames [][]byte }

func (l *frameList) WriteFrame(b []byte) error {
	l.frames = append(l.frames, bytes.Clone(b))
	return nil
}

// wireFrames runs a capture file through the sensor's own pipeline
// (capture → reassembly → emit), as `sensor -r` does, and returns its
// frames: the wire side of a merge.
func wireFrames(t testing.TB, pcap string, cfg emit.Config) [][]byte {
	t.Helper()
	src, err := capture.OpenFile(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out frameList
	if cfg.Identity == nil {
		cfg.Identity = []byte("sensor")
	}
	pipe := emit.NewPipeline(cfg, &out)
	asm := reassembly.NewAssembler(reassembly.DefaultConfig(), pipe)
	var f packet.Frame
	for {
		if err := src.Next(&f); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
		asm.HandleFrame(&f)
	}
	asm.Flush()
	pipe.Flush()
	return out.frames
}

// servers builds the emit.Config's server list: addresses with a role.
func servers(role emit.Role, addrs ...string) []emit.ServerSpec {
	var s []emit.ServerSpec
	for _, a := range addrs {
		ad := netip.MustParseAddr(a)
		s = append(s, emit.ServerSpec{Prefix: netip.PrefixFrom(ad, ad.BitLen()), Role: role})
	}
	return s
}

func prefixes(addrs ...string) []netip.Prefix {
	var p []netip.Prefix
	for _, a := range addrs {
		ad := netip.MustParseAddr(a)
		p = append(p, netip.PrefixFrom(ad, ad.BitLen()))
	}
	return p
}

// frozen is a Merger clock that does not move: with a window longer than
// the capture, nothing is released before Close, and the counts are
// exactly those of matching the two whole streams.
func frozen(ns int64) func() int64 { return func() int64 { return ns } }

// isFilled reports whether a frame carries FilledMark.
func isFilled(t testing.TB, f []byte) bool {
	t.Helper()
	var m Message
	if err := m.Parse(f); err != nil {
		t.Fatalf("output frame does not parse: %v", err)
	}
	return string(m.Extra) == FilledMark
}
