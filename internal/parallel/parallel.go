// Package parallel owns reading one stream of frames with several workers:
// file input with --workers N. A reader goroutine steers each frame to a
// worker by a symmetric hash of its outermost IP addresses
// (reassembly.Steerer), each worker owns its own reassembly and pairing
// state, and a merger puts the workers' dnstap frames back into exactly the
// order a single worker would have written them.
//
// How the order is kept: the reader numbers every frame and cuts the stream
// into rounds (at most RoundFrames frames or RoundBytes bytes). Each worker
// gets its share of every round, possibly empty, and returns the frames it
// encoded, each tagged with the number of the input frame that completed it.
// The merger takes round r from every worker and interleaves the tagged
// frames by number. A frame's number is its position in a one-worker run, so
// the output is the one-worker output, frame for frame, as long as no table
// hits its size limit (each worker has the full limits, as live workers do).
//
// Everything is bounded: RoundsInFlight rounds per worker are buffered, the
// reader waits for a free round (file input may wait; it loses nothing).
package parallel

import (
	"encoding/binary"
	"fmt"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// Round sizes. 1024 frames amortise the channel operations (about 100 ns
// each) to well under a nanosecond per frame; 4 MiB bounds what a round of
// large frames (jumbo, fragments) holds.
const (
	RoundFrames    = 1024
	RoundBytes     = 4 << 20
	RoundsInFlight = 4
)

// Config configures a Runner.
type Config struct {
	Workers    int
	Reassembly reassembly.Config
	Emit       emit.Config
	// Out receives every frame in one-worker order, from the merger
	// goroutine only. It may block (file input loses nothing).
	Out emit.FrameWriter
}

// frameMeta is one input frame of a round, its bytes in the round's data.
type frameMeta struct {
	off, n  int
	seq     uint64
	ts      int64
	wireLen int
	link    packet.LinkType
	iface   int
	vlan    uint16
}

// inRound is one worker's share of a round.
type inRound struct {
	data   []byte
	frames []frameMeta
	last   bool // the input ended: flush the tables after this round
}

// outRound is what one worker encoded during a round: Frame Streams data
// frames (4-byte length, frame) in data, the input number of each in seqs.
type outRound struct {
	data []byte
	seqs []uint64
}

type worker struct {
	asm   *reassembly.Assembler
	pipe  *emit.Pipeline
	in    chan *inRound
	out   chan *outRound
	freeI chan *inRound
	freeO chan *outRound
	cur   *outRound
	seq   uint64
}

// WriteFrame is the worker Pipeline's output: it tags the frame with the
// input frame being handled.
func (w *worker) WriteFrame(b []byte) error {
	o := w.cur
	o.data = binary.BigEndian.AppendUint32(o.data, uint32(len(b)))
	o.data = append(o.data, b...)
	o.seqs = append(o.seqs, w.seq)
	return nil
}

func (w *worker) run() {
	var f packet.Frame
	for r := range w.in {
		o := <-w.freeO
		o.data, o.seqs = o.data[:0], o.seqs[:0]
		w.cur = o
		for i := range r.frames {
			m := &r.frames[i]
			f = packet.Frame{Data: r.data[m.off : m.off+m.n], Timestamp: m.ts, WireLen: m.wireLen,
				LinkType: m.link, Interface: m.iface, VLAN: m.vlan}
			w.seq = m.seq
			w.asm.HandleFrame(&f)
		}
		if r.last {
			// What the end of input completes goes after every frame.
			w.seq = ^uint64(0)
			w.asm.Flush()
			w.pipe.Flush()
		}
		w.freeI <- r
		w.out <- o
	}
	close(w.out)
}

// Runner steers frames to workers and merges their output. HandleFrame and
// Close are called from one goroutine (the reader).
type Runner struct {
	cfg     Config
	steer   *reassembly.Steerer
	workers []*worker
	cur     []*inRound // the round being filled, one share per worker
	frames  int
	bytes   int
	seq     uint64
	merged  chan error
}

// New starts the workers and the merger.
func New(cfg Config) *Runner {
	if cfg.Workers < 1 {
		cfg.Workers = 1
	}
	r := &Runner{cfg: cfg, steer: reassembly.NewSteerer(), merged: make(chan error, 1)}
	for i := 0; i < cfg.Workers; i++ {
		w := &worker{
			in: make(chan *inRound, RoundsInFlight), out: make(chan *outRound, RoundsInFlight),
			freeI: make(chan *inRound, RoundsInFlight+1), freeO: make(chan *outRound, RoundsInFlight+2),
		}
		w.pipe = emit.NewPipeline(cfg.Emit, w)
		w.asm = reassembly.NewAssembler(cfg.Reassembly, w.pipe)
		for j := 0; j < RoundsInFlight+1; j++ {
			w.freeI <- &inRound{}
		}
		for j := 0; j < RoundsInFlight+2; j++ {
			w.freeO <- &outRound{}
		}
		r.workers = append(r.workers, w)
		go w.run()
	}
	r.cur = make([]*inRound, cfg.Workers)
	r.takeRound()
	go r.merge()
	return r
}

// takeRound gets an empty share for every worker; it waits while every
// buffer is in flight, which is the back-pressure on the reader.
func (r *Runner) takeRound() {
	for i, w := range r.workers {
		ir := <-w.freeI
		ir.data, ir.frames, ir.last = ir.data[:0], ir.frames[:0], false
		r.cur[i] = ir
	}
	r.frames, r.bytes = 0, 0
}

// HandleFrame copies f into the current round of its worker. f.Data may be
// reused by the caller afterwards.
func (r *Runner) HandleFrame(f *packet.Frame) {
	w := 0
	if len(r.workers) > 1 {
		if h, ok := r.steer.Hash(f); ok {
			w = int(h % uint64(len(r.workers)))
		}
	}
	ir := r.cur[w]
	off := len(ir.data)
	ir.data = append(ir.data, f.Data...)
	ir.frames = append(ir.frames, frameMeta{off: off, n: len(f.Data), seq: r.seq, ts: f.Timestamp,
		wireLen: f.WireLen, link: f.LinkType, iface: f.Interface, vlan: f.VLAN})
	r.seq++
	r.frames++
	r.bytes += len(f.Data)
	if r.frames >= RoundFrames || r.bytes >= RoundBytes {
		r.send(false)
		r.takeRound()
	}
}

func (r *Runner) send(last bool) {
	for i, w := range r.workers {
		r.cur[i].last = last
		w.in <- r.cur[i]
	}
}

// merge takes the rounds back in order and writes the frames in input order.
func (r *Runner) merge() {
	n := len(r.workers)
	outs := make([]*outRound, n)
	pos := make([]int, n)  // next frame index per worker
	offs := make([]int, n) // its byte offset
	var err error
	for {
		for i, w := range r.workers {
			o, ok := <-w.out
			if !ok {
				r.merged <- err
				return
			}
			outs[i], pos[i], offs[i] = o, 0, 0
		}
		for {
			best := -1
			for i := 0; i < n; i++ {
				if pos[i] < len(outs[i].seqs) && (best < 0 || outs[i].seqs[pos[i]] < outs[best].seqs[pos[best]]) {
					best = i
				}
			}
			if best < 0 {
				break
			}
			o := outs[best]
			l := int(binary.BigEndian.Uint32(o.data[offs[best]:]))
			frame := o.data[offs[best]+4 : offs[best]+4+l]
			if werr := r.cfg.Out.WriteFrame(frame); werr != nil && err == nil {
				err = werr
			}
			pos[best]++
			offs[best] += 4 + l
		}
		for i, w := range r.workers {
			w.freeO <- outs[i]
		}
	}
}

// Close sends what is left, flushes every worker's tables (partial TCP
// messages and pending queries are counted) and waits until every frame
// is written. It returns the first error of Out.WriteFrame.
func (r *Runner) Close() error {
	r.send(true)
	for _, w := range r.workers {
		close(w.in)
	}
	if err := <-r.merged; err != nil {
		return fmt.Errorf("parallel: output: %w", err)
	}
	return nil
}

// Assemblers and Pipelines return the workers' state for counters; read
// them after Close for exact figures.
func (r *Runner) Assemblers() []*reassembly.Assembler {
	out := make([]*reassembly.Assembler, len(r.workers))
	for i, w := range r.workers {
		out[i] = w.asm
	}
	return out
}

// Pipelines: see Assemblers.
func (r *Runner) Pipelines() []*emit.Pipeline {
	out := make([]*emit.Pipeline, len(r.workers))
	for i, w := range r.workers {
		out[i] = w.pipe
	}
	return out
}
