package tapfile

// Test frames made by emit's own pipeline from hand-built messages, as the
// sensor writes them: the readers here are tested against the writer.

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// t0 is the capture time of the first sample frame: 2023-11-14 22:13:20 UTC.
const t0 = int64(1700000000) * int64(time.Second)

// msgSpec describes a test DNS message.
type msgSpec struct {
	src, dst  string // AddrPort
	response  bool
	opcode    int
	id        uint16
	qname     string
	transport reassembly.Transport
	ts        int64
}

// wire packs a DNS message for s with miekg/dns.
func wire(t testing.TB, s msgSpec) []byte {
	t.Helper()
	m := new(dns.Msg)
	name := s.qname
	if name == "" {
		name = "example.com."
	}
	m.SetQuestion(name, dns.TypeA)
	m.Id = s.id
	m.Opcode = s.opcode
	if s.response {
		m.Response = true
		rr, err := dns.NewRR(name + " 300 IN A 192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	m.Compress = true
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// message builds the reassembly.Message the assembler would hand over.
func message(t testing.TB, s msgSpec) *reassembly.Message {
	t.Helper()
	b := wire(t, s)
	tr := s.transport
	if tr == 0 {
		tr = reassembly.TransportUDP
	}
	m := &reassembly.Message{
		Src:       netip.MustParseAddrPort(s.src),
		Dst:       netip.MustParseAddrPort(s.dst),
		Transport: tr,
		Timestamp: s.ts,
		Payload:   b,
	}
	fillHeader(&m.DNS, b)
	return m
}

// fillHeader parses the header and the first question of an uncompressed
// question section (what miekg/dns writes).
func fillHeader(h *reassembly.Header, b []byte) {
	h.ID = binary.BigEndian.Uint16(b)
	h.Flags = binary.BigEndian.Uint16(b[2:])
	h.QDCount = binary.BigEndian.Uint16(b[4:])
	h.ANCount = binary.BigEndian.Uint16(b[6:])
	h.NSCount = binary.BigEndian.Uint16(b[8:])
	h.ARCount = binary.BigEndian.Uint16(b[10:])
	h.Question = nil
	if h.QDCount == 0 {
		return
	}
	off := 12
	for off < len(b) && b[off] != 0 {
		off += int(b[off]) + 1
	}
	off += 1 + 4
	if off <= len(b) {
		h.Question = b[12:off]
	}
}

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
		{src: "192.0.2.10:4000", dst: "192.0.2.53:53", id: 1},
		{src: "192.0.2.53:53", dst: "192.0.2.10:4000", id: 1, response: true},
		{src: "192.0.2.53:5000", dst: "198.51.100.1:53", id: 2, qname: "ExAmple.org."},
		{src: "198.51.100.1:53", dst: "192.0.2.53:5000", id: 2, qname: "ExAmple.org.", response: true},
		{src: "[2001:db8::10]:4000", dst: "[2001:db8::53]:53", id: 3},
		{src: "[2001:db8::53]:53", dst: "[2001:db8::10]:4000", id: 3, response: true},
		{src: "192.0.2.10:4001", dst: "192.0.2.53:53", id: 4, opcode: 5, transport: 2},
		{src: "192.0.2.53:53", dst: "192.0.2.10:4001", id: 4, opcode: 5, response: true, transport: 2},
	} {
		s.ts = t0 + int64(i)*1e6 + 123
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
