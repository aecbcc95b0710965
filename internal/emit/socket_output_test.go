package emit

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
)

// fakeClock drives backoff in tests; I/O deadlines stay on the real clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func soCounter(s *SocketOutput, name string) uint64 {
	var v uint64
	found := false
	s.Each(func(n string, x uint64) {
		if n == name {
			v, found = x, true
		}
	})
	if !found {
		panic("no counter " + name)
	}
	return v
}

// writeBatches hands frames to s in batches of per frames, counting them
// as encoded as a Queue would.
func writeBatches(t *testing.T, s *SocketOutput, frames [][]byte, per int) {
	t.Helper()
	for i := 0; i < len(frames); i += per {
		b := batchOf(frames[i:min(i+per, len(frames))])
		s.Stats().AddEncoded(CountFrames(b))
		_ = s.WriteBatch(b)
	}
}

// checkIdentity asserts encoded = delivered + dropped + spooled.
func checkIdentity(t *testing.T, st *OutputStats) {
	t.Helper()
	if st.Encoded() != st.Delivered()+st.Dropped()+st.Spooled() {
		t.Fatalf("encoded %d != delivered %d + dropped %d + spooled %d",
			st.Encoded(), st.Delivered(), st.Dropped(), st.Spooled())
	}
}

func sockEndpoint(t *testing.T, network, name string) Endpoint {
	t.Helper()
	if network == "unix" {
		return Endpoint{"unix", filepath.Join(t.TempDir(), name)}
	}
	return Endpoint{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))}
}

// TestSocketOutputFstrmCapture: fstrm_capture receives every frame, once,
// in order, over unix and TCP, and the stream ends with STOP/FINISH.
func TestSocketOutputFstrmCapture(t *testing.T) {
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ep := sockEndpoint(t, network, "rx.sock")
			rx := startCapture(t, ep, filepath.Join(t.TempDir(), "rx.fstrm"))
			s, err := NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{ep}})
			if err != nil {
				t.Fatal(err)
			}
			frames := seqFrames(0, 5000)
			writeBatches(t, s, frames, 700)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			got := seqOf(t, rx.stop())
			if want := seqOf(t, frames); !slices.Equal(got, want) {
				t.Fatalf("fstrm_capture got %d frames, want %d in order", len(got), len(want))
			}
			st := s.Stats()
			if st.Delivered() != 5000 || st.Dropped() != 0 || st.State() != StateClosed || soCounter(s, "socket_connects") != 1 {
				t.Fatalf("delivered %d dropped %d state %v connects %d", st.Delivered(), st.Dropped(), st.State(), soCounter(s, "socket_connects"))
			}
		})
	}
}

