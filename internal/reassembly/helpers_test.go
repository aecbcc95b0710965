package reassembly

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// readCapture returns every frame of a pcap or pcapng file, each with its own
// copy of the bytes. Reading files is internal/capture's job; the tests read
// with pcapgo directly so that they do not depend on it.
func readCapture(t testing.TB, path string) []packet.Frame {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var frames []packet.Frame
	if len(raw) >= 4 && bytes.Equal(raw[:4], []byte{0x0a, 0x0d, 0x0d, 0x0a}) {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.DefaultNgReaderOptions)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			ifc, err := r.Interface(ci.InterfaceIndex)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			frames = append(frames, packet.Frame{
				Data:      bytes.Clone(data),
				Timestamp: ci.Timestamp.UnixNano(),
				WireLen:   ci.Length,
				LinkType:  packet.LinkType(ifc.LinkType),
				Interface: ci.InterfaceIndex,
			})
		}
		return frames
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	lt := packet.LinkType(r.LinkType())
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		frames = append(frames, packet.Frame{
			Data:      bytes.Clone(data),
			Timestamp: ci.Timestamp.UnixNano(),
			WireLen:   ci.Length,
			LinkType:  lt,
		})
	}
	return frames
}

// captureName is the file name of a capture without its directory.
func captureName(path string) string { return filepath.Base(path) }

// allCaptures returns the frames of every capture in testdata/pcaps, by file name.
func allCaptures(t testing.TB) map[string][]packet.Frame {
	t.Helper()
	out := map[string][]packet.Frame{}
	for _, p := range testenv.Pcaps(t) {
		out[captureName(p)] = readCapture(t, p)
	}
	return out
}

// gotMessage is a copy of one Message a recordingSink received.
type gotMessage struct {
	Src, Dst  netip.AddrPort
	Transport Transport
	Timestamp int64
	Payload   []byte
	DNS       Header
}

// recordingSink keeps a copy of every message.
type recordingSink struct{ msgs []gotMessage }

func (s *recordingSink) HandleMessage(m *Message) {
	p := bytes.Clone(m.Payload)
	h := m.DNS
	if h.Question != nil {
		// Re-point the copy's question into the copied payload.
		i := bytes.Index(m.Payload, h.Question)
		h.Question = p[i : i+len(h.Question)]
	}
	s.msgs = append(s.msgs, gotMessage{m.Src, m.Dst, m.Transport, m.Timestamp, p, h})
}

// nopSink drops every message.
type nopSink struct{ n int }

func (s *nopSink) HandleMessage(m *Message) { s.n++ }

// mustHex decodes hex written with spaces, newlines and "#" comments to end of line.
func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	var clean strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		clean.WriteString(strings.Join(strings.Fields(line), ""))
	}
	b, err := hex.DecodeString(clean.String())
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

// runFrames feeds frames to a new Assembler with a recordingSink and flushes it.
func runFrames(frames []packet.Frame) (*Assembler, *recordingSink) {
	s := &recordingSink{}
	a := NewAssembler(DefaultConfig(), s)
	for i := range frames {
		a.HandleFrame(&frames[i])
	}
	a.Flush()
	return a, s
}

// counters returns the non-zero counters of a by name.
func counters(a *Assembler) map[string]uint64 {
	m := map[string]uint64{}
	a.Stats().Each(func(name string, v uint64) {
		if v != 0 {
			m[name] = v
		}
	})
	return m
}
