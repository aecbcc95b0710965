package emit

import "time"

// SocketConfig tunes a SocketWriter. Zero values select the defaults.
type SocketConfig struct {
	DialTimeout  time.Duration // per attempt (default 2 s)
	MinBackoff   time.Duration // first redial delay (default 100 ms)
	MaxBackoff   time.Duration // cap of the doubling delay (default 30 s)
	WriteTimeout time.Duration // a stuck receiver counts as an error (default 5 s)
}

// SocketWriter is a BatchWriter to a dnstap receiver on a unix or TCP socket,
// with the bidirectional Frame Streams handshake (READY, ACCEPT, START …
// STOP, FINISH). It redials with capped exponential backoff; batches written
// while it is down are dropped and counted. Use it behind a Queue, so that
// dialing only ever blocks the Queue's writer goroutine.
type SocketWriter struct {
	network, addr string
	cfg           SocketConfig
}

// NewSocketWriter returns a writer to network ("unix" or "tcp") and addr. It
// connects lazily, on the first batch.
func NewSocketWriter(network, addr string, cfg SocketConfig) *SocketWriter {
	return &SocketWriter{network: network, addr: addr, cfg: cfg}
}

// WriteBatch writes b, (re)connecting first if the backoff allows.
func (s *SocketWriter) WriteBatch(b []byte) error { return nil }

// Flush flushes the connection's buffer.
func (s *SocketWriter) Flush() error { return nil }

// Close sends STOP, waits for FINISH (bounded) and closes the connection.
func (s *SocketWriter) Close() error { return nil }

// Each calls fn for the socket's counters (connects, disconnects, frames
// dropped while down).
func (s *SocketWriter) Each(fn func(name string, v uint64)) {}
