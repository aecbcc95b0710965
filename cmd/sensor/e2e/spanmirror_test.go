package e2e

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

const (
	// mirrorPerfSeconds and mirrorPerfQPS bound each dnsperf run of
	// TestSpanE2E: a few seconds at a fixed rate, only at lab addresses.
	mirrorPerfSeconds = 3
	mirrorPerfQPS     = 2000
)

// Addresses the sensor is told about in the Mirror lab: BIND is
// authoritative, Unbound recursive and forwarding to BIND.
var (
	bindAddrs    = []netip.Addr{lab.ServerV4, lab.ServerV6}
	unboundAddrs = []netip.Addr{lab.ResolverV4, lab.ResolverV6}
)

// mirrorServerFlags are the sensor's --server and --forwarder values for
// the Mirror lab.
func mirrorServerFlags() []string {
	var servers []string
	for _, a := range bindAddrs {
		servers = append(servers, a.String()+"=authoritative")
	}
	for _, a := range unboundAddrs {
		servers = append(servers, a.String()+"=recursive")
	}
	return []string{"--server", strings.Join(servers, ","),
		"--forwarder", lab.ServerV4.String() + "," + lab.ServerV6.String()}
}

// TestSpanE2E (issue #4) runs the sensor live on a SPAN port fed by tc
// mirred copies of both directions (ingress and egress hooks) of the veth
// pair between a client and a server namespace (lab.Mirror). BIND
// (authoritative, UPDATE allowed) and Unbound (local zone, forwarding to
// BIND across the mirrored link) log their own dnstap; the client side
// sends dig over UDP and TCP, v4 and v6, TC then TCP, fragmented EDNS
// answers, NXDOMAIN, REFUSED, UPDATE, then dnsperf. Every message in
// BIND's and in Unbound's dnstap must be in the sensor's output; what only
// the sensor has of a server's own view (the server's dnstap dropped it)
// is reported. It runs with one capture worker and with two in a fanout
// group, where each flow and each fragmented datagram must still reach a
// single worker.
func TestSpanE2E(t *testing.T) {
	for _, workers := range []int{1, 2} {
		t.Run(fmt.Sprintf("workers_%d", workers), func(t *testing.T) { testSpanE2E(t, workers) })
	}
}

