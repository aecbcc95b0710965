package e2e

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

const (
	// sensorStartWait bounds the wait for the live sensor's first socket.
	sensorStartWait = 30 * time.Second
	// ringSettle lets the last mirrored frames leave the AF_PACKET ring
	// (the sensor's block timeout is well below this) before SIGINT.
	ringSettle = time.Second
	// perfSeconds and perfQPS size the dnsperf run: a few seconds at a rate
	// a shared 2-core machine sustains without drops in named or Unbound.
	perfSeconds = 3
	perfQPS     = 300
)

var (
	atRes4 = "@" + lab.ResolverV4.String()
	atRes6 = "@" + lab.ResolverV6.String()
)

// resolverSteps is issue #4's traffic through Unbound: its local zone,
// names forwarded to BIND over UDP and TCP, v4 and v6, NXDOMAIN, SERVFAIL
// (BIND refuses, Unbound fails), and TC=1 then TCP.
var resolverSteps = []step{
	{dig: []string{atRes4, lab.NameLocal, "A"}, want: lab.NameLocalAddr},
	{dig: []string{atRes6, lab.NameLocal, "A"}, want: lab.NameLocalAddr},
	{dig: []string{atRes4, www, "A"}, want: "192.0.2.80"},
	{dig: []string{atRes6, www, "AAAA"}, want: "fd00:53::80"},
	{dig: []string{atRes4, "+tcp", "txt." + lab.ZoneAuth, "TXT"}, want: "hello from the lab"},
	{dig: []string{atRes6, "+tcp", lab.ZoneAuth, "MX"}, want: "mail." + lab.ZoneAuth},
	{dig: []string{atRes4, "nope." + lab.ZoneAuth, "A"}, want: "status: NXDOMAIN"},
	{dig: []string{atRes4, lab.RefusedName, "A"}, want: "status: SERVFAIL"},
	{dig: []string{atRes4, "+noedns", lab.NameMSSTXT, "TXT"}, want: "Truncated, retrying in TCP mode"},
	{dig: []string{atRes6, "+bufsize=4096", lab.NameBigTXT, "TXT"}, want: "big-0000-lab-padding"},
}

// TestE2ELiveSPAN (issue #4) is the sensor's real job in a lab: a client,
// BIND (authoritative) and Unbound (recursive, forwarding to BIND) on a
// bridge whose every port is mirrored with tc to a SPAN port, where the
// sensor captures live. After dig traffic of every kind and a few seconds
// of dnsperf, BIND's and Unbound's own dnstap must each be covered by the
// sensor's output (`sensor compare` semantics); messages the sensor has
// and a server does not are reported.
func TestE2ELiveSPAN(t *testing.T) {
	bin := sensorBin(t)
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	s := lab.NewSPAN(t)
	named := lab.StartNamed(t, s.Auth, lab.ServerV4, lab.ServerV6)
	ub := lab.StartUnbound(t, s.Resolver, []netip.Addr{lab.ServerV4, lab.ServerV6}, lab.ResolverV4, lab.ResolverV6)

	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.dnstap")
	servers := []string{
		lab.ServerV4.String() + "=authoritative", lab.ServerV6.String() + "=authoritative",
		lab.ResolverV4.String() + "=recursive", lab.ResolverV6.String() + "=recursive",
	}
	sensor := s.Monitor.Start(t, bin, "-i", s.SpanIf, "-w", out, "--identity", "e2e-span",
		"--server", strings.Join(servers, ","),
		"--forwarder", lab.ServerV4.String()+","+lab.ServerV6.String())
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	for _, sc := range scenarios {
		for _, st := range sc.steps {
			runStep(t, s.Client, st)
		}
	}
	for _, st := range resolverSteps {
		runStep(t, s.Client, st)
	}
	queries := filepath.Join(dir, "queries.txt")
	qs := strings.Join([]string{
		www + " A", www + " AAAA", lab.NameLocal + " A", "txt." + lab.ZoneAuth + " TXT",
		"nope." + lab.ZoneAuth + " A", lab.ZoneAuth + " MX", lab.ZoneAuth + " SOA",
	}, "\n") + "\n"
	if err := os.WriteFile(queries, []byte(qs), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, server := range []string{lab.ResolverV4.String(), lab.ServerV4.String()} {
		perf := s.Client.Run(t, dnsperf, "-s", server, "-d", queries, "-l", strconv.Itoa(perfSeconds),
			"-Q", strconv.Itoa(perfQPS), "-t", "2")
		t.Logf("dnsperf -s %s: %s", server, perfLine(string(perf)))
	}

	stopLiveRun(t, sensor, syscall.SIGINT, ub, named)

	// Each message on the wire is in one server's dnstap, or in both's
	// (Unbound's upstream queries): the sensor writes one view per
	// monitored end, so without drops anywhere its count is the sum.
	total := decodedCount(t, out)
	sum := decodedCount(t, named.DnstapPath) + decodedCount(t, ub.DnstapPath)
	if total != sum {
		t.Logf("the sensor wrote %d messages, BIND and Unbound logged %d between them: %+d", total, sum, total-sum)
	}
	for _, srv := range []struct{ name, path string }{{"BIND", named.DnstapPath}, {"Unbound", ub.DnstapPath}} {
		t.Run(srv.name, func(t *testing.T) {
			a, err := os.Open(srv.path)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := os.Open(out)
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			rep, err := tapfile.Compare(a, b, tapfile.CompareOptions{NameA: srv.name, NameB: "sensor"})
			if err != nil {
				t.Fatal(err)
			}
			if rep.MessagesA == 0 {
				t.Fatalf("%s logged nothing", srv.name)
			}
			if !rep.Covers() {
				t.Errorf("the sensor does not cover %s's dnstap:\n%s", srv.name, rep)
				return
			}
			t.Logf("%s: %d messages, %d exact, excused %v; %d only in the sensor (the other server's, or dropped by %s)",
				srv.name, rep.MessagesA, rep.Matched, rep.Excused, len(rep.OnlyB), srv.name)
		})
	}
}

func runStep(t *testing.T, ns *lab.Netns, st step) {
	t.Helper()
	var out string
	if st.dig != nil {
		out = ns.Dig(t, st.dig...)
	} else {
		out = ns.NSUpdate(t, st.update)
	}
	if !strings.Contains(out, st.want) {
		t.Fatalf("step %v: want %q in:\n%s", st.dig, st.want, out)
	}
}

// perfLine picks dnsperf's sent/completed/lost lines for the log.
func perfLine(out string) string {
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

// stopLiveRun lets the ring settle, stops the live sensor with sig (its
// clean stop: drain, flush, summary), then Unbound and BIND so that their
// dnstap files are complete, and fails the test on kernel drops. It returns
// the sensor's summary.
func stopLiveRun(t *testing.T, sensor *lab.Process, sig syscall.Signal, ub *lab.Unbound, named *lab.Named) string {
	t.Helper()
	time.Sleep(ringSettle)
	if err := sensor.Stop(sig); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	ub.Stop(t)
	named.Stop(t)
	summary := sensor.Stderr()
	t.Logf("sensor:\n%s", summary)
	if m := regexp.MustCompile(`kernel_drops\s+([1-9]\d*)`).FindStringSubmatch(summary); m != nil {
		t.Errorf("the kernel dropped %s frames on the SPAN port", m[1])
	}
	return summary
}
