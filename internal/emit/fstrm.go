package emit

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
)

// ContentType is the Frame Streams content type of dnstap.
const ContentType = "protobuf:dnstap.Dnstap"

// Frame Streams control frame types and the content-type field
// (farsightsec/fstrm control.h).
const (
	ctrlAccept = 0x01
	ctrlStart  = 0x02
	ctrlStop   = 0x03
	ctrlReady  = 0x04
	ctrlFinish = 0x05

	fieldContentType = 0x01

	// maxControlLen is fstrm's FSTRM_CONTROL_FRAME_LENGTH_MAX: a longer
	// control frame is an error for every fstrm implementation.
	maxControlLen = 512
	// maxReadFrameLen bounds the reader's buffer. It is larger than
	// MaxFrameLen so that files from other writers with bigger frames
	// (BIND, Unbound write at most 64 KiB messages plus envelope) still read.
	maxReadFrameLen = 256 << 10
)

// Errors of the Frame Streams writers and reader.
var (
	ErrEmptyFrame    = errors.New("emit: zero-length data frame")
	ErrFrameTooLarge = errors.New("emit: frame larger than the limit")
	ErrBadControl    = errors.New("emit: malformed Frame Streams control frame")
	ErrContentType   = errors.New("emit: Frame Streams content type is not " + ContentType)
	ErrNoStart       = errors.New("emit: Frame Streams stream does not begin with START")
	ErrClosed        = errors.New("emit: writer closed")
)

// appendControl appends a control frame with an optional content type.
func appendControl(b []byte, typ uint32, contentType string) []byte {
	n := 4
	if contentType != "" {
		n += 8 + len(contentType)
	}
	b = binary.BigEndian.AppendUint32(b, 0) // escape: a zero length means control
	b = binary.BigEndian.AppendUint32(b, uint32(n))
	b = binary.BigEndian.AppendUint32(b, typ)
	if contentType != "" {
		b = binary.BigEndian.AppendUint32(b, fieldContentType)
		b = binary.BigEndian.AppendUint32(b, uint32(len(contentType)))
		b = append(b, contentType...)
	}
	return b
}

// StartFrame and StopFrame are the exact control frames of a dnstap file:
// START is 42 bytes (escape, length 34, type, field, length 22, content
// type), STOP 12. Read-only.
var (
	StartFrame = appendControl(nil, ctrlStart, ContentType)
	StopFrame  = appendControl(nil, ctrlStop, "")
)

// BatchWriter is what a Queue's writer goroutine writes to: a batch is a run
// of whole Frame Streams data frames (4-byte big-endian length, payload),
// valid only during the call.
type BatchWriter interface {
	WriteBatch(b []byte) error
	Flush() error
	Close() error
}

// FileWriter writes a one-way Frame Streams file: START with ContentType,
// data frames, STOP. The first error sticks: every later call returns it, so
// a caller can count per-frame failures and report the error once at Close.
type FileWriter struct {
	w      *bufio.Writer
	err    error
	closed bool
	hdr    [4]byte
}

// NewFileWriter returns a writer on w with START already buffered. It does
// not close w.
func NewFileWriter(w io.Writer) *FileWriter {
	fw := &FileWriter{w: bufio.NewWriterSize(w, 64<<10)}
	_, fw.err = fw.w.Write(StartFrame)
	return fw
}

// WriteFrame writes one data frame. b is not kept. Empty and oversized
// frames are refused with ErrEmptyFrame and ErrFrameTooLarge (not sticky).
func (fw *FileWriter) WriteFrame(b []byte) error {
	if fw.err != nil {
		return fw.err
	}
	if len(b) == 0 {
		return ErrEmptyFrame
	}
	if len(b) > MaxFrameLen {
		return ErrFrameTooLarge
	}
	binary.BigEndian.PutUint32(fw.hdr[:], uint32(len(b)))
	if _, err := fw.w.Write(fw.hdr[:]); err != nil {
		fw.err = err
		return err
	}
	if _, err := fw.w.Write(b); err != nil {
		fw.err = err
	}
	return fw.err
}

// WriteBatch writes frames already in Frame Streams encoding (from a
// Queue's producers, which checked each frame's length).
func (fw *FileWriter) WriteBatch(b []byte) error {
	if fw.err != nil {
		return fw.err
	}
	_, fw.err = fw.w.Write(b)
	return fw.err
}

// Flush writes buffered frames to the underlying writer.
func (fw *FileWriter) Flush() error {
	if fw.err != nil {
		return fw.err
	}
	fw.err = fw.w.Flush()
	return fw.err
}

// Close writes STOP and flushes; it returns the first error the writer met.
// It does not close the underlying writer. Writes after Close return
// ErrClosed; a second Close returns nil.
func (fw *FileWriter) Close() error {
	if fw.closed {
		return nil
	}
	fw.closed = true
	if fw.err == nil {
		if _, err := fw.w.Write(StopFrame); err != nil {
			fw.err = err
		} else {
			fw.err = fw.w.Flush()
		}
	}
	err := fw.err
	fw.err = ErrClosed
	return err
}

