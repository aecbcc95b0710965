package merge

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// Mode is what the Merger writes downstream.
type Mode uint8

const (
	// ModeMerge writes every server frame byte for byte and, for each wire
	// message the server's stream lacks, the sensor's frame marked with
	// FilledMark.
	ModeMerge Mode = iota
	// ModeVerify writes the server's frames unchanged and only counts. The
	// frames are held for the window as in ModeMerge (their partner may
	// come later), so the output lags by the window in both modes.
	ModeVerify
)

var modeNames = [...]string{"merge", "verify"}

// String returns the mode's flag spelling.
func (m Mode) String() string {
	if int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "unknown"
}

// ErrBadMode is returned by ParseMode for anything but merge or verify.
var ErrBadMode = errors.New("merge: unknown mode (want merge or verify)")

// ParseMode reads a --server-dnstap-mode value.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "merge", "":
		return ModeMerge, nil
	case "verify":
		return ModeVerify, nil
	}
	return 0, ErrBadMode
}

// Defaults for Config's zero values.
const (
	// DefaultWindow is how long a frame waits for its partner, in message
	// time. Both sides come late by up to a flush interval (the sensor's
	// output queue flushes every second, BIND's and Unbound's fstrm writers
	// about as often), and BIND's own times drift from the wire's under
	// load: in the lab at 20,000 queries/s they were 6 ms before the
	// capture's, at 70,000 queries/s on a loaded machine up to 3.7 s either
	// way (Unbound's: 17 µs). Ten seconds covers both.
	DefaultWindow = 10 * time.Second
	// DefaultMaxEntries bounds the frames held in the window. Every server
	// frame is held for the window, so this is the rate × window the table
	// carries without releasing early: 50,000 messages/s for 10 s. At a few
	// hundred bytes a frame, some 150 MB at worst.
	DefaultMaxEntries = 1 << 19
	// historyLen × HistoryInterval is the span of History.
	historyLen = 60
	// DefaultHistoryInterval is the length of one History bucket.
	DefaultHistoryInterval = 10 * time.Second
	// skewSamples is how many of the latest matched pairs the skew median
	// is taken over.
	skewSamples = 4096
	// outBatchLen: released frames are handed downstream in batches of about
	// this many bytes (the size of an emit.Queue batch).
	outBatchLen = emit.DefaultBatchSize
)

// Config configures a Merger.
type Config struct {
	// Mode is ModeMerge (the default) or ModeVerify.
	Mode Mode
	// Window is how long, in message time, a frame waits for its partner
	// before it is released (DefaultWindow when zero). Output is in time
	// order within it.
	Window time.Duration
	// MaxEntries bounds the frames waiting (DefaultMaxEntries when zero).
	// When full, the oldest is released early and counted
	// (released_early): it is still written, but a partner that comes
	// later is then counted on its own side.
	MaxEntries int
	// Outputs are the downstream outputs; each gets every released frame.
	Outputs []emit.Output
	// HistoryInterval is the bucket length of History
	// (DefaultHistoryInterval when zero).
	HistoryInterval time.Duration
	// Now returns the current time in ns since the epoch; nil means the
	// wall clock. Message times are compared with it, so it must be the
	// clock the capture and the server stamp with (tests set their own).
	Now func() int64
}

// Counter identifies one of the Merger's counters.
type Counter uint8

// The Merger's counters. Every server frame ends as exactly one of
// Both, ServerOnly or ServerUnparsed; every wire frame as Both, WireOnly or
// WireUnparsed.
const (
	ServerFrames   Counter = iota // data frames from the server
	ServerUnparsed                // server frames that are not dnstap MESSAGEs with DNS bytes: passed through unmatched
	WireFrames                    // frames the sensor made from the wire
	WireUnparsed                  // wire frames that did not parse (not expected: the sensor wrote them)
	Both                          // messages in both streams
	ServerOnly                    // in the server's stream only: the capture missed them
	WireOnly                      // on the wire only: the server's dnstap dropped them
	Filled                        // sensor frames written for WireOnly messages (merge mode)
	FilledTooLarge                // wire-only frames too large to carry the mark; not written
	ReleasedEarly                 // frames released before their window ended because the table was full
	Clamped                       // frames whose time was over half a window before their arrival or a window after it (clock skew, late delivery)
	FramesOut                     // frames handed to each downstream output
	OutputErrors                  // failed downstream batch writes
	LookupsCapped                 // matches sought among the first 64 same-bytes entries only (a flood of one message)
	numCounters
)

