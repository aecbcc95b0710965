package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/merge"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// mergeOutput is the Merger's downstream output: it keeps every frame.
type mergeOutput struct {
	mu     sync.Mutex
	frames [][]byte
	stats  emit.OutputStats
}

func (o *mergeOutput) WriteBatch(b []byte) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		o.frames = append(o.frames, bytes.Clone(b[4:4+l]))
		b = b[4+l:]
	}
	return nil
}
func (o *mergeOutput) Flush() error             { return nil }
func (o *mergeOutput) Close() error             { return nil }
func (o *mergeOutput) Stats() *emit.OutputStats { return &o.stats }

// wireListener takes the live sensor's socket output and hands its frames
// to the Merger, as the sensor's own output queue will, keeping a copy.
type wireListener struct {
	ln     net.Listener
	m      *merge.Merger
	frames [][]byte
	done   chan error
}

func listenWire(t *testing.T, path string, m *merge.Merger) *wireListener {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	w := &wireListener{ln: ln, m: m, done: make(chan error, 1)}
	go func() { w.done <- w.serve() }()
	return w
}

// serve reads the one connection of the sensor until its STOP.
func (w *wireListener) serve() error {
	c, err := w.ln.Accept()
	if err != nil {
		return err
	}
	defer c.Close()
	fr, err := emit.NewBidiFrameReader(c)
	if err != nil {
		return err
	}
	var batch []byte
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		w.frames = append(w.frames, bytes.Clone(f))
		batch = binary.BigEndian.AppendUint32(batch, uint32(len(f)))
		batch = append(batch, f...)
		if len(batch) >= 64<<10 {
			if err := w.m.WriteBatch(batch); err != nil {
				return err
			}
			batch = batch[:0]
		}
	}
	return w.m.WriteBatch(batch)
}

