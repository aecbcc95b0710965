package merge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// labPerfSeconds is the dnsperf run: at full speed BIND 9.18 at its default
// fstrm queue loses a few percent of its dnstap (4.5% in this lab). Under
// the race detector one second is plenty: the counts, not the volume, are
// under test.
func labPerfSeconds() string {
	if raceEnabled {
		return "1"
	}
	return "4"
}

// teeFrames returns the data frames of every stream the tee saw.
func teeFrames(t *testing.T, x *lab.FrameTee) [][]byte {
	t.Helper()
	var out [][]byte
	for _, s := range x.Streams(t) {
		fr := emit.NewFrameReader(bytes.NewReader(s))
		for {
			f, err := fr.ReadFrame()
			// A stream the tee cut may end inside a frame, which the
			// Receiver did not get whole either.
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				break
			}
			if err != nil {
				t.Fatalf("the server's stream: %v", err)
			}
			out = append(out, bytes.Clone(f))
		}
	}
	return out
}

// TestLabBINDMerge is issue 11's lab: BIND at its default fstrm queue
// sends its dnstap to the Receiver's unix socket while dnsperf runs against
// it at full speed, and the wire is captured (tcpdump on BIND's link, run
// through the sensor's own pipeline). The merged stream holds every BIND
// frame byte for byte (against the tee's copy), a filled frame for each
// wire message BIND's dnstap lacks and nothing twice; the counts equal
// those of `sensor compare` of the two streams, in merge and in verify
// mode.
func TestLabBINDMerge(t *testing.T) {
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	l := lab.New(t)
	ls := startLabSide(t, labDir(t))
	wc := startWireCapture(t, l.Server, l.ServerIf)
	named := lab.StartNamedSocket(t, l.Server, lab.ServerV4, lab.ServerV6, ls.serverSock)
	queries := writeQueries(t, []string{"www." + lab.ZoneAuth + " A", "www." + lab.ZoneAuth + " AAAA",
		"txt." + lab.ZoneAuth + " TXT", "nope." + lab.ZoneAuth + " A", lab.ZoneAuth + " MX", lab.ZoneAuth + " SOA"})
	perf := l.Client.Run(t, dnsperf, "-s", lab.ServerV4.String(), "-d", queries, "-l", labPerfSeconds(), "-c", "4")
	t.Logf("dnsperf: %s", perfSummary(string(perf)))
	named.StopSocket(t)
	pcap := wc.stop(t)
	server := teeFrames(t, ls.tee)
	wire := wireFrames(t, pcap, emit.Config{Servers: servers(emit.RoleAuthoritative, lab.ServerV4.String(), lab.ServerV6.String())})
	checkLab(t, "BIND", ls.m, ls.r, server, wire)
	if rs := ls.r.Stats(); rs.Get(ConnsClean) != rs.Get(Connections) || rs.Get(Connections) == 0 {
		t.Fatalf("%d of %d connections ended with STOP", rs.Get(ConnsClean), rs.Get(Connections))
	}
}

