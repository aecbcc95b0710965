package emit

import (
	"bufio"
	"errors"
	"fmt"
	"net"
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
