package analyze

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// Per-frame errors: preallocated, returned by Msg.Decode and counted by the
// callers, never logged one by one.
var (
	ErrNotDnstap  = errors.New("analyze: frame is not a dnstap protobuf")
	ErrNoMessage  = errors.New("analyze: dnstap frame without a message")
	ErrBadDNS     = errors.New("analyze: DNS message does not parse")
	errTruncField = errors.New("analyze: truncated protobuf field")
)

// Limits of what Decode keeps of one message: enough for every analysis and
// for ECS; larger answers are cut (the count says how many there were).
const (
	maxAnswers   = 32  // answers kept per message (dns.answers in ECS)
	maxNameLen   = 255 // RFC 1035 §3.1: a name's wire length
	maxPointers  = 64  // compression pointers followed per name, against loops
	maxTXTRender = 512 // bytes of TXT data rendered per record
)

// Msg is one decoded dnstap Message and its DNS header, question and
// answers. Decode overwrites it; every slice aliases the frame or the Msg's
// own buffers and is valid until the next Decode.
type Msg struct {
	Identity     []byte
	Type         emit.MessageType
	Family       uint8 // dnstap SocketFamily: 1 INET, 2 INET6
	Protocol     uint8 // dnstap SocketProtocol: 1 UDP, 2 TCP, 3 DOT, 4 DOH, ...
	QueryAddr    netip.Addr
	ResponseAddr netip.Addr
	QueryPort    uint16
	ResponsePort uint16
	// Times in ns since the epoch; the Has flags say whether the frame
	// carried them (a response carries its query's time when it was seen).
	QueryTime, ResponseTime       int64
	HasQueryTime, HasResponseTime bool
	// Wire is the DNS message: query_message of a query type,
	// response_message of a response type.
	Wire []byte
	DNS  DNS

	regState int8 // 0 not computed for this message, 1 has a registered domain, -1 has none
	regLen   int16
	regCache *regCache
}

// regCache remembers the registered domain length of recently seen names
// (direct-mapped by name hash): the Public Suffix lookup allocates an error
// for every name (x/net's publicsuffix tries netip.ParseAddr first), and
// names repeat, so in steady state the lookup is skipped.
type regCache struct {
	keys [regCacheSize]uint64
	lens [regCacheSize]int16 // len of the registered domain, -1 for none
}

const regCacheSize = 4096

// Registered returns the registered domain of the question's name (a
// subslice of DNS.Name) and whether it has one, computed once per message.
func (m *Msg) Registered() ([]byte, bool) {
	name := m.DNS.Name
	if m.regState == 0 {
		if m.regCache == nil {
			m.regCache = new(regCache)
		}
		h := hashBytes(name) | 1 // never 0, the empty slot
		i := h & (regCacheSize - 1)
		if m.regCache.keys[i] == h {
			m.regLen = m.regCache.lens[i]
		} else {
			m.regLen = -1
			if HasRegisteredDomain(name) {
				m.regLen = int16(len(RegisteredDomain(name)))
			}
			m.regCache.keys[i], m.regCache.lens[i] = h, m.regLen
		}
		m.regState = 1
		if m.regLen < 0 {
			m.regState = -1
		}
	}
	if m.regState < 0 {
		return name, false
	}
	return name[len(name)-int(m.regLen):], true
}

// DNS is the part of a DNS message the analyses use.
type DNS struct {
	OK      bool // header and question parsed (the answers may still be cut)
	ID      uint16
	Flags   uint16 // header bits 16..31: QR, opcode, AA, TC, RD, RA, Z, AD, CD, RCODE
	Rcode   uint16 // with the OPT extended bits when an OPT record was seen
	HasOPT  bool
	DO      bool
	QDCount uint16
	ANCount uint16
	// Name is the first question's name in lower case, presentation form
	// without the final dot ("" for the root); QType and QClass its type
	// and class.
	Name   []byte
	QType  uint16
	QClass uint16
	// Answers holds up to maxAnswers records of the answer section.
	Answers []RR

	names []byte // arena for Name and the answers' names and data
}

// RR is one answer record; Name and Data alias the Msg's arena.
type RR struct {
	Name  []byte
	Data  []byte // presentation form of the RDATA (RFC 3597 \# form for unknown types)
	Addr  netip.Addr
	Type  uint16
	Class uint16
	TTL   uint32
}

// IsQuery reports whether the frame carries a query.
func (m *Msg) IsQuery() bool { return m.Type.IsQuery() }

// Time is the frame's own time: the response time of a response, the query
// time of a query (the other when only one is present).
func (m *Msg) Time() int64 {
	if m.IsQuery() {
		if m.HasQueryTime {
			return m.QueryTime
		}
		return m.ResponseTime
	}
	if m.HasResponseTime {
		return m.ResponseTime
	}
	return m.QueryTime
}

