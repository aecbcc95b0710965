package emit

import (
	"bufio"
	"errors"
	"io"
)

// ContentType is the Frame Streams content type of dnstap.
const ContentType = "protobuf:dnstap.Dnstap"

// Errors of the Frame Streams writers and reader.
var (
	ErrEmptyFrame    = errors.New("emit: zero-length data frame")
	ErrFrameTooLarge = errors.New("emit: frame larger than MaxFrameLen")
	ErrBadControl    = errors.New("emit: malformed Frame Streams control frame")
	ErrContentType   = errors.New("emit: Frame Streams content type is not " + ContentType)
	ErrNoStart       = errors.New("emit: Frame Streams data before START")
	ErrClosed        = errors.New("emit: writer closed")
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
// data frames, STOP. The first error sticks: every later call returns it.
type FileWriter struct {
	w   *bufio.Writer
	err error
	hdr [4]byte
}

// NewFileWriter writes START to w (buffered) and returns the writer. It does
// not close w.
func NewFileWriter(w io.Writer) *FileWriter {
	// TODO
	return &FileWriter{w: bufio.NewWriterSize(w, 64<<10)}
}

// WriteFrame writes one data frame. b is not kept.
func (fw *FileWriter) WriteFrame(b []byte) error { return nil }

// WriteBatch writes frames already in Frame Streams encoding (from a Queue).
func (fw *FileWriter) WriteBatch(b []byte) error { return nil }

// Flush writes buffered frames to the underlying writer.
func (fw *FileWriter) Flush() error { return nil }

// Close writes STOP and flushes. It does not close the underlying writer.
func (fw *FileWriter) Close() error { return nil }

// FrameReader reads Frame Streams: it checks the control frames and the
// content type and returns the data frames.
type FrameReader struct {
	r   *bufio.Reader
	buf []byte
}

// NewFrameReader returns a reader of a one-way stream (a file) on r.
func NewFrameReader(r io.Reader) *FrameReader {
	return &FrameReader{r: bufio.NewReaderSize(r, 64<<10)}
}

// ReadFrame returns the next data frame. The slice is owned by the reader
// and valid until the next call. It returns io.EOF after STOP (or at a clean
// end of input before START), io.ErrUnexpectedEOF on a cut stream.
func (fr *FrameReader) ReadFrame() ([]byte, error) { return nil, io.EOF }
