package merge

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// logLines collects a Receiver's log.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) matching(s string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

// replay sends a dnstap file to endpoint with fstrm_replay, a real Frame
// Streams sender (libfstrm, as BIND and Unbound link it). It returns when
// fstrm_replay has exited, which it does after STOP and our FINISH.
func replay(t *testing.T, endpoint, file string) {
	t.Helper()
	bin := testenv.NeedTool(t, "fstrm_replay", "fstrm-bin")
	network, addr, err := ParseEndpoint(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-t", emit.ContentType, "-r", file}
	if network == "unix" {
		args = append(args, "-u", addr)
	} else {
		host, port, _ := net.SplitHostPort(addr)
		args = append(args, "-a", host, "-p", port)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("fstrm_replay %v: %v: %s", args, err, out)
	}
}

// writeDnstapFile writes frames as a dnstap file.
func writeDnstapFile(t *testing.T, frames [][]byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "in.dnstap")
	r := fileOf(t, frames)
	b, _ := io.ReadAll(r)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func recordedBIND(t *testing.T) (string, [][]byte) {
	p := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "lab_realworld_dnsperf_tcp.bind.dnstap")
	return p, readFrames(t, p)
}

// TestReceiver: real senders over unix and TCP, one at a time and several
// at once, reconnecting; the Merger (with no wire frames) passes every
// frame through byte for byte, counted server-only.
func TestReceiver(t *testing.T) {
	file, frames := recordedBIND(t)
	for _, network := range []string{"unix", "tcp"} {
		t.Run(network, func(t *testing.T) {
			var log logLines
			r := NewReceiver(ReceiverConfig{Logf: log.logf})
			ep := "unix:" + filepath.Join(t.TempDir(), "s.sock")
			if network == "tcp" {
				ep = "tcp:127.0.0.1:0"
			}
			a, err := r.Listen(ep)
			if err != nil {
				t.Fatal(err)
			}
			if network == "tcp" {
				ep = "tcp:" + a.String()
			}
			out := &memOutput{}
			m, err := New(Config{Outputs: []emit.Output{out}})
			if err != nil {
				t.Fatal(err)
			}
			m.Attach(r)
			// One sender, then three at once (BIND opens one per thread),
			// then one again: five connections, four reconnects.
			replay(t, ep, file)
			var wg sync.WaitGroup
			for range 3 {
				wg.Go(func() { replay(t, ep, file) })
			}
			wg.Wait()
			replay(t, ep, file)
			must(t, m.Close())

			st := r.Stats()
			want := map[ReceiverCounter]uint64{Connections: 5, Reconnects: 4, ConnsClean: 5, FramesIn: 5 * 600,
				FramesQueued: 5 * 600, FramesQueueFull: 0, ContentTypeWrong: 0, StreamGarbage: 0, ConnsCut: 0}
			for c, v := range want {
				if got := st.Get(c); got != v {
					t.Errorf("%s = %d, want %d", c, got, v)
				}
			}
			var all [][]byte
			for range 5 {
				all = append(all, frames...)
			}
			if !sameFrames(out.all(), all) {
				t.Fatalf("%d frames out, want the senders' %d byte for byte", len(out.all()), len(all))
			}
			if got := m.Counters().Get(ServerOnly); got != 5*600 {
				t.Fatalf("server only %d, want %d", got, 5*600)
			}
			if n := len(log.matching("connected from")); n != 5 {
				t.Fatalf("%d connection log lines, want 5:\n%s", n, strings.Join(log.lines, "\n"))
			}
		})
	}
}

func control(typ uint32, contentType string) []byte {
	body := binary.BigEndian.AppendUint32(nil, typ)
	if contentType != "" {
		body = binary.BigEndian.AppendUint32(body, 1)
		body = binary.BigEndian.AppendUint32(body, uint32(len(contentType)))
		body = append(body, contentType...)
	}
	b := binary.BigEndian.AppendUint32(nil, 0)
	b = binary.BigEndian.AppendUint32(b, uint32(len(body)))
	return append(b, body...)
}

