package e2e

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	godnstap "github.com/dnstap/golang-dnstap"
)

// checkGroundTruth runs the sensor on a capture as BIND's authoritative
// role and asserts that its output holds exactly the messages BIND logged
// itself: same wire bytes, class, protocol, addresses and ports.
//
// BIND 9.18 decides the dnstap type per client message: a query it answers
// with recursion off is AUTH_QUERY, but the answer to an RD=1 query is
// CLIENT_RESPONSE. The sensor, told the server is authoritative, says
// AUTH_RESPONSE. Compare excuses exactly that difference (and only for
// RD=1); the test also checks that the excused count equals BIND's
// CLIENT_RESPONSE count, so no other difference can hide behind it.
func checkGroundTruth(t *testing.T, pcap, bindDnstap string) {
	t.Helper()
	out, summary := convert(t, pcap, "--server", serverFlag, "--role", "authoritative")
	bf, err := os.Open(bindDnstap)
	if err != nil {
		t.Fatal(err)
	}
	defer bf.Close()
	sf, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer sf.Close()
	rep, err := tapfile.Compare(bf, sf, tapfile.CompareOptions{NameA: "BIND " + bindDnstap, NameB: "sensor", MaxListed: -1})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Covers() || len(rep.OnlyB) > 0 {
		t.Errorf("sensor output is not exactly BIND's messages:\n%s\nsensor summary:\n%s", rep, summary)
	}
	f, err := os.Open(bindDnstap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, err := tapfile.ReadCompareEntries(f)
	if err != nil {
		t.Fatal(err)
	}
	clientResponses := 0
	for _, e := range entries {
		if e.Type == godnstap.Message_CLIENT_RESPONSE {
			clientResponses++
		}
	}
	if got := rep.Excused[tapfile.ReasonBINDRD]; got != clientResponses || len(rep.Excused) > 1 {
		t.Errorf("excused %v, want only %d x %q (BIND's CLIENT_RESPONSE count)", rep.Excused, clientResponses, tapfile.ReasonBINDRD)
	}
	if rep.MessagesA == 0 {
		t.Errorf("BIND's dnstap %s holds no messages", bindDnstap)
	}
	t.Logf("%s: %d BIND messages, %d exact, %d excused (BIND CR vs AR)", pcap, rep.MessagesA, rep.Matched, rep.ExcusedTotal())
	checkCompareCLI(t, bindDnstap, out, rep.Covers())
}

// checkCompareCLI runs `sensor compare` (issue #4) on the same pair: it
// must exit 0 exactly when B covers A and say so in its report; with
// --strict-type BIND's CLIENT_RESPONSE labels no longer count as matches.
func checkCompareCLI(t *testing.T, bindDnstap, sensorDnstap string, covers bool) {
	t.Helper()
	stdout, stderr, err := runCmd(t, sensorBin(t), "compare", bindDnstap, sensorDnstap)
	if covers != (err == nil) || !strings.Contains(stdout, "B covers A: ") {
		t.Errorf("sensor compare: covers=%v but exit %v\nstdout:\n%s\nstderr:\n%s", covers, err, stdout, stderr)
	}
	if !covers {
		return
	}
	_, _, err = runCmd(t, sensorBin(t), "compare", "--strict-type", bindDnstap, sensorDnstap)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Errorf("sensor compare --strict-type: exit %v, want 1 (BIND says CLIENT_RESPONSE, the sensor AUTH_RESPONSE)", err)
	}
}

// TestGroundTruthUDP (issue #2) runs BIND in a namespace, queries it over
// UDP on IPv4 and IPv6 (several names and types, NXDOMAIN, REFUSED,
// UPDATE), captures with tcpdump, and checks the sensor's output of that
// capture against BIND's own dnstap.
func TestGroundTruthUDP(t *testing.T) {
	sensorBin(t)
	run := runScenario(t, scenarioByName(t, "udp"), t.TempDir())
	checkGroundTruth(t, run.pcap, run.bindDnstap)
}

// TestGroundTruthTCPFrag is TestGroundTruthUDP for issue #3's traffic: DNS
// over TCP (keepopen, answers over the MSS, TC=1 then TCP) and IP-fragmented
// EDNS answers on IPv4 and IPv6, live.
func TestGroundTruthTCPFrag(t *testing.T) {
	sensorBin(t)
	for _, name := range []string{"tcp", "frag"} {
		t.Run(name, func(t *testing.T) {
			run := runScenario(t, scenarioByName(t, name), t.TempDir())
			if name == "frag" {
				needFragments(t, run.pcap)
			}
			checkGroundTruth(t, run.pcap, run.bindDnstap)
		})
	}
}

// TestGroundTruthCaptures is the same check offline, over the committed
// lab captures and BIND's dnstap of them: no root, no BIND needed.
func TestGroundTruthCaptures(t *testing.T) {
	for _, name := range []string{"udp", "tcp", "frag"} {
		t.Run(name, func(t *testing.T) {
			if name == "frag" {
				needFragments(t, pcapPath("lab_bind_frag.pcap"))
			}
			checkGroundTruth(t, pcapPath("lab_bind_"+name+".pcap"), pcapPath("lab_bind_"+name+".bind.dnstap"))
		})
	}
}

// needFragments fails unless the capture holds IPv4 and IPv6 fragments:
// without them a fragment test would pass without testing anything.
func needFragments(t *testing.T, pcap string) {
	t.Helper()
	v4, v6 := countFragments(t, pcap)
	if v4 == 0 || v6 == 0 {
		t.Fatalf("%s: %d IPv4 and %d IPv6 fragments, want some of each", pcap, v4, v6)
	}
	t.Logf("%s: %d IPv4 and %d IPv6 fragments", pcap, v4, v6)
}
