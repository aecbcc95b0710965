package reassembly

import "net/netip"

// Transport is the transport a DNS message crossed the wire on. Its values
// are dnstap's SocketProtocol numbers, so emit can copy them as they are.
type Transport uint8

// Transports the sensor rebuilds messages from.
const (
	TransportUDP Transport = 1 // dnstap SocketProtocol UDP
	TransportTCP Transport = 2 // dnstap SocketProtocol TCP
)

// Message is one whole DNS message as it crossed the wire.
//
// Payload holds the exact wire bytes of the DNS message (for TCP without the
// two-byte length prefix). It aliases the capture buffer or the reassembler's
// buffers: it is a read-only view, valid only during the Sink's HandleMessage
// call. A Sink that keeps it must copy it.
type Message struct {
	Src       netip.AddrPort // source of the packet(s) that carried the message
	Dst       netip.AddrPort // destination of the packet(s) that carried the message
	Transport Transport
	Timestamp int64 // capture time of the packet that completed the message, ns since the Unix epoch
	Payload   []byte
	DNS       Header // parsed from Payload before the Sink sees it
}

// Header is the part of a DNS message the sensor parses on the per-message
// path: the fixed header and the first question. Parsing stops there;
// Malformed says whether the rest of the message failed to parse.
type Header struct {
	ID      uint16
	Flags   uint16 // QR, Opcode, AA, TC, RD, RA, Z, AD, CD, RCODE as on the wire (RFC 1035 §4.1.1)
	QDCount uint16
	ANCount uint16
	NSCount uint16
	ARCount uint16
	// Question is the wire form of the first question (QNAME, QTYPE,
	// QCLASS). It aliases Payload. Nil when QDCOUNT is 0 or the question
	// does not parse.
	Question []byte
	// Malformed is set when the 12-byte header is sane but the message does
	// not parse fully (bad name, record running past the end, trailing
	// garbage). Such messages are still emitted with their exact bytes.
	Malformed bool
}

// Response reports the QR bit.
func (h *Header) Response() bool { return h.Flags&0x8000 != 0 }

// Opcode returns the four-bit OPCODE (RFC 1035 §4.1.1; 5 is UPDATE, RFC 2136).
func (h *Header) Opcode() uint8 { return uint8(h.Flags>>11) & 0x0f }

// Rcode returns the four-bit header RCODE.
func (h *Header) Rcode() uint8 { return uint8(h.Flags & 0x000f) }

// Sink receives every whole DNS message an Assembler rebuilds, on the
// Assembler's goroutine. It must not block for long: it is on the capture
// path.
type Sink interface {
	HandleMessage(m *Message)
}
