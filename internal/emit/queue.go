package emit

import (
	"encoding/binary"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// QueueConfig sizes a Queue. Zero values select the defaults.
type QueueConfig struct {
	// BatchSize is the bytes per batch buffer. 256 KiB holds about 1000
	// typical frames, so one write system call carries that many, and it
	// always holds at least two maximum-size frames.
	BatchSize int
	// Batches is the channel's capacity: how many full batches may wait
	// for the writer. With the default 32 × 256 KiB (8 MiB), output may
	// stall for about 1.6 s at 10k messages/s (measured in the lab), or
	// 15 ms at 2M frames/s, before anything is dropped. The CLI's
	// --queue-batches default is this one.
	Batches int
	// FlushInterval is how often the writer flushes its output and asks
	// producers to hand over partial batches, which bounds the delay of a
	// frame under light traffic.
	FlushInterval time.Duration
	// Block makes producers wait for room instead of dropping: for file
	// input, where the output sets the pace and nothing may be lost.
	// Live capture must never set it.
	Block bool
}

// Queue defaults; see QueueConfig.
const (
	DefaultBatchSize     = 256 << 10
	DefaultBatches       = 32
	DefaultFlushInterval = time.Second
)

type batch struct {
	buf    []byte
	frames uint64
}

// Queue decouples capture from one Output. Producers (one per capture
// worker) append frames to their own batch buffer and hand full batches to a
// bounded channel: for live capture without blocking (when it is full, the
// batch is dropped and its frames counted as queue_full in the output's
// OutputStats); for file input (QueueConfig.Block) by waiting, so a slow disk
// slows the run and loses nothing. One goroutine owns the Output: it writes
// batches, returns their buffers to a free list, and flushes on a ticker.
//
// Every frame handed to a Producer is counted as encoded in the Output's
// OutputStats before anything can happen to it; the Output counts what it
// delivers, spools or drops, so at Close the identity of OutputStats holds.
type Queue struct {
	out   Output
	cfg   QueueConfig
	full  chan batch
	free  chan []byte
	epoch atomic.Uint64 // bumped every FlushInterval; producers hand over partial batches when it moves
	done  chan error
	stats QueueStats
	beat  atomic.Int64 // wall clock of the writer's last turn, ns (Heartbeat)
}

// QueueStats are a Queue's own counters, safe from any goroutine. Frame
// accounting (delivered, dropped by reason) is the Output's OutputStats;
// Written and Dropped read it.
type QueueStats struct {
	c   [numQueueCounters]atomic.Uint64
	out *OutputStats
}

const (
	qcFramesIn = iota
	qcFramesDroppedFull
	qcBatchesDropped
	qcFramesDroppedTooLarge
	qcWriteErrors
	qcFlushErrors
	numQueueCounters
)

var queueCounterNames = [numQueueCounters]string{
	"queue_frames_in", "queue_frames_dropped_full",
	"queue_batches_dropped", "queue_frames_dropped_too_large",
	"queue_write_errors", "queue_flush_errors",
}

var queueCounterKinds = [numQueueCounters]stat.Kind{
	stat.Activity, stat.Drop, stat.Drop, stat.Drop, stat.Error, stat.Error,
}

// Each calls fn for every counter with its stable name.
func (s *QueueStats) Each(fn func(name string, v uint64)) {
	for i := range s.c {
		fn(queueCounterNames[i], s.c[i].Load())
	}
}

// EachKind calls fn for every counter with its stable name and kind.
func (s *QueueStats) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	for i := range s.c {
		fn(queueCounterNames[i], queueCounterKinds[i], s.c[i].Load())
	}
}

// Dropped is the number of frames the output lost, for any reason (its
// OutputStats.Dropped).
func (s *QueueStats) Dropped() uint64 { return s.out.Dropped() }

// Written is the number of frames the output delivered.
func (s *QueueStats) Written() uint64 { return s.out.Delivered() }

// NewQueue allocates the batch buffers and starts the writer goroutine on
// out. An out that is not an Output (a bare BatchWriter) is wrapped with
// Counted, which counts a failed batch as write_error.
func NewQueue(out BatchWriter, cfg QueueConfig) *Queue {
	o, ok := out.(Output)
	if !ok {
		o = Counted(out)
	}
	if cfg.BatchSize < 2*(MaxFrameLen+4) {
		if cfg.BatchSize == 0 {
			cfg.BatchSize = DefaultBatchSize
		} else {
			cfg.BatchSize = 2 * (MaxFrameLen + 4)
		}
	}
	if cfg.Batches <= 0 {
		cfg.Batches = DefaultBatches
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = DefaultFlushInterval
	}
	q := &Queue{
		out:  o,
		cfg:  cfg,
		full: make(chan batch, cfg.Batches),
		// Room for every buffer that can exist: Batches queued, one in
		// the writer, one per producer (at most 1024 workers).
		free:  make(chan []byte, cfg.Batches+1+1024),
		done:  make(chan error, 1),
		stats: QueueStats{out: o.Stats()},
	}
	// With Batches+1 buffers beyond the producers' own, a producer whose
	// send succeeded always finds a free buffer (Batches in the channel,
	// one in the writer, every other producer holds its own).
	for i := 0; i < cfg.Batches+1; i++ {
		q.free <- make([]byte, 0, cfg.BatchSize)
	}
	q.beat.Store(time.Now().UnixNano())
	go q.run()
	return q
}

