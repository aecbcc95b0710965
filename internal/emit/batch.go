package emit

import "encoding/binary"

// BatchFrameWriter turns a BatchWriter (a socket) into a FrameWriter for
// file input, where waiting for the receiver is right: it gathers frames into
// one reused batch and writes it when full, blocking the caller, so an
// offline run to a socket drops nothing while the receiver keeps up. (Live
// capture must never wait: it uses a Queue instead.)
type BatchFrameWriter struct {
	out   BatchWriter
	batch []byte
	err   error
}

// batchSize: large enough that the per-write cost is negligible, small
// enough to hold in cache.
const batchSize = 64 << 10

// NewBatchFrameWriter returns a FrameWriter writing to out.
func NewBatchFrameWriter(out BatchWriter) *BatchFrameWriter {
	return &BatchFrameWriter{out: out, batch: make([]byte, 0, batchSize+MaxFrameLen+4)}
}

// WriteFrame appends one frame; b is not kept. A write error is returned
// once and the batch it belonged to is lost (the BatchWriter counts it).
func (w *BatchFrameWriter) WriteFrame(b []byte) error {
	if len(b) == 0 {
		return ErrEmptyFrame
	}
	if len(b) > MaxFrameLen {
		return ErrFrameTooLarge
	}
	w.batch = binary.BigEndian.AppendUint32(w.batch, uint32(len(b)))
	w.batch = append(w.batch, b...)
	if len(w.batch) >= batchSize {
		return w.writeBatch()
	}
	return nil
}

func (w *BatchFrameWriter) writeBatch() error {
	if len(w.batch) == 0 {
		return nil
	}
	err := w.out.WriteBatch(w.batch)
	w.batch = w.batch[:0]
	return err
}

// Close writes what is gathered and closes out, returning the first error.
func (w *BatchFrameWriter) Close() error {
	err := w.writeBatch()
	if ferr := w.out.Flush(); err == nil {
		err = ferr
	}
	if cerr := w.out.Close(); err == nil {
		err = cerr
	}
	return err
}
