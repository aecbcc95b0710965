package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Environment of TestLiveReplay, which runs only when asked: it loads both
// cores for tens of seconds and its numbers are measurements, not checks.
const (
	replayEnv = "SENSOR_REPLAY" // "1" runs it
	// replayPcapEnv names the capture to replay; by default a synthetic
	// UDP capture of replayDefaultN packets is generated into the test's
	// temporary directory.
	replayPcapEnv = "SENSOR_REPLAY_PCAP"
	// replayRatesEnv lists tcpreplay rates, comma-separated: "topspeed"
	// or packets per second (default "topspeed").
	replayRatesEnv = "SENSOR_REPLAY_RATES"
	// replayLimitEnv caps the packets sent per run (tcpreplay --limit), so
	// runs at a fixed rate stay short; 0 or unset sends the whole capture.
	replayLimitEnv = "SENSOR_REPLAY_LIMIT"
	// replayNEnv sets the packets of the generated capture (default
	// replayDefaultN); `make test` runs a short replay with a small one so
	// that `make replay` cannot break unnoticed.
	replayNEnv     = "SENSOR_REPLAY_N"
	replayDefaultN = 1_000_000
	// replaySettle lets the capture side read what is in its ring before
	// it is stopped: well above the sensor's block timeout.
	replaySettle = 2 * time.Second
)