var counterNames = [numCounters]string{
	"server_frames", "server_unparsed", "wire_frames", "wire_unparsed",
	"both", "server_only", "wire_only", "filled", "filled_too_large",
	"released_early", "clamped", "frames_out", "output_errors", "lookups_capped",
}

// String returns the counter's stable name (summary and metrics).
func (c Counter) String() string {
	if c < numCounters {
		return counterNames[c]
	}
	return "unknown"
}

// Stats are a Merger's counters, safe from any goroutine.
type Stats struct {
	c        [numCounters]atomic.Uint64
	byKind   [numMatchKinds]atomic.Uint64
	inWindow atomic.Int64
}

// Get returns one counter.
func (s *Stats) Get(c Counter) uint64 { return s.c[c].Load() }

// Each calls fn for every counter with its stable name, then for the
// matches by kind as "both_exact", "both_bind_rd_type",
// "both_no_source_address", "both_no_source_port", "both_omitted_fields".
func (s *Stats) Each(fn func(name string, v uint64)) {
	for i := range s.c {
		fn(counterNames[i], s.c[i].Load())
	}
	for i := range s.byKind {
		fn("both_"+matchKindNames[i], s.byKind[i].Load())
	}
}

// InWindow is the number of frames waiting now.
func (s *Stats) InWindow() int64 { return s.inWindow.Load() }

// Skew is the clock difference between the server and the capture over
// matched messages that carry a time on both sides: the server's time minus
// the capture's.
type Skew struct {
	// Samples is how many pairs the median is over (the latest, at most
	// 4096); Pairs how many were measured in all.
	Samples int
	Pairs   uint64
	// Median is over the samples; MaxAbs over every pair, signed.
	Median, MaxAbs time.Duration
}

// Interval is one bucket of History, by message time.
type Interval struct {
	Start                      time.Time
	Both, ServerOnly, WireOnly uint64
}

// ServerDropRate is WireOnly / (Both + WireOnly): the share of the wire's
// messages that the server's dnstap lost in this interval.
func (iv Interval) ServerDropRate() float64 {
	if n := iv.Both + iv.WireOnly; n > 0 {
		return float64(iv.WireOnly) / float64(n)
	}
	return 0
}

// Merger pairs the server's dnstap with the sensor's frames from the wire
// and writes the result downstream (see Mode). It is an emit.Output for the
// wire frames; server frames come from a Receiver (Attach) or ServerBatch.
// All methods are safe from any goroutine; downstream outputs are written
// from whichever goroutine releases frames, one at a time.
type Merger struct {
	cfg    Config
	window int64
	now    func() int64

	mu      sync.Mutex
	tab     table
	out     []byte
	outN    uint64
	scratch []byte
	msg     Message
	skew    [skewSamples]int64
	skewN   uint64
	skewMax int64
	hist    [historyLen]Interval
	histNs  int64
	outErr  error
	closed  bool

	stats    Stats
	outStats emit.OutputStats

	recv      *Receiver
	done      chan struct{}
	recvClose sync.Once
}

var _ emit.Output = (*Merger)(nil)

