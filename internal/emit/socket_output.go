package emit

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
	framestream "github.com/farsightsec/golang-framestream"
)

// Endpoint is one dnstap receiver: Network "unix" with a socket path, or
// "tcp" with host:port.
type Endpoint struct{ Network, Addr string }

func (e Endpoint) String() string { return e.Network + " " + e.Addr }

// Balance is how a SocketOutput with several receivers spreads batches.
type Balance uint8

const (
	// BalanceFailover sends everything to the first receiver in the list
	// that is up; when it fails the next takes the stream, and the first
	// takes it back once a redial succeeds.
	BalanceFailover Balance = iota
	// BalanceRoundRobin sends each batch to the next receiver that is up.
	BalanceRoundRobin
)

// SocketOutputConfig configures a SocketOutput.
type SocketOutputConfig struct {
	Endpoints []Endpoint
	Balance   Balance
	// TLS, when not nil, is used for every tcp endpoint (see
	// LoadTLSConfig); an empty ServerName means the endpoint's host.
	TLS *tls.Config
	// SpoolDir, when set, holds batches no receiver could take, sent in
	// order before live frames once one is back; SpoolMax bounds its
	// size in bytes (default DefaultSpoolMax).
	SpoolDir string
	SpoolMax int64
	Socket   SocketConfig
	// Logf, when set, gets one line each time a receiver's condition
	// changes (down with the reason, up again) and when the output starts
	// spooling or dropping; never one per batch.
	Logf func(format string, args ...any)

	// Now and Seed make backoff and jitter reproducible in tests (default
	// time.Now and a random seed).
	Now  func() time.Time
	Seed uint64
}

// Extra counters of a SocketOutput, beside its OutputStats.
const (
	soConnects       = iota // successful connections, first ones included
	soDialFailures          // dial, TLS or Frame Streams handshake failed
	soDisconnects           // an established connection failed
	soWriteTimeouts         // of which: the receiver took nothing for WriteTimeout
	soFailovers             // the rest of a batch moved to another receiver
	soBytesWritten          // bytes handed to sockets
	soInFlightBytes         // estimate: bytes in a socket buffer when its receiver died
	soInFlightFrames        // the same, in frames (by the batch's average frame size)
	soSpoolResumed          // frames found in the spool at start
	soSpoolFrames           // gauge: frames in the spool now
	soSpoolBytes            // gauge: bytes in the spool now
	numSocketOutputCounters
)

var socketOutputCounterNames = [numSocketOutputCounters]string{
	"socket_connects", "socket_dial_failures", "socket_disconnects",
	"socket_write_timeouts", "socket_failovers", "socket_bytes_written",
	"socket_inflight_lost_bytes_estimate", "socket_inflight_lost_frames_estimate",
	"spool_resumed_frames", "spool_frames", "spool_bytes",
}

// condition is why a receiver is down, so that each change is logged once.
type condition uint8

const (
	condUp condition = iota
	condDial
	condTLS
	condHandshake
	condContentType
	condSlow
	condWrite
)

// receiver is one endpoint's connection and backoff.
type receiver struct {
	ep       Endpoint
	conn     net.Conn // nil while down
	raw      net.Conn // the socket under TLS, for SIOCOUTQ
	br       *bufio.Reader
	backoff  time.Duration
	nextDial time.Time
	everUp   bool
	cond     condition
	outq     uint64 // kernel-held bytes after the last successful write

	// sentBytes and sentFrames count what this connection took; marks
	// holds their values after each of the last writes, so that the bytes
	// the kernel still held when the receiver died map to whole frames
	// (rounded up to a batch) without keeping the batches.
	sentBytes, sentFrames uint64
	marks                 [16][2]uint64
	nmarks                int
}

// mark records the totals after a write.
func (r *receiver) mark() {
	r.marks[r.nmarks%len(r.marks)] = [2]uint64{r.sentBytes, r.sentFrames}
	r.nmarks++
}

// framesAfter returns how many frames this connection took after its
// first pos bytes, rounded up to the write that held byte pos (or to the
// oldest write remembered).
func (r *receiver) framesAfter(pos uint64) uint64 {
	base := uint64(0)
	for i := max(0, r.nmarks-len(r.marks)); i < r.nmarks; i++ {
		m := r.marks[i%len(r.marks)]
		if m[0] > pos {
			break
		}
		base = m[1]
	}
	if i := r.nmarks - len(r.marks); i > 0 && r.marks[i%len(r.marks)][0] > pos {
		base = r.marks[i%len(r.marks)][1]
	}
	return r.sentFrames - base
}