// TestSocketOutputBackoff: with no receiver, redials wait a jittered delay
// in [b/2, b] that doubles up to MaxBackoff and no further; between them,
// batches are dropped at once, counted as disconnected.
func TestSocketOutputBackoff(t *testing.T) {
	clock := &fakeClock{time.Unix(1000, 0)}
	var log logLines
	ep := Endpoint{"unix", filepath.Join(t.TempDir(), "nobody.sock")}
	s, err := NewSocketOutput(SocketOutputConfig{
		Endpoints: []Endpoint{ep}, Now: clock.now, Seed: 1, Logf: log.logf,
		Socket: SocketConfig{MinBackoff: time.Second, MaxBackoff: 5 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	batch := batchOf(seqFrames(0, 10))
	r := s.rx[0]
	wantMax := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second, 5 * time.Second}
	for i, b := range wantMax {
		dials := soCounter(s, "socket_dial_failures")
		if err := s.WriteBatch(batch); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("attempt %d: %v, want ErrNotConnected", i, err)
		}
		if got := soCounter(s, "socket_dial_failures"); got != dials+1 {
			t.Fatalf("attempt %d: %d dial failures, want %d", i, got, dials+1)
		}
		delay := r.nextDial.Sub(clock.t)
		if delay < b/2 || delay > b {
			t.Fatalf("attempt %d: redial in %v, want within [%v, %v]", i, delay, b/2, b)
		}
		// Just before the delay ends: no dial, the batch is dropped.
		clock.t = r.nextDial.Add(-time.Millisecond)
		if err := s.WriteBatch(batch); !errors.Is(err, ErrNotConnected) {
			t.Fatalf("attempt %d in backoff: %v", i, err)
		}
		if got := soCounter(s, "socket_dial_failures"); got != dials+1 {
			t.Fatalf("attempt %d: dialed during the backoff", i)
		}
		clock.t = r.nextDial
	}
	st := s.Stats()
	if n := uint64(2 * len(wantMax) * 10); st.DroppedBy(DropDisconnected) != n || st.Dropped() != n || st.State() != StateDown {
		t.Fatalf("dropped %d (disconnected %d) state %v, want %d", st.Dropped(), st.DroppedBy(DropDisconnected), st.State(), n)
	}
	if msg, _ := st.LastError(); !strings.Contains(msg, ep.Addr) {
		t.Fatalf("last error %q does not name the receiver", msg)
	}
	// One line for the receiver's condition, one for the output's.
	if len(log.lines) != 2 {
		t.Fatalf("logged %d lines, want 2: %q", len(log.lines), log.lines)
	}
}

// TestSocketOutputReceiverRestart: fstrm_capture is stopped while batches
// flow and started again. With a spool, its two files together hold every
// frame exactly once, in order, the outage's frames after the first file's;
// without, delivered + dropped = encoded exactly and the files hold exactly
// the delivered frames.
func TestSocketOutputReceiverRestart(t *testing.T) {
	for _, spooled := range []bool{true, false} {
		t.Run(fmt.Sprintf("spool=%v", spooled), func(t *testing.T) {
			dir := t.TempDir()
			ep := Endpoint{"unix", filepath.Join(dir, "rx.sock")}
			rx := startCapture(t, ep, filepath.Join(dir, "rx1.fstrm"))
			clock := &fakeClock{time.Unix(1000, 0)}
			var log logLines
			cfg := SocketOutputConfig{Endpoints: []Endpoint{ep}, Now: clock.now, Logf: log.logf}
			if spooled {
				cfg.SpoolDir = filepath.Join(dir, "spool")
			}
			s, err := NewSocketOutput(cfg)
			if err != nil {
				t.Fatal(err)
			}
			frames := seqFrames(0, 9000)
			writeBatches(t, s, frames[:3000], 300)
			// Stop the receiver once it has read everything: what it
			// has not read would be lost with it (Frame Streams has no
			// acknowledgements), which is not what this test is about.
			for unsentBytes(s.rx[0].raw) != 0 {
				time.Sleep(time.Millisecond)
			}
			first := rx.stop()
			writeBatches(t, s, frames[3000:6000], 300)
			if st := s.Stats(); st.State() != StateDown {
				t.Fatalf("state %v during the outage", st.State())
			}
			rx = startCapture(t, ep, filepath.Join(dir, "rx2.fstrm"))
			clock.t = clock.t.Add(time.Minute) // the backoff is over
			writeBatches(t, s, frames[6000:], 300)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			second := rx.stop()
			st := s.Stats()
			checkIdentity(t, st)
			got := seqOf(t, append(first, second...))
			if spooled {
				if want := seqOf(t, frames); !slices.Equal(got, want) {
					t.Fatalf("receivers got %d frames (%d+%d), want all %d exactly once in order", len(got), len(first), len(second), len(want))
				}
				if st.Delivered() != 9000 || st.Spooled() != 0 || st.Dropped() != 0 {
					t.Fatalf("delivered %d spooled %d dropped %d", st.Delivered(), st.Spooled(), st.Dropped())
				}
				if n := spoolFileCount(t, cfg.SpoolDir); n != 0 {
					t.Fatalf("spool not emptied: %d files left", n)
				}
			} else {
				if uint64(len(got)) != st.Delivered() || st.DroppedBy(DropDisconnected) != st.Dropped() || st.Dropped() == 0 {
					t.Fatalf("receivers hold %d, delivered %d, dropped %d (disconnected %d)", len(got), st.Delivered(), st.Dropped(), st.DroppedBy(DropDisconnected))
				}
				if !slices.IsSorted(got) || got[0] != 0 || got[len(got)-1] != 8999 {
					t.Fatalf("delivered frames out of order or cut: first %d last %d", got[0], got[len(got)-1])
				}
			}
			if st.Reconnects() != 1 || st.State() != StateClosed {
				t.Fatalf("reconnects %d state %v", st.Reconnects(), st.State())
			}
			// down, no receiver (spooling or dropping), receiving again.
			if len(log.lines) != 3 {
				t.Fatalf("logged %d lines, want 3: %q", len(log.lines), log.lines)
			}
		})
	}
}

// TestSocketOutputFailover: two fstrm_capture receivers, failover; the
// first is stopped mid-run without waiting for it to read what it was sent.
// The second takes the stream over: the first holds frames 0..a-1, the
// second a contiguous run up to the last frame, nothing twice. Over unix
// the gap between them is no larger than the in-flight estimate, since the
// kernel counts every byte the receiver has not read (SIOCOUTQ); over TCP
// it only counts bytes the receiver's kernel has not acknowledged, and
// bytes acknowledged but not yet read by the receiver are lost unseen.
func TestSocketOutputFailover(t *testing.T) {
	for _, network := range []string{"tcp", "unix"} {
		t.Run(network, func(t *testing.T) {
			dir := t.TempDir()
			epA, epB := sockEndpoint(t, network, "a.sock"), sockEndpoint(t, network, "b.sock")
			rxA := startCapture(t, epA, filepath.Join(dir, "a.fstrm"))
			rxB := startCapture(t, epB, filepath.Join(dir, "b.fstrm"))
			s, err := NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{epA, epB}, Balance: BalanceFailover})
			if err != nil {
				t.Fatal(err)
			}
			frames := seqFrames(0, 20000)
			writeBatches(t, s, frames[:8000], 400)
			gotA := seqOf(t, rxA.stop())
			writeBatches(t, s, frames[8000:], 400)
			if err := s.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			gotB := seqOf(t, rxB.stop())
			st := s.Stats()
			checkIdentity(t, st)
			if st.Delivered() != 20000 || st.Dropped() != 0 {
				t.Fatalf("delivered %d dropped %d, want 20000 and 0", st.Delivered(), st.Dropped())
			}
			if len(gotA) == 0 || len(gotB) == 0 {
				t.Fatalf("receiver A got %d frames, B %d", len(gotA), len(gotB))
			}
			if want := seqOf(t, frames[:len(gotA)]); !slices.Equal(gotA, want) {
				t.Fatal("receiver A's frames are not 0..n-1 in order")
			}
			b0 := gotB[0]
			if want := seqOf(t, frames[b0:]); !slices.Equal(gotB, want) {
				t.Fatalf("receiver B's frames are not %d..19999 in order", b0)
			}
			lost := uint64(b0 - len(gotA))
			est := soCounter(s, "socket_inflight_lost_frames_estimate")
			t.Logf("A %d frames, B from %d: %d lost in flight, estimate %d frames (%d bytes); failovers %d",
				len(gotA), b0, lost, est, soCounter(s, "socket_inflight_lost_bytes_estimate"), soCounter(s, "socket_failovers"))
			if b0 < len(gotA) {
				t.Fatalf("receiver B starts at %d, before A's end %d: frames sent twice", b0, len(gotA))
			}
			if network == "unix" && lost > est {
				t.Fatalf("%d frames lost in flight, more than the estimate %d", lost, est)
			}
			if soCounter(s, "socket_disconnects") != 1 || soCounter(s, "socket_connects") != 2 {
				t.Fatalf("disconnects %d connects %d, want 1 and 2", soCounter(s, "socket_disconnects"), soCounter(s, "socket_connects"))
			}
		})
	}
}

