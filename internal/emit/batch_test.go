package emit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// recordingBatches is a BatchWriter that keeps every batch it is given.
type recordingBatches struct {
	batches [][]byte
	closed  bool
	failOn  int // fail the n-th WriteBatch (1-based); 0 never
}

func (r *recordingBatches) WriteBatch(b []byte) error {
	r.batches = append(r.batches, append([]byte(nil), b...))
	if len(r.batches) == r.failOn {
		return errors.New("receiver gone")
	}
	return nil
}
func (r *recordingBatches) Flush() error { return nil }
func (r *recordingBatches) Close() error { r.closed = true; return nil }

func TestBatchFrameWriter(t *testing.T) {
	rec := &recordingBatches{}
	w := NewBatchFrameWriter(rec)
	frame := bytes.Repeat([]byte{0xab}, 1000)
	const n = 200 // 200 × 1004 bytes: three full batches and a partial one
	for i := 0; i < n; i++ {
		if err := w.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.WriteFrame(nil); !errors.Is(err, ErrEmptyFrame) {
		t.Errorf("empty frame: %v", err)
	}
	if err := w.WriteFrame(make([]byte, MaxFrameLen+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Errorf("large frame: %v", err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if !rec.closed {
		t.Error("BatchWriter not closed")
	}
	got := 0
	for _, b := range rec.batches {
		for len(b) > 0 {
			l := int(binary.BigEndian.Uint32(b))
			if !bytes.Equal(b[4:4+l], frame) {
				t.Fatalf("frame %d differs", got)
			}
			b = b[4+l:]
			got++
		}
	}
	if got != n {
		t.Errorf("%d frames in batches, want %d", got, n)
	}
	if len(rec.batches) != 4 {
		t.Errorf("%d batches, want 4", len(rec.batches))
	}
}

func TestBatchFrameWriterError(t *testing.T) {
	rec := &recordingBatches{failOn: 1}
	w := NewBatchFrameWriter(rec)
	var err error
	for i := 0; i < 100 && err == nil; i++ {
		err = w.WriteFrame(bytes.Repeat([]byte{1}, 1000))
	}
	if err == nil {
		t.Fatal("write error not returned")
	}
}

func TestBatchFrameWriterAllocs(t *testing.T) {
	w := NewBatchFrameWriter(&discardBatches{})
	frame := make([]byte, 300)
	if n := testing.AllocsPerRun(1000, func() { w.WriteFrame(frame) }); n != 0 {
		t.Errorf("WriteFrame allocates %v per frame", n)
	}
}

type discardBatches struct{}

func (discardBatches) WriteBatch([]byte) error { return nil }
func (discardBatches) Flush() error            { return nil }
func (discardBatches) Close() error            { return nil }