// ClientFacing reports whether the message is between a client and the
// server it asks (not a resolver's or forwarder's own upstream traffic),
// so that per-client figures are about real clients.
func (m *Msg) ClientFacing() bool {
	switch m.Type {
	case emit.ResolverQuery, emit.ResolverResponse, emit.ForwarderQuery, emit.ForwarderResponse:
		return false
	}
	return true
}

// Decode resets m from one Dnstap protobuf payload (a Frame Streams data
// frame without its length). It parses the protobuf by hand so that the
// per-frame path allocates nothing (golang-dnstap's proto.Unmarshal
// allocates the message and every field). A frame whose DNS message does
// not parse is still decoded (m.DNS.OK false) and reported with ErrBadDNS.
func (m *Msg) Decode(frame []byte) error {
	names := m.DNS.names[:0]
	answers := m.DNS.Answers[:0]
	cache := m.regCache
	*m = Msg{}
	m.DNS.names, m.DNS.Answers, m.regCache = names, answers, cache
	var msg []byte
	var isMessage bool
	for len(frame) > 0 {
		field, wire, v, b, rest, err := protoField(frame)
		if err != nil {
			return ErrNotDnstap
		}
		frame = rest
		switch {
		case field == 1 && wire == 2:
			m.Identity = b
		case field == 14 && wire == 2:
			msg = b
		case field == 15 && wire == 0:
			isMessage = v == 1
		}
	}
	if msg == nil || !isMessage {
		return ErrNoMessage
	}
	var qmsg, rmsg []byte
	var qsec, rsec uint64
	var qnsec, rnsec uint32
	for len(msg) > 0 {
		field, wire, v, b, rest, err := protoField(msg)
		if err != nil {
			return ErrNotDnstap
		}
		msg = rest
		switch field {
		case 1:
			m.Type = emit.MessageType(v)
		case 2:
			m.Family = uint8(v)
		case 3:
			m.Protocol = uint8(v)
		case 4:
			m.QueryAddr = addrFrom(b)
		case 5:
			m.ResponseAddr = addrFrom(b)
		case 6:
			m.QueryPort = uint16(v)
		case 7:
			m.ResponsePort = uint16(v)
		case 8:
			qsec, m.HasQueryTime = v, true
		case 9:
			qnsec = uint32(v)
		case 10:
			qmsg = b
		case 12:
			rsec, m.HasResponseTime = v, true
		case 13:
			rnsec = uint32(v)
		case 14:
			rmsg = b
		}
		_ = wire
	}
	if m.HasQueryTime {
		m.QueryTime = int64(qsec)*1e9 + int64(qnsec)
	}
	if m.HasResponseTime {
		m.ResponseTime = int64(rsec)*1e9 + int64(rnsec)
	}
	if m.Type == 0 {
		return ErrNoMessage
	}
	if m.IsQuery() {
		m.Wire = qmsg
	} else {
		m.Wire = rmsg
	}
	if !m.DNS.decode(m.Wire) {
		return ErrBadDNS
	}
	return nil
}

func addrFrom(b []byte) netip.Addr {
	switch len(b) {
	case 4:
		return netip.AddrFrom4([4]byte(b))
	case 16:
		return netip.AddrFrom16([16]byte(b)).Unmap()
	}
	return netip.Addr{}
}

// protoField reads one protobuf field (protobuf encoding spec: tag varint,
// then a varint, a length-delimited body, or a fixed 32/64-bit value).
func protoField(b []byte) (field uint64, wire uint8, v uint64, body, rest []byte, err error) {
	tag, n := uvarint(b)
	if n <= 0 {
		return 0, 0, 0, nil, nil, errTruncField
	}
	b = b[n:]
	field, wire = tag>>3, uint8(tag&7)
	switch wire {
	case 0:
		v, n = uvarint(b)
		if n <= 0 {
			return 0, 0, 0, nil, nil, errTruncField
		}
		return field, wire, v, nil, b[n:], nil
	case 1:
		if len(b) < 8 {
			return 0, 0, 0, nil, nil, errTruncField
		}
		return field, wire, binary.LittleEndian.Uint64(b), nil, b[8:], nil
	case 2:
		l, n := uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return 0, 0, 0, nil, nil, errTruncField
		}
		b = b[n:]
		return field, wire, 0, b[:l:l], b[l:], nil
	case 5:
		if len(b) < 4 {
			return 0, 0, 0, nil, nil, errTruncField
		}
		return field, wire, uint64(binary.LittleEndian.Uint32(b)), nil, b[4:], nil
	}
	return 0, 0, 0, nil, nil, errTruncField
}

