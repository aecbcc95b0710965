package e2e

import (
	"fmt"
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
)

// TestE2ELiveFlap (issue #4): while the live sensor captures on the SPAN
// port, the port is set down and up, then deleted and re-created. Capture
// must resume each time without a restart; exactly the messages sent while
// the port was down are missing (checked against BIND's dnstap), and the
// summary shows the reopened sockets and the gap.
func TestE2ELiveFlap(t *testing.T) {
	bin := sensorBin(t)
	s := lab.NewSPAN(t)
	named := lab.StartNamed(t, s.Auth, lab.ServerV4, lab.ServerV6)
	out := filepath.Join(t.TempDir(), "sensor.dnstap")
	sensor := s.Monitor.Start(t, bin, "-i", s.SpanIf, "-w", out,
		"--server", serverFlag, "--role", "authoritative")
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	// Each phase queries its own names, so a missing message tells which
	// phase lost it.
	query := func(phase string, n int) {
		for i := range n {
			name := fmt.Sprintf("%s-%d.%s", phase, i, lab.ZoneAuth)
			s.Client.Dig(t, "@"+lab.ServerV4.String(), name, "A")
			s.Client.Dig(t, "@"+lab.ServerV6.String(), "+tcp", name, "AAAA")
		}
	}
	query("before", 3)

	s.SetSpan(t, false)
	sensor.WaitFor(t, "capture socket lost", sensorStartWait)
	query("down", 2)
	s.SetSpan(t, true)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	query("afterup", 3)

	s.RecreateSpan(t)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	query("recreated", 3)

	// Frames still in the ring's open block at SIGINT are not read (seen:
	// the last TCP exchange, 1 run in 2 without this wait).
	time.Sleep(ringSettle)
	if err := sensor.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	named.Stop(t)
	summary := sensor.Stderr()
	t.Logf("sensor:\n%s", summary)
	for _, c := range []struct {
		counter string
		min     int
	}{{"socket_reopens", 2}, {"capture_gap_ms", 1}} {
		m := regexp.MustCompile(c.counter + `\s+(\d+)`).FindStringSubmatch(summary)
		if m == nil {
			t.Errorf("no %s in the summary", c.counter)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); n < c.min {
			t.Errorf("%s = %d, want at least %d", c.counter, n, c.min)
		}
	}

	a, err := os.Open(named.DnstapPath)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	rep, err := tapfile.Compare(a, b, tapfile.CompareOptions{NameA: "BIND", NameB: "sensor", MaxListed: -1})
	if err != nil {
		t.Fatal(err)
	}
	// 2 names x (UDP query+answer, TCP query+answer) while down.
	const wantLost = 2 * 4
	lost := 0
	for _, e := range rep.OnlyA {
		if strings.Contains(e.String(), " down-") {
			lost++
		} else {
			t.Errorf("lost outside the down phase: %s", e.String())
		}
	}
	if lost != wantLost || len(rep.TypeMismatch) > 0 || len(rep.OnlyB) > 0 {
		t.Errorf("lost %d messages of the down phase, want %d:\n%s", lost, wantLost, rep)
	}
}