// New returns a Merger with its table allocated at its size limit.
func New(cfg Config) (*Merger, error) {
	if cfg.Mode > ModeVerify {
		return nil, ErrBadMode
	}
	if cfg.Window <= 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.MaxEntries <= 0 {
		cfg.MaxEntries = DefaultMaxEntries
	}
	if cfg.MaxEntries > 1<<30 {
		return nil, fmt.Errorf("merge: max entries %d: above 2^30", cfg.MaxEntries)
	}
	if cfg.HistoryInterval <= 0 {
		cfg.HistoryInterval = DefaultHistoryInterval
	}
	m := &Merger{cfg: cfg, window: int64(cfg.Window), now: cfg.Now, histNs: int64(cfg.HistoryInterval)}
	if m.now == nil {
		m.now = func() int64 { return time.Now().UnixNano() }
	}
	m.tab.init(cfg.MaxEntries)
	m.out = make([]byte, 0, outBatchLen+emit.MaxFrameLen+4)
	m.scratch = make([]byte, 0, emit.MaxFrameLen+filledExtraLen)
	m.outStats.SetState(emit.StateUp)
	return m, nil
}

// Stats returns the Merger's accounting as an emit.Output, for the wire
// frames handed to it: each is Delivered when WriteBatch takes it (from
// then on the Merger's counters say what became of it), or Dropped with
// DropShutdown after Close. Encoded is for the caller (the Queue) to count.
// The Merger itself counts Encoded on each downstream output for the
// frames it hands that output.
func (m *Merger) Stats() *emit.OutputStats { return &m.outStats }

// Counters returns the matching counters; the pointer stays valid for the
// Merger's life.
func (m *Merger) Counters() *Stats { return &m.stats }

// WriteBatch takes a batch of the sensor's wire frames (Frame Streams data
// frames: 4-byte big-endian length, serialized dnstap.Dnstap). The batch is
// not kept. It is the emit.Output side of the Merger. It fails only after
// Close (emit.ErrClosed); downstream errors are counted (OutputErrors, and
// by each output) and the first is returned by Close.
func (m *Merger) WriteBatch(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		n := emit.CountFrames(b)
		m.outStats.AddDropped(emit.DropShutdown, n)
		return emit.ErrClosed
	}
	now := m.now()
	n := m.eachFrame(b, func(f []byte) { m.addWire(f, now) })
	m.outStats.AddDelivered(n)
	m.releaseDue(now)
	// A downstream failure is not this batch's: the downstream output
	// counted its frames, and Close returns the first such error.
	_ = m.flushOut()
	return nil
}

// ServerBatch takes a batch of the server's frames, in the same encoding
// as WriteBatch. A Receiver attached with Attach calls it; tests and other
// sources may too.
func (m *Merger) ServerBatch(b []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return emit.ErrClosed
	}
	now := m.now()
	m.eachFrame(b, func(f []byte) { m.addServer(f, now) })
	m.releaseDue(now)
	_ = m.flushOut() // counted downstream; Close returns the first error
	return nil
}

// eachFrame calls fn for every whole data frame of b.
func (m *Merger) eachFrame(b []byte, fn func([]byte)) uint64 {
	var n uint64
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		if l > len(b)-4 {
			break
		}
		fn(b[4 : 4+l])
		b = b[4+l:]
		n++
	}
	return n
}

// releaseKey is the time a frame is ordered and released by: its own
// message time, kept near its arrival so that a wrong clock neither holds
// it for ever nor releases it before its partner can come. A frame that
// arrives late (its time more than half a window past) still waits half a
// window for its partner, which may be as late.
func (m *Merger) releaseKey(msg *Message, now int64) int64 {
	if !msg.HasTime {
		return now
	}
	ts := msg.Time
	if lo := now - m.window/2; ts < lo {
		m.stats.c[Clamped].Add(1)
		return lo
	}
	if hi := now + m.window; ts > hi {
		m.stats.c[Clamped].Add(1)
		return hi
	}
	return ts
}

func (m *Merger) addServer(f []byte, now int64) {
	m.stats.c[ServerFrames].Add(1)
	msg := &m.msg
	if err := msg.Parse(f); err != nil {
		// Not matchable (another dnstap type, or not dnstap at all): it is
		// the server's, so it passes through as it came, at once.
		m.stats.c[ServerUnparsed].Add(1)
		m.appendOut(f)
		return
	}
	h := m.tab.hashOf(msg)
	ts := m.releaseKey(msg, now)
	if i, kind := m.tab.find(msg, h, true); i >= 0 {
		m.matched(kind, msg, &m.tab.slots[i].msg, ts)
		m.tab.remove(i)
		m.makeRoom(now)
		m.tab.insert(f, msg, h, ts, true, false, true)
	} else {
		m.makeRoom(now)
		m.tab.insert(f, msg, h, ts, true, true, false)
	}
	m.stats.inWindow.Store(int64(m.tab.len()))
	m.stats.c[LookupsCapped].Store(m.tab.capped)
}

