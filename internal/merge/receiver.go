package merge

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// Receiver defaults; see ReceiverConfig.
const (
	// DefaultReceiverBatches × DefaultReceiverBatchSize (16 MiB) is what the
	// receiver holds while the Merger is busy: at 100,000 frames/s of 250
	// bytes, over half a second. Past that it drops rather than stop
	// reading, since a server whose socket fills drops in its own queue,
	// uncounted by us, which is the loss this package exists to fix.
	DefaultReceiverBatches   = 64
	DefaultReceiverBatchSize = 256 << 10
	// DefaultMaxConns bounds the server connections at once: BIND opens one
	// per worker thread, Unbound one per thread; 256 leaves room for
	// several servers on one socket.
	DefaultMaxConns = 256
	// handshakeTimeout bounds how long a connection may take to send READY:
	// a peer that connects and says nothing holds no goroutine for ever.
	handshakeTimeout = 10 * time.Second
	// MaxServerFrameLen is the largest server frame accepted; larger ones
	// are refused and counted (emit.MaxFrameLen: every dnstap reader stops
	// there). Frames up to the reader's own limit (256 KiB) are read and
	// skipped without closing the connection; beyond it, the stream cannot
	// be trusted and is closed.
	MaxServerFrameLen = emit.MaxFrameLen
)

// ReceiverConfig configures a Receiver; zero values select the defaults.
type ReceiverConfig struct {
	// Batches and BatchSize size the bounded queue between the connections
	// and the Merger.
	Batches, BatchSize int
	// MaxConns bounds simultaneous connections; more are refused, counted.
	MaxConns int
	// SocketMode is the unix socket's permission bits (default 0660).
	SocketMode os.FileMode
	// SocketGroup, when set, is the unix socket's group (a name or a
	// number): the server's, e.g. "bind", so that named, which drops to
	// its own user, may connect to a socket the sensor created as root.
	SocketGroup string
	// Logf writes one line per connection event (connected, closed, refused,
	// bad stream); nil means log.Printf.
	Logf func(format string, args ...any)
}

// ReceiverCounter identifies one of the Receiver's counters.
type ReceiverCounter uint8

// The Receiver's counters.
const (
	Connections      ReceiverCounter = iota // connections accepted
	Reconnects                              // connections after the first
	ConnsRefused                            // refused: MaxConns reached
	ConnsClean                              // ended with STOP (FINISH sent)
	ConnsCut                                // ended without STOP (EOF, reset)
	ContentTypeWrong                        // refused in the handshake: READY without protobuf:dnstap.Dnstap
	StreamGarbage                           // closed: not Frame Streams (bad control frame, data before START, frame over 256 KiB)
	FramesIn                                // data frames read
	FramesQueued                            // data frames handed to the Merger
	FramesQueueFull                         // data frames dropped: the Merger fell behind
	FramesTooLarge                          // data frames over MaxServerFrameLen, refused
	numReceiverCounters
)

var receiverCounterNames = [numReceiverCounters]string{
	"connections", "reconnects", "connections_refused", "connections_clean", "connections_cut",
	"content_type_wrong", "stream_garbage", "frames_in", "frames_queued",
	"frames_dropped_queue_full", "frames_dropped_too_large",
}

// String returns the counter's stable name.
func (c ReceiverCounter) String() string {
	if c < numReceiverCounters {
		return receiverCounterNames[c]
	}
	return "unknown"
}

// ReceiverStats are a Receiver's counters, safe from any goroutine.
type ReceiverStats struct {
	c      [numReceiverCounters]atomic.Uint64
	active atomic.Int64
}

// Get returns one counter.
func (s *ReceiverStats) Get(c ReceiverCounter) uint64 { return s.c[c].Load() }

// Active is the number of server connections open now.
func (s *ReceiverStats) Active() int64 { return s.active.Load() }

// Each calls fn for every counter with its stable name.
func (s *ReceiverStats) Each(fn func(name string, v uint64)) {
	for i := range s.c {
		fn(receiverCounterNames[i], s.c[i].Load())
	}
}