func uvarint(b []byte) (uint64, int) {
	var v uint64
	for i := 0; i < len(b) && i < 10; i++ {
		v |= uint64(b[i]&0x7f) << (7 * i)
		if b[i] < 0x80 {
			return v, i + 1
		}
	}
	return 0, 0
}

// DNS header flag bits (RFC 1035 §4.1.1, RFC 4035 §3.2 for AD and CD).
const (
	flagQR = 1 << 15
	flagAA = 1 << 10
	flagTC = 1 << 9
	flagRD = 1 << 8
	flagRA = 1 << 7
	flagAD = 1 << 5
	flagCD = 1 << 4
)

// RR types the analyses and the ECS encoder look at (IANA DNS parameters).
const (
	TypeA     = 1
	TypeNS    = 2
	TypeCNAME = 5
	TypeSOA   = 6
	TypeNULL  = 10
	TypePTR   = 12
	TypeMX    = 15
	TypeTXT   = 16
	TypeAAAA  = 28
	TypeSRV   = 33
	TypeOPT   = 41
)

// Rcodes named in the analyses (RFC 1035 §4.1.1).
const (
	RcodeNoError  = 0
	RcodeServFail = 2
	RcodeNXDomain = 3
)

// IsResponse reports the QR bit.
func (d *DNS) IsResponse() bool { return d.Flags&flagQR != 0 }

// Opcode is the header's OPCODE.
func (d *DNS) Opcode() uint8 { return uint8(d.Flags>>11) & 0xf }

func (d *DNS) decode(b []byte) bool {
	if len(b) < 12 {
		return false
	}
	d.ID = binary.BigEndian.Uint16(b)
	d.Flags = binary.BigEndian.Uint16(b[2:])
	d.Rcode = d.Flags & 0xf
	d.QDCount = binary.BigEndian.Uint16(b[4:])
	d.ANCount = binary.BigEndian.Uint16(b[6:])
	ns := int(binary.BigEndian.Uint16(b[8:]))
	ar := int(binary.BigEndian.Uint16(b[10:]))
	off := 12
	if d.QDCount == 0 {
		d.OK = true
		return true
	}
	start := len(d.names)
	var ok bool
	d.names, off, ok = appendName(d.names, b, off, true)
	if !ok || off+4 > len(b) {
		d.names = d.names[:start]
		return false
	}
	d.Name = d.names[start:len(d.names):len(d.names)]
	d.QType = binary.BigEndian.Uint16(b[off:])
	d.QClass = binary.BigEndian.Uint16(b[off+2:])
	off += 4
	d.OK = true
	for i := 1; i < int(d.QDCount); i++ { // rare: skip further questions
		if off, ok = skipName(b, off); !ok || off+4 > len(b) {
			return true
		}
		off += 4
	}
	total := int(d.ANCount) + ns + ar
	for i := 0; i < total; i++ {
		var nameStart = len(d.names)
		keep := i < int(d.ANCount) && len(d.Answers) < maxAnswers
		var rrName []byte
		if keep {
			d.names, off, ok = appendName(d.names, b, off, true)
			rrName = d.names[nameStart:len(d.names):len(d.names)]
		} else {
			off, ok = skipName(b, off)
		}
		if !ok || off+10 > len(b) {
			return true
		}
		rr := RR{Type: binary.BigEndian.Uint16(b[off:]), Class: binary.BigEndian.Uint16(b[off+2:]),
			TTL: binary.BigEndian.Uint32(b[off+4:])}
		rdlen := int(binary.BigEndian.Uint16(b[off+8:]))
		off += 10
		if off+rdlen > len(b) {
			return true
		}
		if rr.Type == TypeOPT {
			d.HasOPT = true
			d.Rcode |= uint16(rr.TTL>>24) << 4 // RFC 6891 §6.1.3: extended RCODE
			d.DO = rr.TTL&(1<<15) != 0
		}
		if keep {
			rr.Name = rrName
			dataStart := len(d.names)
			d.names = appendRData(d.names, b, off, rdlen, &rr)
			rr.Data = d.names[dataStart:len(d.names):len(d.names)]
			d.Answers = append(d.Answers, rr)
		}
		off += rdlen
	}
	return true
}