func (m *Merger) addWire(f []byte, now int64) {
	m.stats.c[WireFrames].Add(1)
	msg := &m.msg
	if err := msg.Parse(f); err != nil {
		m.stats.c[WireUnparsed].Add(1)
		return
	}
	h := m.tab.hashOf(msg)
	ts := m.releaseKey(msg, now)
	if i, kind := m.tab.find(msg, h, false); i >= 0 {
		s := &m.tab.slots[i]
		m.matched(kind, &s.msg, msg, s.ts)
		s.matched = true
		m.tab.unchain(i)
		return
	}
	m.makeRoom(now)
	m.tab.insert(f, msg, h, ts, false, true, false)
	m.stats.inWindow.Store(int64(m.tab.len()))
	m.stats.c[LookupsCapped].Store(m.tab.capped)
}

// matched counts a pair and measures the skew.
func (m *Merger) matched(kind matchKind, s, w *Message, ts int64) {
	m.stats.c[Both].Add(1)
	m.stats.byKind[kind].Add(1)
	m.histAdd(ts, 0)
	if s.HasTime && w.HasTime {
		d := s.Time - w.Time
		m.skew[m.skewN%skewSamples] = d
		m.skewN++
		if abs(d) > abs(m.skewMax) {
			m.skewMax = d
		}
	}
}

func abs(d int64) int64 {
	if d < 0 {
		return -d
	}
	return d
}

// makeRoom releases the oldest entry early when the table is full.
func (m *Merger) makeRoom(now int64) {
	if m.tab.full() {
		m.stats.c[ReleasedEarly].Add(1)
		m.releaseOne()
	}
}

// releaseDue releases, oldest first, every entry whose window has ended.
func (m *Merger) releaseDue(now int64) {
	for {
		i := m.tab.min()
		if i < 0 || m.tab.slots[i].ts+m.window > now {
			break
		}
		m.releaseOne()
	}
	m.stats.inWindow.Store(int64(m.tab.len()))
	m.stats.c[LookupsCapped].Store(m.tab.capped)
}

// releaseOne writes (or only counts) the table's oldest entry and frees it.
func (m *Merger) releaseOne() {
	i := m.tab.popMin()
	e := &m.tab.slots[i]
	switch {
	case e.server:
		if !e.matched {
			m.stats.c[ServerOnly].Add(1)
			m.histAdd(e.ts, 1)
		}
		m.appendOut(e.frame)
	default:
		m.stats.c[WireOnly].Add(1)
		m.histAdd(e.ts, 2)
		if m.cfg.Mode == ModeMerge {
			if len(e.frame)+filledExtraLen > emit.MaxFrameLen {
				m.stats.c[FilledTooLarge].Add(1)
				break
			}
			m.scratch = appendFilled(m.scratch[:0], e.frame)
			m.appendOut(m.scratch)
			m.stats.c[Filled].Add(1)
		}
	}
	m.tab.release(i)
}

// histAdd counts one outcome (0 both, 1 server only, 2 wire only) in the
// History bucket of message time ts.
func (m *Merger) histAdd(ts int64, what int) {
	start := ts - ts%m.histNs
	iv := &m.hist[(ts/m.histNs)%historyLen]
	if iv.Start.UnixNano() != start || iv.Start.IsZero() {
		*iv = Interval{Start: time.Unix(0, start)}
	}
	switch what {
	case 0:
		iv.Both++
	case 1:
		iv.ServerOnly++
	default:
		iv.WireOnly++
	}
}