// SocketOutput is an Output to one or several dnstap receivers on unix or
// TCP sockets (TLS optional), with the bidirectional Frame Streams
// handshake, redial with capped exponential backoff and jitter, failover or
// round-robin, and an optional on-disk spool.
//
// WriteBatch is bounded: it spends at most DialTimeout + WriteTimeout of
// its caller's time, whatever the receivers do. A batch, or the rest of one
// whose receiver failed in the middle, goes to the next receiver that is
// up; what none takes goes to the spool, or is dropped and counted.
// Frames written into a socket count as delivered: Frame Streams has no
// acknowledgements, so what the kernel still held when a receiver died is
// lost, and only estimated (socket_inflight_lost_*).
type SocketOutput struct {
	cfg   SocketOutputConfig
	rx    []*receiver
	rr    int
	spool *spool
	stats OutputStats
	now   func() time.Time
	rnd   *rand.Rand
	logf  func(format string, args ...any)
	ext   [numSocketOutputCounters]atomic.Uint64

	outCond      condition // condUp, or condDial while no receiver takes frames
	spoolFailing bool      // the last spool write failed (logged once)
	closed       bool
}

// NewSocketOutput checks cfg and opens the spool (resuming what a previous
// run left in it). It connects lazily, on the first batch.
func NewSocketOutput(cfg SocketOutputConfig) (*SocketOutput, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("emit: socket output without a receiver")
	}
	if cfg.Balance > BalanceRoundRobin {
		return nil, fmt.Errorf("emit: socket output balance %d unknown", cfg.Balance)
	}
	cfg.Socket = cfg.Socket.withDefaults()
	s := &SocketOutput{cfg: cfg, now: cfg.Now, logf: cfg.Logf}
	if s.now == nil {
		s.now = time.Now
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	s.rnd = rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	for _, ep := range cfg.Endpoints {
		switch ep.Network {
		case "unix":
		case "tcp":
			if _, _, err := net.SplitHostPort(ep.Addr); err != nil {
				return nil, fmt.Errorf("emit: dnstap receiver %s: %w", ep, err)
			}
		default:
			return nil, fmt.Errorf("emit: dnstap receiver %s: network must be unix or tcp", ep)
		}
		s.rx = append(s.rx, &receiver{ep: ep, backoff: cfg.Socket.MinBackoff})
	}
	if cfg.SpoolDir != "" {
		sp, resumed, err := openSpool(cfg.SpoolDir, cfg.SpoolMax, &s.stats)
		if err != nil {
			return nil, err
		}
		s.spool = sp
		s.ext[soSpoolResumed].Store(resumed)
		s.spoolGauges()
		if resumed > 0 {
			s.logf("emit: spool %s: resuming %d frames left by an earlier run", cfg.SpoolDir, resumed)
		}
	}
	return s, nil
}

// Stats returns the output's frame accounting.
func (s *SocketOutput) Stats() *OutputStats { return &s.stats }

// Each calls fn for the output's counters beyond OutputStats, with stable
// names.
func (s *SocketOutput) Each(fn func(name string, v uint64)) {
	for i := range s.ext {
		fn(socketOutputCounterNames[i], s.ext[i].Load())
	}
}

// WriteBatch sends b (whole Frame Streams data frames, not kept). Spooled
// frames go first: while the spool cannot be emptied, b joins it, so that
// receivers see frames in order. It returns ErrNotConnected or a spool
// error when frames of b were dropped; they are counted either way.
func (s *SocketOutput) WriteBatch(b []byte) error {
	if s.closed {
		s.stats.AddDropped(DropShutdown, CountFrames(b))
		return ErrClosed
	}
	if len(b) == 0 {
		return nil
	}
	deadline := s.ioDeadline()
	if s.spool != nil && s.spool.frames > 0 {
		// Four times what a batch brings: the backlog shrinks
		// quickly while live batches wait at most a few writes.
		sent := s.drain(deadline, 4*max(len(b), spoolChunk))
		if s.spool.frames > 0 {
			// Catching up (something was sent) is not an outage:
			// b waits its turn either way.
			return s.toSpool(b, CountFrames(b), sent == 0)
		}
	}
	rest := s.send(b, deadline)
	s.stats.AddDelivered(CountFrames(b[:len(b)-len(rest)]))
	if len(rest) == 0 {
		return nil
	}
	frames := CountFrames(rest)
	if s.spool != nil {
		return s.toSpool(rest, frames, true)
	}
	s.stats.AddDropped(DropDisconnected, frames)
	s.stats.SetState(StateDown)
	s.noReceiver("frames are dropped (disconnected)")
	return ErrNotConnected
}

