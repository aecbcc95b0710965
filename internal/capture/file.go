package capture

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// Errors a FileSource wraps, so that callers decide with errors.Is. The
// wrapping error names the file and the packet number, e.g.
// "capture: x.pcap: packet 17: truncated record".
var (
	// ErrNotCapture: the file (after gzip decompression) starts with neither
	// a pcap nor a pcapng magic number.
	ErrNotCapture = errors.New("not a pcap or pcapng file")
	// ErrEmpty: the file has no bytes at all.
	ErrEmpty = errors.New("empty file")
	// ErrTruncated: the file ends inside a file header, a record header or
	// a record's data (a capture cut short by a crash, a full disk or a copy).
	ErrTruncated = errors.New("truncated record")
	// ErrCorrupt: a header or record is internally inconsistent (a length
	// that does not add up, an unknown interface, a bad byte-order magic).
	ErrCorrupt = errors.New("corrupt record")
)

// truncatedError is ErrTruncated where the cut is not in a record: the file
// header, or the gzip header in front of it.
type truncatedError struct{ msg string }

func (e *truncatedError) Error() string { return e.msg }
func (e *truncatedError) Unwrap() error { return ErrTruncated }

var (
	errTruncatedHeader     error = &truncatedError{"truncated file header"}
	errTruncatedGzipHeader error = &truncatedError{"truncated gzip header"}
	// errWireTooLong: a record claims a frame longer on the wire than any
	// link carries (the largest are Linux GSO super-packets of a few
	// hundred KiB). Such a length is a damaged or forged record, and the
	// decoder would take every frame under it for snaplen-cut.
	errWireTooLong = wrapCorrupt("original length larger than 16 MiB")
)

// maxWireLen bounds a record's original (on-the-wire) length; see
// errWireTooLong. It is the same 16 MiB as the captured-length caps of both
// formats (pcapMaxRecord, ngMaxBlock).
const maxWireLen = 16 << 20

// Magic numbers of the formats a FileSource reads.
const (
	magicPcapMicro = 0xa1b2c3d4 // pcap, microsecond timestamps (read in either byte order)
	magicPcapNano  = 0xa1b23c4d // pcap, nanosecond timestamps
	magicPcapng    = 0x0a0d0d0a // pcapng Section Header Block type: a palindrome, so byte-order free
	gzipMagic0     = 0x1f       // RFC 1952 §2.3.1 ID1
	gzipMagic1     = 0x8b       // RFC 1952 §2.3.1 ID2
)

// fileBufSize is the read buffer between the file (or the gzip stream) and
// the record parsers. pcapng records up to this size are handed out straight
// from the buffer without a copy; 256 KiB is libpcap's MAXIMUM_SNAPLEN
// (262144), and the extra 4 KiB covers a pcapng block's header, options and
// trailer around a packet of that size.
const fileBufSize = 262144 + 4096

// FileStats counts what a FileSource has handed out.
type FileStats struct {
	Packets uint64 // frames returned by Next
	Bytes   uint64 // captured bytes of those frames (sum of len(Frame.Data))
}

// FileSource reads frames from a pcap or pcapng file, plain or gzipped, or
// from stdin. It is not safe for concurrent use, except BytesRead and Size,
// which a progress display may call from another goroutine.
type FileSource struct {
	name   string // for error messages: the path, or "stdin"
	file   *os.File
	closer bool // whether Close closes file (not for stdin)
	count  countingReader
	size   int64
	gz     *gzip.Reader

	pcap *pcapReader // classic pcap (file_pcap.go says why not pcapgo)
	ng   *ngReader   // pcapng (file_ng.go says why not pcapgo)

	stats FileStats
	err   error // sticky: once the file failed or ended, Next repeats this

	// deadline is the input, when it can time out a read: a pipe, a FIFO
	// or a socket. Set once at open, so Interrupt may read it from any
	// goroutine.
	deadline interface{ SetReadDeadline(time.Time) error }
}

// countingReader counts the bytes read from the file itself (compressed bytes
// for a gzipped capture), which is what progress against the file size needs.
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// OpenFile opens a capture file; path "-" reads stdin. It detects pcap (both
// byte orders, micro- and nanosecond timestamps), pcapng, and gzipped
// versions of either by their magic numbers, not by the file name.
func OpenFile(path string) (*FileSource, error) {
	s := &FileSource{name: path}
	if path == "-" {
		s.name = "stdin"
		s.file = os.Stdin
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("capture: %w", err)
		}
		s.file, s.closer = f, true
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			s.size = fi.Size()
		}
	}
	s.deadline = s.file
	if err := s.open(s.file); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// NewFileSource reads a capture from r, as OpenFile does from a file; name is
