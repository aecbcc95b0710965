package emit

import (
	"encoding/binary"
	"net/netip"
)

// Record is one dnstap Message with the envelope fields the sensor sets.
// The byte slices are read during AppendDnstap only.
type Record struct {
	Type            MessageType
	Protocol        uint8          // dnstap SocketProtocol: 1 UDP, 2 TCP (the reassembly.Transport values)
	QueryAddr       netip.AddrPort // initiator
	ResponseAddr    netip.AddrPort // responder
	HasQueryTime    bool
	QueryTime       int64 // ns since the epoch (capture time)
	HasResponseTime bool
	ResponseTime    int64
	QueryMessage    []byte // set on query types
	ResponseMessage []byte // set on response types
}

// dnstap.proto enum values written by the sensor.
const (
	dnstapTypeMessage = 1 // Dnstap.Type MESSAGE
	socketFamilyINET  = 1
	socketFamilyINET6 = 2
)

// Protobuf wire types (protobuf encoding spec).
const (
	wireVarint  = 0
	wireBytes   = 2
	wireFixed32 = 5
)

// Every field number used is below 16, so each tag is one byte.
func tag(field, wire int) byte { return byte(field<<3 | wire) }

func varintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}

func appendVarint(b []byte, v uint64) []byte {
	for v >= 0x80 {
		b = append(b, byte(v)|0x80)
		v >>= 7
	}
	return append(b, byte(v))
}

func bytesFieldLen(n int) int { return 1 + varintLen(uint64(n)) + n }

func appendBytesField(b []byte, field int, v []byte) []byte {
	b = append(b, tag(field, wireBytes))
	b = appendVarint(b, uint64(len(v)))
	return append(b, v...)
}

// splitTime turns ns since the epoch into dnstap's seconds and nanoseconds,
// flooring so that nanoseconds stay in [0, 1e9) even before 1970.
func splitTime(t int64) (uint64, uint32) {
	sec, nsec := t/1e9, t%1e9
	if nsec < 0 {
		sec--
		nsec += 1e9
	}
	return uint64(sec), uint32(nsec)
}

// addrBytes returns the address in its natural length: 4 bytes for IPv4
// (and IPv4-mapped IPv6, which the sensor treats as IPv4), 16 for IPv6.
func addrBytes(a netip.Addr, buf *[16]byte) []byte {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		copy(buf[:4], v[:])
		return buf[:4]
	}
	*buf = a.As16()
	return buf[:16]
}

func messageLen(r *Record, qa, ra []byte) int {
	n := 2 + 2 + 2 // type, socket_family, socket_protocol: one-byte varints
	n += bytesFieldLen(len(qa)) + bytesFieldLen(len(ra))
	n += 1 + varintLen(uint64(r.QueryAddr.Port()))
	n += 1 + varintLen(uint64(r.ResponseAddr.Port()))
	if r.HasQueryTime {
		s, _ := splitTime(r.QueryTime)
		n += 1 + varintLen(s) + 5
	}
	if r.QueryMessage != nil {
		n += bytesFieldLen(len(r.QueryMessage))
	}
	if r.HasResponseTime {
		s, _ := splitTime(r.ResponseTime)
		n += 1 + varintLen(s) + 5
	}
	if r.ResponseMessage != nil {
		n += bytesFieldLen(len(r.ResponseMessage))
	}
	return n
}

// AppendDnstap appends the protobuf encoding of a Dnstap{identity, version,
// message, type=MESSAGE} to dst and returns it. The bytes equal
// proto.Marshal of the same golang-dnstap value: fields go in field-number
// order and the Message length is computed first, so nothing is moved
// afterwards. Empty identity or version are left out, as a nil []byte is by
// proto.Marshal.
func AppendDnstap(dst []byte, identity, version []byte, r *Record) []byte {
	var qbuf, rbuf [16]byte
	qa := addrBytes(r.QueryAddr.Addr(), &qbuf)
	ra := addrBytes(r.ResponseAddr.Addr(), &rbuf)
	family := uint64(socketFamilyINET)
	if len(qa) == 16 {
		family = socketFamilyINET6
	}
	if len(identity) > 0 {
		dst = appendBytesField(dst, 1, identity)
	}
	if len(version) > 0 {
		dst = appendBytesField(dst, 2, version)
	}
	dst = append(dst, tag(14, wireBytes))
	dst = appendVarint(dst, uint64(messageLen(r, qa, ra)))

	dst = append(dst, tag(1, wireVarint), byte(r.Type),
		tag(2, wireVarint), byte(family),
		tag(3, wireVarint), r.Protocol)
	dst = appendBytesField(dst, 4, qa)
	dst = appendBytesField(dst, 5, ra)
	dst = append(dst, tag(6, wireVarint))
	dst = appendVarint(dst, uint64(r.QueryAddr.Port()))
	dst = append(dst, tag(7, wireVarint))
	dst = appendVarint(dst, uint64(r.ResponseAddr.Port()))
	if r.HasQueryTime {
		s, ns := splitTime(r.QueryTime)
		dst = append(dst, tag(8, wireVarint))
		dst = appendVarint(dst, s)
		dst = append(dst, tag(9, wireFixed32))
		dst = binary.LittleEndian.AppendUint32(dst, ns)
	}
	if r.QueryMessage != nil {
		dst = appendBytesField(dst, 10, r.QueryMessage)
	}
	if r.HasResponseTime {
		s, ns := splitTime(r.ResponseTime)
		dst = append(dst, tag(12, wireVarint))
		dst = appendVarint(dst, s)
		dst = append(dst, tag(13, wireFixed32))
		dst = binary.LittleEndian.AppendUint32(dst, ns)
	}
	if r.ResponseMessage != nil {
		dst = appendBytesField(dst, 14, r.ResponseMessage)
	}
	return append(dst, tag(15, wireVarint), dnstapTypeMessage)
}