// Flush sends spooled frames when the writer is otherwise idle.
func (s *SocketOutput) Flush() error {
	if s.closed || s.spool == nil || s.spool.frames == 0 {
		return nil
	}
	// Idle: 16 MiB a flush interval empties a large spool in minutes,
	// and costs milliseconds to a local receiver.
	s.drain(s.ioDeadline(), 64*spoolChunk)
	return nil
}

// Close gives the spool one more bounded chance to drain, then ends every
// stream with STOP and waits (WriteTimeout) for FINISH. Frames left in the
// spool stay there for the next run and in Stats().Spooled.
func (s *SocketOutput) Close() error {
	if s.closed {
		return nil
	}
	var err error
	if s.spool != nil {
		if s.spool.frames > 0 {
			s.drain(s.ioDeadline(), int(s.spool.bytes))
		}
		err = s.spool.close()
		s.spoolGauges()
	}
	s.closed = true
	for _, r := range s.rx {
		if r.conn == nil {
			continue
		}
		if cerr := s.stop(r); err == nil {
			err = cerr
		}
	}
	s.stats.SetState(StateClosed)
	return err
}

// ioDeadline bounds one call: at most one dial and one write timeout,
// whatever the number of receivers. I/O deadlines use the real clock; the
// Now of the configuration drives only the backoff.
func (s *SocketOutput) ioDeadline() time.Time {
	return time.Now().Add(s.cfg.Socket.DialTimeout + s.cfg.Socket.WriteTimeout)
}

// stop ends r's stream: STOP, then FINISH from the receiver.
func (s *SocketOutput) stop(r *receiver) error {
	c := r.conn
	r.conn, r.raw = nil, nil
	err := c.SetDeadline(time.Now().Add(s.cfg.Socket.WriteTimeout))
	if err == nil {
		_, err = c.Write(StopFrame)
	}
	if err == nil {
		var finish framestream.ControlFrame
		if ferr := finish.DecodeTypeEscape(r.br, framestream.CONTROL_FINISH); ferr != nil {
			err = fmt.Errorf("FINISH: %w", ferr)
		}
	}
	if cerr := c.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("emit: close dnstap receiver %s: %w", r.ep, err)
	}
	return nil
}

// send writes b to the receivers the balance picks, moving the rest of the
// batch to the next one when a receiver fails, and returns what no
// receiver took (whole frames). The caller counts the frames sent.
func (s *SocketOutput) send(b []byte, deadline time.Time) []byte {
	start := 0
	if s.cfg.Balance == BalanceRoundRobin {
		start = s.rr
		s.rr = (s.rr + 1) % len(s.rx)
	}
	tried := false
	for i := 0; i < len(s.rx) && len(b) > 0 && time.Now().Before(deadline); i++ {
		r := s.rx[(start+i)%len(s.rx)]
		if r.conn != nil && peerClosed(r.raw) {
			s.lost(r, 0)
			s.drop(r, condWrite, errPeerClosed)
		}
		if r.conn == nil {
			if s.now().Before(r.nextDial) || !time.Now().Before(deadline) {
				continue
			}
			if !s.connect(r, deadline) {
				continue
			}
		}
		if tried {
			s.ext[soFailovers].Add(1)
		}
		tried = true
		b = s.write(r, b, deadline)
	}
	if len(b) == 0 {
		s.outCond = condUp
		s.stats.SetState(StateUp)
	}
	return b
}

// connect dials r, does TLS for tcp when configured, and the Frame Streams
// handshake, all within DialTimeout and the batch's deadline.
func (s *SocketOutput) connect(r *receiver, deadline time.Time) bool {
	dl := time.Now().Add(s.cfg.Socket.DialTimeout)
	if deadline.Before(dl) {
		dl = deadline
	}
	d := net.Dialer{Deadline: dl}
	raw, err := d.Dial(r.ep.Network, r.ep.Addr)
	cond := condDial
	var c net.Conn
	var att *tlsAttempt
	if err == nil {
		c = raw
		if err = setSendBuffer(raw, s.cfg.Socket.SendBuffer); err == nil && s.cfg.TLS != nil && r.ep.Network == "tcp" {
			host, _, _ := net.SplitHostPort(r.ep.Addr)
			att = newTLSAttempt(s.cfg.TLS, host)
			tc := tls.Client(raw, att.cfg)
			c = tc
			if err = tc.SetDeadline(dl); err == nil {
				err = tc.Handshake()
			}
			if err != nil {
				cond = condTLS
				err = att.explain(err)
			}
		}
	}
	var br *bufio.Reader
	if err == nil {
		br = bufio.NewReaderSize(c, 1024)
		if err = handshake(c, br, dl); err != nil {
			cond = condHandshake
			if errors.Is(err, ErrContentType) {
				cond = condContentType
			} else if att != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				if e := att.explain(err); e != err {
					err, cond = e, condTLS
				}
			}
		}
	}
	if err != nil {
		if raw != nil {
			raw.Close()
		}
		s.ext[soDialFailures].Add(1)
		s.down(r, cond, err)
		return false
	}
	r.conn, r.raw, r.br, r.outq = c, raw, br, 0
	r.sentBytes, r.sentFrames, r.nmarks = 0, 0, 0
	s.ext[soConnects].Add(1)
	if r.everUp {
		s.stats.AddReconnect()
	}
	r.everUp = true
	return true
}