// appendName appends the presentation form of the name at off (following
// compression pointers, RFC 1035 §4.1.4) without the final dot, and returns
// the offset after the name in the message. lower folds ASCII case.
func appendName(dst, msg []byte, off int, lower bool) ([]byte, int, bool) {
	end := -1
	ptrs := 0
	wireLen := 0
	first := true
	for {
		if off >= len(msg) {
			return dst, 0, false
		}
		c := int(msg[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if end < 0 {
					end = off + 1
				}
				return dst, end, true
			}
			if off+1+c > len(msg) {
				return dst, 0, false
			}
			wireLen += c + 1
			if wireLen > maxNameLen {
				return dst, 0, false
			}
			if !first {
				dst = append(dst, '.')
			}
			first = false
			for _, ch := range msg[off+1 : off+1+c] {
				dst = appendLabelByte(dst, ch, lower)
			}
			off += 1 + c
		case 0xc0:
			if off+2 > len(msg) {
				return dst, 0, false
			}
			if end < 0 {
				end = off + 2
			}
			ptrs++
			if ptrs > maxPointers {
				return dst, 0, false
			}
			off = int(binary.BigEndian.Uint16(msg[off:]) & 0x3fff)
		default:
			return dst, 0, false // 0x40 and 0x80 label types are obsolete (RFC 6891 §5)
		}
	}
}

// appendLabelByte writes one label byte as dig does: \. and \\ escaped,
// bytes outside printable ASCII as \DDD (RFC 1035 §5.1).
func appendLabelByte(dst []byte, ch byte, lower bool) []byte {
	switch {
	case ch == '.' || ch == '\\' || ch == '"' || ch == ';' || ch == '(' || ch == ')' || ch == '@' || ch == '$':
		return append(dst, '\\', ch)
	case ch < 0x21 || ch > 0x7e:
		return append(dst, '\\', '0'+ch/100, '0'+ch/10%10, '0'+ch%10)
	case lower && ch >= 'A' && ch <= 'Z':
		return append(dst, ch+('a'-'A'))
	}
	return append(dst, ch)
}

func skipName(msg []byte, off int) (int, bool) {
	for {
		if off >= len(msg) {
			return 0, false
		}
		c := int(msg[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				return off + 1, true
			}
			off += 1 + c
		case 0xc0:
			if off+2 > len(msg) {
				return 0, false
			}
			return off + 2, true
		default:
			return 0, false
		}
	}
}

const hexDigits = "0123456789abcdef"

// appendRData appends the presentation form of the record's data; A and
// AAAA also set rr.Addr.
func appendRData(dst, msg []byte, off, n int, rr *RR) []byte {
	rd := msg[off : off+n]
	switch {
	case rr.Type == TypeA && n == 4:
		rr.Addr = netip.AddrFrom4([4]byte(rd))
		return rr.Addr.AppendTo(dst)
	case rr.Type == TypeAAAA && n == 16:
		rr.Addr = netip.AddrFrom16([16]byte(rd))
		return rr.Addr.AppendTo(dst)
	case rr.Type == TypeCNAME || rr.Type == TypeNS || rr.Type == TypePTR:
		start := len(dst)
		out, _, ok := appendName(dst, msg, off, true)
		if ok {
			return out
		}
		dst = dst[:start]
	case rr.Type == TypeMX && n >= 3:
		start := len(dst)
		dst = appendUint(dst, uint64(binary.BigEndian.Uint16(rd)))
		dst = append(dst, ' ')
		out, _, ok := appendName(dst, msg, off+2, true)
		if ok {
			return out
		}
		dst = dst[:start]
	case rr.Type == TypeSRV && n >= 7:
		start := len(dst)
		for i := 0; i < 6; i += 2 {
			dst = appendUint(dst, uint64(binary.BigEndian.Uint16(rd[i:])))
			dst = append(dst, ' ')
		}
		out, _, ok := appendName(dst, msg, off+6, true)
		if ok {
			return out
		}
		dst = dst[:start]
	case rr.Type == TypeTXT:
		start := len(dst)
		for i := 0; i < len(rd); {
			l := int(rd[i])
			if i+1+l > len(rd) {
				dst = dst[:start]
				break
			}
			if i > 0 {
				dst = append(dst, ' ')
			}
			dst = append(dst, '"')
			for _, ch := range rd[i+1 : i+1+l] {
				if len(dst)-start >= maxTXTRender {
					break
				}
				switch {
				case ch == '"' || ch == '\\':
					dst = append(dst, '\\', ch)
				case ch < 0x20 || ch > 0x7e:
					dst = append(dst, '\\', '0'+ch/100, '0'+ch/10%10, '0'+ch%10)
				default:
					dst = append(dst, ch)
				}
			}
			dst = append(dst, '"')
			i += 1 + l
		}
		if len(dst) > start {
			return dst
		}
	}
	// RFC 3597 §5: the generic form of data we do not render.
	dst = append(dst, '\\', '#', ' ')
	dst = appendUint(dst, uint64(n))
	if n > 0 {
		dst = append(dst, ' ')
		for i, c := range rd {
			if i >= maxTXTRender/2 {
				break
			}
			dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	return dst
}

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
