package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// pureSensorBin builds the sensor without cgo, as make dist and the .deb
// do: --user needs it (cmd/sensor/privileges.go says why).
func pureSensorBin(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "sensor")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sensor")
	cmd.Dir = testenv.RepoRoot()
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("CGO_ENABLED=0 go build ./cmd/sensor: %v\n%s", err, out)
	}
	return bin
}

// procStatus reads the fields of /proc/PID[/task/TID]/status.
func procStatus(t testing.TB, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok {
			m[k] = strings.Join(strings.Fields(v), " ")
		}
	}
	return m
}

// TestUserDropsPrivileges (issue #10): as root, `--user nobody` leaves
// every thread of the sensor with nobody's uid and gid, only CAP_NET_RAW
// (bit 13: 0x2000) effective, permitted and in the bounding set, nothing
// inheritable or ambient, and no_new_privs; and with only that, the sensor
// re-opens its socket after the SPAN port goes down and up and after it is
// deleted and re-created, and captures in every phase.
func TestUserDropsPrivileges(t *testing.T) {
	testenv.NeedRoot(t)
	bin := pureSensorBin(t)
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	out := filepath.Join(t.TempDir(), "sensor.dnstap")
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", out, "--user", "nobody",
		"--server", serverFlag, "--role", "authoritative")
	sensor.WaitFor(t, "running as user nobody (uid 65534, gid 65534) with cap_net_raw and no_new_privs", sensorStartWait)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	want := map[string]string{
		"Uid": "65534 65534 65534 65534", "Gid": "65534 65534 65534 65534", "Groups": "65534",
		"CapInh": "0000000000000000", "CapPrm": "0000000000002000", "CapEff": "0000000000002000",
		"CapBnd": "0000000000002000", "CapAmb": "0000000000000000", "NoNewPrivs": "1",
	}
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", sensor.Pid()))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("threads of the sensor: %v %v", tasks, err)
	}
	for _, path := range append([]string{fmt.Sprintf("/proc/%d/status", sensor.Pid())}, tasks...) {
		st := procStatus(t, path)
		for k, v := range want {
			if st[k] != v {
				t.Errorf("%s: %s %q, want %q", path, k, st[k], v)
			}
		}
	}

	markers := func(phase string) {
		t.Helper()
		for i := range markersPerPhase {
			m.Client.Dig(t, "-b", lab.ClientV4.String(), at4, fmt.Sprintf("%s-%d.%s", phase, i, lab.ZoneAuth), "A")
		}
	}
	markers("pre")
	m.SetSpan(t, false)
	sensor.WaitFor(t, "capture socket lost", sensorStartWait)
	m.SetSpan(t, true)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	markers("mid")
	m.DeleteSpan(t)
	time.Sleep(flapDown)
	m.AttachSpan(t)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	markers("post")
	time.Sleep(ringSettle)
	if err := sensor.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	named.Stop(t)
	// While the link is down or gone, opens fail for that reason; never
	// for want of a privilege.
	if strings.Contains(sensor.Stderr(), "not permitted") {
		t.Errorf("a socket was refused to nobody:\n%s", sensor.Stderr())
	}

	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := tapfile.ReadCompareEntries(f)
	f.Close()
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for i := range entries {
		kind := "query"
		if entries[i].IsResponse() {
			kind = "response"
		}
		seen[kind+" "+qname(&entries[i])]++
	}
	for _, phase := range []string{"pre", "mid", "post"} {
		for i := range markersPerPhase {
			name := fmt.Sprintf("%s-%d.%s.", phase, i, lab.ZoneAuth)
			for _, kind := range []string{"query", "response"} {
				if seen[kind+" "+name] != 1 {
					t.Errorf("%s %s: %d in the output of the sensor running as nobody, want 1", kind, name, seen[kind+" "+name])
				}
			}
		}
	}
	if t.Failed() {
		t.Logf("sensor:\n%s", sensor.Stderr())
	}
}

// TestPrivilegeErrors: what a sensor without the privilege it needs says.
// Each message names the capability and the way to grant it, not just
// "operation not permitted".
func TestPrivilegeErrors(t *testing.T) {
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "setpriv", "util-linux")
	bin := pureSensorBin(t)
	asNobody := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--bounding-set=-all"}
	// As systemd's User= with AmbientCapabilities=CAP_NET_RAW starts it.
	nobodyRaw := []string{"--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all,+net_raw",
		"--ambient-caps=+net_raw", "--bounding-set=-all,+net_raw"}
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"no CAP_NET_RAW", append(asNobody, bin, "-i", "lo", "-q"), 1,
			"needs CAP_NET_RAW (run as root or grant it with setcap or systemd's AmbientCapabilities)"},
		{"no CAP_SETUID", append(nobodyRaw, bin, "-i", "lo", "-q", "--user", "root"), 1,
			"changing user needs CAP_SETUID and CAP_SETGID"},
		{"unknown user", []string{bin, "-i", "lo", "-q", "--user", "no-such-user-h8"}, 2,
			`--user "no-such-user-h8": user: unknown user no-such-user-h8`},
		{"user with a file", []string{bin, "-r", pcapPath("dnscap_dns.pcap"), "--user", "nobody"}, 2,
			"--user applies to live capture (-i)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, args := "setpriv", tc.args
			if args[0] == bin {
				name, args = bin, args[1:]
			}
			cmd := exec.Command(name, args...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(stderr.String(), tc.stderr) {
				t.Fatalf("exit %d, stderr %q; want exit %d and %q", code, stderr.String(), tc.code, tc.stderr)
			}
		})
	}
}