func (q *Queue) run() {
	t := time.NewTicker(q.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case b, ok := <-q.full:
			if !ok {
				q.done <- q.out.Close()
				return
			}
			// The Output counts the batch's frames itself (delivered,
			// spooled or dropped); the error is only counted here.
			if err := q.out.WriteBatch(b.buf); err != nil {
				q.stats.c[qcWriteErrors].Add(1)
			}
			q.free <- b.buf[:0]
			q.beat.Store(time.Now().UnixNano())
		case <-t.C:
			q.beat.Store(time.Now().UnixNano())
			q.epoch.Add(1)
			if err := q.out.Flush(); err != nil {
				q.stats.c[qcFlushErrors].Add(1)
			}
		}
	}
}

// Producer is one capture worker's handle on a Queue. It is a FrameWriter;
// it belongs to one goroutine.
type Producer struct {
	q      *Queue
	buf    []byte // nil while the free list was empty
	frames uint64
	epoch  uint64
	lost   uint64 // dropped while no buffer was free, not yet in the counters
}

// Producer returns a new producer with its own batch buffer. Call it at
// setup; at most 1024 producers per Queue.
func (q *Queue) Producer() *Producer {
	return &Producer{q: q, buf: make([]byte, 0, q.cfg.BatchSize), epoch: q.epoch.Load()}
}

// WriteFrame appends b (with its Frame Streams length) to the producer's
// batch; it never blocks unless the Queue was made with Block. A nil error
// does not mean the frame will be delivered: what the queue drops is counted
// as queue_full in the output's OutputStats, and delivery is the output's
// own count. b is not kept.
func (p *Producer) WriteFrame(b []byte) error {
	q := p.q
	if len(b) == 0 || len(b) > MaxFrameLen {
		q.stats.c[qcFramesIn].Add(1)
		q.stats.c[qcFramesDroppedTooLarge].Add(1)
		q.stats.out.AddEncoded(1)
		q.stats.out.AddDropped(DropTooLarge, 1)
		if len(b) == 0 {
			return ErrEmptyFrame
		}
		return ErrFrameTooLarge
	}
	if p.buf != nil && len(p.buf)+4+len(b) > cap(p.buf) {
		p.handOver()
	}
	if p.buf == nil {
		if q.cfg.Block {
			p.buf = <-q.free
		} else {
			select {
			case p.buf = <-q.free:
			default:
				// Counted in bulk: an output that fell behind must not
				// make every frame pay four locked adds on top.
				if p.lost++; p.lost >= settleLostEvery {
					p.settleLost()
				}
				return nil
			}
		}
	}
	p.buf = binary.BigEndian.AppendUint32(p.buf, uint32(len(b)))
	p.buf = append(p.buf, b...)
	p.frames++
	if e := q.epoch.Load(); e != p.epoch {
		p.epoch = e
		p.handOver()
	}
	return nil
}

// handOver sends the batch, without blocking unless the Queue blocks. On
// success the producer is left without a buffer (the next frame takes one
// from the free list); when the channel is full the batch is dropped and its
// buffer reused.
func (p *Producer) handOver() {
	if p.frames == 0 {
		return
	}
	// Counted per batch, not per frame: a locked add per frame would be
	// a tenth of the producer's cost. Encoded before the send, so the
	// writer never delivers frames not yet counted as encoded.
	p.q.stats.c[qcFramesIn].Add(p.frames)
	p.q.stats.out.AddEncoded(p.frames)
	b := batch{buf: p.buf, frames: p.frames}
	p.frames = 0
	if p.q.cfg.Block {
		p.q.full <- b
		p.buf = nil
		return
	}
	select {
	case p.q.full <- b:
		p.buf = nil
	default:
		p.q.stats.c[qcFramesDroppedFull].Add(b.frames)
		p.q.stats.c[qcBatchesDropped].Add(1)
		p.q.stats.out.AddDropped(DropQueueFull, b.frames)
		p.buf = p.buf[:0]
	}
}

// settleLostEvery bounds how many frames dropped for want of a free buffer
// may wait in Producer.lost before the counters show them.
const settleLostEvery = 256

// settleLost counts the frames dropped while no buffer was free.
func (p *Producer) settleLost() {
	if p.lost == 0 {
		return
	}
	s := &p.q.stats
	s.c[qcFramesIn].Add(p.lost)
	s.c[qcFramesDroppedFull].Add(p.lost)
	s.out.AddEncoded(p.lost)
	s.out.AddDropped(DropQueueFull, p.lost)
	p.lost = 0
}

// Flush hands the partial batch to the writer without blocking and counts
// what was dropped. Call it when the worker is idle (capture poll timeout)
// and before Queue.Close.
func (p *Producer) Flush() {
	p.settleLost()
	p.handOver()
}

// Stats returns the queue's counters.
func (q *Queue) Stats() *QueueStats { return &q.stats }

// Output returns the output the queue writes to.
func (q *Queue) Output() Output { return q.out }

// Close writes every queued batch, closes the BatchWriter and returns its
// error. Every producer must have flushed and stopped: a WriteFrame after
// Close panics.
func (q *Queue) Close() error {
	close(q.full)
	return <-q.done
}
