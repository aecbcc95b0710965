//go:build linux

package capture

import (
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"golang.org/x/sys/unix"
)

// Default bounds of the wait between attempts to open a socket again.
const (
	DefaultMinBackoff = 20 * time.Millisecond
	DefaultMaxBackoff = time.Second
	// supervisorEventQueue holds events the caller has not read yet.
	supervisorEventQueue = 32
)

// SupervisorConfig describes one worker's capture on one interface.
type SupervisorConfig struct {
	// Live is the socket to keep open.
	Live LiveConfig
	// Worker is the worker's number, reported in events.
	Worker int
	// MinBackoff and MaxBackoff bound the wait between failed attempts to
	// open the socket; it doubles after each failure. 0 means
	// DefaultMinBackoff and DefaultMaxBackoff.
	MinBackoff, MaxBackoff time.Duration
}

// SupervisorEventKind says what happened to a Supervisor's socket.
type SupervisorEventKind uint8

// Kinds of SupervisorEvent.
const (
	// SocketOpened: a socket is open; Gap is the time without one (0 the
	// first time).
	SocketOpened SupervisorEventKind = iota + 1
	// SocketLost: the socket failed (Err says why) and was closed.
	SocketLost
	// OpenFailed: an attempt to open failed with a new error; repeated
	// failures with the same error are counted, not reported.
	OpenFailed
)

// String returns the kind as words for log lines.
func (k SupervisorEventKind) String() string {
	switch k {
	case SocketOpened:
		return "capture socket opened"
	case SocketLost:
		return "capture socket lost"
	case OpenFailed:
		return "capture socket cannot open"
	}
	return "unknown"
}

// SupervisorEvent is one change of a Supervisor's socket, for the caller
// to log.
type SupervisorEvent struct {
	Kind      SupervisorEventKind
	Interface string
	Worker    int
	IfIndex   int           // of the new socket, for SocketOpened
	Gap       time.Duration // time without a socket, for SocketOpened
	Err       error         // for SocketLost and OpenFailed
}

// String formats the event for a log line.
func (e SupervisorEvent) String() string {
	switch e.Kind {
	case SocketOpened:
		return fmt.Sprintf("%s worker %d: %s (ifindex %d) after %v", e.Interface, e.Worker, e.Kind, e.IfIndex, e.Gap)
	default:
		return fmt.Sprintf("%s worker %d: %s: %v", e.Interface, e.Worker, e.Kind, e.Err)
	}
}

// SupervisorStats counts a Supervisor's work since it was created.
type SupervisorStats struct {
	// Kernel sums the kernel statistics of every socket it had.
	Kernel KernelStats
	// Open says whether a socket is open now.
	Open bool
	// Reopens counts sockets opened after a loss.
	Reopens uint64
	// OpenErrors counts failed attempts to open.
	OpenErrors uint64
	// Gap is the total time without a socket after the first one was
	// opened, including the current gap. Frames that crossed the interface
	// during a gap were not captured.
	Gap time.Duration
}

// Supervisor keeps one worker's AF_PACKET socket on one interface open: it
// waits for an interface that does not exist yet or is down, and when the
// socket fails (interface set down, deleted, re-created with a new index)
// it closes it and opens a new one with bounded exponential backoff. The
// worker loop sees only frames and ErrTimeout.
//
// Next and Close belong to the worker goroutine; Stats and Events may be
// used from any goroutine.
type Supervisor struct {
	cfg        SupervisorConfig
	src        *LiveSource // written under mu by the worker; read by the worker without mu
	backoff    time.Duration
	nextTry    time.Time
	lastErrMsg string
	events     chan SupervisorEvent

	mu         sync.Mutex
	kernel     KernelStats // of closed sockets
	reopens    uint64
	openErrors uint64
	dropped    uint64 // events not queued
	gap        time.Duration
	downSince  time.Time // zero while open or before the first open
	closed     bool
}

// NewSupervisor checks the configuration and tries to open the socket
// once. It fails only for errors that retrying cannot fix (bad
// configuration, no permission); a missing or down interface is waited for
// by Next.
func NewSupervisor(cfg SupervisorConfig) (*Supervisor, error) {
	if err := cfg.Live.setDefaults(); err != nil {
		return nil, err
	}
	if cfg.MinBackoff <= 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = max(DefaultMaxBackoff, cfg.MinBackoff)
	}
	s := &Supervisor{cfg: cfg, backoff: cfg.MinBackoff, events: make(chan SupervisorEvent, supervisorEventQueue)}
	if err := s.tryOpen(time.Now()); err != nil {
		return nil, err
	}
	return s, nil
}

