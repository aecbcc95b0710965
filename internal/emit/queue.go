package emit

import (
	"sync/atomic"
	"time"
)

// QueueConfig sizes a Queue. Zero values select the defaults.
type QueueConfig struct {
	BatchSize     int           // bytes per batch buffer (default 64 KiB)
	Batches       int           // batches in flight: the channel's capacity (default 64)
	FlushInterval time.Duration // how often the writer flushes and producers hand over partial batches (default 1 s)
}

// Queue decouples live capture from output. Producers (one per capture
// worker) append frames to their own batch buffer and hand full batches to a
// bounded channel without blocking: when it is full, the batch is dropped and
// its frames counted. One goroutine owns the BatchWriter.
type Queue struct {
	out   BatchWriter
	cfg   QueueConfig
	full  chan []byte
	free  chan []byte
	done  chan struct{}
	stats QueueStats
}

// QueueStats are a Queue's counters, safe from any goroutine.
type QueueStats struct {
	c [numQueueCounters]atomic.Uint64
}

const (
	qcFramesQueued = iota
	qcFramesWritten
	qcFramesDroppedFull
	qcBatchesDropped
	qcFramesDroppedTooLarge
	qcWriteErrors
	qcFlushErrors
	numQueueCounters
)

var queueCounterNames = [numQueueCounters]string{
	"queue_frames_in", "queue_frames_written", "queue_frames_dropped_full",
	"queue_batches_dropped", "queue_frames_dropped_too_large",
	"queue_write_errors", "queue_flush_errors",
}

// Each calls fn for every counter with its stable name.
func (s *QueueStats) Each(fn func(name string, v uint64)) {
	for i := range s.c {
		fn(queueCounterNames[i], s.c[i].Load())
	}
}

// NewQueue starts the writer goroutine on out.
func NewQueue(out BatchWriter, cfg QueueConfig) *Queue {
	// TODO
	return &Queue{out: out, cfg: cfg}
}

// Producer is one capture worker's handle on a Queue. It is a FrameWriter;
// it belongs to one goroutine.
type Producer struct {
	q     *Queue
	batch []byte
}

// Producer returns a new producer with its own batch buffer.
func (q *Queue) Producer() *Producer { return &Producer{q: q} }

// WriteFrame appends b to the producer's batch; it never blocks. A nil
// error does not mean the frame will be written: a dropped batch is counted
// in QueueStats.
func (p *Producer) WriteFrame(b []byte) error { return nil }

// Flush hands the partial batch to the writer (non-blocking). Call it when
// the worker is idle (capture poll timeout) and before Queue.Close.
func (p *Producer) Flush() {}

// Stats returns the queue's counters.
func (q *Queue) Stats() *QueueStats { return &q.stats }

// Close stops the writer goroutine after writing every queued batch, then
// closes out and returns its error. Producers must have flushed and stopped.
func (q *Queue) Close() error { return nil }
