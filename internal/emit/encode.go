package emit

import (
	"encoding/binary"
	"net/netip"
)

// Record is one dnstap Message with the envelope fields the sensor sets.
// The byte slices are read during AppendDnstap only.
type Record struct {
	Type            MessageType
	Protocol        uint8          // dnstap SocketProtocol: 1 UDP, 2 TCP (reassembly.Transport values)
	QueryAddr       netip.AddrPort // initiator
	ResponseAddr    netip.AddrPort // responder
	HasQueryTime    bool
	QueryTime       int64 // ns since the epoch (capture time)
	HasResponseTime bool
	ResponseTime    int64
	QueryMessage    []byte // set on query types
	ResponseMessage []byte // set on response types
}

// AppendDnstap appends the protobuf encoding of a Dnstap{identity, version,
// message, type=MESSAGE} to dst and returns it. The bytes equal
// proto.Marshal of the same golang-dnstap value: fields go in field-number
// order and lengths are computed first, so nothing is moved afterwards.
func AppendDnstap(dst []byte, identity, version []byte, r *Record) []byte {
	// TODO
	_ = binary.BigEndian
	return dst
}
