package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// TestPcapngInterfaceCap: a section describing more interfaces than any
// capture has (20 bytes each, nothing compresses better) is corrupt, not a
// reason to grow the interface table without bound.
func TestPcapngInterfaceCap(t *testing.T) {
	le := binary.LittleEndian
	var b bytes.Buffer
	shb := make([]byte, 28)
	le.PutUint32(shb[0:], 0x0a0d0d0a)
	le.PutUint32(shb[4:], 28)
	le.PutUint32(shb[8:], 0x1a2b3c4d)
	le.PutUint16(shb[12:], 1)
	le.PutUint64(shb[16:], ^uint64(0))
	le.PutUint32(shb[24:], 28)
	b.Write(shb)
	idb := make([]byte, 20)
	le.PutUint32(idb[0:], 1)
	le.PutUint32(idb[4:], 20)
	le.PutUint16(idb[8:], uint16(packet.LinkTypeEthernet))
	le.PutUint32(idb[12:], 262144)
	le.PutUint32(idb[16:], 20)
	for range ngMaxInterfaces + 1 {
		b.Write(idb)
	}
	src, err := NewFileSource("many-idbs.pcapng", &b)
	if err == nil {
		var f packet.Frame
		err = src.Next(&f)
	}
	if !errors.Is(err, ErrCorrupt) || errors.Is(err, io.EOF) {
		t.Fatalf("err = %v, want one wrapping ErrCorrupt", err)
	}
}
