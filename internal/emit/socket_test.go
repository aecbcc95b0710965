package emit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
)

func batchOf(frames [][]byte) []byte {
	var b []byte
	for _, f := range frames {
		b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	return b
}

// receiveBidi accepts one connection on l and reads it with our own
// bidirectional reader, sending every frame on out and closing out at the
// end.
func receiveBidi(t *testing.T, l net.Listener, out chan<- []byte, wantStop bool) {
	c, err := l.Accept()
	if err != nil {
		t.Error(err)
		close(out)
		return
	}
	defer c.Close()
	defer close(out)
	fr, err := NewBidiFrameReader(c)
	if err != nil {
		t.Error(err)
		return
	}
	for {
		f, err := fr.ReadFrame()
		if err == io.EOF {
			if wantStop && !fr.Stopped() {
				t.Error("stream ended without STOP")
			}
			return
		}
		if err != nil {
			t.Error(err)
			return
		}
		out <- append([]byte(nil), f...)
	}
}

func TestSocketWriter(t *testing.T) {
	frames := sampleFrames(t)
	for _, tc := range []struct {
		name     string
		network  string
		golangRx bool // receive with golang-dnstap's FrameStreamInput instead of ours
	}{
		{"unix/golang-dnstap", "unix", true},
		{"unix/ours", "unix", false},
		{"tcp/golang-dnstap", "tcp", true},
		{"tcp/ours", "tcp", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			addr := "127.0.0.1:0"
			if tc.network == "unix" {
				addr = filepath.Join(t.TempDir(), "dnstap.sock")
			}
			l, err := net.Listen(tc.network, addr)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			got := make(chan []byte, 100)
			if tc.golangRx {
				go func() {
					c, err := l.Accept()
					if err != nil {
						t.Error(err)
						close(got)
						return
					}
					defer c.Close()
					in, err := dnstap.NewFrameStreamInput(c, true)
					if err != nil {
						t.Error(err)
						close(got)
						return
					}
					in.ReadInto(got)
					close(got)
				}()
			} else {
				go receiveBidi(t, l, got, true)
			}
			sw := NewSocketWriter(tc.network, l.Addr().String(), SocketConfig{})
			q := NewQueue(sw, QueueConfig{})
			p := q.Producer()
			for _, f := range frames {
				if err := p.WriteFrame(f); err != nil {
					t.Fatal(err)
				}
			}
			p.Flush()
			if err := q.Close(); err != nil {
				t.Fatal(err)
			}
			n := 0
			for f := range got {
				if n >= len(frames) || !bytes.Equal(f, frames[n]) {
					t.Fatalf("frame %d differs", n)
				}
				n++
			}
			if n != len(frames) {
				t.Fatalf("receiver got %d frames, want %d", n, len(frames))
			}
			if q.Stats().Written() != uint64(n) || q.Stats().Dropped() != 0 {
				t.Fatalf("queue written %d dropped %d", q.Stats().Written(), q.Stats().Dropped())
			}
		})
	}
}

func socketCounter(s *SocketWriter, name string) uint64 {
	var v uint64
	s.Each(func(n string, x uint64) {
		if n == name {
			v = x
		}
	})
	return v
}

