package e2e

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
)

// promiscuityRE reads the kernel's promiscuity count from `ip -d link`.
var promiscuityRE = regexp.MustCompile(`promiscuity (\d+)`)

// promiscuity returns the promiscuity count of an interface as `ip -d
// link` prints it: the number of holders (sockets with a PACKET_MR_PROMISC
// membership, plus one for `ip link set promisc on`).
func promiscuity(t testing.TB, ns *lab.Netns, ifname string) int {
	t.Helper()
	out := ns.Run(t, "ip", "-d", "link", "show", "dev", ifname)
	m := promiscuityRE.FindSubmatch(out)
	if m == nil {
		t.Fatalf("no promiscuity in `ip -d link show dev %s`:\n%s", ifname, out)
	}
	n, err := strconv.Atoi(string(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestPromiscuousEveryExit (issue #10): each worker's socket holds one
// promiscuous membership while the sensor captures, and however the sensor
// ends (SIGKILL included, which runs no cleanup of ours) the interface is
// left as it was: promiscuity 0. A SIGHUP (logrotate's) must not leave it
// on either, whether it ends the process or not.
func TestPromiscuousEveryExit(t *testing.T) {
	bin := sensorBin(t)
	for _, tc := range []struct {
		sigs    []syscall.Signal
		workers int
	}{
		{[]syscall.Signal{syscall.SIGKILL}, 1},
		{[]syscall.Signal{syscall.SIGKILL}, 2},
		{[]syscall.Signal{syscall.SIGTERM}, 2},
		{[]syscall.Signal{syscall.SIGINT}, 1},
		// SIGHUP reopens the output, or (before that existed) ends the
		// process; SIGKILL then ends it either way.
		{[]syscall.Signal{syscall.SIGHUP, syscall.SIGKILL}, 1},
	} {
		t.Run(fmt.Sprintf("%v_workers_%d", tc.sigs, tc.workers), func(t *testing.T) {
			l := lab.New(t)
			if n := promiscuity(t, l.Server, l.ServerIf); n != 0 {
				t.Fatalf("promiscuity %d before the sensor, want 0", n)
			}
			out := filepath.Join(t.TempDir(), "s.dnstap")
			sensor := l.Server.Start(t, bin, "-i", l.ServerIf, "--workers", strconv.Itoa(tc.workers), "-w", out)
			for range tc.workers {
				sensor.WaitFor(t, "capture socket opened", sensorStartWait)
			}
			if n := promiscuity(t, l.Server, l.ServerIf); n != tc.workers {
				t.Fatalf("promiscuity %d while capturing with %d workers, want %d", n, tc.workers, tc.workers)
			}
			for _, sig := range tc.sigs {
				if err := syscall.Kill(sensor.Pid(), sig); err != nil && err != syscall.ESRCH {
					t.Fatal(err)
				}
			}
			<-sensor.Done()
			if n := promiscuity(t, l.Server, l.ServerIf); n != 0 {
				t.Fatalf("promiscuity %d after %v, want 0; sensor:\n%s", n, tc.sigs, sensor.Stderr())
			}
		})
	}
}