// Receiver is a Frame Streams server for a DNS server's dnstap: it accepts
// connections on its listeners, does the bidirectional handshake
// (READY→ACCEPT→START … STOP→FINISH) with content type
// protobuf:dnstap.Dnstap, and copies data frames into a bounded queue of
// batches that a Merger takes (Attach). A connection's reader never waits
// for the Merger: when no batch buffer is free it drops, counted.
type Receiver struct {
	cfg   ReceiverConfig
	full  chan []byte
	free  chan []byte
	stats ReceiverStats

	mu        sync.Mutex
	listeners []net.Listener
	conns     map[net.Conn]*connState
	stopFlush chan struct{}
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewReceiver returns a Receiver with its queue allocated; add listeners
// with Listen.
func NewReceiver(cfg ReceiverConfig) *Receiver {
	if cfg.Batches <= 0 {
		cfg.Batches = DefaultReceiverBatches
	}
	if cfg.BatchSize < 2*(emit.MaxFrameLen+4) {
		cfg.BatchSize = DefaultReceiverBatchSize
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.SocketMode == 0 {
		cfg.SocketMode = 0o660
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	r := &Receiver{
		cfg: cfg,
		// Both channels hold every buffer there is, so a send never blocks.
		full:      make(chan []byte, cfg.Batches),
		free:      make(chan []byte, cfg.Batches),
		conns:     map[net.Conn]*connState{},
		stopFlush: make(chan struct{}),
	}
	for i := 0; i < cfg.Batches; i++ {
		r.free <- make([]byte, 0, cfg.BatchSize)
	}
	go r.flushLoop()
	return r
}

// flushInterval is how often partial batches go to the Merger, which bounds
// how long a frame of a quiet server waits in the receiver. Handing a batch
// over at every read instead would, under load, spread the frames over many
// small batches and run out of buffers: measured here, 2,220 of Unbound's
// frames dropped so.
const flushInterval = 100 * time.Millisecond

func (r *Receiver) flushLoop() {
	t := time.NewTicker(flushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			r.mu.Lock()
			for _, st := range r.conns {
				st.mu.Lock()
				st.handOver()
				st.mu.Unlock()
			}
			r.mu.Unlock()
		case <-r.stopFlush:
			return
		}
	}
}

// Stats returns the Receiver's counters.
func (r *Receiver) Stats() *ReceiverStats { return &r.stats }

// ErrEndpoint is returned by ParseEndpoint for anything but unix:PATH or
// tcp:HOST:PORT.
var ErrEndpoint = errors.New("merge: server dnstap endpoint must be unix:PATH or tcp:HOST:PORT")

// ParseEndpoint splits a --server-dnstap value into a network ("unix" or
// "tcp") and an address.
func ParseEndpoint(s string) (network, addr string, err error) {
	network, addr, ok := strings.Cut(s, ":")
	if !ok || addr == "" || (network != "unix" && network != "tcp") {
		return "", "", ErrEndpoint
	}
	if network == "tcp" {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return "", "", ErrEndpoint
		}
	}
	return network, addr, nil
}

// Listen starts accepting on endpoint (unix:PATH or tcp:HOST:PORT). A unix
// socket left by an earlier run is replaced; any other file there is an
// error. It returns the listener's address (the port chosen for tcp:…:0).
func (r *Receiver) Listen(endpoint string) (net.Addr, error) {
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	if network == "unix" {
		if fi, err := os.Lstat(addr); err == nil {
			if fi.Mode()&os.ModeSocket == 0 {
				return nil, fmt.Errorf("merge: listen %s: exists and is not a socket", addr)
			}
			if err := os.Remove(addr); err != nil {
				return nil, fmt.Errorf("merge: listen %s: %w", addr, err)
			}
		}
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		return nil, fmt.Errorf("merge: listen %s: %w", endpoint, err)
	}
	if network == "unix" {
		if err := r.socketPerms(addr); err != nil {
			ln.Close()
			return nil, fmt.Errorf("merge: listen %s: %w", endpoint, err)
		}
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		ln.Close()
		return nil, emit.ErrClosed
	}
	r.listeners = append(r.listeners, ln)
	r.wg.Add(1)
	r.mu.Unlock()
	go r.accept(ln)
	return ln.Addr(), nil
}

// socketPerms sets the unix socket's mode and group.
func (r *Receiver) socketPerms(path string) error {
	if g := r.cfg.SocketGroup; g != "" {
		gid, err := strconv.Atoi(g)
		if err != nil {
			grp, lerr := user.LookupGroup(g)
			if lerr != nil {
				return lerr
			}
			if gid, err = strconv.Atoi(grp.Gid); err != nil {
				return err
			}
		}
		if err := os.Chown(path, -1, gid); err != nil {
			return err
		}
	}
	return os.Chmod(path, r.cfg.SocketMode)
}

func (r *Receiver) accept(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait rather than spin.
			r.cfg.Logf("merge: accept on %s: %v", ln.Addr(), err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		r.mu.Lock()
		if r.closed || len(r.conns) >= r.cfg.MaxConns {
			closed := r.closed
			r.mu.Unlock()
			c.Close()
			if !closed {
				r.stats.c[ConnsRefused].Add(1)
				r.cfg.Logf("merge: server dnstap connection from %s refused: %d connections already", peer(c), r.cfg.MaxConns)
			}
			continue
		}
		st := &connState{r: r}
		r.conns[c] = st
		r.wg.Add(1)
		r.mu.Unlock()
		if r.stats.c[Connections].Add(1) > 1 {
			r.stats.c[Reconnects].Add(1)
		}
		r.stats.active.Add(1)
		go r.serve(c, st)
	}
}

// peer names a connection's far end for a log line (unix peers have none).
func peer(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil && a.String() != "" && a.String() != "@" {
		return a.String()
	}
	return "unix socket " + c.LocalAddr().String()
}

// connState is a connection's batch in progress. Its reader fills it; the
// receiver's flush loop hands it over when it has waited flushInterval.
type connState struct {
	r   *Receiver
	mu  sync.Mutex
	cur []byte
}

// add copies one frame (with its length) into the connection's batch.
func (s *connState) add(f []byte) {
	r := s.r
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cur == nil {
		select {
		case s.cur = <-r.free:
		default:
			r.stats.c[FramesQueueFull].Add(1)
			return
		}
	}
	s.cur = append(s.cur, byte(len(f)>>24), byte(len(f)>>16), byte(len(f)>>8), byte(len(f)))
	s.cur = append(s.cur, f...)
	r.stats.c[FramesQueued].Add(1)
	if len(s.cur) > cap(s.cur)-(emit.MaxFrameLen+4) {
		s.handOver()
	}
}

// handOver sends the batch to the Merger; the caller holds s.mu.
func (s *connState) handOver() {
	if len(s.cur) == 0 {
		return
	}
	select {
	case s.r.full <- s.cur:
	default:
		// Cannot happen (the channel holds every buffer), but never block.
		s.r.stats.c[FramesQueueFull].Add(emit.CountFrames(s.cur))
		s.r.stats.c[FramesQueued].Add(^(emit.CountFrames(s.cur) - 1))
	}
	s.cur = nil
}

// recycle returns a batch buffer the Merger is done with.
func (r *Receiver) recycle(b []byte) {
	select {
	case r.free <- b[:0]:
	default:
	}
}

func (r *Receiver) serve(c net.Conn, st *connState) {
	defer r.wg.Done()
	from := peer(c)
	defer func() {
		c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
		st.mu.Lock()
		st.handOver()
		st.mu.Unlock()
		r.stats.active.Add(-1)
	}()
	_ = c.SetReadDeadline(time.Now().Add(handshakeTimeout))
	fr, err := emit.NewBidiFrameReader(c)
	if err != nil {
		r.streamError(from, "handshake", err)
		return
	}
	_ = c.SetReadDeadline(time.Time{})
	r.cfg.Logf("merge: server dnstap connected from %s", from)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) && fr.Stopped() {
				r.stats.c[ConnsClean].Add(1)
				r.cfg.Logf("merge: server dnstap from %s stopped", from)
				return
			}
			r.streamError(from, "read", err)
			return
		}
		r.stats.c[FramesIn].Add(1)
		if len(f) > MaxServerFrameLen {
			r.stats.c[FramesTooLarge].Add(1)
			continue
		}
		st.add(f)
	}
}