// TestSocketOutputRoundRobin: batches alternate between two receivers.
func TestSocketOutputRoundRobin(t *testing.T) {
	dir := t.TempDir()
	epA, epB := Endpoint{"unix", filepath.Join(dir, "a.sock")}, Endpoint{"unix", filepath.Join(dir, "b.sock")}
	rxA := startCapture(t, epA, filepath.Join(dir, "a.fstrm"))
	rxB := startCapture(t, epB, filepath.Join(dir, "b.fstrm"))
	s, err := NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{epA, epB}, Balance: BalanceRoundRobin})
	if err != nil {
		t.Fatal(err)
	}
	frames := seqFrames(0, 1000)
	writeBatches(t, s, frames, 100)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	gotA, gotB := seqOf(t, rxA.stop()), seqOf(t, rxB.stop())
	var wantA, wantB []int
	for i := range 1000 {
		if (i/100)%2 == 0 {
			wantA = append(wantA, i)
		} else {
			wantB = append(wantB, i)
		}
	}
	if !slices.Equal(gotA, wantA) || !slices.Equal(gotB, wantB) {
		t.Fatalf("receiver A got %d frames, B %d; want the even and the odd batches, 500 each", len(gotA), len(gotB))
	}
	if st := s.Stats(); st.Delivered() != 1000 || st.Dropped() != 0 {
		t.Fatalf("delivered %d dropped %d", st.Delivered(), st.Dropped())
	}
}