// FrameReader reads Frame Streams: it checks the control frames and the
// content type and returns the data frames.
type FrameReader struct {
	r       *bufio.Reader
	w       io.Writer // non-nil on a bidirectional stream: ACCEPT and FINISH go here
	buf     []byte
	hdr     [8]byte
	started bool
	stopped bool
}

// NewFrameReader returns a reader of a one-way stream (a file) on r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10), buf: make([]byte, 0, 64<<10)}
}

// NewBidiFrameReader is the receiving end of a bidirectional stream (a dnstap
// socket): it reads READY, answers ACCEPT with ContentType if READY offered
// it, and returns a reader positioned before START. On STOP it writes FINISH.
func NewBidiFrameReader(rw io.ReadWriter) (*FrameReader, error) {
	fr := NewFrameReader(rw)
	fr.w = rw
	typ, hasCT, err := fr.readControl()
	if err != nil {
		return nil, err
	}
	if typ != ctrlReady {
		return nil, ErrBadControl
	}
	if !hasCT {
		return nil, ErrContentType
	}
	if _, err := rw.Write(appendControl(nil, ctrlAccept, ContentType)); err != nil {
		return nil, err
	}
	return fr, nil
}

// Stopped reports whether the stream ended with STOP. A file whose writer
// died (or BIND's file before `rndc dnstap -roll`) ends without one.
func (fr *FrameReader) Stopped() bool { return fr.stopped }

// readControl reads the rest of a control frame (after the escape) and
// reports its type and whether it carried ContentType. Any other content
// type is ErrContentType; READY and ACCEPT may list several, one of which
// must be ours.
func (fr *FrameReader) readControl() (typ uint32, hasCT bool, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:4]); err != nil {
		return 0, false, unexpected(err)
	}
	if binary.BigEndian.Uint32(fr.hdr[:4]) != 0 {
		return 0, false, ErrBadControl
	}
	return fr.readControlBody()
}

func (fr *FrameReader) readControlBody() (typ uint32, hasCT bool, err error) {
	if _, err := io.ReadFull(fr.r, fr.hdr[:4]); err != nil {
		return 0, false, unexpected(err)
	}
	n := binary.BigEndian.Uint32(fr.hdr[:4])
	if n < 4 || n > maxControlLen {
		return 0, false, ErrBadControl
	}
	var cb [maxControlLen]byte
	c := cb[:n]
	if _, err := io.ReadFull(fr.r, c); err != nil {
		return 0, false, unexpected(err)
	}
	typ = binary.BigEndian.Uint32(c)
	c = c[4:]
	fields, other := 0, false
	for len(c) > 0 {
		if len(c) < 8 {
			return 0, false, ErrBadControl
		}
		ft, fl := binary.BigEndian.Uint32(c), binary.BigEndian.Uint32(c[4:])
		c = c[8:]
		if ft != fieldContentType || uint64(fl) > uint64(len(c)) {
			return 0, false, ErrBadControl
		}
		if string(c[:fl]) == ContentType {
			hasCT = true
		} else {
			other = true
		}
		fields++
		c = c[fl:]
	}
	switch typ {
	case ctrlStart:
		if fields > 1 {
			return 0, false, ErrBadControl
		}
	case ctrlReady, ctrlAccept:
	case ctrlStop, ctrlFinish:
		if fields > 0 {
			return 0, false, ErrBadControl
		}
	default:
		return 0, false, ErrBadControl
	}
	if other && !hasCT {
		return 0, false, ErrContentType
	}
	return typ, hasCT, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// ReadFrame returns the next data frame. The slice is owned by the reader
// and valid until the next call. It returns io.EOF after STOP, and also at
// a clean end of input between frames (Stopped tells the two apart);
// io.ErrUnexpectedEOF on a stream cut inside a frame or before START.
func (fr *FrameReader) ReadFrame() ([]byte, error) {
	if fr.stopped {
		return nil, io.EOF
	}
	for {
		if _, err := io.ReadFull(fr.r, fr.hdr[:4]); err != nil {
			if err == io.EOF && fr.started {
				return nil, io.EOF
			}
			return nil, unexpected(err)
		}
		n := binary.BigEndian.Uint32(fr.hdr[:4])
		if n != 0 {
			if !fr.started {
				return nil, ErrNoStart
			}
			if n > maxReadFrameLen {
				return nil, ErrFrameTooLarge
			}
			if int(n) > cap(fr.buf) {
				fr.buf = make([]byte, 0, n)
			}
			fr.buf = fr.buf[:n]
			if _, err := io.ReadFull(fr.r, fr.buf); err != nil {
				return nil, unexpected(err)
			}
			return fr.buf, nil
		}
		typ, _, err := fr.readControlBody()
		if err != nil {
			return nil, err
		}
		switch {
		case typ == ctrlStart && !fr.started:
			fr.started = true
		case typ == ctrlStop && fr.started:
			fr.stopped = true
			if fr.w != nil {
				if _, err := fr.w.Write(appendControl(nil, ctrlFinish, "")); err != nil {
					return nil, err
				}
			}
			return nil, io.EOF
		case !fr.started:
			return nil, ErrNoStart
		default:
			return nil, ErrBadControl
		}
	}
}
