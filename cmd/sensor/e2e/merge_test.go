package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/merge"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// mergeRun is one phase of TestE2EServerDnstap: BIND in the SPAN lab sends
// its dnstap through a tee (which keeps a copy of what BIND sent) to the
// socket of a sensor run with --server-dnstap, and a second sensor captures
// the same SPAN port without it: the wire's truth.
type mergeRun struct {
	dir        string
	teeSock    string // where BIND sends its dnstap
	recvSock   string // the sensor's --server-dnstap socket
	tee        *lab.FrameTee
	merged     string // -w of the sensor with --server-dnstap
	wire       string // -w of the wire-only sensor
	sensor     *lab.Process
	wireSensor *lab.Process
	named      *lab.Named
}

func startMergeRun(t *testing.T, s *lab.SPAN, bin, mode string, extra ...string) *mergeRun {
	t.Helper()
	// named (as the bind user) must reach the tee's socket: not under
	// t.TempDir, whose parents are 0700 root.
	dir, err := os.MkdirTemp("", "e2e-merge-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	r := &mergeRun{dir: dir, teeSock: filepath.Join(dir, "named.sock"), recvSock: filepath.Join(dir, "sensor.sock"),
		merged: filepath.Join(dir, "merged.dnstap"), wire: filepath.Join(dir, "wire.dnstap")}
	common := []string{"-i", s.SpanIf, "--server", serverFlag, "--role", "authoritative", "--identity", "e2e-merge"}
	r.wireSensor = s.Monitor.Start(t, bin, append(common, "-w", r.wire)...)
	args := append(slices.Clone(common), "-w", r.merged, "--stats-interval", "1s",
		"--server-dnstap", "unix:"+r.recvSock, "--server-dnstap-mode", mode)
	r.sensor = s.Monitor.Start(t, bin, append(args, extra...)...)
	r.wireSensor.WaitFor(t, "capture socket opened", sensorStartWait)
	r.sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	return r
}