// hostile is a Go receiver that misbehaves after accepting.
func hostile(t *testing.T, behave func(c net.Conn)) Endpoint {
	t.Helper()
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "hostile.sock"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				behave(c)
				<-done
			}()
		}
	}()
	return Endpoint{"unix", l.Addr().String()}
}

// TestSocketOutputHostileReceivers: a receiver that accepts and never
// answers READY, one that answers with another content type, and one that
// stops reading. Each batch gives up within DialTimeout + WriteTimeout,
// the frames are counted, and each condition is logged once however many
// batches meet it.
func TestSocketOutputHostileReceivers(t *testing.T) {
	for _, tc := range []struct {
		name      string
		behave    func(c net.Conn)
		wantErr   error
		dialFails uint64 // after the five batches
		timeouts  uint64
		backoff   time.Duration // a stalled receiver is retried at the slowest pace at once
		dial      time.Duration // DialTimeout: short only where it must expire
	}{
		{"never-ready", func(c net.Conn) {}, os.ErrDeadlineExceeded, 5, 0, DefaultMaxBackoff, 100 * time.Millisecond},
		{"wrong-content-type", func(c net.Conn) {
			var buf [512]byte
			_, _ = c.Read(buf[:]) // READY
			_, _ = c.Write(appendControl(nil, ctrlAccept, "protobuf:other.Type"))
		}, ErrContentType, 5, 0, 3200 * time.Millisecond, 10 * time.Second},
		{"stops-reading", func(c net.Conn) {
			// Answer the handshake, then read nothing more.
			_, _ = NewBidiFrameReader(c)
		}, os.ErrDeadlineExceeded, 0, 5, DefaultMaxBackoff, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ep := hostile(t, tc.behave)
			clock := &fakeClock{time.Unix(1000, 0)}
			var log logLines
			s, err := NewSocketOutput(SocketOutputConfig{
				Endpoints: []Endpoint{ep}, Now: clock.now, Logf: log.logf,
				Socket: SocketConfig{DialTimeout: tc.dial, WriteTimeout: 100 * time.Millisecond, SendBuffer: 16 << 10},
			})
			if err != nil {
				t.Fatal(err)
			}
			// 4 MiB batches: far more than the socket buffers hold.
			frames := seqFrames(0, 5*16000)
			for i := range 5 {
				b := batchOf(frames[i*16000 : (i+1)*16000])
				s.Stats().AddEncoded(16000)
				if err := s.WriteBatch(b); !errors.Is(err, ErrNotConnected) {
					t.Fatalf("batch %d: %v, want ErrNotConnected", i, err)
				}
				if i < 4 {
					clock.t = clock.t.Add(time.Minute) // redial for each of the five
				}
			}
			// Until the backoff ends, batches (a file run's next thousand)
			// are dropped at once: no dial, no timeout.
			dials, timeouts := soCounter(s, "socket_dial_failures"), soCounter(s, "socket_write_timeouts")
			small := batchOf(frames[:100])
			for range 1000 {
				s.Stats().AddEncoded(100)
				if err := s.WriteBatch(small); !errors.Is(err, ErrNotConnected) {
					t.Fatalf("batch in backoff: %v", err)
				}
			}
			if soCounter(s, "socket_dial_failures") != dials || soCounter(s, "socket_write_timeouts") != timeouts {
				t.Fatal("a batch during the backoff dialed or waited")
			}
			st := s.Stats()
			checkIdentity(t, st)
			if st.Delivered()+st.DroppedBy(DropDisconnected) != 180000 || st.State() != StateDown {
				t.Fatalf("delivered %d dropped %d state %v", st.Delivered(), st.DroppedBy(DropDisconnected), st.State())
			}
			if got := soCounter(s, "socket_dial_failures"); got != tc.dialFails {
				t.Fatalf("dial failures %d, want %d", got, tc.dialFails)
			}
			if got := soCounter(s, "socket_write_timeouts"); got != tc.timeouts {
				t.Fatalf("write timeouts %d, want %d", got, tc.timeouts)
			}
			if got := s.rx[0].backoff; got != tc.backoff {
				t.Fatalf("backoff %v after five failures, want %v", got, tc.backoff)
			}
			msg, _ := st.LastError()
			if !strings.Contains(msg, ep.Addr) || !strings.Contains(msg, tc.wantErr.Error()) {
				t.Fatalf("last error %q: want the receiver and %q", msg, tc.wantErr)
			}
			// The receiver's condition once, the output's once.
			if len(log.lines) != 2 {
				t.Fatalf("logged %d lines, want 2: %q", len(log.lines), log.lines)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestSocketOutputGoDnstap: golang-dnstap's socket input, the code behind
// the Go `dnstap -u` and `dnstap -l` receivers, reads the stream over unix
// and TCP and gets every frame. The tool itself is not run: on SIGINT it
// exits without flushing its output file (os.Exit in its signal handler).
func TestSocketOutputGoDnstap(t *testing.T) {
	sample := sampleFrames(t)
	var frames [][]byte
	for range 200 {
		frames = append(frames, sample...)
	}
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			ep := sockEndpoint(t, network, "rx.sock")
			l, err := net.Listen(ep.Network, ep.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			in := dnstap.NewFrameStreamSockInput(l)
			in.SetTimeout(10 * time.Second)
			got := make(chan []byte, len(frames)+1)
			go in.ReadInto(got)
			s, err := NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{ep}})
			if err != nil {
				t.Fatal(err)
			}
			writeBatches(t, s, frames, 250)
			if err := s.Close(); err != nil {
				t.Fatalf("Close (STOP/FINISH with golang-dnstap): %v", err)
			}
			// FINISH is sent after the last frame was handed over.
			if len(got) != len(frames) {
				t.Fatalf("golang-dnstap got %d frames, want %d", len(got), len(frames))
			}
			for i := range frames {
				if f := <-got; !bytes.Equal(f, frames[i]) {
					t.Fatalf("frame %d differs", i)
				}
			}
		})
	}
}