// used in error messages. Size reports 0 (unknown).
func NewFileSource(name string, r io.Reader) (*FileSource, error) {
	s := &FileSource{name: name}
	s.deadline, _ = r.(interface{ SetReadDeadline(time.Time) error })
	if err := s.open(r); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *FileSource) open(r io.Reader) error {
	s.count.r = r
	br := bufio.NewReaderSize(&s.count, fileBufSize)
	head, err := br.Peek(4)
	if len(head) == 0 && (err == io.EOF || err == nil) {
		return s.fileErr(ErrEmpty)
	}
	if len(head) >= 2 && head[0] == gzipMagic0 && head[1] == gzipMagic1 {
		gz, gerr := gzip.NewReader(br)
		if gerr != nil {
			if err := mapReadErr(gerr); err != ErrTruncated {
				return s.fileErr(fmt.Errorf("gzip header: %w", err))
			}
			return s.fileErr(errTruncatedGzipHeader)
		}
		gz.Multistream(true)
		s.gz = gz
		br = bufio.NewReaderSize(gz, fileBufSize)
		head, err = br.Peek(4)
		if len(head) == 0 && (err == io.EOF || err == nil) {
			return s.fileErr(ErrEmpty)
		}
	}
	if len(head) < 4 {
		if err != nil && err != io.EOF {
			return s.fileErr(mapReadErr(err))
		}
		return s.fileErr(ErrNotCapture)
	}
	le, be := binary.LittleEndian.Uint32(head), binary.BigEndian.Uint32(head)
	switch {
	case le == magicPcapng:
		ng, err := newNgReader(br)
		if err != nil {
			return s.fileErr(headerErr(err))
		}
		s.ng = ng
	case le == magicPcapMicro || le == magicPcapNano || be == magicPcapMicro || be == magicPcapNano:
		pr, err := newPcapReader(br)
		if err != nil {
			return s.fileErr(headerErr(err))
		}
		s.pcap = pr
	default:
		return s.fileErr(ErrNotCapture)
	}
	return nil
}

// mapReadErr turns what the readers return into our sentinels: a short read
// anywhere means the file was cut; a damaged gzip stream is corrupt; an I/O
// error from the file itself stays what it is.
func mapReadErr(err error) error {
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ErrTruncated
	case errors.Is(err, gzip.ErrChecksum), errors.Is(err, gzip.ErrHeader):
		return fmt.Errorf("%w: %w", ErrCorrupt, err) // "gzip: invalid checksum"
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrCorrupt):
		return err
	}
	var pe *os.PathError
	if errors.As(err, &pe) {
		return err // an I/O error from the file itself, not the format
	}
	return fmt.Errorf("%w: %w", ErrCorrupt, err)
}

// headerErr is mapReadErr for the blocks read at open (pcap's 24-byte file
// header, pcapng's section header and the interface descriptions before the
// first packet): a cut there is a truncated file header, not a record.
func headerErr(err error) error {
	if err = mapReadErr(err); err == ErrTruncated {
		return errTruncatedHeader
	}
	return err
}

func (s *FileSource) fileErr(err error) error {
	return fmt.Errorf("capture: %s: %w", s.name, err)
}

func (s *FileSource) packetErr(err error) error {
	return fmt.Errorf("capture: %s: packet %d: %w", s.name, s.stats.Packets+1, mapReadErr(err))
}

// Next fills f with the next frame of the file. f.Data aliases the source's
// buffer: it is valid only until the next call to Next. Next returns io.EOF
// at the clean end of the file, and for a damaged file an error wrapping
// ErrTruncated or ErrCorrupt that names the file and the packet number;
// after any error every later call returns the same error.
//
// Next does not allocate in steady state.
func (s *FileSource) Next(f *packet.Frame) error {
	if s.err != nil {
		return s.err
	}
	var err error
	if s.ng != nil {
		err = s.ng.next(f)
	} else {
		err = s.pcap.next(f)
	}
	if err != nil {
		return s.fail(err)
	}
	s.stats.Packets++
	s.stats.Bytes += uint64(len(f.Data))
	return nil
}

// fail records the error Next returns from now on. Only io.EOF at a record
// boundary is a clean end; both readers report a cut header or record as
// io.ErrUnexpectedEOF.
func (s *FileSource) fail(err error) error {
	if err == io.EOF {
		s.err = io.EOF
	} else {
		s.err = s.packetErr(err)
	}
	return s.err
}

// Interrupt makes a Next that waits for input return at once, with an error
// wrapping os.ErrDeadlineExceeded (and every later Next with it): the way to
// stop reading a pipe or FIFO whose writer is idle, as on SIGTERM. It does
// nothing for a regular file, whose reads never wait for a writer, nor for
// input Go's poller does not manage (a blocking stdin). It is safe to call
// from any goroutine, during or after Next, and after Close.
func (s *FileSource) Interrupt() {
	if s.deadline != nil {
		_ = s.deadline.SetReadDeadline(time.Now()) // ErrNoDeadline: the read does not wait anyway
	}
}

// Name is the file's path as given to OpenFile, or "stdin".
func (s *FileSource) Name() string { return s.name }

// Stats reports the frames and bytes Next has returned so far.
func (s *FileSource) Stats() FileStats { return s.stats }

// BytesRead is how many bytes have been read from the file so far: compressed
// bytes for a gzipped capture, so that BytesRead/Size is the progress.
// Safe to call from another goroutine.
func (s *FileSource) BytesRead() int64 { return s.count.n.Load() }

// Size is the file's size in bytes, or 0 when unknown (stdin, a pipe).
func (s *FileSource) Size() int64 { return s.size }

// Close closes the file (not stdin). Frames returned before stay readable
// only until Close; later calls to Next fail.
func (s *FileSource) Close() error {
	var err error
	if s.gz != nil {
		err = s.gz.Close()
		s.gz = nil
	}
	if s.closer && s.file != nil {
		if cerr := s.file.Close(); err == nil {
			err = cerr
		}
	}
	s.file = nil
	if s.err == nil {
		s.err = fmt.Errorf("capture: %s: %w", s.name, os.ErrClosed)
	}
	return err
}

// LinkTypes reports the link types the file declares so far: for pcap the
// one in its header, for pcapng those of the interfaces described before the
// current position (a pcapng file may describe more interfaces later). The
// returned slice is new and belongs to the caller.
func (s *FileSource) LinkTypes() []packet.LinkType {
	if s.ng != nil {
		out := make([]packet.LinkType, 0, len(s.ng.ifaces))
		for _, in := range s.ng.ifaces {
			out = append(out, in.link)
		}
		return out
	}
	return []packet.LinkType{s.pcap.link}
}
