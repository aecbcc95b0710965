package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// unitPath is the systemd unit the .deb installs.
func unitPath() string {
	return filepath.Join(testenv.RepoRoot(), "packaging", "dnstap-sensor.service")
}

// TestServiceUnitVerifies: systemd-analyze verify accepts the unit, in a
// root that holds the installed binary and systemd's own units (its
// ExecStart, ExecStartPre and ExecReload programs must exist).
func TestServiceUnitVerifies(t *testing.T) {
	testenv.NeedTool(t, "systemd-analyze", "systemd")
	root := t.TempDir()
	for _, d := range []string{"usr/bin", "bin", "etc/systemd/system", "lib/systemd"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	installFile(t, sensorBin(t), filepath.Join(root, "usr/bin/dnstap-sensor"), 0o755)
	installFile(t, "/bin/kill", filepath.Join(root, "bin/kill"), 0o755)
	installFile(t, unitPath(), filepath.Join(root, "etc/systemd/system/dnstap-sensor.service"), 0o644)
	if out, err := exec.Command("cp", "-a", "/lib/systemd/system", filepath.Join(root, "lib/systemd/")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v\n%s", err, out)
	}
	// --man=no: the man page is checked in the package test.
	out, err := exec.Command("systemd-analyze", "verify", "--man=no", "--root="+root, "/etc/systemd/system/dnstap-sensor.service").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	out, err = exec.Command("systemd-analyze", "security", "--offline=yes", "--root="+root, "dnstap-sensor.service").CombinedOutput()
	if err != nil {
		t.Fatalf("systemd-analyze security: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`Overall exposure level for dnstap-sensor.service: ([0-9.]+)`).FindSubmatch(out)
	// The README gives the score; a change of the unit must update both.
	if m == nil || string(m[1]) != "1.6" {
		t.Fatalf("systemd-analyze security: exposure %q, want 1.6 (as the README says)\n%s", m, out)
	}
}

func installFile(t testing.TB, from, to string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, mode); err != nil {
		t.Fatal(err)
	}
}

// unitSyscallFilter reads the unit's SystemCallFilter= lines and resolves
// them with systemd-analyze's own group table into the set of allowed
// system calls.
func unitSyscallFilter(t testing.TB) map[string]bool {
	t.Helper()
	out, err := exec.Command("systemd-analyze", "syscall-filter").Output()
	if err != nil {
		t.Fatalf("systemd-analyze syscall-filter: %v", err)
	}
	groups := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "@"):
			cur = strings.TrimSpace(line)
		case cur != "" && strings.HasPrefix(line, " "):
			if f := strings.TrimSpace(line); f != "" && !strings.HasPrefix(f, "#") {
				groups[cur] = append(groups[cur], f)
			}
		default:
			cur = ""
		}
	}
	var resolve func(name string, seen map[string]bool) []string
	resolve = func(name string, seen map[string]bool) []string {
		if !strings.HasPrefix(name, "@") {
			return []string{name}
		}
		if seen[name] {
			return nil
		}
		seen[name] = true
		if _, ok := groups[name]; !ok {
			t.Fatalf("systemd-analyze knows no group %s", name)
		}
		var calls []string
		for _, m := range groups[name] {
			calls = append(calls, resolve(m, seen)...)
		}
		return calls
	}
	unit, err := os.ReadFile(unitPath())
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[string]bool{}
	for _, line := range strings.Split(string(unit), "\n") {
		v, ok := strings.CutPrefix(line, "SystemCallFilter=")
		if !ok {
			continue
		}
		deny := strings.HasPrefix(v, "~")
		for _, item := range strings.Fields(strings.TrimPrefix(v, "~")) {
			for _, c := range resolve(item, map[string]bool{}) {
				if deny {
					delete(allowed, c)
				} else {
					allowed[c] = true
				}
			}
		}
	}
	if len(allowed) < 100 {
		t.Fatalf("the unit's SystemCallFilter allows only %d calls: misread?", len(allowed))
	}
	return allowed
}

