package lab

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// cleanupChildEnv makes TestCleanupOnFailure's child build a lab and fail.
const cleanupChildEnv = "SENSOR_LAB_CLEANUP_CHILD"

// TestCleanupOnFailure runs a child test that builds a lab with named,
// Unbound, fstrm_capture and tcpdump running and then fails; afterwards
// none of its processes, namespaces or named directory may remain.
func TestCleanupOnFailure(t *testing.T) {
	if os.Getenv(cleanupChildEnv) == "1" {
		l := New(t)
		named := l.StartNamed(t)
		// Loopback: named holds port 53 on the lab addresses.
		ub := StartUnbound(t, l.Server, []netip.Addr{ServerV4}, netip.MustParseAddr("127.0.0.53"))
		c := l.Server.StartCapture(t, l.ServerIf, filepath.Join(t.TempDir(), "x.pcap"), "")
		fmt.Printf("PIDS %d %d %d %d\nDIR %s\nNETNS %s %s\n", named.proc.Pid(), ub.proc.Pid(), ub.capture.Pid(), c.proc.Pid(),
			named.Dir, l.Client.Name, l.Server.Name)
		t.Fatal("deliberate failure")
	}
	testenv.NeedRoot(t)
	for _, tool := range [][2]string{{"named", "bind9"}, {"unbound", "unbound"}, {"fstrm_capture", "fstrm-bin"}, {"tcpdump", "tcpdump"}} {
		testenv.NeedTool(t, tool[0], tool[1])
	}
	cmd := exec.Command(os.Args[0], "-test.run", "^TestCleanupOnFailure$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), cleanupChildEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err == nil || !strings.Contains(string(out), "deliberate failure") {
		t.Fatalf("child did not fail as planned (%v):\n%s", err, out)
	}
	m := regexp.MustCompile(`PIDS (\d+) (\d+) (\d+) (\d+)\nDIR (\S+)\nNETNS (\S+) (\S+)`).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("child printed no PIDS line:\n%s", out)
	}
	for _, s := range m[1:5] {
		pid, _ := strconv.Atoi(s)
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			t.Errorf("process %d of the failed test still runs", pid)
		}
	}
	if _, err := os.Stat(m[5]); err == nil {
		t.Errorf("named directory %s remains", m[5])
	}
	for _, ns := range m[6:8] {
		if _, err := os.Stat(filepath.Join("/run/netns", ns)); err == nil {
			t.Errorf("namespace %s remains", ns)
		}
	}
}
