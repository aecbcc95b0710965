package reassembly

import "github.com/dnstap-sensor/dnstap-sensor/internal/capture"

// STUB: the decode path is being written; signatures are agreed.

// DecodeCounter indexes Stats.Decode.
type DecodeCounter int

// Decode counters.
const (
	DecodeFrames DecodeCounter = iota // frames handed in
	numDecodeCounters
)

var decodeCounterNames = [numDecodeCounters]string{
	DecodeFrames: "frames",
}

// Assembler turns captured frames into whole DNS messages. It is owned by one
// goroutine.
type Assembler struct {
	cfg   Config
	sink  Sink
	stats Stats
	frag  *defragmenter
	tcp   *tcpReassembler
}

// NewAssembler returns an Assembler that hands every message to sink.
func NewAssembler(cfg Config, sink Sink) *Assembler {
	a := &Assembler{cfg: cfg, sink: sink}
	a.frag = newDefragmenter(cfg, &a.stats)
	return a
}

// HandleFrame decodes one frame and hands any message it completes to the
// Sink before returning. f.Data may be reused by the caller afterwards.
func (a *Assembler) HandleFrame(f *capture.Frame) {
	a.stats.Decode[DecodeFrames].Inc()
}

// Flush ends the input: partial TCP messages and incomplete datagrams are
// counted and dropped.
func (a *Assembler) Flush() {}

// Stats returns the Assembler's counters; safe to read from any goroutine.
func (a *Assembler) Stats() *Stats { return &a.stats }