// TestLabUnboundMerge is the same with Unbound, role recursive, both legs:
// clients ask Unbound for names it does not have, Unbound forwards each to
// BIND, and its dnstap of both (client and forwarder messages, the latter
// without a source address) goes to the Receiver. The wire is Unbound's
// link on the switch.
func TestLabUnboundMerge(t *testing.T) {
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	s := lab.NewSPAN(t)
	lab.StartNamed(t, s.Auth, lab.ServerV4, lab.ServerV6)
	ls := startLabSide(t, labDir(t))
	wc := startWireCapture(t, s.Switch, s.Ports["res"])
	ub := lab.StartUnboundSocket(t, s.Resolver, []netip.Addr{lab.ServerV4, lab.ServerV6}, ls.serverSock, lab.ResolverV4, lab.ResolverV6)
	// Distinct names, so that every client query but the repeated local
	// one makes Unbound ask BIND (NXDOMAIN, cached after).
	var qs []string
	for i := range labUnboundNames {
		qs = append(qs, fmt.Sprintf("n%d.%s A", i, lab.ZoneAuth), lab.NameLocal+" A")
	}
	perf := s.Client.Run(t, dnsperf, "-s", lab.ResolverV4.String(), "-d", writeQueries(t, qs), "-n", "1", "-c", "4", "-q", "200")
	t.Logf("dnsperf: %s", perfSummary(string(perf)))
	ub.StopSocket(t)
	pcap := wc.stop(t)
	server := teeFrames(t, ls.tee)
	wire := wireFrames(t, pcap, emit.Config{
		Servers:    servers(emit.RoleRecursive, lab.ResolverV4.String(), lab.ResolverV6.String()),
		Forwarders: prefixes(lab.ServerV4.String(), lab.ServerV6.String()),
	})
	checkLab(t, "Unbound", ls.m, ls.r, server, wire)
	if rs := ls.r.Stats(); rs.Get(ConnsClean) != rs.Get(Connections) || rs.Get(Connections) == 0 {
		t.Fatalf("%d of %d connections ended with STOP", rs.Get(ConnsClean), rs.Get(Connections))
	}
}

// TestLabBINDLateAndCut: BIND starts before the sensor listens (its dnstap
// of the first queries is lost), connects when the Receiver comes, and
// its connection is cut mid-run (BIND reconnects after its reopen
// interval, 5 s by default, losing what it logs meanwhile). The merged
// stream still holds every wire message once: what BIND's stream lacks is
// filled, counted as BIND's shortfall. One log line per connection event.
func TestLabBINDLateAndCut(t *testing.T) {
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	l := lab.New(t)
	dir := labDir(t)
	wc := startWireCapture(t, l.Server, l.ServerIf)
	named := lab.StartNamedSocket(t, l.Server, lab.ServerV4, lab.ServerV6, labServerSock(dir))
	queries := writeQueries(t, []string{"www." + lab.ZoneAuth + " A", "txt." + lab.ZoneAuth + " TXT"})
	perf := func(phase string) {
		out := l.Client.Run(t, dnsperf, "-s", lab.ServerV4.String(), "-d", queries, "-l", "1", "-Q", "1000")
		t.Logf("dnsperf %s: %s", phase, perfSummary(string(out)))
	}
	perf("before the sensor listens")
	ls := startLabSide(t, dir)
	ls.waitConnected(t, time.Minute)
	perf("connected")
	ls.tee.Cut()
	perf("cut")
	ls.waitConnected(t, time.Minute)
	perf("reconnected")
	named.StopSocket(t)
	pcap := wc.stop(t)
	server := teeFrames(t, ls.tee)
	wire := wireFrames(t, pcap, emit.Config{Servers: servers(emit.RoleAuthoritative, lab.ServerV4.String(), lab.ServerV6.String())})
	checkLab(t, "BIND", ls.m, ls.r, server, wire)
	rs := ls.r.Stats()
	if rs.Get(Connections) != 2 || rs.Get(Reconnects) != 1 || rs.Get(ConnsCut) != 1 || rs.Get(ConnsClean) != 1 {
		t.Fatalf("connections %d, reconnects %d, cut %d, clean %d; want 2, 1, 1, 1",
			rs.Get(Connections), rs.Get(Reconnects), rs.Get(ConnsCut), rs.Get(ConnsClean))
	}
	// The first second of queries is BIND's at least (nothing listened).
	if got := ls.m.Counters().Get(Filled); got < 1000 {
		t.Fatalf("filled %d, want at least the 2,000 messages of the first second", got)
	}
	if n := len(ls.log.matching("connected from")); n != 2 {
		t.Fatalf("%d connection log lines, want 2:\n%s", n, strings.Join(ls.log.lines, "\n"))
	}
	t.Logf("receiver log:\n%s", strings.Join(ls.log.lines, "\n"))
}

// labUnboundNames is how many distinct names the Unbound lab asks for.
const labUnboundNames = 20000

