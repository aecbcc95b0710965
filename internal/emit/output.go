package emit

import (
	"encoding/binary"
	"sync"
	"sync/atomic"
	"time"
)

// Output is one destination of dnstap frames (a rotating file, a set of
// Frame Streams receivers, text on stdout). It takes batches of whole
// Frame Streams data frames (4-byte big-endian length, then the frame; the
// batch is valid only during the call) and accounts for every frame it is
// handed in its OutputStats: delivered, spooled, or dropped with a reason.
// WriteBatch's error is for logging the condition once; the frames are
// already counted by the Output itself when it returns.
//
// An Output belongs to one goroutine (its Queue's writer, or the file-input
// loop), so it may block that goroutine but never capture.
type Output interface {
	BatchWriter
	// Stats returns the output's counters; the pointer stays valid for
	// the output's life and may be read from any goroutine.
	Stats() *OutputStats
}

// DropReason says why an output lost frames. The order is the order of the
// summary and of the metrics' reason label.
type DropReason uint8

const (
	DropQueueFull    DropReason = iota // the output's bounded queue was full (live capture)
	DropTooLarge                       // empty or larger than MaxFrameLen
	DropWriteError                     // the file or socket write failed (disk full, I/O error)
	DropDisconnected                   // no receiver reachable and no spool to hold them
	DropSpoolFull                      // pushed out of a full spool, oldest first
	DropShutdown                       // still queued or unsent when the run had to end
	NumDropReasons
)

var dropReasonNames = [NumDropReasons]string{
	"queue_full", "too_large", "write_error", "disconnected", "spool_full", "shutdown",
}

// String returns the reason's stable name, as used in the summary and the
// metrics' reason label.
func (r DropReason) String() string {
	if r < NumDropReasons {
		return dropReasonNames[r]
	}
	return "unknown"
}

// OutputState is an output's condition, for the metrics and the health check.
type OutputState uint8

const (
	StateStarting OutputState = iota // not yet written to
	StateUp                          // writing
	StateDown                        // failing: receiver unreachable, disk full; frames dropped or spooled
	StateClosed                      // closed at the end of the run
)

var outputStateNames = [...]string{"starting", "up", "down", "closed"}

func (s OutputState) String() string {
	if int(s) < len(outputStateNames) {
		return outputStateNames[s]
	}
	return "unknown"
}

// OutputStats accounts for every frame an output was handed:
//
//	encoded = Delivered + Σ Dropped[reason] + Spooled (+ frames still queued in memory)
//
// At the end of a run nothing is queued in memory any more, so the identity
// holds exactly. Spooled counts frames held on disk now, not yet delivered:
// when the spool drains they move to Delivered. All methods are safe from
// any goroutine.
type OutputStats struct {
	encoded    atomic.Uint64
	delivered  atomic.Uint64
	spooled    atomic.Uint64
	dropped    [NumDropReasons]atomic.Uint64
	reconnects atomic.Uint64
	state      atomic.Uint32

	mu      sync.Mutex
	lastErr string
	errTime time.Time
}

// AddEncoded counts frames handed to the output (by its queue or the
// file-input loop), before anything can happen to them.
func (s *OutputStats) AddEncoded(n uint64) { s.encoded.Add(n) }

// AddDelivered counts frames written to the file or the receiver's socket.
func (s *OutputStats) AddDelivered(n uint64) { s.delivered.Add(n) }

// AddDropped counts frames lost for reason r.
func (s *OutputStats) AddDropped(r DropReason, n uint64) { s.dropped[r].Add(n) }

// AddSpooled counts frames written to the spool instead of a receiver.
func (s *OutputStats) AddSpooled(n uint64) { s.spooled.Add(n) }

// Unspool moves n spooled frames to delivered (sent from the spool) or, when
// dropReason is not NumDropReasons, to that drop reason (spool full).
func (s *OutputStats) Unspool(n uint64, to DropReason) {
	s.spooled.Add(^(n - 1))
	if to == NumDropReasons {
		s.delivered.Add(n)
	} else {
		s.dropped[to].Add(n)
	}
}

// AddReconnect counts a successful connection after the first.
func (s *OutputStats) AddReconnect() { s.reconnects.Add(1) }

// SetState records the output's condition.
func (s *OutputStats) SetState(st OutputState) { s.state.Store(uint32(st)) }

// SetError records the latest error (nil clears nothing: the last error
// stays visible until another replaces it).
func (s *OutputStats) SetError(err error, at time.Time) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.lastErr, s.errTime = err.Error(), at
	s.mu.Unlock()
}

// Encoded, Delivered, Spooled, Dropped, DroppedBy, Reconnects, State and
// LastError read the counters.
func (s *OutputStats) Encoded() uint64   { return s.encoded.Load() }
func (s *OutputStats) Delivered() uint64 { return s.delivered.Load() }
func (s *OutputStats) Spooled() uint64   { return s.spooled.Load() }
func (s *OutputStats) DroppedBy(r DropReason) uint64 {
	return s.dropped[r].Load()
}
func (s *OutputStats) Dropped() uint64 {
	var n uint64
	for i := range s.dropped {
		n += s.dropped[i].Load()
	}
	return n
}
func (s *OutputStats) Reconnects() uint64 { return s.reconnects.Load() }
func (s *OutputStats) State() OutputState { return OutputState(s.state.Load()) }
func (s *OutputStats) LastError() (string, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lastErr, s.errTime
}

// CountFrames returns the number of data frames in a batch of Frame Streams
// data frames (each a 4-byte big-endian length and that many bytes). A
// truncated tail is not counted.
func CountFrames(b []byte) uint64 {
	var n uint64
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		if l > len(b)-4 {
			break
		}
		b = b[4+l:]
		n++
	}
	return n
}