// appendOut adds one frame to the downstream batch, writing the batch when
// it is full.
func (m *Merger) appendOut(f []byte) {
	if len(f) == 0 || len(f) > emit.MaxFrameLen {
		return
	}
	m.out = binary.BigEndian.AppendUint32(m.out, uint32(len(f)))
	m.out = append(m.out, f...)
	m.outN++
	if len(m.out) >= outBatchLen {
		_ = m.flushOut()
	}
}

// flushOut hands the gathered frames to every downstream output. Each output
// counts its own frames; the first error is kept for Close.
func (m *Merger) flushOut() error {
	if len(m.out) == 0 {
		return nil
	}
	var first error
	for _, o := range m.cfg.Outputs {
		o.Stats().AddEncoded(m.outN)
		m.stats.c[FramesOut].Add(m.outN)
		if err := o.WriteBatch(m.out); err != nil {
			m.stats.c[OutputErrors].Add(1)
			if first == nil {
				first = err
			}
		}
	}
	m.out, m.outN = m.out[:0], 0
	if first != nil && m.outErr == nil {
		m.outErr = first
	}
	return first
}

// Tick releases what is due at the Merger's clock and hands it downstream;
// Attach's goroutine calls it, so that quiet periods still release.
func (m *Merger) Tick() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.releaseDue(m.now())
	return m.flushOut()
}

// Flush releases what is due and flushes every downstream output.
func (m *Merger) Flush() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.releaseDue(m.now())
	err := m.flushOut()
	for _, o := range m.cfg.Outputs {
		if ferr := o.Flush(); err == nil {
			err = ferr
		}
	}
	return err
}

// Skew returns the measured clock skew.
func (m *Merger) Skew() Skew {
	m.mu.Lock()
	n := min(m.skewN, skewSamples)
	s := make([]int64, n)
	copy(s, m.skew[:n])
	sk := Skew{Samples: int(n), Pairs: m.skewN, MaxAbs: time.Duration(m.skewMax)}
	m.mu.Unlock()
	if n > 0 {
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		sk.Median = time.Duration(s[n/2])
	}
	return sk
}

// History returns the filled buckets of the last historyLen intervals, by
// message time, oldest first: the server's drop rate over time.
func (m *Merger) History() []Interval {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]Interval, 0, historyLen)
	for _, iv := range m.hist {
		if !iv.Start.IsZero() {
			out = append(out, iv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Start.Before(out[j].Start) })
	return out
}

// Attach makes the Merger take r's frames: a goroutine moves r's batches
// into ServerBatch and calls Tick every tickInterval. Close closes r. Call
// it once, before the Merger is used from other goroutines.
func (m *Merger) Attach(r *Receiver) {
	m.recv = r
	m.done = make(chan struct{})
	go m.pump(r)
}

// tickInterval: releases happen at least this often, which bounds how far
// past its window a frame waits under no traffic.
const tickInterval = 100 * time.Millisecond

func (m *Merger) pump(r *Receiver) {
	defer close(m.done)
	t := time.NewTicker(tickInterval)
	defer t.Stop()
	for {
		select {
		case b, ok := <-r.full:
			if !ok {
				return
			}
			_ = m.ServerBatch(b)
			r.recycle(b)
		case <-t.C:
			_ = m.Tick()
		}
	}
}

// Close ends the run: it closes the attached Receiver and takes what it had
// queued, releases every frame still waiting (in time order, without
// waiting for the window), and flushes and closes the downstream outputs.
// It returns the first downstream error. A second Close returns nil.
func (m *Merger) Close() error {
	m.recvClose.Do(func() {
		if m.recv != nil {
			m.recv.Close()
			<-m.done
		}
	})
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	for m.tab.min() >= 0 {
		m.releaseOne()
	}
	m.stats.inWindow.Store(0)
	_ = m.flushOut()
	m.closed = true
	err := m.outErr
	for _, o := range m.cfg.Outputs {
		if ferr := o.Flush(); err == nil {
			err = ferr
		}
		if cerr := o.Close(); err == nil {
			err = cerr
		}
	}
	m.outStats.SetState(emit.StateClosed)
	return err
}