func testSpanE2E(t *testing.T, workers int) {
	bin := sensorBin(t)
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	ub := lab.StartUnbound(t, m.Client, []netip.Addr{lab.ServerV4, lab.ServerV6}, lab.ResolverV4, lab.ResolverV6)

	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.dnstap")
	args := append([]string{"-i", m.SpanIf, "--workers", strconv.Itoa(workers), "-w", out, "--identity", "e2e-mirror"},
		mirrorServerFlags()...)
	sensor := m.Monitor.Start(t, bin, args...)
	for range workers {
		sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	}

	// BIND's client is on the Unbound side and Unbound's on the BIND side
	// (see lab.Mirror): each binds its own address.
	for _, sc := range scenarios {
		for _, st := range sc.steps {
			runStep(t, m.Client, fromAddr(t, st, lab.ClientV4, lab.ClientV6))
		}
	}
	for _, st := range resolverSteps {
		runStep(t, m.Server, fromAddr(t, st, lab.Client2V4, lab.Client2V6))
	}
	// REFUSED from Unbound too: access-control "allow" does not serve
	// non-recursive (RD=0) queries; "allow_snoop" would.
	runStep(t, m.Server, step{dig: []string{"-b", lab.Client2V4.String(), atRes4, "+norecurse", "mail." + lab.ZoneAuth, "A"}, want: "status: REFUSED"})

	queries := filepath.Join(dir, "queries.txt")
	qs := strings.Join([]string{
		www + " A", www + " AAAA", lab.NameLocal + " A", "txt." + lab.ZoneAuth + " TXT",
		"nope." + lab.ZoneAuth + " A", lab.ZoneAuth + " MX", lab.ZoneAuth + " SOA",
	}, "\n") + "\n"
	if err := os.WriteFile(queries, []byte(qs), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct {
		ns          *lab.Netns
		from, to    netip.Addr
		description string
	}{
		{m.Server, lab.Client2V4, lab.ResolverV4, "Unbound"},
		{m.Client, lab.ClientV4, lab.ServerV4, "BIND"},
	} {
		perf := p.ns.Run(t, dnsperf, "-s", p.to.String(), "-a", p.from.String(), "-d", queries,
			"-l", strconv.Itoa(mirrorPerfSeconds), "-Q", strconv.Itoa(mirrorPerfQPS), "-t", "2")
		t.Logf("dnsperf -> %s (%s): %s", p.description, p.to, perfLine(string(perf)))
	}

	summary := stopLiveRun(t, sensor, syscall.SIGTERM, ub, named)
	if !strings.Contains(summary, "frag_reassembled") {
		t.Errorf("no IP fragments reassembled: the fragmented answers did not reach the SPAN port")
	}

	for _, srv := range []struct {
		name, path string
		own        func(*tapfile.CompareEntry) bool
	}{
		{"BIND", named.DnstapPath, bindView},
		{"Unbound", ub.DnstapPath, unboundView},
	} {
		t.Run(srv.name, func(t *testing.T) {
			// The command a user runs: exit 0 when the sensor covers the server.
			stdout, stderr, err := runCmd(t, bin, "compare", srv.path, out)
			if err != nil {
				t.Errorf("sensor compare %s sensor.dnstap: %v\n%s%s", srv.name, err, stdout, stderr)
			}
			t.Logf("sensor compare %s sensor.dnstap:\n%s", srv.name, firstLines(stdout, 8))
			rep := compareFiles(t, srv.path, out, srv.name)
			if rep.MessagesA == 0 {
				t.Fatalf("%s logged nothing", srv.name)
			}
			if !rep.Covers() {
				t.Errorf("the sensor does not cover %s's dnstap:\n%s", srv.name, rep)
				return
			}
			var dropped []tapfile.CompareEntry
			for i := range rep.OnlyB {
				if srv.own(&rep.OnlyB[i]) {
					dropped = append(dropped, rep.OnlyB[i])
				}
			}
			t.Logf("%s: %d messages, all in the sensor's output (%d exact, excused %v); the sensor has %d more of %s's own view (not in its dnstap)",
				srv.name, rep.MessagesA, rep.Matched, rep.Excused, len(dropped), srv.name)
			for _, e := range dropped[:min(len(dropped), 5)] {
				t.Logf("  only in the sensor: %s", e.String())
			}
		})
	}
}

// compareFiles runs tapfile.Compare (what `sensor compare` prints) of a
// server's dnstap against the sensor's.
func compareFiles(t *testing.T, server, sensor, name string) *tapfile.CompareReport {
	t.Helper()
	a, err := os.Open(server)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(sensor)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := tapfile.Compare(a, b, tapfile.CompareOptions{NameA: name, NameB: "sensor"})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// bindView reports whether a sensor message is one BIND would log itself:
// BIND answers it (Unbound's FORWARDER_* view of the same exchange aside).
func bindView(e *tapfile.CompareEntry) bool {
	return slices.Contains(bindAddrs, e.Response.Addr()) &&
		e.Type != dnstap.Message_FORWARDER_QUERY && e.Type != dnstap.Message_FORWARDER_RESPONSE
}

// unboundView reports whether a sensor message is one Unbound would log
// itself: Unbound answers it, or asks it upstream.
func unboundView(e *tapfile.CompareEntry) bool {
	if slices.Contains(unboundAddrs, e.Response.Addr()) {
		return true
	}
	return slices.Contains(unboundAddrs, e.Query.Addr()) &&
		(e.Type == dnstap.Message_FORWARDER_QUERY || e.Type == dnstap.Message_FORWARDER_RESPONSE ||
			e.Type == dnstap.Message_RESOLVER_QUERY || e.Type == dnstap.Message_RESOLVER_RESPONSE)
}

// fromAddr returns the step sent from the given client addresses: dig
// binds (-b) the address of the server's family, nsupdate sets `local`.
func fromAddr(t testing.TB, st step, v4, v6 netip.Addr) step {
	t.Helper()
	var server string
	if st.dig != nil {
		server = strings.TrimPrefix(st.dig[0], "@")
	} else {
		first, _, _ := strings.Cut(st.update, "\n")
		server = strings.TrimPrefix(first, "server ")
	}
	a, err := netip.ParseAddr(server)
	if err != nil {
		t.Fatalf("step %v %q: no server address first: %v", st.dig, st.update, err)
	}
	from := v4
	if a.Is6() {
		from = v6
	}
	if st.dig != nil {
		st.dig = append([]string{"-b", from.String()}, st.dig...)
	} else {
		st.update = "local " + from.String() + "\n" + st.update
	}
	return st
}

// firstLines returns the first n lines of s.
func firstLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	return strings.Join(lines[:min(n, len(lines))], "")
}
