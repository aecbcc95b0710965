package synth

import (
	"bufio"
	"encoding/binary"
	"time"
)

// pcap file format constants (the libpcap format documented in
// draft-ietf-opsawg-pcap).
const (
	pcapMagicMicro = 0xa1b2c3d4
	pcapMagicNano  = 0xa1b23c4d
	pcapSnaplen    = 262144 // what tcpdump uses, and what the sensor compiles its filter for
	linkEthernet   = 1
)

// pcapWriter writes pcap records through a large buffer. Write errors are
// sticky: the first one is kept and reported by flush, so the per-packet
// path has no error plumbing.
type pcapWriter struct {
	w     *bufio.Writer
	nano  bool
	start time.Time
	err   error
	bytes int64
	first int64 // ns since start of the first record
	last  int64 // ns since start of the latest record; timestamps never go back
	n     int
	hdr   [16]byte
}

func (p *pcapWriter) writeHeader() error {
	var h [24]byte
	magic := uint32(pcapMagicMicro)
	if p.nano {
		magic = pcapMagicNano
	}
	binary.LittleEndian.PutUint32(h[0:], magic)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], pcapSnaplen)
	binary.LittleEndian.PutUint32(h[20:], linkEthernet)
	_, err := p.w.Write(h[:])
	p.bytes += 24
	return err
}

// write appends one record with capture time t (ns since start). A t
// earlier than the previous record's is moved up to it: real captures are
// monotonic (mostly), and the sensor's idle timeouts assume so.
func (p *pcapWriter) write(t int64, frame []byte) {
	if p.n == 0 {
		p.first = t
	} else if t < p.last {
		t = p.last
	}
	p.last = t
	p.n++
	abs := p.start.UnixNano() + t
	sec := abs / 1e9
	frac := abs % 1e9
	if !p.nano {
		frac /= 1000
	}
	binary.LittleEndian.PutUint32(p.hdr[0:], uint32(sec))
	binary.LittleEndian.PutUint32(p.hdr[4:], uint32(frac))
	binary.LittleEndian.PutUint32(p.hdr[8:], uint32(len(frame)))
	binary.LittleEndian.PutUint32(p.hdr[12:], uint32(len(frame)))
	if p.err != nil {
		return
	}
	if _, err := p.w.Write(p.hdr[:]); err != nil {
		p.err = err
		return
	}
	if _, err := p.w.Write(frame); err != nil {
		p.err = err
		return
	}
	p.bytes += int64(16 + len(frame))
}

func (p *pcapWriter) flush() error {
	if p.err != nil {
		return p.err
	}
	return p.w.Flush()
}