// labSide is the sensor's end of a lab: a Receiver behind a tee, feeding
// a merge-mode Merger.
type labSide struct {
	serverSock string // where the server sends its dnstap (the tee)
	tee        *lab.FrameTee
	r          *Receiver
	m          *Merger
	log        logLines
	connected  chan string // a line per server connection
}

// waitConnected waits for the server's next connection to the Receiver.
func (ls *labSide) waitConnected(t *testing.T, timeout time.Duration) {
	t.Helper()
	select {
	case line := <-ls.connected:
		t.Log(line)
	case <-time.After(timeout):
		t.Fatalf("the server did not connect within %v", timeout)
	}
}

// labDir is a directory for the lab's sockets. Not under t.TempDir, whose
// parents are 0700 root: named, as the bind user, must reach the socket.
func labDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "merge-lab-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// labServerSock is where a lab server sends its dnstap (the tee) in dir.
func labServerSock(dir string) string { return filepath.Join(dir, "server.sock") }

func startLabSide(t *testing.T, dir string) *labSide {
	t.Helper()
	ls := &labSide{serverSock: labServerSock(dir), connected: make(chan string, 64)}
	ls.r = NewReceiver(ReceiverConfig{SocketMode: 0o600, Logf: func(format string, args ...any) {
		line := fmt.Sprintf(format, args...)
		ls.log.logf("%s", line)
		if strings.Contains(line, "connected from") {
			ls.connected <- line
		}
	}})
	recvSock := filepath.Join(dir, "receiver.sock")
	if _, err := ls.r.Listen("unix:" + recvSock); err != nil {
		t.Fatal(err)
	}
	ls.tee = lab.StartFrameTee(t, ls.serverSock, recvSock)
	// A window longer than the run: nothing is released before Close, so
	// the counts are those of the two whole streams, exactly comparable
	// with sensor compare. (TestWindow covers release within a window.)
	var err error
	ls.m, err = New(Config{Outputs: []emit.Output{&memOutput{}}, Window: time.Hour, MaxEntries: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ls.m.Attach(ls.r)
	return ls
}

// wireCapture is tcpdump writing the wire's DNS packets to a pcap.
type wireCapture struct {
	p    *lab.Process
	pcap string
}

func startWireCapture(t *testing.T, ns *lab.Netns, ifname string) *wireCapture {
	t.Helper()
	tcpdump := testenv.NeedTool(t, "tcpdump", "tcpdump")
	wc := &wireCapture{pcap: filepath.Join(t.TempDir(), "wire.pcap")}
	// A 256 MiB buffer (-B, in KiB): with lab.StartCapture's default 2 MiB
	// tcpdump lost 10% of the packets at dnsperf's full speed here, and
	// the wire is the truth the server is measured against.
	wc.p = ns.Start(t, tcpdump, "-i", ifname, "-w", wc.pcap, "-s", "0", "-n", "-Z", "root", "-B", "262144",
		"udp port 53 or tcp port 53")
	wc.p.WaitFor(t, "listening on", time.Minute)
	return wc
}

func (wc *wireCapture) stop(t *testing.T) string {
	t.Helper()
	// tcpdump hands the ring's last block over on its timeout (1 s) and
	// leaves at once on SIGINT: give it the time (as lab.Capture does).
	time.Sleep(2 * time.Second)
	if err := wc.p.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("tcpdump: %v: %s", err, wc.p.Stderr())
	}
	t.Logf("tcpdump: %s", lastLines(wc.p.Stderr(), 3))
	return wc.pcap
}

func writeQueries(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "queries.txt")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// checkLab feeds the wire's frames to the Merger that took the server's
// stream from the Receiver, closes it, and checks both against `sensor
// compare` of the tee's copy of the server's stream and the wire: merge
// mode live, verify mode on the same two streams after.
func checkLab(t *testing.T, name string, m *Merger, r *Receiver, server, wire [][]byte) {
	t.Helper()
	// The wire side into the Merger as the sensor's output queue hands it
	// (batches of whole frames).
	q := emit.NewQueue(m, emit.QueueConfig{Block: true})
	p := q.Producer()
	for _, f := range wire {
		must(t, p.WriteFrame(f))
	}
	p.Flush()
	must(t, q.Close()) // the last batch, then the Merger's Close
	out := m.cfg.Outputs[0].(*memOutput)
	rep, err := tapfile.Compare(fileOf(t, server), fileOf(t, wire), tapfile.CompareOptions{NameA: name, NameB: "wire", MaxListed: 5})
	if err != nil {
		t.Fatal(err)
	}
	shortfall, serverOnly := len(rep.OnlyB), len(rep.OnlyA)
	t.Logf("wire %d messages, %s %d: shortfall %d (%.2f%%), server only %d, matched %d exact, %v",
		len(wire), name, len(server), shortfall, 100*float64(shortfall)/float64(len(wire)), serverOnly, rep.Matched, rep.Excused)
	rs := r.Stats()
	if rs.Get(FramesIn) != uint64(len(server)) || rs.Get(FramesQueueFull) != 0 || rs.Get(ConnsClean)+rs.Get(ConnsCut) != rs.Get(Connections) {
		t.Fatalf("receiver: %d frames in (tee saw %d), %d dropped, %d connections, %d ended with STOP, %d cut",
			rs.Get(FramesIn), len(server), rs.Get(FramesQueueFull), rs.Get(Connections), rs.Get(ConnsClean), rs.Get(ConnsCut))
	}
	c := m.Counters()
	got := [4]uint64{c.Get(Both), c.Get(ServerOnly), c.Get(WireOnly), c.Get(Filled)}
	want := [4]uint64{uint64(rep.Matched + rep.ExcusedTotal()), uint64(serverOnly), uint64(shortfall), uint64(shortfall)}
	if got != want {
		t.Fatalf("merge: both, server only, wire only, filled = %v; sensor compare says %v:\n%s", got, want, rep)
	}
	if c.Get(ReleasedEarly) != 0 {
		t.Fatalf("%d frames released early: the table is too small for the run", c.Get(ReleasedEarly))
	}
	checkMerged(t, ModeMerge, out.all(), server, wire, c)
	sk := m.Skew()
	t.Logf("merge: both %d, server only %d, wire only %d, filled %d; skew median %v, max %v over %d pairs",
		got[0], got[1], got[2], got[3], sk.Median, sk.MaxAbs, sk.Pairs)
	for _, iv := range m.History() {
		t.Logf("  %s: both %d, wire only %d (%s dropped %.2f%%)", iv.Start.Format("15:04:05"), iv.Both, iv.WireOnly, name, 100*iv.ServerDropRate())
	}

	// Verify mode on the same two streams: the shortfall within ±0.
	vout := &memOutput{}
	v, err := New(Config{Mode: ModeVerify, Outputs: []emit.Output{vout}, Window: time.Hour, MaxEntries: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	must(t, v.ServerBatch(batch(server...)))
	must(t, v.WriteBatch(batch(wire...)))
	must(t, v.Close())
	vc := v.Counters()
	if vc.Get(WireOnly) != uint64(shortfall) || vc.Get(ServerOnly) != uint64(serverOnly) || vc.Get(Filled) != 0 {
		t.Fatalf("verify: wire only %d, server only %d, filled %d; want %d, %d, 0",
			vc.Get(WireOnly), vc.Get(ServerOnly), vc.Get(Filled), shortfall, serverOnly)
	}
	checkMerged(t, ModeVerify, vout.all(), server, wire, vc)
}

// perfSummary picks dnsperf's sent/completed/lost lines.
func perfSummary(out string) string {
	var keep []string
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "Queries sent:") || strings.HasPrefix(line, "Queries completed:") ||
			strings.HasPrefix(line, "Queries lost:") || strings.HasPrefix(line, "Queries per second:") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "; ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "; ")
}
