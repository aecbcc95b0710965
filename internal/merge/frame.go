package merge

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Per-frame errors of Parse. They are counted, never logged one by one.
var (
	// ErrNotProtobuf: the frame is not a well-formed protobuf message.
	ErrNotProtobuf = errors.New("merge: frame is not a protobuf message")
	// ErrNotMessage: a Dnstap frame without a MESSAGE (another Dnstap
	// type, or no message field).
	ErrNotMessage = errors.New("merge: dnstap frame carries no message")
	// ErrNoWire: the message has no DNS bytes for its direction.
	ErrNoWire = errors.New("merge: dnstap message without DNS bytes")
)

// Protobuf wire types (protobuf encoding spec).
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Field numbers of dnstap.proto that matching reads.
const (
	fDnstapExtra   = 3
	fDnstapMessage = 14
	fDnstapType    = 15

	fMsgType         = 1
	fMsgProtocol     = 3
	fMsgQueryAddr    = 4
	fMsgRespAddr     = 5
	fMsgQueryPort    = 6
	fMsgRespPort     = 7
	fMsgQueryTimeSec = 8
	fMsgQueryTimeNs  = 9
	fMsgQueryMessage = 10
	fMsgRespTimeSec  = 12
	fMsgRespTimeNs   = 13
	fMsgRespMessage  = 14

	dnstapTypeMessage = 1
)

// Message is what matching needs of one dnstap frame. Wire aliases the
// parsed frame and is valid as long as the frame's bytes are.
type Message struct {
	// Type is dnstap's Message.Type (odd: query, even: response).
	Type uint8
	// Protocol is dnstap's SocketProtocol; 0 when absent.
	Protocol uint8
	// Query and Response are the initiator's and responder's address and
	// port; an absent address is the zero Addr, an absent port 0.
	Query, Response netip.AddrPort
	// Time is the message's own time in ns since the epoch: response_time
	// for a response, query_time for a query; HasTime is false when the
	// frame carries none.
	Time    int64
	HasTime bool
	// Wire is the DNS message: query_message for a query type,
	// response_message for a response type.
	Wire []byte
	// Extra is Dnstap.extra, nil when absent.
	Extra []byte
}

// IsResponse reports whether the type is a response (even dnstap numbers).
func (m *Message) IsResponse() bool { return m.Type != 0 && m.Type%2 == 0 }

// Parse reads a serialized dnstap.Dnstap without allocating: every field it
// does not need is skipped. It resets m.
func (m *Message) Parse(b []byte) error {
	*m = Message{}
	var msg []byte
	typ := uint64(0)
	for len(b) > 0 {
		field, wt, n := readTag(b)
		if n == 0 {
			return ErrNotProtobuf
		}
		b = b[n:]
		switch {
		case field == fDnstapMessage && wt == wireBytes:
			v, n := readBytes(b)
			if n == 0 {
				return ErrNotProtobuf
			}
			msg, b = v, b[n:]
		case field == fDnstapExtra && wt == wireBytes:
			v, n := readBytes(b)
			if n == 0 {
				return ErrNotProtobuf
			}
			m.Extra, b = v, b[n:]
		case field == fDnstapType && wt == wireVarint:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return ErrNotProtobuf
			}
			typ, b = v, b[n:]
		default:
			n := skip(b, wt)
			if n < 0 {
				return ErrNotProtobuf
			}
			b = b[n:]
		}
	}
	if typ != dnstapTypeMessage || msg == nil {
		return ErrNotMessage
	}
	return m.parseMessage(msg)
}