// waitConnections waits until the sensor has logged n server connections.
func (r *mergeRun) waitConnections(t *testing.T, n int) {
	t.Helper()
	// BIND retries a refused socket after its reopen interval, 5 s.
	deadline := time.Now().Add(30 * time.Second)
	for strings.Count(r.sensor.Stderr(), "server dnstap connected from") < n {
		if time.Now().After(deadline) {
			t.Fatalf("BIND did not connect %d times:\n%s", n, r.sensor.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// stop ends the run and returns BIND's frames as the tee saw them, the
// merging sensor's summary and the wire-only sensor's.
func (r *mergeRun) stop(t *testing.T) (server [][]byte, summary, wireSummary string) {
	t.Helper()
	r.named.StopSocket(t)
	time.Sleep(ringSettle)
	// What merging costs: both sensors saw the same packets and wrote
	// the same frames, one of them also took BIND's stream and matched
	// (a figure for the README, not a test: the machine is shared).
	cpu, wireCPU := cpuTime(t, r.sensor.Pid()), cpuTime(t, r.wireSensor.Pid())
	t.Logf("CPU: sensor with --server-dnstap %v, wire-only sensor %v", cpu, wireCPU)
	for _, p := range []*lab.Process{r.sensor, r.wireSensor} {
		if err := p.Stop(syscall.SIGINT); err != nil {
			t.Fatalf("sensor: %v\n%s", err, p.Stderr())
		}
	}
	for _, st := range r.tee.Streams(t) {
		server = append(server, teeStream(st)...)
	}
	summary, wireSummary = lastSummary(t, r.sensor.Stderr()), lastSummary(t, r.wireSensor.Stderr())
	t.Logf("sensor with --server-dnstap:\n%s", r.sensor.Stderr())
	t.Logf("wire-only sensor:\n%s", wireSummary)
	for _, s := range []string{summary, wireSummary} {
		if n := summaryCounter(t, s, "kernel_drops"); n != 0 {
			t.Fatalf("the kernel dropped %d packets: the wire's truth is incomplete", n)
		}
	}
	return server, summary, wireSummary
}

// teeStream returns the data frames of one of the tee's streams; one the
// tee cut may end inside a frame, which the sensor did not get whole either.
func teeStream(b []byte) [][]byte {
	fr := emit.NewFrameReader(bytes.NewReader(b))
	var out [][]byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return out
		}
		out = append(out, bytes.Clone(f))
	}
}

// lastSummary is the summary the sensor printed at exit: its stats lines
// come before it.
func lastSummary(t *testing.T, stderr string) string {
	t.Helper()
	i := strings.LastIndex(stderr, "sensor: live ")
	if i < 0 {
		t.Fatalf("no summary:\n%s", stderr)
	}
	return stderr[i:]
}

// compareCounts runs `sensor compare A B` and returns its counts: matched
// (exact or with a known reason), only in A, only in B.
func compareCounts(t *testing.T, bin, a, b string) (matched, onlyA, onlyB uint64) {
	t.Helper()
	out, _, _ := runCmd(t, bin, "compare", a, b) // exit 1 when B does not cover A
	t.Logf("sensor compare %s %s:\n%s", filepath.Base(a), filepath.Base(b), out)
	if strings.Contains(out, "type differs without a known reason") {
		t.Fatalf("type mismatches between %s and %s", a, b)
	}
	num := func(re string) uint64 {
		m := regexp.MustCompile(re).FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("sensor compare: no %q in:\n%s", re, out)
		}
		n, _ := strconv.ParseUint(m[1], 10, 64)
		return n
	}
	return num(`(?m)^matched: (\d+)`), num(`(?m)^only in A \(.*\): (\d+)`), num(`(?m)^only in B \(.*\): (\d+)`)
}

// TestE2EServerDnstap (issue 11) runs the sensor with --server-dnstap in a
// SPAN lab, BIND at its default fstrm queue sending its dnstap to the
// sensor's socket while dnsperf runs, against a wire-only sensor on the
// same port. The truth is computed offline with `sensor compare` of BIND's
// stream (the tee's copy) and the wire-only run.
//
// Merge mode, BIND connecting late (its first second of queries is only on
// the wire) and cut mid-run (it reconnects): the -w file holds every wire
// message exactly once, BIND's frames byte for byte as BIND sent them, a
// filled frame for each message BIND's stream lacks; the summary's counts
// equal `sensor compare`'s. Verify mode, with a peer sending garbage and
// one the wrong content type: the -w file holds BIND's frames alone, the
// summary reports BIND's shortfall within ±0, each bad peer gives one log
// line and one count, and the capture is unaffected.
func TestE2EServerDnstap(t *testing.T) {
	bin := sensorBin(t)
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	testenv.NeedTool(t, "dnstap-read", "dnstap-ldns")
	s := lab.NewSPAN(t)
	queries := filepath.Join(t.TempDir(), "queries.txt")
	qs := strings.Join([]string{www + " A", www + " AAAA", "txt." + lab.ZoneAuth + " TXT",
		"nope." + lab.ZoneAuth + " A", lab.ZoneAuth + " MX", lab.ZoneAuth + " SOA"}, "\n") + "\n"
	if err := os.WriteFile(queries, []byte(qs), 0o644); err != nil {
		t.Fatal(err)
	}
	perf := func(what string, args ...string) {
		out := s.Client.Run(t, dnsperf, append([]string{"-s", lab.ServerV4.String(), "-d", queries}, args...)...)
		t.Logf("dnsperf %s: %s", what, perfLine(string(out)))
	}

	t.Run("merge", func(t *testing.T) {
		r := startMergeRun(t, s, bin, "merge")
		// BIND starts before its socket exists (the tee is not there yet).
		r.named = lab.StartNamedSocket(t, s.Auth, lab.ServerV4, lab.ServerV6, r.teeSock)
		perf("before BIND connects", "-l", "1", "-Q", "1000")
		r.tee = lab.StartFrameTee(t, r.teeSock, r.recvSock)
		r.waitConnections(t, 1)
		// 20,000 queries/s: 40,000 messages/s held for the 10 s window
		// stay below the Merger's table, so nothing is released early.
		perf("connected", "-l", "3", "-Q", "20000", "-c", "4")
		r.tee.Cut()
		r.waitConnections(t, 2)
		perf("reconnected", "-l", "1", "-Q", "1000")
		server, summary, _ := r.stop(t)
		writeFrames2(t, filepath.Join(r.dir, "bind.dnstap"), server)

		matched, serverOnly, shortfall := compareCounts(t, bin, filepath.Join(r.dir, "bind.dnstap"), r.wire)
		got := [4]uint64{summaryCounter(t, summary, "seen by both"), summaryCounter(t, summary, "server only"),
			summaryCounter(t, summary, "wire only"), summaryCounter(t, summary, "filled")}
		want := [4]uint64{matched, serverOnly, shortfall, shortfall}
		t.Logf("BIND sent %d frames; shortfall %d, server only %d, matched %d", len(server), shortfall, serverOnly, matched)
		if got != want {
			t.Fatalf("summary: both, server only, wire only, filled = %v; sensor compare of BIND's stream and the wire says %v", got, want)
		}
		// The first second is BIND's shortfall at least.
		if shortfall < 1500 {
			t.Fatalf("shortfall %d: want about the 2,000 messages of the second before BIND connected", shortfall)
		}
		merged := completeFrames(t, r.merged)
		var fromServer [][]byte
		filled := 0
		for _, f := range merged {
			if bytes.HasSuffix(f, []byte(merge.FilledMark)) {
				filled++
			} else {
				fromServer = append(fromServer, f)
			}
		}
		if !sameFrameSet(fromServer, server) || uint64(filled) != shortfall {
			t.Fatalf("merged: %d server frames (BIND sent %d; byte for byte: %v), %d filled (want %d)",
				len(fromServer), len(server), sameFrameSet(fromServer, server), filled, shortfall)
		}
		// Every wire message exactly once: nothing of the wire is
		// missing, and nothing is there twice (it would be only in A).
		m2, onlyMerged, onlyWire := compareCounts(t, bin, r.merged, r.wire)
		if onlyWire != 0 || onlyMerged != serverOnly || m2 != matched+shortfall {
			t.Fatalf("merged vs wire: matched %d, only merged %d, only wire %d; want %d, %d, 0",
				m2, onlyMerged, onlyWire, matched+shortfall, serverOnly)
		}
		for _, c := range []struct {
			name string
			want uint64
		}{{"receiver_connections", 2}, {"receiver_reconnects", 1}, {"receiver_connections_cut", 1},
			{"receiver_connections_clean", 1}, {"receiver_frames_dropped_queue_full", 0}, {"released_early", 0}} {
			if n := extraCounter(summary, c.name); n != c.want {
				t.Fatalf("%s %d, want %d", c.name, n, c.want)
			}
		}
		if !strings.Contains(r.sensor.Stderr(), "; server dnstap: both ") {
			t.Fatal("no server dnstap figures in the --stats-interval lines")
		}
	})

	t.Run("verify", func(t *testing.T) {
		// A window of 2 s: frames are released during the run, not
		// at exit (BIND's clock is within milliseconds of the capture's
		// at this rate).
		r := startMergeRun(t, s, bin, "verify", "--server-dnstap-window", "2s")
		r.tee = lab.StartFrameTee(t, r.teeSock, r.recvSock)
		r.named = lab.StartNamedSocket(t, s.Auth, lab.ServerV4, lab.ServerV6, r.teeSock)
		r.waitConnections(t, 1)
		sendGarbage(t, r.recvSock, []byte("GET / HTTP/1.0\r\n\r\nnot frame streams at all"))
		sendGarbage(t, r.recvSock, readyFrame("protobuf:not.Dnstap"))
		perf("verify", "-l", "3", "-Q", "20000", "-c", "4")
		time.Sleep(3 * time.Second) // the window's frames released before the CPU is read
		server, summary, _ := r.stop(t)
		writeFrames2(t, filepath.Join(r.dir, "bind.dnstap"), server)
		matched, serverOnly, shortfall := compareCounts(t, bin, filepath.Join(r.dir, "bind.dnstap"), r.wire)
		got := [3]uint64{summaryCounter(t, summary, "seen by both"), summaryCounter(t, summary, "server only"), summaryCounter(t, summary, "wire only")}
		want := [3]uint64{matched, serverOnly, shortfall}
		t.Logf("BIND sent %d frames; shortfall %d (%.2f%%), server only %d, matched %d",
			len(server), shortfall, 100*float64(shortfall)/float64(matched+shortfall), serverOnly, matched)
		if got != want {
			t.Fatalf("verify: both, server only, wire only = %v; sensor compare says %v", got, want)
		}
		out := completeFrames(t, r.merged)
		if !sameFrameSet(out, server) {
			t.Fatalf("verify: the -w file has %d frames, BIND sent %d (byte for byte: false)", len(out), len(server))
		}
		stderr := r.sensor.Stderr()
		for _, c := range []struct{ line, counter string }{
			{"not a Frame Streams stream", "receiver_stream_garbage"},
			{"content type is not " + emit.ContentType, "receiver_content_type_wrong"},
		} {
			if n := strings.Count(stderr, c.line); n != 1 {
				t.Fatalf("%d log lines %q, want 1", n, c.line)
			}
			if n := extraCounter(summary, c.counter); n != 1 {
				t.Fatalf("%s %d, want 1", c.counter, n)
			}
		}
		if n := extraCounter(summary, "receiver_connections"); n != 3 {
			t.Fatalf("receiver_connections %d, want 3 (BIND and the two bad peers)", n)
		}
	})
}

// extraCounter reads "name N" from an output's counters in a summary
// (listed only when not zero).
func extraCounter(summary, name string) uint64 {
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + ` (\d+)`).FindStringSubmatch(summary)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// sendGarbage connects to the sensor's socket, sends b and waits for the
// sensor to close the connection.
func sendGarbage(t *testing.T, sock string, b []byte) {
	t.Helper()
	c, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write(b); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(15 * time.Second))
	if _, err := io.Copy(io.Discard, c); err != nil && !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("the sensor did not close a bad stream: %v", err)
	}
}

// readyFrame is a Frame Streams READY control frame offering contentType.
func readyFrame(contentType string) []byte {
	var b []byte
	b = binary.BigEndian.AppendUint32(b, 0) // escape
	b = binary.BigEndian.AppendUint32(b, uint32(4+8+len(contentType)))
	b = binary.BigEndian.AppendUint32(b, 0x04) // READY
	b = binary.BigEndian.AppendUint32(b, 0x01) // content type
	b = binary.BigEndian.AppendUint32(b, uint32(len(contentType)))
	return append(b, contentType...)
}

// writeFrames2 writes frames as a dnstap file.
func writeFrames2(t *testing.T, path string, frames [][]byte) {
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
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
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
