package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

const (
	// memQPS and memSeconds are the load of the memory budget: the 10k
	// qps lab of issue #10, for long enough that the output queue's
	// buffers and the capture ring have all been used.
	memQPS     = 10000
	memSeconds = 8
	// memBudget is what the sensor at default limits may hold resident
	// (README, "Memory budget").
	memBudget = 64 << 20
)

// TestMemoryBudget (issue #10): the sensor at default limits, capturing
// the 10k qps lab into a file, never holds more than 64 MiB resident
// (VmHWM, the peak, read from /proc before it exits).
func TestMemoryBudget(t *testing.T) {
	bin := sensorBin(t)
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	defer named.Stop(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.dnstap")
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", out, "--server", serverFlag, "--role", "authoritative")
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	queries := filepath.Join(dir, "queries.txt")
	qs := strings.Join([]string{
		"www." + lab.ZoneAuth + " A", "www." + lab.ZoneAuth + " AAAA", "txt." + lab.ZoneAuth + " TXT",
		"nope." + lab.ZoneAuth + " A", lab.ZoneAuth + " MX", lab.ZoneAuth + " SOA",
	}, "\n") + "\n"
	if err := os.WriteFile(queries, []byte(qs), 0o644); err != nil {
		t.Fatal(err)
	}
	perf := m.Client.Run(t, dnsperf, "-s", lab.ServerV4.String(), "-d", queries, "-l", strconv.Itoa(memSeconds),
		"-Q", strconv.Itoa(memQPS), "-c", "4", "-t", "2")
	t.Logf("dnsperf: %s", perfLine(string(perf)))

	status, err := os.ReadFile("/proc/" + strconv.Itoa(sensor.Pid()) + "/status")
	if err != nil {
		t.Fatal(err)
	}
	hwm := statusKB(t, string(status), "VmHWM")
	if smaps, err := os.ReadFile("/proc/" + strconv.Itoa(sensor.Pid()) + "/smaps"); err == nil {
		t.Logf("mappings over 1 MiB resident:\n%s", bigMappings(string(smaps)))
	}
	t.Logf("at the end of the load: VmRSS %d KiB = RssAnon %d + RssFile %d (binary, capture ring) + RssShmem %d",
		statusKB(t, string(status), "VmRSS"), statusKB(t, string(status), "RssAnon"),
		statusKB(t, string(status), "RssFile"), statusKB(t, string(status), "RssShmem"))
	if err := sensor.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	msgs := summaryCounter(t, sensor.Stderr(), "DNS messages")
	t.Logf("sensor at defaults: VmHWM %d KiB (%.1f MiB) after %d DNS messages", hwm, float64(hwm)/1024, msgs)
	if msgs < memQPS*memSeconds {
		t.Errorf("the sensor saw %d DNS messages: the load did not reach %d qps for %d s (want at least %d messages)",
			msgs, memQPS, memSeconds, memQPS*memSeconds)
	}
	if hwm<<10 > memBudget {
		t.Errorf("VmHWM %d KiB: over the %d MiB budget at defaults", hwm, memBudget>>20)
	}
}

// statusKB reads a "Name:   N kB" line of /proc/PID/status.
func statusKB(t *testing.T, status, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + `:\s+(\d+) kB$`).FindStringSubmatch(status)
	if m == nil {
		t.Fatalf("no %s in /proc/PID/status:\n%s", name, status)
	}
	n, err := strconv.ParseUint(m[1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// bigMappings lists the mappings of /proc/PID/smaps with more than 1 MiB
// resident, for the log: which part of the budget is which.
func bigMappings(smaps string) string {
	var b strings.Builder
	var head string
	for _, line := range strings.Split(smaps, "\n") {
		f := strings.Fields(line)
		if len(f) >= 5 && strings.Contains(f[0], "-") && !strings.HasSuffix(f[0], ":") {
			head = line
			continue
		}
		if len(f) == 3 && f[0] == "Rss:" {
			if n, _ := strconv.Atoi(f[1]); n > 1024 {
				b.WriteString(f[1] + " kB  " + head + "\n")
			}
		}
	}
	return b.String()
}
