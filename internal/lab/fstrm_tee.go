package lab

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
)

// FrameTee is a unix socket proxy between a Frame Streams sender (a DNS
// server's dnstap) and a receiver, keeping a copy of every byte the sender
// sends: a second, independent record of the stream to check the receiver
// against.
type FrameTee struct {
	ln     net.Listener
	to     string
	mu     sync.Mutex
	copies []*bytes.Buffer
	live   []net.Conn // the sender's end of every connection, for Cut
	wg     sync.WaitGroup
}

// teeBufSize is allocated per connection up front, so that the copy
// never stalls the sender on a growing buffer (the lab's 4 s dnsperf runs
// send about 50 MB of dnstap).
const teeBufSize = 64 << 20

// StartFrameTee listens on path (mode 0666, so that a server running as
// another user can connect) and forwards each connection to the unix
// socket to, both ways. It is closed by t.Cleanup.
func StartFrameTee(t testing.TB, path, to string) *FrameTee {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	x := &FrameTee{ln: ln, to: to}
	t.Cleanup(func() { ln.Close() })
	go x.accept()
	return x
}

func (x *FrameTee) accept() {
	for {
		c, err := x.ln.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("unix", x.to)
		if err != nil {
			c.Close()
			continue
		}
		buf := &bytes.Buffer{}
		buf.Grow(teeBufSize)
		x.mu.Lock()
		x.copies = append(x.copies, buf)
		x.live = append(x.live, c)
		x.mu.Unlock()
		x.wg.Add(2)
		go func() {
			defer x.wg.Done()
			_, _ = io.Copy(io.MultiWriter(up, buf), c)
			_ = up.(*net.UnixConn).CloseWrite()
		}()
		go func() {
			defer x.wg.Done()
			_, _ = io.Copy(c, up)
			_ = c.(*net.UnixConn).CloseWrite()
		}()
	}
}

// Cut closes the sender's end of every connection open now, as a receiver
// that goes away mid-stream: the sender sees its connection fail and
// (BIND, Unbound) reconnects after its reopen interval. The receiver gets
// every byte the tee read, then end of stream without STOP, so the tee's
// copy and what the receiver got stay the same. New connections are still
// accepted.
func (x *FrameTee) Cut() {
	x.mu.Lock()
	defer x.mu.Unlock()
	for _, c := range x.live {
		c.Close()
	}
	x.live = nil
}

// Connections is how many connections the tee has accepted.
func (x *FrameTee) Connections() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.copies)
}

// Streams stops accepting, waits until every connection has ended, and
// returns what each sender sent after its READY control frame: a one-way
// Frame Streams stream (START, data frames, STOP) as a file holds it; one
// that Cut ended may stop inside a frame.
func (x *FrameTee) Streams(t testing.TB) [][]byte {
	t.Helper()
	x.ln.Close()
	x.wg.Wait()
	x.mu.Lock()
	defer x.mu.Unlock()
	var out [][]byte
	for i, b := range x.copies {
		s := b.Bytes()
		// READY: escape (0), length, then that many bytes (Frame Streams
		// control frame).
		if len(s) < 8 || binary.BigEndian.Uint32(s) != 0 || int(binary.BigEndian.Uint32(s[4:])) > len(s)-8 {
			t.Fatal(fmt.Errorf("lab: tee: connection %d does not begin with a control frame", i))
		}
		out = append(out, s[8+int(binary.BigEndian.Uint32(s[4:])):])
	}
	return out
}
