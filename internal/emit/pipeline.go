package emit

import (
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// Pipeline turns whole DNS messages into dnstap frames: it classifies each
// message, pairs it with its query, encodes the frame and hands it to a
// FrameWriter. It is a reassembly.Sink. A Pipeline belongs to one goroutine
// (one per capture worker); use one Producer of a shared Queue per worker for
// live capture.
type Pipeline struct {
	cfg   Config
	out   FrameWriter
	cls   classifier
	pairs pairTable
	buf   []byte // reused frame buffer
	stats Stats
}

var _ reassembly.Sink = (*Pipeline)(nil)

// NewPipeline returns a Pipeline writing to out. It preallocates the pending
// query table (Config.MaxPending) so that the steady state does not allocate.
func NewPipeline(cfg Config, out FrameWriter) *Pipeline {
	if cfg.PairTimeout <= 0 {
		cfg.PairTimeout = DefaultPairTimeout
	}
	if cfg.MaxPending <= 0 {
		cfg.MaxPending = DefaultMaxPending
	}
	p := &Pipeline{cfg: cfg, out: out, buf: make([]byte, 0, MaxFrameLen+1024)}
	p.cls.init(&cfg)
	p.pairs.init(cfg.MaxPending, int64(cfg.PairTimeout))
	return p
}

// HandleMessage classifies, pairs, encodes and writes m. m.Payload is not
// kept after the call.
func (p *Pipeline) HandleMessage(m *reassembly.Message) {
	// TODO
}

// Tick expires pending queries older than PairTimeout at capture time now
// (ns since the epoch). Call it from the same goroutine when no messages
// arrive for a while, so that idle periods still count unanswered queries.
func (p *Pipeline) Tick(now int64) {
	p.pairs.expire(now, &p.stats)
}

// Flush ends the input: every query still pending is counted unanswered.
// It does not flush or close the FrameWriter, which the caller owns.
func (p *Pipeline) Flush() {
	p.pairs.flush(&p.stats)
}

// Stats returns the Pipeline's counters; the pointer stays valid for the
// Pipeline's life and may be read from any goroutine.
func (p *Pipeline) Stats() *Stats { return &p.stats }