// TestSocketWriterRedials drives the backoff with a fake clock: no dial
// before the delay, a redial after it, and a new handshake after the
// receiver goes away.
func TestSocketWriterRedials(t *testing.T) {
	frames := sampleFrames(t)
	batch := batchOf(frames)
	path := filepath.Join(t.TempDir(), "dnstap.sock")
	clock := time.Unix(1000, 0)
	sw := NewSocketWriter("unix", path, SocketConfig{MinBackoff: time.Second, MaxBackoff: 4 * time.Second})
	sw.now = func() time.Time { return clock }

	// Nobody listens: the dial fails, and the next attempt waits 1 s.
	if err := sw.WriteBatch(batch); err == nil {
		t.Fatal("write without a receiver succeeded")
	}
	if err := sw.WriteBatch(batch); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("second write %v, want ErrNotConnected (backoff)", err)
	}
	if got := socketCounter(sw, "socket_dial_failures"); got != 1 {
		t.Fatalf("dial failures %d, want 1", got)
	}
	clock = clock.Add(time.Second)
	if err := sw.WriteBatch(batch); err == nil {
		t.Fatal("dial succeeded without a receiver")
	}
	if sw.backoff != 4*time.Second {
		t.Fatalf("backoff %v after two failures, want 4s", sw.backoff)
	}
	clock = clock.Add(time.Second)
	if err := sw.WriteBatch(batch); !errors.Is(err, ErrNotConnected) {
		t.Fatalf("write 1 s into the second (2 s) delay: %v", err)
	}

	// The receiver comes up.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan []byte, 100)
	go receiveBidi(t, l, got, false)
	clock = clock.Add(time.Second)
	if err := sw.WriteBatch(batch); err != nil {
		t.Fatalf("write after the backoff: %v", err)
	}
	for i := range frames {
		if f := <-got; !bytes.Equal(f, frames[i]) {
			t.Fatalf("frame %d differs", i)
		}
	}
	if sw.backoff != time.Second {
		t.Fatalf("backoff %v after a connect, want reset to 1s", sw.backoff)
	}

	// The receiver drops the connection without FINISH; writes fail, then
	// a redial reaches the next receiver.
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := l.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	sw.conn.(*net.UnixConn).CloseRead()
	sw.conn.Close() // as if the peer vanished: the next write errors
	if err := sw.WriteBatch(batch); err == nil {
		t.Fatal("write on a dead connection succeeded")
	}
	if got := socketCounter(sw, "socket_disconnects"); got != 1 {
		t.Fatalf("disconnects %d, want 1", got)
	}
	clock = clock.Add(time.Second)
	done := make(chan error, 1)
	go func() { done <- sw.WriteBatch(batch) }()
	c := <-accepted
	defer c.Close()
	// Play the receiver by hand with golang-dnstap's reader.
	in, err := dnstap.NewFrameStreamInput(c, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("write after redial: %v", err)
	}
	ch := make(chan []byte, 100)
	go in.ReadInto(ch)
	for i := range frames {
		if f := <-ch; !bytes.Equal(f, frames[i]) {
			t.Fatalf("after redial: frame %d differs", i)
		}
	}
	if err := sw.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if got := socketCounter(sw, "socket_connects"); got != 2 {
		t.Fatalf("connects %d, want 2", got)
	}
}

// TestSocketStuckReceiverNeverBlocksProducer: a receiver that accepts and
// then never answers the handshake stalls only the Queue's writer; the
// producer keeps going and what cannot be queued is counted.
func TestSocketStuckReceiverNeverBlocksProducer(t *testing.T) {
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "stuck.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		if c, err := l.Accept(); err == nil {
			accepted <- c // hold it open, never read or answer
		}
	}()
	sw := NewSocketWriter("unix", l.Addr().String(), SocketConfig{DialTimeout: 200 * time.Millisecond})
	q := NewQueue(sw, QueueConfig{BatchSize: 1, Batches: 2})
	p := q.Producer()
	frame := bytes.Repeat([]byte{1}, MaxFrameLen)
	const n = 100 // 50 minimum-size batches
	for i := 0; i < n; i++ {
		if err := p.WriteFrame(frame); err != nil {
			t.Fatal(err)
		}
	}
	p.Flush()
	c := <-accepted
	defer c.Close()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	st := q.Stats()
	if st.Written() != 0 || st.Dropped() != n {
		t.Fatalf("written %d dropped %d, want 0 and %d", st.Written(), st.Dropped(), n)
	}
	if full := st.c[qcFramesDroppedFull].Load(); full < n-8 {
		t.Fatalf("only %d frames dropped at the full queue", full)
	}
	if socketCounter(sw, "socket_dial_failures") == 0 {
		t.Fatal("the handshake timeout was not counted")
	}
}
