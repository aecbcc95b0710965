package e2e

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
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
	server     interface{ StopSocket(testing.TB) } // named or unbound
}

// authFlags are the sensors' flags for BIND's traffic.
var authFlags = []string{"--server", serverFlag, "--role", "authoritative"}

// startMergeRun starts both sensors with flags and filter (a filter
// expression, or ""), the merging one also with --server-dnstap in mode
// and extra.
func startMergeRun(t *testing.T, s *lab.SPAN, bin string, flags []string, filter, mode string, extra ...string) *mergeRun {
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
	common := append([]string{"-i", s.SpanIf, "--identity", "e2e-merge"}, flags...)
	var expr []string
	if filter != "" {
		expr = []string{filter}
	}
	r.wireSensor = s.Monitor.Start(t, bin, slices.Concat(common, []string{"-w", r.wire}, expr)...)
	args := append(slices.Clone(common), "-w", r.merged, "--stats-interval", "1s",
		"--server-dnstap", "unix:"+r.recvSock, "--server-dnstap-mode", mode)
	r.sensor = s.Monitor.Start(t, bin, slices.Concat(args, extra, expr)...)
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
func (r *mergeRun) stop(t *testing.T, settle time.Duration) (server [][]byte, summary, wireSummary string) {
	t.Helper()
	r.server.StopSocket(t)
	time.Sleep(settle)
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

// check compares the run with the truth, `sensor compare` of the server's
// stream (the tee's copy) and the wire-only run, and returns it: the
// summary's counts equal it ±0; the -w file holds the server's frames byte
// for byte and, in merge mode, a filled frame for each message the
// server's stream lacks, so that it holds every wire message exactly once.
func (r *mergeRun) check(t *testing.T, bin, mode string, server [][]byte, summary string) (matched, serverOnly, shortfall uint64) {
	t.Helper()
	bindFile := filepath.Join(r.dir, "server.dnstap")
	writeFrames2(t, bindFile, server)
	matched, serverOnly, shortfall = compareCounts(t, bin, bindFile, r.wire)
	t.Logf("the server sent %d frames; shortfall %d (%.2f%%), server only %d, matched %d",
		len(server), shortfall, 100*float64(shortfall)/float64(max(1, matched+shortfall)), serverOnly, matched)
	got := [4]uint64{summaryCounter(t, summary, "seen by both"), summaryCounter(t, summary, "server only"),
		summaryCounter(t, summary, "wire only"), extraCounter(summary, "filled")}
	want := [4]uint64{matched, serverOnly, shortfall, shortfall}
	if mode == "verify" {
		want[3] = 0
	}
	if got != want {
		t.Fatalf("%s: summary: both, server only, wire only, filled = %v; sensor compare of the server's stream and the wire says %v", mode, got, want)
	}
	var fromServer [][]byte
	filled := uint64(0)
	for _, f := range completeFrames(t, r.merged) {
		if bytes.HasSuffix(f, []byte(merge.FilledMark)) {
			filled++
		} else {
			fromServer = append(fromServer, f)
		}
	}
	if !sameFrameSet(fromServer, server) || filled != want[3] {
		t.Fatalf("%s: -w: %d server frames (the server sent %d; byte for byte: %v), %d filled (want %d)",
			mode, len(fromServer), len(server), sameFrameSet(fromServer, server), filled, want[3])
	}
	if mode == "merge" {
		// Every wire message exactly once: nothing of the wire is
		// missing, and nothing is there twice (it would be only in A).
		m2, onlyMerged, onlyWire := compareCounts(t, bin, r.merged, r.wire)
		if onlyWire != 0 || onlyMerged != serverOnly || m2 != matched+shortfall {
			t.Fatalf("merged vs wire: matched %d, only merged %d, only wire %d; want %d, %d, 0",
				m2, onlyMerged, onlyWire, matched+shortfall, serverOnly)
		}
	}
	if n := extraCounter(summary, "released_early") + extraCounter(summary, "receiver_frames_dropped_queue_full"); n != 0 {
		t.Fatalf("%d frames released early or dropped by the receiver", n)
	}
	return matched, serverOnly, shortfall
}

// TestE2EServerDnstap (issue 11) runs the sensor with --server-dnstap in a
// SPAN lab, the server at its default fstrm queue sending its dnstap to the
// sensor's socket while dnsperf runs, against a wire-only sensor on the
// same port. The truth is computed offline with `sensor compare` of the
// server's stream (the tee's copy) and the wire-only run (see check).
//
//   - merge: BIND connecting late (its first second of queries is only on
//     the wire) and cut mid-run (it reconnects); the counters on --metrics.
//   - verify, with a peer sending garbage and one the wrong content type:
//     each gives one log line and one count, and the capture is unaffected.
//   - server-only: both sensors capture IPv4 only (a filter expression), so
//     BIND's IPv6 messages pass through, counted server only.
//   - unbound: Unbound, role recursive, both legs (its client side and its
//     forwarding to BIND, which Unbound logs without a source address).
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
	perfTo := func(to netip.Addr, file, what string, args ...string) {
		out := s.Client.Run(t, dnsperf, append([]string{"-s", to.String(), "-d", file}, args...)...)
		t.Logf("dnsperf %s: %s", what, perfLine(string(out)))
	}
	perf := func(what string, args ...string) { perfTo(lab.ServerV4, queries, what, args...) }

	t.Run("merge", func(t *testing.T) {
		r := startMergeRun(t, s, bin, authFlags, "", "merge", "--metrics", "127.0.0.1:9153")
		// BIND starts before its socket exists (the tee is not there yet).
		r.server = lab.StartNamedSocket(t, s.Auth, lab.ServerV4, lab.ServerV6, r.teeSock)
		perf("before BIND connects", "-l", "1", "-Q", "1000")
		r.tee = lab.StartFrameTee(t, r.teeSock, r.recvSock)
		r.waitConnections(t, 1)
		// 20,000 queries/s: 40,000 messages/s held for the 10 s window
		// stay below the Merger's table, so nothing is released early.
		perf("connected", "-l", "3", "-Q", "20000", "-c", "4")
		r.tee.Cut()
		r.waitConnections(t, 2)
		perf("reconnected", "-l", "1", "-Q", "1000")
		metrics := string(s.Monitor.Run(t, "bash", "-c",
			`exec 3<>/dev/tcp/127.0.0.1/9153 && printf 'GET /metrics HTTP/1.0\r\n\r\n' >&3 && cat <&3`))
		server, summary, _ := r.stop(t, ringSettle)
		_, _, shortfall := r.check(t, bin, "merge", server, summary)
		// The first second is BIND's shortfall at least.
		if shortfall < 1500 {
			t.Fatalf("shortfall %d: want about the 2,000 messages of the second before BIND connected", shortfall)
		}
		for _, c := range []struct {
			name string
			want uint64
		}{{"receiver_connections", 2}, {"receiver_reconnects", 1}, {"receiver_connections_cut", 1}, {"receiver_connections_clean", 1}} {
			if n := extraCounter(summary, c.name); n != c.want {
				t.Fatalf("%s %d, want %d", c.name, n, c.want)
			}
		}
		if !strings.Contains(r.sensor.Stderr(), "; server dnstap: both ") {
			t.Fatal("no server dnstap figures in the --stats-interval lines")
		}
		// While the run went on: the counters by name, the first
		// second's messages already wire only.
		for _, name := range []string{"both", "wire_only", "server_only", "filled", "receiver_connections", "receiver_stream_garbage"} {
			m := regexp.MustCompile(`(?m)^dnstap_sensor_output_` + name + `_total\{output="merger"\} (\d+)$`).FindStringSubmatch(metrics)
			if m == nil {
				t.Fatalf("--metrics: no %s of the merger:\n%s", name, metrics)
			}
			if n, _ := strconv.ParseUint(m[1], 10, 64); (name == "both" || name == "receiver_connections") && n == 0 {
				t.Fatalf("--metrics: %s 0 during the run", name)
			}
		}
	})

	t.Run("verify", func(t *testing.T) {
		// A window of 2 s: frames are released during the run, not
		// at exit (BIND's clock is within milliseconds of the capture's
		// at this rate).
		r := startMergeRun(t, s, bin, authFlags, "", "verify", "--server-dnstap-window", "2s")
		r.tee = lab.StartFrameTee(t, r.teeSock, r.recvSock)
		r.server = lab.StartNamedSocket(t, s.Auth, lab.ServerV4, lab.ServerV6, r.teeSock)
		r.waitConnections(t, 1)
		sendGarbage(t, r.recvSock, []byte("GET / HTTP/1.0\r\n\r\nnot frame streams at all"))
		sendGarbage(t, r.recvSock, readyFrame("protobuf:not.Dnstap"))
		perf("verify", "-l", "3", "-Q", "20000", "-c", "4")
		// BIND sends the last frames of a run that fell quiet only when
		// it stops (here 12 frames over 2 s late): stopped first, and the
		// window's frames released before the CPU is read.
		server, summary, _ := r.stop(t, 3*time.Second)
		r.check(t, bin, "verify", server, summary)
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

	t.Run("server-only", func(t *testing.T) {
		r := startMergeRun(t, s, bin, authFlags, "ip and port 53", "merge")
		r.tee = lab.StartFrameTee(t, r.teeSock, r.recvSock)
		r.server = lab.StartNamedSocket(t, s.Auth, lab.ServerV4, lab.ServerV6, r.teeSock)
		r.waitConnections(t, 1)
		perfTo(lab.ServerV6, queries, "IPv6", "-l", "1", "-Q", "1000")
		perf("IPv4", "-l", "1", "-Q", "1000")
		server, summary, _ := r.stop(t, ringSettle)
		_, serverOnly, _ := r.check(t, bin, "merge", server, summary)
		if serverOnly < 1500 {
			t.Fatalf("server only %d: want about the 2,000 IPv6 messages the capture filtered out", serverOnly)
		}
	})

	t.Run("unbound", func(t *testing.T) {
		lab.StartNamed(t, s.Auth, lab.ServerV4, lab.ServerV6)
		flags := []string{"--server", lab.ResolverV4.String() + "," + lab.ResolverV6.String(), "--role", "recursive",
			"--forwarder", serverFlag}
		r := startMergeRun(t, s, bin, flags, "", "merge")
		r.tee = lab.StartFrameTee(t, r.teeSock, r.recvSock)
		r.server = lab.StartUnboundSocket(t, s.Resolver, []netip.Addr{lab.ServerV4, lab.ServerV6}, r.teeSock, lab.ResolverV4, lab.ResolverV6)
		r.waitConnections(t, 1)
		// Distinct names, so that every query but the repeated local one
		// makes Unbound ask BIND.
		var names []string
		for i := range 5000 {
			names = append(names, "n"+strconv.Itoa(i)+"."+lab.ZoneAuth+" A", lab.NameLocal+" A")
		}
		file := filepath.Join(t.TempDir(), "names.txt")
		if err := os.WriteFile(file, []byte(strings.Join(names, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		perfTo(lab.ResolverV4, file, "Unbound", "-n", "1", "-c", "4", "-q", "200")
		server, summary, _ := r.stop(t, ringSettle)
		r.check(t, bin, "merge", server, summary)
		if n := extraCounter(summary, "both_no_source_address"); n < 5000 {
			t.Fatalf("both_no_source_address %d: want Unbound's 5,000 forwarded queries at least", n)
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
