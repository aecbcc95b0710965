package capture

import (
	"bufio"
	"encoding/binary"
	"io"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// The pcapng reader is ours rather than pcapgo.NgReader because the latter
// allocates per packet where this sensor needs it not to (measured with
// testing.AllocsPerRun on gopacket v1.7.7): with WantMixedLinkType, which a
// file with several link types needs, it boxes each packet's link type into
// an interface{}, and Go allocates that box for values of 256 and up, such as
// LINKTYPE_LINUX_SLL2 (276): 1 allocation per packet. It also parses every
// Enhanced Packet Block's options and allocates for some (epb_flags, hashes,
// comments). This reader hands out packet data straight from its read buffer
// (no copy at all for blocks up to fileBufSize), ignores packet options, and
// converts timestamps to nanoseconds without time.Time.
//
// Format: draft-ietf-opsawg-pcapng (block layout §3, SHB §4.1, IDB §4.2,
// EPB §4.3, SPB §4.4, obsolete Packet Block Appendix A).

const (
	ngBlockSHB = 0x0a0d0d0a
	ngBlockIDB = 0x00000001
	ngBlockPB  = 0x00000002 // obsolete Packet Block, still written by old tools
	ngBlockSPB = 0x00000003
	ngBlockEPB = 0x00000006

	ngByteOrderMagic = 0x1a2b3c4d

	ngOptEnd      = 0
	ngOptTSResol  = 9  // if_tsresol: 1 byte
	ngOptTSOffset = 14 // if_tsoffset: 8 bytes, seconds

	// ngMaxBlock is libpcap's limit on a pcapng block (16 MiB, its
	// INITIAL_MAX_BLOCKSIZE); a larger length is corruption, not data.
	ngMaxBlock = 16 << 20
)

// Sentinels for the ways a pcapng file is corrupt. They wrap ErrCorrupt.
var (
	errNgBadLength    = wrapCorrupt("pcapng: bad block length")
	errNgBadTrailer   = wrapCorrupt("pcapng: block trailer length differs from header")
	errNgBadByteOrder = wrapCorrupt("pcapng: bad byte-order magic in section header")
	errNgVersion      = wrapCorrupt("pcapng: unsupported major version")
	errNgShort        = wrapCorrupt("pcapng: block too short for its fields")
	errNgNoInterface  = wrapCorrupt("pcapng: packet names an interface not described before it")
	errNgTSResol      = wrapCorrupt("pcapng: timestamp resolution out of range")
	errNgInterfaces   = wrapCorrupt("pcapng: more interfaces in one section than a capture has")
	errNgCapLen       = wrapCorrupt("pcapng: captured length larger than its packet block")
)

// ngMaxInterfaces bounds the interface table of a section: each IDB is 20
// bytes and compresses to almost nothing, so without a cap a small gzipped
// file could make the reader hold millions of them. Real captures describe
// a handful of interfaces; 65536 is the most a pcapng writer names with
// libpcap's and Wireshark's 16-bit interface indexes in mind.
const ngMaxInterfaces = 1 << 16

type corruptError struct{ msg string }

func (e *corruptError) Error() string { return ErrCorrupt.Error() + ": " + e.msg }
func (e *corruptError) Unwrap() error { return ErrCorrupt }

func wrapCorrupt(msg string) error { return &corruptError{msg} }

// ngIface is what a packet needs from its Interface Description Block.
type ngIface struct {
	link    packet.LinkType
	snaplen uint32
	// Timestamp units to nanoseconds: ns = ts*mul, or ts/div, or for binary
	// resolutions (ts>>shift)*1e9 + fraction.
	mul, div uint64
	shift    uint8 // nonzero: units are 2^-shift seconds
	offsetNS int64 // if_tsoffset in nanoseconds
}

type ngReader struct {
	br      *bufio.Reader
	order   binary.ByteOrder
	big     bool
	ifaces  []ngIface
	scratch []byte // blocks larger than the read buffer
}

func newNgReader(br *bufio.Reader) (*ngReader, error) {
	r := &ngReader{br: br, order: binary.LittleEndian}
	typ, body, err := r.block()
	if err == io.EOF {
		return nil, ErrTruncated
	}
	if err != nil {
		return nil, err
	}
	if typ != ngBlockSHB {
		return nil, ErrNotCapture
	}
	if err := r.section(body); err != nil {
		return nil, err
	}
	if err := r.headerBlocks(); err != nil {
		return nil, err
	}
	return r, nil
}

// headerBlocks reads the blocks between the section header and the first
// packet, so that LinkTypes knows the interfaces a writer describes up front
// (dumpcap and tcpdump describe all of them there) before the first Next.
// It stops, without consuming it, at the first packet block or section
// header, and at the end of the file or a short block, which next reports.
func (r *ngReader) headerBlocks() error {
	for {
		hdr, _ := r.br.Peek(8)
		if len(hdr) < 8 {
			return nil
		}
		switch r.u32(hdr) {
		case ngBlockEPB, ngBlockSPB, ngBlockPB, ngBlockSHB:
			return nil
		}
		typ, body, err := r.block()
		if err != nil {
			return err
		}
		if typ == ngBlockIDB {
			if err := r.iface(body); err != nil {
				return err
			}
		}
	}
}

func (r *ngReader) u16(b []byte) uint16 {
	if r.big {
		return binary.BigEndian.Uint16(b)
	}
	return binary.LittleEndian.Uint16(b)
}

func (r *ngReader) u32(b []byte) uint32 {
	if r.big {
		return binary.BigEndian.Uint32(b)
	}
	return binary.LittleEndian.Uint32(b)
}

func (r *ngReader) u64(b []byte) uint64 {
	if r.big {
		return binary.BigEndian.Uint64(b)
	}
	return binary.LittleEndian.Uint64(b)
}

// block reads the next block and returns its type and body (without the
// 8-byte header and the 4-byte trailer). The body aliases the read buffer or
// the scratch buffer and is valid until the next call. io.EOF means the file
// ended cleanly between blocks; a file cut inside a block is
// io.ErrUnexpectedEOF.
func (r *ngReader) block() (uint32, []byte, error) {
	hdr, err := r.br.Peek(12)
	if len(hdr) < 8 {
		if len(hdr) == 0 && err == io.EOF {
			return 0, nil, io.EOF
		}
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return 0, nil, err
	}
	// The SHB type reads the same in both byte orders; its byte-order magic
	// decides how to read its own length and everything up to the next SHB.
	typ := binary.LittleEndian.Uint32(hdr)
	if typ == ngBlockSHB {
		if len(hdr) < 12 {
			return 0, nil, io.ErrUnexpectedEOF
		}
		switch {
		case binary.LittleEndian.Uint32(hdr[8:]) == ngByteOrderMagic:
			r.big, r.order = false, binary.LittleEndian
		case binary.BigEndian.Uint32(hdr[8:]) == ngByteOrderMagic:
			r.big, r.order = true, binary.BigEndian
		default:
			return 0, nil, errNgBadByteOrder
		}
	} else {
		typ = r.u32(hdr)
	}
	n := r.u32(hdr[4:])
	if n < 12 || n%4 != 0 || n > ngMaxBlock {
		return 0, nil, errNgBadLength
	}
	var b []byte
	if n <= fileBufSize {
		b, err = r.br.Peek(int(n))
		if len(b) < int(n) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return 0, nil, err
		}
		// Everything is buffered, so Discard only moves the read index and
		// b stays intact until the next Peek refills the buffer.
		_, _ = r.br.Discard(int(n))
	} else {
		if b, err = readLarge(r.br, &r.scratch, int(n)); err != nil {
			return 0, nil, err
		}
	}
	if r.u32(b[n-4:]) != n {
		return 0, nil, errNgBadTrailer
	}
	return typ, b[8 : n-4], nil
}