// write writes b to r within WriteTimeout and the batch's deadline. On
// failure it drops the connection and returns the frames not wholly
// written, for the next receiver.
func (s *SocketOutput) write(r *receiver, b []byte, deadline time.Time) []byte {
	before := unsentBytes(r.raw)
	// Written in pieces, each with its own deadline: WriteTimeout is how
	// long a receiver may take nothing (less than a piece), not how long
	// a whole batch may take, and a TLS connection cannot be written to
	// again after a timeout, so the pieces are how progress is told.
	n := 0
	var err error
	for n < len(b) && err == nil {
		dl := time.Now().Add(s.cfg.Socket.WriteTimeout)
		if deadline.Before(dl) {
			dl = deadline
		}
		if err = r.conn.SetWriteDeadline(dl); err == nil {
			var m int
			m, err = r.conn.Write(b[n:min(n+writePiece, len(b))])
			n += m
		}
	}
	s.ext[soBytesWritten].Add(uint64(n))
	if err == nil {
		// Only a receiver that takes a batch is well again: one that
		// accepts and then stalls keeps its backoff and its one log line.
		if r.cond != condUp {
			s.logf("emit: dnstap receiver %s: receiving again", r.ep)
			r.cond = condUp
		}
		r.backoff = s.cfg.Socket.MinBackoff
		r.sentBytes += uint64(n)
		r.sentFrames += CountFrames(b)
		r.mark()
		r.outq = unsentBytes(r.raw)
		return nil
	}
	// A frame cut in the middle cannot be resumed on another stream: it
	// is sent again whole, and the dead receiver sees a cut stream.
	whole := wholeFramesLen(b[:n])
	// What the kernel held when the receiver died is lost with it.
	// After a reset the queue is already purged, so the last reading
	// (after the previous write) counts too.
	if whole > 0 {
		r.sentBytes += uint64(whole)
		r.sentFrames += CountFrames(b[:whole])
		r.mark()
	}
	s.lost(r, max(before, uint64(whole)+unsentBytes(r.raw)))
	cond := condWrite
	if errors.Is(err, os.ErrDeadlineExceeded) {
		cond = condSlow
		s.ext[soWriteTimeouts].Add(1)
		err = fmt.Errorf("took less than %d KiB in %v: %w", writePiece>>10, s.cfg.Socket.WriteTimeout, err)
	}
	s.drop(r, cond, err)
	return b[whole:]
}

// errPeerClosed: the receiver closed its end between two batches.
var errPeerClosed = errors.New("the receiver closed the connection")

// lost counts, as an estimate, the frames r's connection took that the
// kernel still held when the receiver died: what it reports now (held) or
// after the last successful write, whichever is larger (after a reset the
// queue is already purged, so the last reading is all there is).
func (s *SocketOutput) lost(r *receiver, held uint64) {
	held = min(max(held, r.outq), r.sentBytes)
	s.ext[soInFlightBytes].Add(held)
	s.ext[soInFlightFrames].Add(r.framesAfter(r.sentBytes - held))
}

// drop closes r's broken connection (no STOP: the stream is cut) and
// schedules its redial.
func (s *SocketOutput) drop(r *receiver, cond condition, err error) {
	r.conn.Close()
	r.conn, r.raw, r.br = nil, nil, nil
	s.ext[soDisconnects].Add(1)
	s.down(r, cond, err)
}

// writePiece is the most one write to a socket carries: a receiver that
// takes less than this in WriteTimeout is stalled.
const writePiece = 64 << 10

// wholeFramesLen returns the length of the whole frames at the start of b.
func wholeFramesLen(b []byte) int {
	n := 0
	for len(b)-n >= 4 {
		l := int(uint32(b[n])<<24 | uint32(b[n+1])<<16 | uint32(b[n+2])<<8 | uint32(b[n+3]))
		if l > len(b)-n-4 {
			break
		}
		n += 4 + l
	}
	return n
}