func (m *Message) parseMessage(b []byte) error {
	var qa, ra []byte
	var qport, rport uint64
	var qsec, rsec uint64
	var qns, rns uint32
	var hasQT, hasRT bool
	var qmsg, rmsg []byte
	for len(b) > 0 {
		field, wt, n := readTag(b)
		if n == 0 {
			return ErrNotProtobuf
		}
		b = b[n:]
		switch wt {
		case wireVarint:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return ErrNotProtobuf
			}
			b = b[n:]
			switch field {
			case fMsgType:
				m.Type = uint8(v)
			case fMsgProtocol:
				m.Protocol = uint8(v)
			case fMsgQueryPort:
				qport = v
			case fMsgRespPort:
				rport = v
			case fMsgQueryTimeSec:
				qsec, hasQT = v, true
			case fMsgRespTimeSec:
				rsec, hasRT = v, true
			}
		case wireBytes:
			v, n := readBytes(b)
			if n == 0 {
				return ErrNotProtobuf
			}
			b = b[n:]
			switch field {
			case fMsgQueryAddr:
				qa = v
			case fMsgRespAddr:
				ra = v
			case fMsgQueryMessage:
				qmsg = v
			case fMsgRespMessage:
				rmsg = v
			}
		case wireFixed32:
			if len(b) < 4 {
				return ErrNotProtobuf
			}
			v := binary.LittleEndian.Uint32(b)
			b = b[4:]
			switch field {
			case fMsgQueryTimeNs:
				qns = v
			case fMsgRespTimeNs:
				rns = v
			}
		default:
			n := skip(b, wt)
			if n < 0 {
				return ErrNotProtobuf
			}
			b = b[n:]
		}
	}
	m.Query = addrPort(qa, qport)
	m.Response = addrPort(ra, rport)
	if m.IsResponse() {
		m.Wire = rmsg
		if hasRT {
			m.Time, m.HasTime = int64(rsec)*1e9+int64(rns), true
		} else if hasQT {
			m.Time, m.HasTime = int64(qsec)*1e9+int64(qns), true
		}
	} else {
		m.Wire = qmsg
		if hasQT {
			m.Time, m.HasTime = int64(qsec)*1e9+int64(qns), true
		}
	}
	if len(m.Wire) == 0 {
		return ErrNoWire
	}
	return nil
}

// addrPort turns dnstap's address bytes into an AddrPort. IPv4-mapped IPv6
// is unmapped, as the sensor writes it and as tapfile.Compare reads it.
func addrPort(a []byte, port uint64) netip.AddrPort {
	var addr netip.Addr
	switch len(a) {
	case 4:
		addr = netip.AddrFrom4([4]byte(a))
	case 16:
		addr = netip.AddrFrom16([16]byte(a)).Unmap()
	}
	return netip.AddrPortFrom(addr, uint16(port))
}

func readTag(b []byte) (field uint64, wt int, n int) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v>>3 == 0 {
		return 0, 0, 0
	}
	return v >> 3, int(v & 7), n
}

// readBytes reads a length-delimited value; n is 0 when it is cut.
func readBytes(b []byte) ([]byte, int) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return nil, 0
	}
	return b[n : n+int(l)], n + int(l)
}

// skip returns the length of a value of wire type wt, or -1.
func skip(b []byte, wt int) int {
	switch wt {
	case wireVarint:
		_, n := binary.Uvarint(b)
		if n <= 0 {
			return -1
		}
		return n
	case wireFixed64:
		if len(b) < 8 {
			return -1
		}
		return 8
	case wireBytes:
		_, n := readBytes(b)
		if n == 0 {
			return -1
		}
		return n
	case wireFixed32:
		if len(b) < 4 {
			return -1
		}
		return 4
	}
	return -1
}

// FilledMark is the dnstap extra field of a frame the sensor made for a wire
// message that the server's own stream lacks. The frame keeps the sensor's
// identity (Dnstap.identity), never the server's.
const FilledMark = "dnstap-sensor:filled"

// appendFilled appends frame with FilledMark appended as Dnstap.extra. A
// protobuf field may come in any order and the last of a non-repeated field
// wins (protobuf encoding spec), so appending leaves every other byte as
// the pipeline encoded it. The sensor's pipeline never sets extra itself.
func appendFilled(dst, frame []byte) []byte {
	dst = append(dst, frame...)
	dst = append(dst, fDnstapExtra<<3|wireBytes, byte(len(FilledMark)))
	return append(dst, FilledMark...)
}

// filledExtraLen is what appendFilled adds to a frame.
const filledExtraLen = 2 + len(FilledMark)