// section starts a new section from an SHB body: interfaces are numbered
// afresh in each section.
func (r *ngReader) section(body []byte) error {
	if len(body) < 16 {
		return errNgShort
	}
	if r.u16(body[4:]) != 1 {
		return errNgVersion
	}
	r.ifaces = r.ifaces[:0]
	return nil
}

// options calls fn for each option in b (§3.5), stopping at opt_endofopt or
// at the end of b.
func (r *ngReader) options(b []byte, fn func(code uint16, val []byte) error) error {
	for len(b) >= 4 {
		code, n := r.u16(b), int(r.u16(b[2:]))
		b = b[4:]
		if code == ngOptEnd {
			return nil
		}
		if n > len(b) {
			return errNgShort
		}
		if err := fn(code, b[:n]); err != nil {
			return err
		}
		b = b[min(len(b), (n+3)&^3):]
	}
	return nil
}

// iface parses an IDB body and appends the interface.
func (r *ngReader) iface(body []byte) error {
	if len(body) < 8 {
		return errNgShort
	}
	in := ngIface{link: packet.LinkType(r.u16(body)), snaplen: r.u32(body[4:])}
	resol := byte(6) // default: microseconds
	var offset int64
	err := r.options(body[8:], func(code uint16, val []byte) error {
		switch code {
		case ngOptTSResol:
			if len(val) >= 1 {
				resol = val[0]
			}
		case ngOptTSOffset:
			if len(val) >= 8 {
				offset = int64(r.u64(val))
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if resol&0x80 != 0 {
		e := resol & 0x7f
		if e == 0 || e > 63 {
			return errNgTSResol
		}
		in.shift = e
	} else {
		// 10^19 is the largest power of ten in a uint64.
		if resol > 19 {
			return errNgTSResol
		}
		p := uint64(1)
		for range resol {
			p *= 10
		}
		if p <= 1e9 {
			in.mul = 1e9 / p
		} else {
			in.div = p / 1e9
		}
	}
	in.offsetNS = offset * 1e9
	if len(r.ifaces) >= ngMaxInterfaces {
		return errNgInterfaces
	}
	r.ifaces = append(r.ifaces, in)
	return nil
}

// nanos converts a pcapng timestamp in the interface's units to nanoseconds
// since the epoch.
func (in *ngIface) nanos(ts uint64) int64 {
	var ns uint64
	switch {
	case in.shift != 0:
		sec, frac := ts>>in.shift, ts&(1<<in.shift-1)
		// frac*1e9 overflows 64 bits above 2^34 units per second: drop the
		// precision beyond a nanosecond first.
		s := in.shift
		if s > 34 {
			frac >>= s - 34
			s = 34
		}
		ns = sec*1e9 + frac*1e9>>s
	case in.div != 0:
		ns = ts / in.div
	default:
		ns = ts * in.mul
	}
	return int64(ns) + in.offsetNS
}

// next fills f with the next packet, handling the blocks in between.
func (r *ngReader) next(f *packet.Frame) error {
	for {
		typ, body, err := r.block()
		if err != nil {
			return err
		}
		switch typ {
		case ngBlockEPB, ngBlockPB:
			if len(body) < 20 {
				return errNgShort
			}
			var idx int
			if typ == ngBlockEPB {
				idx = int(r.u32(body))
			} else {
				idx = int(r.u16(body)) // then a 16-bit drops count
			}
			if idx < 0 || idx >= len(r.ifaces) {
				return errNgNoInterface
			}
			caplen, wire := r.u32(body[12:]), r.u32(body[16:])
			if uint64(caplen) > uint64(len(body)-20) {
				return errNgCapLen
			}
			if wire > maxWireLen {
				return errWireTooLong
			}
			in := &r.ifaces[idx]
			f.Data = body[20 : 20+caplen : 20+caplen]
			f.Timestamp = in.nanos(uint64(r.u32(body[4:]))<<32 | uint64(r.u32(body[8:])))
			f.WireLen = int(max(wire, caplen))
			f.LinkType = in.link
			f.Interface = idx
			f.VLAN = 0
			return nil
		case ngBlockSPB:
			if len(body) < 4 {
				return errNgShort
			}
			if len(r.ifaces) == 0 {
				return errNgNoInterface
			}
			// An SPB has no capture length: it is the original length cut
			// to the block and to the snaplen of interface 0 (§4.4).
			wire := r.u32(body)
			if wire > maxWireLen {
				return errWireTooLong
			}
			caplen := min(uint64(wire), uint64(len(body)-4))
			if s := r.ifaces[0].snaplen; s != 0 {
				caplen = min(caplen, uint64(s))
			}
			f.Data = body[4 : 4+caplen : 4+caplen]
			f.Timestamp = 0 // an SPB carries none
			f.WireLen = int(wire)
			f.LinkType = r.ifaces[0].link
			f.Interface = 0
			f.VLAN = 0
			return nil
		case ngBlockIDB:
			if err := r.iface(body); err != nil {
				return err
			}
		case ngBlockSHB:
			if err := r.section(body); err != nil {
				return err
			}
		default:
			// Name resolution, statistics, decryption secrets, custom and
			// unknown blocks carry nothing a frame needs.
		}
	}
}
