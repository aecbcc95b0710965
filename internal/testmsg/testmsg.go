// Package testmsg builds the DNS messages that the emit and tapfile tests
// feed through the pipeline: a message described in a few fields, packed by
// miekg/dns, wrapped as the reassembly.Message the assembler would hand
// over. It is for tests only; the sensor never imports it.
package testmsg

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// Spec describes a test DNS message.
type Spec struct {
	Src, Dst  string // AddrPort
	Response  bool
	Opcode    int
	ID        uint16
	QName     string // default example.com.
	Transport reassembly.Transport
	TS        int64
}

// Wire packs a DNS message for s with miekg/dns: an A question, and for a
// response one A answer.
func Wire(t testing.TB, s Spec) []byte {
	t.Helper()
	m := new(dns.Msg)
	name := s.QName
	if name == "" {
		name = "example.com."
	}
	m.SetQuestion(name, dns.TypeA)
	m.Id = s.ID
	m.Opcode = s.Opcode
	if s.Response {
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

// Message builds the reassembly.Message the assembler would hand over (UDP
// unless s says otherwise).
func Message(t testing.TB, s Spec) *reassembly.Message {
	t.Helper()
	b := Wire(t, s)
	tr := s.Transport
	if tr == 0 {
		tr = reassembly.TransportUDP
	}
	m := &reassembly.Message{
		Src:       netip.MustParseAddrPort(s.Src),
		Dst:       netip.MustParseAddrPort(s.Dst),
		Transport: tr,
		Timestamp: s.TS,
		Payload:   b,
	}
	FillHeader(&m.DNS, b)
	return m
}

// FillHeader parses the header and the first question of an uncompressed
// question section (what miekg/dns writes).
func FillHeader(h *reassembly.Header, b []byte) {
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