// permanent reports whether an open error cannot go away by waiting.
func permanent(err error) bool {
	return errors.Is(err, errLinkType) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) ||
		errors.Is(err, unix.EAFNOSUPPORT) || errors.Is(err, unix.EPROTONOSUPPORT)
}

// Next fills f with the next frame, as LiveSource.Next does (f.Data is
// valid until the next call). It returns ErrTimeout when no frame came
// within the poll timeout, and also while there is no socket (it then
// waits up to the poll timeout before returning, so the caller never
// spins). Other errors are permanent: ErrClosed, or an open error such
// as EPERM. It does not allocate while the socket is healthy.
func (s *Supervisor) Next(f *packet.Frame) error {
	if src := s.src; src != nil {
		err := src.Next(f)
		if err == nil || err == ErrTimeout {
			return err
		}
		s.lose(err)
		return ErrTimeout
	}
	if s.closed {
		return ErrClosed
	}
	now := time.Now()
	if wait := s.nextTry.Sub(now); wait > 0 {
		time.Sleep(min(wait, s.cfg.Live.PollTimeout))
		return ErrTimeout
	}
	if err := s.tryOpen(now); err != nil {
		return err
	}
	return ErrTimeout
}

// tryOpen makes one attempt to open the socket; it returns only permanent
// errors and schedules the next attempt after others.
func (s *Supervisor) tryOpen(now time.Time) error {
	src, err := OpenLive(s.cfg.Live)
	if err != nil {
		if permanent(err) {
			return err
		}
		s.mu.Lock()
		s.openErrors++
		s.mu.Unlock()
		if msg := err.Error(); msg != s.lastErrMsg {
			s.lastErrMsg = msg
			s.emit(SupervisorEvent{Kind: OpenFailed, Err: err})
		}
		s.nextTry = now.Add(s.backoff)
		s.backoff = min(2*s.backoff, s.cfg.MaxBackoff)
		return nil
	}
	var gap time.Duration
	s.mu.Lock()
	s.src = src
	if !s.downSince.IsZero() {
		gap = time.Since(s.downSince)
		s.gap += gap
		s.reopens++
		s.downSince = time.Time{}
	}
	s.mu.Unlock()
	s.backoff = s.cfg.MinBackoff
	s.lastErrMsg = ""
	s.emit(SupervisorEvent{Kind: SocketOpened, IfIndex: src.IfIndex(), Gap: gap})
	return nil
}

// lose closes a failed socket and starts counting the gap.
func (s *Supervisor) lose(cause error) {
	src := s.src
	_ = src.Close() // the socket is dead; its final statistics are what matters
	s.mu.Lock()
	s.kernel = s.kernel.Add(src.KernelStats())
	s.src = nil
	s.downSince = time.Now()
	s.mu.Unlock()
	s.nextTry = time.Time{}
	s.emit(SupervisorEvent{Kind: SocketLost, Err: cause})
}

func (s *Supervisor) emit(ev SupervisorEvent) {
	ev.Interface, ev.Worker = s.cfg.Live.Interface, s.cfg.Worker
	select {
	case s.events <- ev:
	default:
		s.mu.Lock()
		s.dropped++
		s.mu.Unlock()
	}
}

// Events returns the socket changes for the caller to log, each once.
// Events that find the channel full are dropped and counted by
// DroppedEvents. The channel is never closed.
func (s *Supervisor) Events() <-chan SupervisorEvent { return s.events }

// DroppedEvents returns how many events found Events full.
func (s *Supervisor) DroppedEvents() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dropped
}

// Stats returns the counters; safe from any goroutine.
func (s *Supervisor) Stats() SupervisorStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := SupervisorStats{Kernel: s.kernel, Open: s.src != nil, Reopens: s.reopens, OpenErrors: s.openErrors, Gap: s.gap}
	if s.src != nil {
		st.Kernel = st.Kernel.Add(s.src.KernelStats())
	}
	if !s.downSince.IsZero() {
		st.Gap += time.Since(s.downSince)
	}
	return st
}

// Close closes the socket. Next returns ErrClosed afterwards.
func (s *Supervisor) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	src := s.src
	if src == nil {
		return nil
	}
	err := src.Close()
	s.kernel = s.kernel.Add(src.KernelStats())
	s.src = nil
	s.downSince = time.Time{}
	return err
}