// TestE2ELiveMerge (issue 11) merges live: BIND in a SPAN lab sends its
// dnstap to a merge.Receiver while dnsperf runs; the sensor captures the
// SPAN port and sends its frames over its socket output into the same
// Merger, which runs on the wall clock with its default window and table.
// The outcome must equal `sensor compare` of BIND's stream (a tee's copy)
// and the sensor's: the same both/server-only/wire-only counts, BIND's
// frames byte for byte, a filled frame for each message BIND's dnstap
// lacks, no wire message missing or twice.
func TestE2ELiveMerge(t *testing.T) {
	bin := sensorBin(t)
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	s := lab.NewSPAN(t)
	// named (as the bind user) must reach the socket: not under
	// t.TempDir, whose parents are 0700 root.
	dir, err := os.MkdirTemp("", "e2e-merge-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	var logMu sync.Mutex
	var logs []string
	r := merge.NewReceiver(merge.ReceiverConfig{Logf: func(f string, a ...any) {
		logMu.Lock()
		logs = append(logs, f)
		logMu.Unlock()
	}})
	recvSock := filepath.Join(dir, "receiver.sock")
	if _, err := r.Listen("unix:" + recvSock); err != nil {
		t.Fatal(err)
	}
	tee := lab.StartFrameTee(t, filepath.Join(dir, "named.sock"), recvSock)
	out := &mergeOutput{}
	m, err := merge.New(merge.Config{Outputs: []emit.Output{out}})
	if err != nil {
		t.Fatal(err)
	}
	m.Attach(r)
	wl := listenWire(t, filepath.Join(dir, "sensor.sock"), m)

	named := lab.StartNamedSocket(t, s.Auth, lab.ServerV4, lab.ServerV6, filepath.Join(dir, "named.sock"))
	sensor := s.Monitor.Start(t, bin, "-i", s.SpanIf, "-u", filepath.Join(dir, "sensor.sock"),
		"--identity", "e2e-merge", "--server", serverFlag, "--role", "authoritative")
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	queries := filepath.Join(t.TempDir(), "queries.txt")
	qs := strings.Join([]string{www + " A", www + " AAAA", "txt." + lab.ZoneAuth + " TXT",
		"nope." + lab.ZoneAuth + " A", lab.ZoneAuth + " MX", lab.ZoneAuth + " SOA"}, "\n") + "\n"
	if err := os.WriteFile(queries, []byte(qs), 0o644); err != nil {
		t.Fatal(err)
	}
	// 20,000 queries/s: 40,000 messages/s held for the 10 s window stay
	// below the table's 524,288, so nothing is released early.
	perf := s.Client.Run(t, dnsperf, "-s", lab.ServerV4.String(), "-d", queries, "-l", "4", "-Q", "20000", "-c", "4")
	t.Logf("dnsperf: %s", perfLine(string(perf)))
	named.StopSocket(t)
	stopLiveSensor(t, sensor)
	if err := <-wl.done; err != nil {
		t.Fatalf("the sensor's socket stream: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var server [][]byte
	for _, st := range tee.Streams(t) {
		server = append(server, readStream(t, st)...)
	}
	wire := wl.frames

	rep, err := tapfile.Compare(frameFile(t, server), frameFile(t, wire), tapfile.CompareOptions{NameA: "BIND", NameB: "sensor", MaxListed: 5})
	if err != nil {
		t.Fatal(err)
	}
	shortfall, serverOnly := uint64(len(rep.OnlyB)), uint64(len(rep.OnlyA))
	c := m.Counters()
	t.Logf("sensor %d messages, BIND %d: shortfall %d, server only %d; merger: both %d, server only %d, wire only %d, filled %d, released early %d, clamped %d",
		len(wire), len(server), shortfall, serverOnly, c.Get(merge.Both), c.Get(merge.ServerOnly), c.Get(merge.WireOnly),
		c.Get(merge.Filled), c.Get(merge.ReleasedEarly), c.Get(merge.Clamped))
	sk := m.Skew()
	t.Logf("skew: median %v, max %v over %d pairs", sk.Median, sk.MaxAbs, sk.Pairs)
	got := [4]uint64{c.Get(merge.Both), c.Get(merge.ServerOnly), c.Get(merge.WireOnly), c.Get(merge.Filled)}
	want := [4]uint64{uint64(rep.Matched + rep.ExcusedTotal()), serverOnly, shortfall, shortfall}
	if got != want || len(rep.TypeMismatch) != 0 {
		t.Fatalf("both, server only, wire only, filled = %v; sensor compare says %v:\n%s", got, want, rep)
	}
	var fromServer [][]byte
	filled := 0
	for _, f := range out.frames {
		if bytes.HasSuffix(f, []byte(merge.FilledMark)) {
			filled++
		} else {
			fromServer = append(fromServer, f)
		}
	}
	if !sameFrameSet(fromServer, server) || uint64(filled) != shortfall {
		t.Fatalf("merged: %d server frames (BIND sent %d, byte for byte: %v), %d filled (want %d)",
			len(fromServer), len(server), sameFrameSet(fromServer, server), filled, shortfall)
	}
	mrep, err := tapfile.Compare(frameFile(t, out.frames), frameFile(t, wire), tapfile.CompareOptions{NameA: "merged", NameB: "sensor", MaxListed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(mrep.OnlyB) != 0 || uint64(len(mrep.OnlyA)) != serverOnly {
		t.Fatalf("the merged stream does not hold each wire message once:\n%s", mrep)
	}
	if rs := r.Stats(); rs.Get(merge.FramesQueueFull) != 0 || rs.Get(merge.FramesIn) != uint64(len(server)) {
		t.Fatalf("receiver: %d frames in (BIND sent %d), %d dropped", rs.Get(merge.FramesIn), len(server), rs.Get(merge.FramesQueueFull))
	}
}

// stopLiveSensor lets the ring drain, stops the sensor with SIGINT (it
// flushes its queue and ends its socket stream with STOP) and logs its
// summary.
func stopLiveSensor(t *testing.T, sensor *lab.Process) {
	t.Helper()
	time.Sleep(ringSettle)
	if err := sensor.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	t.Logf("sensor:\n%s", sensor.Stderr())
}

func readStream(t *testing.T, b []byte) [][]byte {
	t.Helper()
	fr := emit.NewFrameReader(bytes.NewReader(b))
	var out [][]byte
	for {
		f, err := fr.ReadFrame()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		out = append(out, bytes.Clone(f))
	}
}

func frameFile(t *testing.T, frames [][]byte) io.Reader {
	t.Helper()
	var buf bytes.Buffer
	fw := emit.NewFileWriter(&buf)
	for _, f := range frames {
		if err := fw.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func sameFrameSet(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, f := range a {
		n[string(f)]++
	}
	for _, f := range b {
		if n[string(f)]--; n[string(f)] < 0 {
			return false
		}
	}
	return true
}
