package emit

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"time"

	framestream "github.com/farsightsec/golang-framestream"
)

// SocketConfig tunes the connections of a SocketWriter or SocketOutput.
// Zero values select the defaults.
type SocketConfig struct {
	DialTimeout time.Duration // per attempt: connect, TLS and Frame Streams handshakes (default 2 s)
	MinBackoff  time.Duration // first redial delay (default 100 ms)
	// MaxBackoff caps the doubling redial delay (default 5 s). It is also
	// the longest a receiver that is back waits before it is used again:
	// with a 30 s cap, a 20 s outage cost 10 s more of frames. A redial
	// attempt every 5 s per receiver (jittered) costs nothing measurable,
	// and a spool, not a longer cap, is what saves the frames of an outage.
	MaxBackoff time.Duration
	// WriteTimeout: a receiver that takes less than 64 KiB (SocketOutput)
	// or a whole batch (SocketWriter) in this long is dropped (default 5 s).
	WriteTimeout time.Duration
	// SendBuffer is the kernel send buffer (SO_SNDBUF) of each connection
	// (default 128 KiB; negative keeps the system's). Frame Streams has no
	// acknowledgements, so what sits in this buffer when a receiver dies
	// is lost: a small buffer keeps that window small. 128 KiB still
	// carries ~100 Mbit/s at a 10 ms round trip.
	SendBuffer int
}

// Socket defaults; see SocketConfig.
const (
	DefaultDialTimeout  = 2 * time.Second
	DefaultMinBackoff   = 100 * time.Millisecond
	DefaultMaxBackoff   = 5 * time.Second
	DefaultWriteTimeout = 5 * time.Second
	DefaultSendBuffer   = 128 << 10
)