// TestLiveReplay replays a large capture into the SPAN port of a Mirror
// lab (tcpreplay -K on MirrorIf, in the server namespace; nothing else is on
// that link) and counts what the live sensor (1 and 2 workers) and tcpdump
// -w /dev/null (its default 2 MiB buffer, and a buffer as large as the
// sensor's ring) received and dropped in the kernel, and what the sensor
// wrote. It prints a table. Run it alone:
//
//	SENSOR_REPLAY=1 go test -count=1 -v -run TestLiveReplay -timeout 30m ./cmd/sensor/e2e
func TestLiveReplay(t *testing.T) {
	if os.Getenv(replayEnv) != "1" {
		t.Skip("measurement, not a check: set " + replayEnv + "=1 to run it")
	}
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	testenv.NeedTool(t, "tcpdump", "tcpdump")
	pcap := os.Getenv(replayPcapEnv)
	if pcap == "" {
		n := replayDefaultN
		if s := os.Getenv(replayNEnv); s != "" {
			var err error
			if n, err = strconv.Atoi(s); err != nil || n <= 0 {
				t.Fatalf("%s=%q: want a positive packet count", replayNEnv, s)
			}
		}
		pcap = filepath.Join(t.TempDir(), "udp.pcap")
		cmd := exec.Command("go", "run", "./internal/synth/gencap", "-kind", "udp",
			"-n", strconv.Itoa(n), "-o", pcap)
		cmd.Dir = testenv.RepoRoot()
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("gencap: %v\n%s", err, out)
		}
	}
	rates := strings.Split(os.Getenv(replayRatesEnv), ",")
	if rates[0] == "" {
		rates = []string{"topspeed"}
	}
	limit := 0
	if s := os.Getenv(replayLimitEnv); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("%s: %v", replayLimitEnv, err)
		}
		limit = n
	}

	m := lab.NewMirror(t)
	replay := func(t *testing.T, rate string) (sent uint64, pps float64) {
		t.Helper()
		// -K: the capture is loaded into memory first; reading it from disk
		// while sending holds tcpreplay near 0.45 Mpps here, 1.5 Mpps with it.
		args := []string{"-K", "-i", m.MirrorIf}
		if rate == "topspeed" {
			args = append(args, "--topspeed")
		} else {
			args = append(args, "--pps="+rate)
		}
		if limit > 0 {
			args = append(args, "--limit="+strconv.Itoa(limit))
		}
		out := string(m.Server.Run(t, "tcpreplay", append(args, pcap)...))
		ms := regexp.MustCompile(`Actual: (\d+) packets`).FindStringSubmatch(out)
		mr := regexp.MustCompile(`Rated: [0-9.]+ Bps, [0-9.]+ Mbps, ([0-9.]+) pps`).FindStringSubmatch(out)
		if ms == nil || mr == nil {
			t.Fatalf("tcpreplay output without counts:\n%s", out)
		}
		sent, _ = strconv.ParseUint(ms[1], 10, 64)
		pps, _ = strconv.ParseFloat(mr[1], 64)
		return sent, pps
	}

	type row struct {
		rate, capturer             string
		sent                       uint64
		pps                        float64
		received, drops, delivered uint64
		written                    string
		cpu                        time.Duration
	}
	var rows []row
	// A zero ring keeps the sensor's default (64 x 1 MiB per socket).
	sensorRun := func(t *testing.T, rate string, workers int, r ring) row {
		out := filepath.Join(t.TempDir(), "replay.dnstap")
		args := []string{"-i", m.SpanIf, "--workers", strconv.Itoa(workers), "-w", out}
		name := fmt.Sprintf("sensor --workers %d", workers)
		if r.blocks > 0 {
			args = append(args, "--ring-block-kb", strconv.Itoa(r.blockKiB), "--ring-blocks", strconv.Itoa(r.blocks))
			name += fmt.Sprintf(" --ring-block-kb %d --ring-blocks %d", r.blockKiB, r.blocks)
		}
		p := m.Monitor.Start(t, bin, args...)
		for range workers {
			p.WaitFor(t, "capture socket opened", sensorStartWait)
		}
		sent, pps := replay(t, rate)
		time.Sleep(replaySettle)
		cpu := cpuTime(t, p.Pid())
		if err := p.Stop(syscall.SIGTERM); err != nil {
			t.Fatalf("sensor: %v\n%s", err, p.Stderr())
		}
		summary := p.Stderr()
		t.Logf("sensor:\n%s", summary)
		received := summaryCounter(t, summary, "kernel_packets")
		drops := summaryCounter(t, summary, "kernel_drops")
		frames := uint64(summaryCount(t, summary))
		// kernel_packets counts every frame the filter passed, dropped
		// ones included (PACKET_STATISTICS tp_packets).
		return row{rate: rate, capturer: name, sent: sent, pps: pps, received: received, drops: drops,
			delivered: received - drops, written: strconv.FormatUint(frames, 10), cpu: cpu}
	}
	tcpdumpRun := func(t *testing.T, rate string, bufferKiB int) row {
		args := []string{"-i", m.SpanIf, "-w", "/dev/null", "-s", "0", "-n", "-Z", "root"}
		name := "tcpdump -w /dev/null"
		if bufferKiB > 0 {
			args = append(args, "-B", strconv.Itoa(bufferKiB))
			name += fmt.Sprintf(" -B %d", bufferKiB)
		}
		p := m.Monitor.Start(t, "tcpdump", args...)
		p.WaitFor(t, "listening on", sensorStartWait)
		sent, pps := replay(t, rate)
		time.Sleep(replaySettle)
		cpu := cpuTime(t, p.Pid())
		if err := p.Stop(syscall.SIGINT); err != nil {
			t.Fatalf("tcpdump: %v\n%s", err, p.Stderr())
		}
		counts := map[string]uint64{}
		for _, m := range regexp.MustCompile(`(\d+) packets (captured|received by filter|dropped by kernel)`).FindAllStringSubmatch(p.Stderr(), -1) {
			counts[m[2]], _ = strconv.ParseUint(m[1], 10, 64)
		}
		if len(counts) != 3 {
			t.Fatalf("tcpdump output without counts:\n%s", p.Stderr())
		}
		return row{rate: rate, capturer: name, sent: sent, pps: pps, received: counts["received by filter"],
			drops: counts["dropped by kernel"], delivered: counts["captured"], written: "-", cpu: cpu}
	}

	// The sensor's ring: 32 blocks of 1 MiB by default. tcpdump's default
	// buffer is 2 MiB: the sensor also runs with a 2 MiB ring (per socket)
	// in the 8 blocks it takes at least (fewer dropped even at 500k pps,
	// see --ring-blocks), with an 8 MiB one, and tcpdump with 32 MiB.
	const sensorRingKiB = 32 << 10
	for _, rate := range rates {
		for _, r := range []ring{{}, {256, 8}, {1024, 8}} {
			for _, workers := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/sensor_%d_ring%dx%d", rate, workers, r.blocks, r.blockKiB), func(t *testing.T) {
					rows = append(rows, sensorRun(t, rate, workers, r))
				})
			}
		}
		for _, buf := range []int{0, sensorRingKiB} {
			t.Run(fmt.Sprintf("%s/tcpdump_B%d", rate, buf), func(t *testing.T) { rows = append(rows, tcpdumpRun(t, rate, buf)) })
		}
	}

	var b strings.Builder
	b.WriteString("\n| rate | capture | sent | replay pps | kernel received | kernel drops | delivered | messages written | CPU s |\n")
	b.WriteString("|---|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| %s | %s | %d | %.0f | %d | %d | %d | %s | %.2f |\n",
			r.rate, r.capturer, r.sent, r.pps, r.received, r.drops, r.delivered, r.written, r.cpu.Seconds())
	}
	t.Log(b.String())
}

// ring is a TPACKET_V3 ring size for the sensor's flags.
type ring struct{ blockKiB, blocks int }

// cpuTime is the user and system CPU time a process has used so far, from
// /proc/PID/stat (fields 14 and 15, in clock ticks of 1/100 s: USER_HZ is
// 100 on every Linux architecture the sensor runs on).
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// The command name (field 2) may hold spaces; fields after it are plain.
	_, rest, ok := strings.Cut(string(b), ") ")
	f := strings.Fields(rest)
	if !ok || len(f) < 13 {
		t.Fatalf("/proc/%d/stat: %q", pid, b)
	}
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}
