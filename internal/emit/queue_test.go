package emit

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
)

// blockingBatchWriter blocks in WriteBatch until release is closed, telling
// the test through entered that the writer goroutine is stuck.
type blockingBatchWriter struct {
	entered chan struct{}
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	data    bytes.Buffer
	closed  bool
}

func (w *blockingBatchWriter) WriteBatch(b []byte) error {
	w.once.Do(func() { close(w.entered) })
	<-w.release
	w.mu.Lock()
	w.data.Write(b)
	w.mu.Unlock()
	return nil
}
func (w *blockingBatchWriter) Flush() error { return nil }
func (w *blockingBatchWriter) Close() error { w.closed = true; return nil }

func TestQueueDropsUnderBlockedConsumer(t *testing.T) {
	frame := bytes.Repeat([]byte{0xab}, MaxFrameLen) // two fit in the minimum batch
	w := &blockingBatchWriter{entered: make(chan struct{}), release: make(chan struct{})}
	q := NewQueue(w, QueueConfig{BatchSize: 1, Batches: 2, FlushInterval: 1 << 62})
	p := q.Producer()
	write := func(n int) {
		for i := 0; i < n; i++ {
			if err := p.WriteFrame(frame); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(3)    // frames 1-2 fill batch 1; frame 3 hands it over and starts batch 2
	<-w.entered // the writer holds batch 1 and is stuck
	write(6)    // frames 5 and 7 queue batches 2 and 3 (channel full); frame 9 drops batch 4 (frames 7-8)
	write(2)    // frame 11 drops batch {9, 10}
	p.Flush()   // batch {11}: channel still full, dropped
	st := q.Stats()
	if got := st.c[qcFramesDroppedFull].Load(); got != 5 {
		t.Fatalf("dropped %d frames, want 5", got)
	}
	if got := st.c[qcBatchesDropped].Load(); got != 3 {
		t.Fatalf("dropped %d batches, want 3", got)
	}
	close(w.release)
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if got := st.Written(); got != 6 {
		t.Fatalf("written %d frames, want 6", got)
	}
	if !w.closed || w.data.Len() != 6*(4+MaxFrameLen) {
		t.Fatalf("writer got %d bytes, closed %v", w.data.Len(), w.closed)
	}
	// Every frame handed over is accounted for, exactly.
	os := q.Output().Stats()
	if os.Encoded() != 11 || os.Delivered() != 6 || os.DroppedBy(DropQueueFull) != 5 || os.Dropped() != 5 {
		t.Fatalf("encoded %d delivered %d queue_full %d dropped %d, want 11 6 5 5",
			os.Encoded(), os.Delivered(), os.DroppedBy(DropQueueFull), os.Dropped())
	}
}

// TestBlockingQueueLosesNothing is file input behind a stuck writer: the
// producer waits instead of dropping, and every frame arrives.
func TestBlockingQueueLosesNothing(t *testing.T) {
	frame := bytes.Repeat([]byte{0xcd}, MaxFrameLen)
	w := &blockingBatchWriter{entered: make(chan struct{}), release: make(chan struct{})}
	q := NewQueue(w, QueueConfig{BatchSize: 1, Batches: 2, FlushInterval: 1 << 62, Block: true})
	p := q.Producer()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 20; i++ {
			if err := p.WriteFrame(frame); err != nil {
				t.Error(err)
			}
		}
		p.Flush()
	}()
	<-w.entered
	close(w.release)
	<-done
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	st := q.Output().Stats()
	if st.Encoded() != 20 || st.Delivered() != 20 || st.Dropped() != 0 || w.data.Len() != 20*(4+MaxFrameLen) {
		t.Fatalf("encoded %d delivered %d dropped %d bytes %d", st.Encoded(), st.Delivered(), st.Dropped(), w.data.Len())
	}
}

func TestQueueToFile(t *testing.T) {
	frames := sampleFrames(t)
	var buf bytes.Buffer
	q := NewQueue(NewFileWriter(&buf), QueueConfig{})
	var wg sync.WaitGroup
	for w := 0; w < 2; w++ {
		p := q.Producer()
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, f := range frames {
				if err := p.WriteFrame(f); err != nil {
					t.Error(err)
				}
			}
			p.Flush()
		}()
	}
	wg.Wait()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(&buf)
	n := 0
	for {
		_, err := fr.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2*len(frames) || !fr.Stopped() || q.Stats().Written() != uint64(n) {
		t.Fatalf("read %d frames (stopped %v), want %d", n, fr.Stopped(), 2*len(frames))
	}
}

type errBatchWriter struct{}

var errBoom = errors.New("boom")

func (errBatchWriter) WriteBatch([]byte) error { return errBoom }
func (errBatchWriter) Flush() error            { return nil }
func (errBatchWriter) Close() error            { return errBoom }

func TestQueueCountsWriteErrors(t *testing.T) {
	q := NewQueue(errBatchWriter{}, QueueConfig{})
	p := q.Producer()
	for i := 0; i < 5; i++ {
		_ = p.WriteFrame([]byte{1, 2, 3})
	}
	p.Flush()
	if err := q.Close(); !errors.Is(err, errBoom) {
		t.Fatalf("Close = %v", err)
	}
	st := q.Output().Stats()
	if got := st.DroppedBy(DropWriteError); got != 5 || st.Encoded() != 5 || st.Delivered() != 0 {
		t.Fatalf("encoded %d delivered %d write_error %d, want 5, 0, 5", st.Encoded(), st.Delivered(), got)
	}
}

func TestProducerZeroAlloc(t *testing.T) {
	q := NewQueue(NewFileWriter(io.Discard), QueueConfig{})
	p := q.Producer()
	frame := sampleFrames(t)[1]
	if n := testing.AllocsPerRun(100000, func() { _ = p.WriteFrame(frame) }); n != 0 {
		t.Fatalf("Producer.WriteFrame allocates %v per frame", n)
	}
	p.Flush()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkProducer(b *testing.B) {
	q := NewQueue(NewFileWriter(io.Discard), QueueConfig{})
	p := q.Producer()
	frame := sampleFrames(b)[1]
	b.ReportAllocs()
	b.SetBytes(int64(len(frame) + 4))
	for b.Loop() {
		_ = p.WriteFrame(frame)
	}
	p.Flush()
	_ = q.Close()
}