func (c SocketConfig) withDefaults() SocketConfig {
	if c.DialTimeout <= 0 {
		c.DialTimeout = DefaultDialTimeout
	}
	if c.MinBackoff <= 0 {
		c.MinBackoff = DefaultMinBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = max(DefaultMaxBackoff, c.MinBackoff)
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.SendBuffer == 0 {
		c.SendBuffer = DefaultSendBuffer
	}
	return c
}

// ErrNotConnected is returned by WriteBatch when no receiver could take
// (part of) the batch and there is no spool: those frames are dropped and
// counted (SocketOutput: as DropDisconnected).
var ErrNotConnected = errors.New("emit: dnstap socket not connected")

const (
	scConnects = iota
	scDialFailures
	scDisconnects
	scBatchesDropped
	scBytesWritten
	numSocketCounters
)

var socketCounterNames = [numSocketCounters]string{
	"socket_connects", "socket_dial_failures", "socket_disconnects",
	"socket_batches_dropped_down", "socket_bytes_written",
}

// SocketWriter is a BatchWriter to a dnstap receiver on a unix or TCP socket,
// with the bidirectional Frame Streams handshake (READY, ACCEPT, START …
// STOP, FINISH), done with golang-framestream's control frames. It redials
// with capped exponential backoff; batches written while it is down are
// dropped and counted (the Queue counts their frames as write failures).
// It belongs to the Queue's writer goroutine, so dialing and slow receivers
// block only that goroutine, never capture. golang-dnstap's own socket
// output is not used: v0.4.0 blocks its caller and never redials.
type SocketWriter struct {
	network, addr string
	cfg           SocketConfig
	conn          net.Conn
	br            *bufio.Reader
	backoff       time.Duration
	nextDial      time.Time
	now           func() time.Time // tests replace the clock that drives backoff
	stats         [numSocketCounters]atomic.Uint64
}

// NewSocketWriter returns a writer to network ("unix" or "tcp") and addr. It
// connects lazily, on the first batch.
func NewSocketWriter(network, addr string, cfg SocketConfig) *SocketWriter {
	cfg = cfg.withDefaults()
	return &SocketWriter{network: network, addr: addr, cfg: cfg, backoff: cfg.MinBackoff, now: time.Now}
}

var contentTypes = [][]byte{[]byte(ContentType)}

// handshake is the sender's side: READY(ct) → ACCEPT(ct) → START(ct).
func handshake(c net.Conn, br *bufio.Reader, deadline time.Time) error {
	if err := c.SetDeadline(deadline); err != nil {
		return err
	}
	ready := framestream.ControlFrame{ControlType: framestream.CONTROL_READY, ContentTypes: contentTypes}
	if err := ready.Encode(c); err != nil {
		return err
	}
	var accept framestream.ControlFrame
	if err := accept.DecodeTypeEscape(br, framestream.CONTROL_ACCEPT); err != nil {
		return fmt.Errorf("ACCEPT: %w", err)
	}
	if !accept.MatchContentType(contentTypes[0]) {
		return ErrContentType
	}
	start := framestream.ControlFrame{ControlType: framestream.CONTROL_START, ContentTypes: contentTypes}
	if err := start.Encode(c); err != nil {
		return err
	}
	return c.SetDeadline(time.Time{})
}

func (s *SocketWriter) connect() error {
	now := s.now()
	if now.Before(s.nextDial) {
		return ErrNotConnected
	}
	c, err := net.DialTimeout(s.network, s.addr, s.cfg.DialTimeout)
	if err == nil {
		br := bufio.NewReaderSize(c, 1024)
		if err = handshake(c, br, time.Now().Add(s.cfg.DialTimeout)); err == nil {
			s.conn, s.br = c, br
			s.backoff = s.cfg.MinBackoff
			s.stats[scConnects].Add(1)
			return nil
		}
		c.Close()
	}
	s.stats[scDialFailures].Add(1)
	s.nextDial = now.Add(s.backoff)
	s.backoff = min(2*s.backoff, s.cfg.MaxBackoff)
	return fmt.Errorf("emit: dnstap %s %s: %w", s.network, s.addr, err)
}

func (s *SocketWriter) disconnect() {
	s.conn.Close()
	s.conn, s.br = nil, nil
	s.stats[scDisconnects].Add(1)
	s.nextDial = s.now().Add(s.backoff)
	s.backoff = min(2*s.backoff, s.cfg.MaxBackoff)
}

// WriteBatch writes b, (re)connecting first if the backoff allows.
func (s *SocketWriter) WriteBatch(b []byte) error {
	if s.conn == nil {
		if err := s.connect(); err != nil {
			s.stats[scBatchesDropped].Add(1)
			return err
		}
	}
	if err := s.conn.SetWriteDeadline(time.Now().Add(s.cfg.WriteTimeout)); err != nil {
		s.disconnect()
		s.stats[scBatchesDropped].Add(1)
		return err
	}
	n, err := s.conn.Write(b)
	s.stats[scBytesWritten].Add(uint64(n))
	if err != nil {
		// A partial frame cannot be resumed on a new connection: the
		// receiver sees the cut stream end, and the next one starts clean.
		s.disconnect()
		s.stats[scBatchesDropped].Add(1)
		return err
	}
	return nil
}

// Flush is a no-op: WriteBatch writes each batch to the socket at once.
func (s *SocketWriter) Flush() error { return nil }

// Close sends STOP, waits (bounded by WriteTimeout) for FINISH and closes
// the connection.
func (s *SocketWriter) Close() error {
	if s.conn == nil {
		return nil
	}
	c := s.conn
	s.conn = nil
	err := c.SetDeadline(time.Now().Add(s.cfg.WriteTimeout))
	if err == nil {
		stop := framestream.ControlFrame{ControlType: framestream.CONTROL_STOP}
		err = stop.Encode(c)
	}
	if err == nil {
		var finish framestream.ControlFrame
		if ferr := finish.DecodeTypeEscape(s.br, framestream.CONTROL_FINISH); ferr != nil {
			err = fmt.Errorf("FINISH: %w", ferr)
		}
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("emit: close dnstap %s %s: %w", s.network, s.addr, err)
	}
	return nil
}

// Each calls fn for the socket's counters.
func (s *SocketWriter) Each(fn func(name string, v uint64)) {
	for i := range s.stats {
		fn(socketCounterNames[i], s.stats[i].Load())
	}
}
