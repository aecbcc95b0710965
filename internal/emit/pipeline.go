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
	xfr   xfrTable
	buf   []byte // reused frame buffer
	cnt   counts
	types [numMessageTypes]uint64
	since int // messages since the last publish
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
	p.xfr.timeout = int64(cfg.PairTimeout)
	return p
}

// HandleMessage classifies, pairs, encodes and writes m. m.Payload is not
// kept after the call.
func (p *Pipeline) HandleMessage(m *reassembly.Message) {
	st := &p.cnt
	st[cntMessages]++
	if p.since++; p.since >= publishEvery {
		p.since = 0
		p.stats.publish(&p.cnt, &p.types)
	}
	var v views
	if !p.cls.classify(m, &v) {
		st[cntNotMonitored]++
		return
	}
	if m.DNS.Malformed {
		st[cntMalformed]++
	}
	p.pairs.expire(m.Timestamp, st)

	var k pairKey
	p.pairs.makeKey(&k, v.initiator, v.responder, uint8(m.Transport), m.DNS.ID, m.DNS.Question)
	r := Record{Protocol: uint8(m.Transport), QueryAddr: v.initiator, ResponseAddr: v.responder}
	if m.DNS.Response() {
		tcp := m.Transport == reassembly.TransportTCP
		if qt, ok := p.pairs.take(&k); ok {
			st[cntMatched]++
			r.HasQueryTime, r.QueryTime = true, qt
			if tcp && isXFR(m.DNS.Question) {
				p.xfr.add(v.initiator, v.responder, m.DNS.ID, qt, m.Timestamp, st)
			}
		} else if !tcp || (m.DNS.Question != nil && !isXFR(m.DNS.Question)) {
			st[cntResponseNoQuery]++
		} else if qt, ok := p.xfr.find(v.initiator, v.responder, m.DNS.ID, m.Timestamp); ok {
			st[cntXFRContinued]++
			r.HasQueryTime, r.QueryTime = true, qt
		} else {
			st[cntResponseNoQuery]++
		}
		r.HasResponseTime, r.ResponseTime = true, m.Timestamp
		r.ResponseMessage = m.Payload
	} else {
		p.pairs.insert(&k, m.Timestamp, st)
		r.HasQueryTime, r.QueryTime = true, m.Timestamp
		r.QueryMessage = m.Payload
	}
	if v.n == 2 {
		st[cntBothServers]++
	}
	for i := 0; i < v.n; i++ {
		r.Type = v.types[i]
		p.types[r.Type]++
		p.buf = AppendDnstap(p.buf[:0], v.identity[i], p.cfg.Version, &r)
		if len(p.buf) > MaxFrameLen {
			st[cntDropTooLarge]++
			continue
		}
		// Counted as encoded whatever the writer says: a Producer
		// accepts frames it may drop later (a full queue), so delivery is
		// each output's own count, never this one.
		st[cntFramesEncoded]++
		if err := p.out.WriteFrame(p.buf); err != nil {
			st[cntOutputErrors]++
		}
	}
}

// Tick expires pending queries older than PairTimeout at capture time now
// (ns since the epoch). Call it from the same goroutine when no messages
// arrive for a while, so that idle periods still count unanswered queries.
func (p *Pipeline) Tick(now int64) {
	p.pairs.expire(now, &p.cnt)
	p.stats.publish(&p.cnt, &p.types)
}

// Flush ends the input: every query still pending is counted unanswered.
// It does not flush or close the FrameWriter, which the caller owns.
func (p *Pipeline) Flush() {
	p.pairs.flush(&p.cnt)
	p.stats.publish(&p.cnt, &p.types)
}

// Stats returns the Pipeline's counters; the pointer stays valid for the
// Pipeline's life and may be read from any goroutine (see Stats for how
// current they are).
func (p *Pipeline) Stats() *Stats { return &p.stats }