// TestSocketOutputFailoverMidBatch: the first receiver stops reading in the
// middle of a batch. The write gives up after WriteTimeout, and the frames
// not wholly written go to the second receiver (fstrm_capture), starting
// with the one that was cut. Everything the first took is unread, so the
// in-flight estimate is exactly the frames it took.
func TestSocketOutputFailoverMidBatch(t *testing.T) {
	dir := t.TempDir()
	epA := hostile(t, func(c net.Conn) { _, _ = NewBidiFrameReader(c) })
	epB := Endpoint{"unix", filepath.Join(dir, "b.sock")}
	rxB := startCapture(t, epB, filepath.Join(dir, "b.fstrm"))
	s, err := NewSocketOutput(SocketOutputConfig{
		Endpoints: []Endpoint{epA, epB}, Logf: t.Logf, // read only when the test fails
		// Timeouts long enough for fstrm_capture (B) to take 64 KiB
		// pieces and the whole 4 MiB on a loaded machine; A's stall
		// costs one WriteTimeout.
		Socket: SocketConfig{DialTimeout: 10 * time.Second, WriteTimeout: time.Second, SendBuffer: 16 << 10},
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := seqFrames(0, 16000) // 4 MiB: far more than A's socket holds
	b := batchOf(frames)
	s.Stats().AddEncoded(16000)
	if err := s.WriteBatch(b); err != nil {
		t.Fatalf("WriteBatch: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	gotB := seqOf(t, rxB.stop())
	st := s.Stats()
	if st.Delivered() != 16000 || st.Dropped() != 0 || len(gotB) == 0 {
		t.Fatalf("delivered %d dropped %d, B got %d", st.Delivered(), st.Dropped(), len(gotB))
	}
	k := gotB[0]
	if want := seqOf(t, frames[k:]); k == 0 || !slices.Equal(gotB, want) {
		t.Fatalf("B got %d frames from %d, want %d..15999 in order", len(gotB), k, k)
	}
	if got := soCounter(s, "socket_inflight_lost_frames_estimate"); got != uint64(k) {
		t.Fatalf("in-flight estimate %d frames, want the %d A took and never read", got, k)
	}
	if soCounter(s, "socket_failovers") != 1 || soCounter(s, "socket_write_timeouts") != 1 {
		t.Fatalf("failovers %d write timeouts %d, want 1 and 1", soCounter(s, "socket_failovers"), soCounter(s, "socket_write_timeouts"))
	}
}

// TestSocketOutputCallBound: three receivers that never answer READY. One
// batch spends at most DialTimeout + WriteTimeout: the first dial uses the
// DialTimeout, the second the rest of the call, and the third is not
// dialed at all in this call (it is, in the next).
func TestSocketOutputCallBound(t *testing.T) {
	eps := []Endpoint{hostile(t, func(net.Conn) {}), hostile(t, func(net.Conn) {}), hostile(t, func(net.Conn) {})}
	clock := &fakeClock{time.Unix(1000, 0)}
	s, err := NewSocketOutput(SocketOutputConfig{
		Endpoints: eps, Now: clock.now,
		Socket: SocketConfig{DialTimeout: 100 * time.Millisecond, WriteTimeout: 100 * time.Millisecond},
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.WriteBatch(batchOf(seqFrames(0, 10))); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("WriteBatch: %v", err)
	}
	if n := soCounter(s, "socket_dial_failures"); n < 1 || n > 2 || !s.rx[2].nextDial.IsZero() {
		t.Fatalf("%d dial failures, third receiver dialed: %v", n, !s.rx[2].nextDial.IsZero())
	}
	if err := s.WriteBatch(batchOf(seqFrames(0, 10))); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("WriteBatch: %v", err)
	}
	if s.rx[2].nextDial.IsZero() {
		t.Fatal("the third receiver was not dialed by the next batch")
	}
}
