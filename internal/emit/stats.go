package emit

import (
	"sync/atomic"

	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// Pipeline counters, indexed by the enum below; names in pipeCounterNames.
const (
	cntMessages          = iota // DNS messages handed to HandleMessage
	cntNotMonitored             // neither end is a configured server: skipped
	cntBothServers              // both ends monitored: two frames written
	cntMalformed                // header sane, rest did not parse: emitted anyway
	cntMatched                  // responses paired with their query
	cntUnansweredExpired        // queries whose response did not come within PairTimeout
	cntUnansweredEvicted        // queries pushed out of a full pending table
	cntUnansweredFlush          // queries still pending at end of input
	cntResponseNoQuery          // responses whose query was not seen
	cntDuplicateQuery           // a query with the key of one already pending
	cntFramesEncoded            // frames built and handed to the outputs (what each delivers or drops is in its OutputStats)
	cntDropTooLarge             // frames over MaxFrameLen, dropped
	cntOutputErrors             // FrameWriter errors (the frame is lost)
	cntXFRContinued             // later messages of a zone transfer answer, paired with its query
	cntXFREvicted               // transfers in progress pushed out of the full transfer table
	numPipeCounters
)

var pipeCounterNames = [numPipeCounters]string{
	"dns_messages", "not_monitored", "both_servers", "malformed_emitted",
	"pairs_matched", "unanswered_expired", "unanswered_evicted", "unanswered_at_end",
	"responses_without_query", "duplicate_queries", "frames_encoded",
	"frames_dropped_too_large", "output_errors", "xfr_messages_paired", "xfr_evicted",
}

// pipeCounterKinds says which counters are activity, drops or errors.
var pipeCounterKinds = [numPipeCounters]stat.Kind{
	cntMessages:          stat.Activity,
	cntNotMonitored:      stat.Drop,
	cntBothServers:       stat.Activity,
	cntMalformed:         stat.Error,
	cntMatched:           stat.Activity,
	cntUnansweredExpired: stat.Activity, // a query without answer is traffic, not a loss
	cntUnansweredEvicted: stat.Drop,
	cntUnansweredFlush:   stat.Activity,
	cntResponseNoQuery:   stat.Activity,
	cntDuplicateQuery:    stat.Error,
	cntFramesEncoded:     stat.Activity,
	cntDropTooLarge:      stat.Drop,
	cntOutputErrors:      stat.Error,
	cntXFRContinued:      stat.Activity,
	cntXFREvicted:        stat.Drop,
}

// counts are a Pipeline's counters as its goroutine keeps them: plain
// integers, published to Stats every publishEvery messages and on Tick and
// Flush. An atomic store per counter per message cost about 30 ns/message
// (five locked exchanges on amd64); this costs nothing measurable.
type counts [numPipeCounters]uint64

// publishEvery bounds how stale Stats may be while messages flow.
const publishEvery = 256

// Stats are a Pipeline's counters. Only the Pipeline's goroutine writes
// them; any goroutine may read them. While messages flow they trail the
// Pipeline by at most publishEvery (256) messages; after Tick or Flush they
// are exact.
type Stats struct {
	c     [numPipeCounters]atomic.Uint64
	types [numMessageTypes]atomic.Uint64
}

// Each calls fn for every counter with its stable name, in a fixed order.
func (s *Stats) Each(fn func(name string, v uint64)) {
	for i := range s.c {
		fn(pipeCounterNames[i], s.c[i].Load())
	}
}

// EachKind calls fn for every counter with its stable name and kind, in
// the order of Each.
func (s *Stats) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	for i := range s.c {
		fn(pipeCounterNames[i], pipeCounterKinds[i], s.c[i].Load())
	}
}

// EachType calls fn for every dnstap message type with the number of frames
// of that type built (both views count when both ends are monitored).
func (s *Stats) EachType(fn func(t MessageType, v uint64)) {
	for i := 1; i < numMessageTypes; i++ {
		fn(MessageType(i), s.types[i].Load())
	}
}

// Type returns the number of frames of type t built.
func (s *Stats) Type(t MessageType) uint64 {
	if int(t) < numMessageTypes {
		return s.types[t].Load()
	}
	return 0
}

// Unanswered is the sum of queries expired, evicted and left at the end.
func (s *Stats) Unanswered() uint64 {
	return s.c[cntUnansweredExpired].Load() + s.c[cntUnansweredEvicted].Load() + s.c[cntUnansweredFlush].Load()
}

// Matched is the number of query/response pairs found.
func (s *Stats) Matched() uint64 { return s.c[cntMatched].Load() }

// FramesEncoded is the number of frames built and handed to the
// FrameWriter. Whether each output delivered them is in its OutputStats.
func (s *Stats) FramesEncoded() uint64 { return s.c[cntFramesEncoded].Load() }

// Add adds every counter of o into s, for summing per-worker pipelines. s
// must not be in use by a Pipeline.
func (s *Stats) Add(o *Stats) {
	for i := range s.c {
		s.c[i].Add(o.c[i].Load())
	}
	for i := range s.types {
		s.types[i].Add(o.types[i].Load())
	}
}

// publish stores the goroutine's plain counters into s.
func (s *Stats) publish(c *counts, types *[numMessageTypes]uint64) {
	for i := range c {
		s.c[i].Store(c[i])
	}
	for i := range types {
		s.types[i].Store(types[i])
	}
}