// TestServiceSyscallFilter: every system call the sensor makes while it
// captures (two workers, a file output, metrics, periodic stats, a clean
// stop), traced with strace, is allowed by the unit's SystemCallFilter,
// so the sandbox cannot refuse the sensor something it needs. (The unit
// itself cannot run here: there is no systemd as PID 1 on CI machines.)
func TestServiceSyscallFilter(t *testing.T) {
	testenv.NeedTool(t, "systemd-analyze", "systemd")
	testenv.NeedTool(t, "strace", "strace")
	bin := sensorBin(t)
	allowed := unitSyscallFilter(t)
	l := lab.New(t)
	trace := filepath.Join(t.TempDir(), "strace.txt")
	out := filepath.Join(t.TempDir(), "s.dnstap")
	// As systemd starts it (Type=notify), so that READY=1 is traced too.
	notify := filepath.Join(t.TempDir(), "notify")
	nl, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notify, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nl.Close()
	sensor := l.Server.Start(t, "env", "NOTIFY_SOCKET="+notify, "strace", "-f", "-qq", "-o", trace, bin, "-i", l.ServerIf, "--workers", "2",
		"-w", out, "--metrics", "127.0.0.1:0", "--stats-interval", "100ms", "--config", filepath.Join(testenv.RepoRoot(), "packaging", "sensor.conf"))
	for range 2 {
		sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	}
	// Queries nobody answers still cross the captured interface.
	for range 3 {
		_, _ = l.Client.Output("dig", "+tries=1", "+time=1", at4, "example.", "A")
	}
	sensor.WaitFor(t, "stats:", sensorStartWait)
	// SIGTERM, as systemctl stop sends, to the sensor itself: strace
	// would detach on it and leave the sensor running.
	kids, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", sensor.Pid(), sensor.Pid()))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(kids)))
	if err != nil {
		t.Fatalf("children of strace: %q", kids)
	}
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) }) // a no-op once it exited
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sensor.Done():
	case <-time.After(sensorTimeout):
		t.Fatalf("the sensor did not stop on SIGTERM\n%s", sensor.Stderr())
	}
	b, err := os.ReadFile(trace)
	if err != nil {
		t.Fatal(err)
	}
	call := regexp.MustCompile(`^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]`)
	var used, refused []string
	for _, line := range strings.Split(string(b), "\n") {
		m := call.FindStringSubmatch(line)
		if m == nil || m[1] == "exit" || slices.Contains(used, m[1]) {
			continue
		}
		used = append(used, m[1])
		if !allowed[m[1]] {
			refused = append(refused, m[1])
		}
	}
	if len(used) < 20 || !slices.Contains(used, "setsockopt") || !slices.Contains(used, "mmap") || !slices.Contains(used, "connect") {
		t.Fatalf("strace saw only %v: misread?", used)
	}
	if len(refused) > 0 {
		t.Fatalf("the sensor calls %v, which the unit's SystemCallFilter refuses; it used %v", refused, used)
	}
	t.Logf("%d distinct system calls, all allowed: %v", len(used), used)
}

// TestLogrotateConfig: logrotate parses the packaged rotation config and
// would rotate the service's dnstap file, with the reload that sends SIGHUP.
func TestLogrotateConfig(t *testing.T) {
	testenv.NeedTool(t, "logrotate", "logrotate")
	dir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "packaging", "logrotate"))
	if err != nil {
		t.Fatal(err)
	}
	// The same rules on a copy of the log directory, as root (no su).
	conf = bytes.ReplaceAll(conf, []byte("/var/log/dnstap-sensor"), []byte(dir))
	conf = bytes.ReplaceAll(conf, []byte("su dnstap-sensor dnstap-sensor"), nil)
	path := filepath.Join(t.TempDir(), "dnstap-sensor")
	if err := os.WriteFile(path, conf, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "sensor.dnstap"), []byte("frames"), 0o640); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("logrotate", "--debug", "--force", "--state", filepath.Join(t.TempDir(), "state"), path).CombinedOutput()
	if err != nil {
		t.Fatalf("logrotate: %v\n%s", err, out)
	}
	for _, want := range []string{"renaming " + dir + "/sensor.dnstap to " + dir + "/sensor.dnstap.1", "systemctl reload dnstap-sensor.service"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("logrotate --debug does not say %q:\n%s", want, out)
		}
	}
}

// TestServiceNotify: started as systemd starts a Type=notify unit (with
// NOTIFY_SOCKET), the sensor sends READY=1 once it captures.
func TestServiceNotify(t *testing.T) {
	testenv.NeedRoot(t)
	bin := sensorBin(t)
	sock := filepath.Join(t.TempDir(), "notify")
	ln, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cmd := exec.Command(bin, "-i", "lo", "-q", "--duration", "30s")
	cmd.Env = append(os.Environ(), "NOTIFY_SOCKET="+sock)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	ln.SetReadDeadline(time.Now().Add(sensorStartWait))
	buf := make([]byte, 512)
	n, err := ln.Read(buf)
	if err != nil {
		t.Fatalf("no notification from the sensor: %v\n%s", err, stderr.String())
	}
	if got := string(buf[:n]); got != "READY=1\nSTATUS=capturing\n" {
		t.Fatalf("notification %q, want READY=1 and a status", got)
	}
}
