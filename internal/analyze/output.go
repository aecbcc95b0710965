package analyze

import (
	"bufio"
	"encoding/binary"
	"io"
	"sync"
	"sync/atomic"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// AlertWriter writes alerts as JSON lines on its own goroutine. Its Sink
// never blocks: when the queue of alertQueueLen lines is full (a slow
// disk, a stalled pipe) the alert is dropped and counted.
type AlertWriter struct {
	w       *bufio.Writer
	c       io.Closer // closed by Close when not nil
	queue   chan []byte
	done    chan struct{}
	dropped atomic.Uint64
	written atomic.Uint64
	mu      sync.Mutex
	err     error
	closed  bool
}

const alertQueueLen = 4096

// NewAlertWriter starts a writer of alert lines to w; when w is an
// io.Closer other than os.Stdout, pass closer to close it at Close.
func NewAlertWriter(w io.Writer, closer io.Closer) *AlertWriter {
	aw := &AlertWriter{w: bufio.NewWriter(w), c: closer, queue: make(chan []byte, alertQueueLen), done: make(chan struct{})}
	go aw.loop()
	return aw
}

func (aw *AlertWriter) loop() {
	defer close(aw.done)
	for line := range aw.queue {
		_, err := aw.w.Write(line)
		// Alerts are rare and meant to be seen at once: flush whenever
		// the queue runs dry.
		if err == nil && len(aw.queue) == 0 {
			err = aw.w.Flush()
		}
		if err != nil {
			aw.mu.Lock()
			if aw.err == nil {
				aw.err = err
			}
			aw.mu.Unlock()
			aw.dropped.Add(1)
			continue
		}
		aw.written.Add(1)
	}
}

// Sink returns the Sink to give NewAlertEngine.
func (aw *AlertWriter) Sink() Sink {
	return func(a *Alert) {
		line := a.AppendJSON(make([]byte, 0, 256))
		line = append(line, '\n')
		select {
		case aw.queue <- line:
		default:
			aw.dropped.Add(1)
		}
	}
}

// Written and Dropped count alert lines.
func (aw *AlertWriter) Written() uint64 { return aw.written.Load() }

// Dropped counts alerts lost to a full queue or a write error.
func (aw *AlertWriter) Dropped() uint64 { return aw.dropped.Load() }

// Close writes the queued alerts, flushes, closes the file and returns the
// first write error.
func (aw *AlertWriter) Close() error {
	aw.mu.Lock()
	if aw.closed {
		aw.mu.Unlock()
		return aw.err
	}
	aw.closed = true
	aw.mu.Unlock()
	close(aw.queue)
	<-aw.done
	err := aw.w.Flush()
	if aw.c != nil {
		if cerr := aw.c.Close(); err == nil {
			err = cerr
		}
	}
	aw.mu.Lock()
	defer aw.mu.Unlock()
	if aw.err == nil {
		aw.err = err
	}
	return aw.err
}

// walkBatch calls fn for each data frame of a batch (4-byte big-endian
// length, payload) and returns how many frames it found and the bytes
// left over that are not a whole frame (or are an empty frame).
func walkBatch(b []byte, fn func(frame []byte)) (frames uint64, bad bool) {
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		if l == 0 || l > len(b)-4 {
			return frames, true
		}
		fn(b[4 : 4+l])
		frames++
		b = b[4+l:]
	}
	return frames, len(b) != 0
}

// AlertOutput is an AlertEngine as an emit.Output: every frame of a batch
// goes through the engine and is counted delivered; a malformed batch tail
// counts one frame dropped as too large. Close closes the AlertWriter.
type AlertOutput struct {
	e     *AlertEngine
	w     *AlertWriter
	stats emit.OutputStats
	fn    func([]byte)
}

// NewAlertOutput returns an output feeding e; w (may be nil) is closed at
// Close.
func NewAlertOutput(e *AlertEngine, w *AlertWriter) *AlertOutput {
	o := &AlertOutput{e: e, w: w}
	o.fn = func(f []byte) { _ = o.e.HandleFrame(f) }
	o.stats.SetState(emit.StateUp)
	return o
}

// WriteBatch runs every frame of the batch through the engine.
func (o *AlertOutput) WriteBatch(b []byte) error {
	n, bad := walkBatch(b, o.fn)
	o.stats.AddDelivered(n)
	if bad {
		o.stats.AddDropped(emit.DropTooLarge, 1)
	}
	return nil
}

// Flush does nothing: the AlertWriter flushes when its queue runs dry.
func (o *AlertOutput) Flush() error { return nil }

// Close closes the alert writer.
func (o *AlertOutput) Close() error {
	o.stats.SetState(emit.StateClosed)
	if o.w != nil {
		return o.w.Close()
	}
	return nil
}

// Stats returns the output's frame accounting.
func (o *AlertOutput) Stats() *emit.OutputStats { return &o.stats }

// Engine returns the engine, for its own counters.
func (o *AlertOutput) Engine() *AlertEngine { return o.e }

// ECSOutput is an ECSWriter as an emit.Output: frames written are
// delivered; after a write error the batch's frames are dropped
// (write_error) and the error is returned once per batch. Events still in
// the writer's 64 KiB buffer when the file fails were counted delivered
// and are lost with it.
type ECSOutput struct {
	w     *ECSWriter
	c     io.Closer
	stats emit.OutputStats
	err   error
	fn    func([]byte)
	n     uint64
}

// NewECSOutput returns an output writing ECS events with w; closer (may be
// nil) is closed at Close.
func NewECSOutput(w *ECSWriter, closer io.Closer) *ECSOutput {
	o := &ECSOutput{w: w, c: closer}
	o.fn = func(f []byte) {
		if err := o.w.WriteFrame(f); err != nil && err != ErrNotDnstap && err != ErrNoMessage {
			o.err = err
			return
		}
		o.n++
	}
	o.stats.SetState(emit.StateUp)
	return o
}

// WriteBatch writes one event per frame.
func (o *ECSOutput) WriteBatch(b []byte) error {
	o.err, o.n = nil, 0
	n, bad := walkBatch(b, o.fn)
	o.stats.AddDelivered(o.n)
	if n > o.n {
		o.stats.AddDropped(emit.DropWriteError, n-o.n)
	}
	if bad {
		o.stats.AddDropped(emit.DropTooLarge, 1)
	}
	if o.err != nil {
		o.stats.SetState(emit.StateDown)
		return o.err
	}
	return nil
}

// Flush flushes the writer.
func (o *ECSOutput) Flush() error { return o.w.Flush() }

// Close flushes and closes.
func (o *ECSOutput) Close() error {
	o.stats.SetState(emit.StateClosed)
	err := o.w.Flush()
	if o.c != nil {
		if cerr := o.c.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Stats returns the output's frame accounting.
func (o *ECSOutput) Stats() *emit.OutputStats { return &o.stats }

var (
	_ emit.Output = (*AlertOutput)(nil)
	_ emit.Output = (*ECSOutput)(nil)
)
