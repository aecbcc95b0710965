package emit

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

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

// discard is a FrameWriter that drops frames.
type discard struct{ n int }

func (d *discard) WriteFrame(b []byte) error { d.n += len(b); return nil }

func netipPrefix(s string) netip.Prefix { return netip.MustParsePrefix(s) }