// TestReceiverHostile: a wrong content type, garbage, and frames over
// 96 KiB, each beside a good sender: one log line and one count per bad
// connection, the good sender's frames all delivered.
func TestReceiverHostile(t *testing.T) {
	file, frames := recordedBIND(t)
	var log logLines
	r := NewReceiver(ReceiverConfig{Logf: log.logf})
	sock := filepath.Join(t.TempDir(), "s.sock")
	if _, err := r.Listen("unix:" + sock); err != nil {
		t.Fatal(err)
	}
	out := &memOutput{}
	m, err := New(Config{Outputs: []emit.Output{out}})
	if err != nil {
		t.Fatal(err)
	}
	m.Attach(r)
	dial := func() net.Conn {
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	// closedByPeer waits until the receiver closes c.
	closedByPeer := func(c net.Conn) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
		if _, err := io.Copy(io.Discard, c); err != nil {
			t.Fatalf("the receiver did not close the connection: %v", err)
		}
	}

	wrong := dial()
	if _, err := wrong.Write(control(4, "protobuf:other.Thing")); err != nil {
		t.Fatal(err)
	}
	garbage := dial()
	if _, err := garbage.Write([]byte("GET / HTTP/1.0\r\n\r\n")); err != nil {
		t.Fatal(err)
	}
	// A sender that handshakes, then sends a 100 KiB frame (refused,
	// connection kept), a good frame, and a 1 MiB length (closed).
	big := dial()
	if _, err := big.Write(control(4, emit.ContentType)); err != nil {
		t.Fatal(err)
	}
	acc := make([]byte, len(control(1, emit.ContentType)))
	if _, err := io.ReadFull(big, acc); err != nil || !bytes.Equal(acc, control(1, emit.ContentType)) {
		t.Fatalf("ACCEPT: %x, %v", acc, err)
	}
	stream := control(2, emit.ContentType)
	stream = append(stream, batch(make([]byte, 100<<10), frames[0])...)
	stream = binary.BigEndian.AppendUint32(stream, 1<<20)
	if _, err := big.Write(stream); err != nil {
		t.Fatal(err)
	}
	replay(t, "unix:"+sock, file)
	closedByPeer(wrong)
	closedByPeer(garbage)
	closedByPeer(big)
	must(t, m.Close())

	st := r.Stats()
	want := map[ReceiverCounter]uint64{Connections: 4, ContentTypeWrong: 1, StreamGarbage: 2, ConnsClean: 1,
		FramesIn: 602, FramesTooLarge: 1, FramesQueued: 601, FramesQueueFull: 0}
	for c, v := range want {
		if got := st.Get(c); got != v {
			t.Errorf("%s = %d, want %d", c, got, v)
		}
	}
	if n := len(log.matching("content type is not")); n != 1 {
		t.Errorf("%d content-type log lines, want 1:\n%s", n, strings.Join(log.lines, "\n"))
	}
	if n := len(log.matching("not a Frame Streams stream")); n != 2 {
		t.Errorf("%d garbage log lines, want 2:\n%s", n, strings.Join(log.lines, "\n"))
	}
	if !sameFrames(out.all(), append(append([][]byte(nil), frames...), frames[0])) {
		t.Fatalf("%d frames out, want the good sender's 600 and the hand-made one", len(out.all()))
	}
}

// TestReceiverNeverBlocks: with no room in its queue (nobody takes the
// batches), a sender still sends everything at its own speed; the frames
// that do not fit are dropped and counted.
func TestReceiverNeverBlocks(t *testing.T) {
	_, frames := recordedBIND(t)
	var many [][]byte
	for range 50 {
		many = append(many, frames...)
	}
	file := writeDnstapFile(t, many)
	var log logLines
	r := NewReceiver(ReceiverConfig{Batches: 1, Logf: log.logf})
	sock := filepath.Join(t.TempDir(), "s.sock")
	if _, err := r.Listen("unix:" + sock); err != nil {
		t.Fatal(err)
	}
	replay(t, "unix:"+sock, file)
	r.Close()
	st := r.Stats()
	in, queued, full := st.Get(FramesIn), st.Get(FramesQueued), st.Get(FramesQueueFull)
	if in != uint64(len(many)) || queued+full != in || full == 0 {
		t.Fatalf("in %d queued %d dropped %d: want %d in, all either queued or dropped, some dropped", in, queued, full, len(many))
	}
	var n uint64
	for b := range r.full {
		n += emit.CountFrames(b)
	}
	if n != queued {
		t.Fatalf("%d frames in the queue, counted %d", n, queued)
	}
}

func TestParseEndpoint(t *testing.T) {
	tests := []struct {
		in, network, addr string
		ok                bool
	}{
		{"unix:/run/dnstap.sock", "unix", "/run/dnstap.sock", true},
		{"tcp:127.0.0.1:6000", "tcp", "127.0.0.1:6000", true},
		{"tcp:[::1]:6000", "tcp", "[::1]:6000", true},
		{"tcp:127.0.0.1", "", "", false},
		{"udp:127.0.0.1:6000", "", "", false},
		{"/run/dnstap.sock", "", "", false},
		{"unix:", "", "", false},
	}
	for _, tc := range tests {
		n, a, err := ParseEndpoint(tc.in)
		if (err == nil) != tc.ok || n != tc.network || a != tc.addr {
			t.Errorf("ParseEndpoint(%q) = %q, %q, %v", tc.in, n, a, err)
		}
	}
}

// TestReceiverSocketPerms: the unix socket gets the configured mode and
// group (here the test's own group, by number and by name).
func TestReceiverSocketPerms(t *testing.T) {
	gid := os.Getgid()
	g, err := user.LookupGroupId(strconv.Itoa(gid))
	if err != nil {
		t.Fatal(err)
	}
	for _, group := range []string{strconv.Itoa(gid), g.Name} {
		r := NewReceiver(ReceiverConfig{SocketMode: 0o620, SocketGroup: group})
		p := filepath.Join(t.TempDir(), "s.sock")
		if _, err := r.Listen("unix:" + p); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode().Perm() != 0o620 || int(st.Gid) != gid {
			t.Errorf("group %q: mode %v gid %d, want 0620 and %d", group, fi.Mode().Perm(), st.Gid, gid)
		}
		r.Close()
	}
	r := NewReceiver(ReceiverConfig{SocketGroup: "no-such-group-here"})
	if _, err := r.Listen("unix:" + filepath.Join(t.TempDir(), "s.sock")); err == nil {
		t.Fatal("an unknown group was accepted")
	}
	r.Close()
}