// streamError counts and logs, once, why a connection ended.
func (r *Receiver) streamError(from, op string, err error) {
	switch {
	case errors.Is(err, emit.ErrContentType):
		r.stats.c[ContentTypeWrong].Add(1)
		r.cfg.Logf("merge: server dnstap from %s: %s: content type is not %s; closed", from, op, emit.ContentType)
	case errors.Is(err, emit.ErrBadControl), errors.Is(err, emit.ErrNoStart), errors.Is(err, emit.ErrFrameTooLarge):
		r.stats.c[StreamGarbage].Add(1)
		r.cfg.Logf("merge: server dnstap from %s: %s: not a Frame Streams stream (%v); closed", from, op, err)
	case errors.Is(err, net.ErrClosed) && r.isClosed():
		r.stats.c[ConnsCut].Add(1)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		r.stats.c[ConnsCut].Add(1)
		r.cfg.Logf("merge: server dnstap from %s: ended without STOP (server stopped or connection lost); it reconnects on its own", from)
	default:
		r.stats.c[ConnsCut].Add(1)
		r.cfg.Logf("merge: server dnstap from %s: %s: %v; closed", from, op, err)
	}
}

func (r *Receiver) isClosed() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.closed
}

// Close stops the listeners and the connections, and then closes the
// queue: a Merger attached to it takes what was queued and stops taking.
// Connections are closed without STOP; a server reconnects to the next run.
func (r *Receiver) Close() {
	r.closeOnce.Do(func() {
		r.mu.Lock()
		r.closed = true
		for _, ln := range r.listeners {
			ln.Close()
		}
		for c := range r.conns {
			c.Close()
		}
		r.mu.Unlock()
		r.wg.Wait()
		close(r.stopFlush)
		close(r.full)
	})
}