// down schedules r's next dial after a jittered, doubling delay and logs
// the reason when it differs from the last one.
func (s *SocketOutput) down(r *receiver, cond condition, err error) {
	now := s.now()
	err = fmt.Errorf("emit: dnstap receiver %s: %w", r.ep, err)
	s.stats.SetError(err, now)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		// A receiver that let a timeout expire (no ACCEPT, no bytes
		// taken) is stalled, not restarting: each retry costs the
		// writer a whole timeout, so retry at the slowest pace at once.
		r.backoff = s.cfg.Socket.MaxBackoff
	}
	r.nextDial = now.Add(s.jitter(r.backoff))
	r.backoff = min(2*r.backoff, s.cfg.Socket.MaxBackoff)
	if cond != r.cond {
		r.cond = cond
		s.logf("%v (redialing every %v at most)", err, s.cfg.Socket.MaxBackoff)
	}
}

// jitter returns a delay in [d/2, d]: receivers that restart do not see
// every sensor redial in the same instant, and the delay still doubles.
func (s *SocketOutput) jitter(d time.Duration) time.Duration {
	return d/2 + time.Duration(s.rnd.Int64N(int64(d/2)+1))
}

// toSpool appends frames to the spool: frames no receiver took (outage),
// or live frames queued behind spooled ones while the spool drains.
func (s *SocketOutput) toSpool(b []byte, frames uint64, outage bool) error {
	err := s.spool.append(b, frames)
	s.spoolGauges()
	if err != nil {
		s.stats.SetError(err, s.now())
		if !s.spoolFailing {
			s.spoolFailing = true
			s.logf("%v: dropping frames that no receiver takes", err)
		}
		return err
	}
	if s.spoolFailing {
		s.spoolFailing = false
		s.logf("emit: spool %s: writing again", s.cfg.SpoolDir)
	}
	if outage {
		s.noReceiver("frames are spooled to " + s.cfg.SpoolDir)
	}
	return nil
}

// noReceiver logs, once per outage, that no receiver takes frames.
func (s *SocketOutput) noReceiver(what string) {
	s.stats.SetState(StateDown)
	if s.outCond == condUp {
		s.outCond = condDial
		who := "the receiver"
		if len(s.rx) > 1 {
			who = "a receiver"
		}
		s.logf("emit: no dnstap receiver reachable: %s until %s is back", what, who)
	}
}

// drain sends the oldest spooled frames, up to budget bytes and until the
// deadline, stopping at the first receiver failure. It returns the bytes
// sent.
func (s *SocketOutput) drain(deadline time.Time, budget int) int {
	if !s.anyReceiver() {
		// Reading the spool (and closing its open file) for nobody
		// would only cost disk reads and small files.
		return 0
	}
	sent := 0
	for sent < budget && s.spool.frames > 0 && time.Now().Before(deadline) {
		chunk, err := s.spool.next()
		if err != nil {
			s.stats.SetError(err, s.now())
			s.logf("%v", err)
			continue
		}
		if chunk == nil {
			break
		}
		rest := s.send(chunk, deadline)
		done := len(chunk) - len(rest)
		if done > 0 {
			s.spool.sent(done, CountFrames(chunk[:done]))
		}
		sent += done
		if len(rest) > 0 {
			break
		}
	}
	s.spoolGauges()
	return sent
}

// anyReceiver reports whether a receiver is connected or may be dialed.
func (s *SocketOutput) anyReceiver() bool {
	now := s.now()
	for _, r := range s.rx {
		if r.conn != nil || !now.Before(r.nextDial) {
			return true
		}
	}
	return false
}

func (s *SocketOutput) spoolGauges() {
	s.ext[soSpoolFrames].Store(s.spool.frames)
	s.ext[soSpoolBytes].Store(uint64(s.spool.bytes))
}

var socketOutputCounterKinds = [numSocketOutputCounters]stat.Kind{
	soConnects: stat.Activity, soDialFailures: stat.Error, soDisconnects: stat.Error,
	soWriteTimeouts: stat.Error, soFailovers: stat.Activity, soBytesWritten: stat.Activity,
	soInFlightBytes: stat.Drop, soInFlightFrames: stat.Drop,
	soSpoolResumed: stat.Activity, soSpoolFrames: stat.Activity, soSpoolBytes: stat.Activity,
}

// EachKind calls fn for the counters of Each with their kinds, for the
// summary and the metrics.
func (s *SocketOutput) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	for i := range s.ext {
		fn(socketOutputCounterNames[i], socketOutputCounterKinds[i], s.ext[i].Load())
	}
}
