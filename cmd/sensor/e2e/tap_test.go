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

const (
	// tapPackets is the size of the generated capture replayed into the
	// tap lab, and tapPPS the rate: a query is sent before its response
	// on the other port by far more than the two veths' delivery jitter.
	tapPackets = 2000
	tapPPS     = "5000"
	// tapSettle lets the sensor read its ring before it is stopped.
	tapSettle = 500 * time.Millisecond
)

// tapCapture generates the capture replayed into a lab.Tap and reads it
// with the sensor from the file: the messages and pairs a live capture of
// it must reproduce.
func tapCapture(t *testing.T, bin string) (pcap string, messages, pairs, frames uint64) {
	t.Helper()
	pcap = filepath.Join(t.TempDir(), "tap.pcap")
	cmd := exec.Command("go", "run", "./internal/synth/gencap", "-kind", "udp", "-n", strconv.Itoa(tapPackets), "-o", pcap)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gencap: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "-r", pcap, "-w", filepath.Join(t.TempDir(), "file.dnstap")).CombinedOutput()
	if err != nil {
		t.Fatalf("sensor -r: %v\n%s", err, out)
	}
	messages, pairs = summaryCounter(t, string(out), "DNS messages"), summaryCounter(t, string(out), "pairs matched")
	if messages < tapPackets/2 || pairs == 0 {
		t.Fatalf("the generated capture gives %d messages, %d pairs:\n%s", messages, pairs, out)
	}
	return pcap, messages, pairs, uint64(summaryCount(t, string(out)))
}

// runTapSensor runs the sensor on both tap ports while replay sends, and
// returns its summary.
func runTapSensor(t *testing.T, bin string, x *lab.Tap, workers int, extra []string, replay func()) string {
	t.Helper()
	args := append([]string{"-i", x.PortA, "-i", x.PortB, "--workers", strconv.Itoa(workers),
		"-w", filepath.Join(t.TempDir(), "tap.dnstap")}, extra...)
	p := x.Monitor.Start(t, bin, args...)
	for range workers {
		p.WaitFor(t, "capture socket opened", sensorStartWait)
	}
	replay()
	time.Sleep(tapSettle)
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, p.Stderr())
	}
	return p.Stderr()
}

// ifaceCounters reads the summary's "interface NAME packets N,
// duplicates_removed N" line.
func ifaceCounters(t *testing.T, summary, iface string) (packets, dups uint64) {
	t.Helper()
	m := regexp.MustCompile(`interface ` + regexp.QuoteMeta(iface) + `\s+packets (\d+), duplicates_removed (\d+)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no interface line for %s in the summary:\n%s", iface, summary)
	}
	packets, _ = strconv.ParseUint(m[1], 10, 64)
	dups, _ = strconv.ParseUint(m[2], 10, 64)
	return packets, dups
}

// TestTwoPortTap (issue #9): a passive tap's two monitor ports, the
// clients' packets out of one and the servers' out of the other
// (tcpprep --port splits them by the well-known port; tcpreplay -c sends
// each side out of its own interface), captured with -i A -i B. With any
// number of workers every response must meet its query (pairs matched as
// when the sensor reads the capture file) and every message must be
// written once.
func TestTwoPortTap(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	testenv.NeedTool(t, "tcpprep", "tcpreplay")
	pcap, messages, pairs, frames := tapCapture(t, bin)
	cache := filepath.Join(t.TempDir(), "tap.cache")
	if out, err := exec.Command("tcpprep", "--port", "-i", pcap, "-o", cache).CombinedOutput(); err != nil {
		t.Fatalf("tcpprep: %v\n%s", err, out)
	}
	x := lab.NewTap(t)
	for _, workers := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("workers_%d", workers), func(t *testing.T) {
			summary := runTapSensor(t, bin, x, workers, nil, func() {
				x.Gen.Run(t, "tcpreplay", "-q", "--pps="+tapPPS, "-c", cache, "-i", x.GenA, "-I", x.GenB, pcap)
			})
			if got := summaryCounter(t, summary, "DNS messages"); got != messages {
				t.Errorf("%d DNS messages, want %d as from the file:\n%s", got, messages, summary)
			}
			if got := summaryCounter(t, summary, "pairs matched"); got != pairs {
				t.Errorf("%d pairs matched, want %d as from the file:\n%s", got, pairs, summary)
			}
			if got := uint64(summaryCount(t, summary)); got != frames {
				t.Errorf("%d frames delivered, want %d as from the file:\n%s", got, frames, summary)
			}
			a, _ := ifaceCounters(t, summary, x.PortA)
			b, _ := ifaceCounters(t, summary, x.PortB)
			if a == 0 || b == 0 || a+b != tapPackets {
				t.Errorf("packets by interface %d + %d, want both sides and %d in all:\n%s", a, b, tapPackets, summary)
			}
		})
	}
}

// TestTapReattach: one tap port is deleted and created again (a new
// ifindex) while the sensor runs; the mirror's filter follows it, and a
// replay afterwards pairs every response as before.
func TestTapReattach(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	testenv.NeedTool(t, "tcpprep", "tcpreplay")
	pcap, messages, pairs, _ := tapCapture(t, bin)
	cache := filepath.Join(t.TempDir(), "tap.cache")
	if out, err := exec.Command("tcpprep", "--port", "-i", pcap, "-o", cache).CombinedOutput(); err != nil {
		t.Fatalf("tcpprep: %v\n%s", err, out)
	}
	x := lab.NewTap(t)
	p := x.Monitor.Start(t, bin, "-i", x.PortA, "-i", x.PortB, "--workers", "2", "-w", filepath.Join(t.TempDir(), "tap.dnstap"))
	for range 2 {
		p.WaitFor(t, "capture socket opened", sensorStartWait)
	}
	x.RecreatePortB(t)
	p.WaitFor(t, x.PortB+": interface joined the mirror", sensorStartWait)
	x.Gen.Run(t, "tcpreplay", "-q", "--pps="+tapPPS, "-c", cache, "-i", x.GenA, "-I", x.GenB, pcap)
	time.Sleep(tapSettle)
	if err := p.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, p.Stderr())
	}
	out := p.Stderr()
	if !regexp.MustCompile(x.PortB + `: interface left the mirror`).MatchString(out) {
		t.Errorf("no log line for the deleted port:\n%s", out)
	}
	if got := summaryCounter(t, out, "DNS messages"); got != messages {
		t.Errorf("%d DNS messages, want %d:\n%s", got, messages, out)
	}
	if got := summaryCounter(t, out, "pairs matched"); got != pairs {
		t.Errorf("%d pairs matched, want %d:\n%s", got, pairs, out)
	}
}

// TestTapDuplicates (issue #9): the same packets on two interfaces at once
// (every frame sent out of GenA is copied to GenB by tc mirred, as two SPAN
// sessions that cover the same link), captured with -i A -i B: without
// --dedup every message twice, with it once, and the copies counted on
// the interface they came in on second.
func TestTapDuplicates(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	testenv.NeedTool(t, "tc", "iproute2")
	pcap, messages, _, _ := tapCapture(t, bin)
	x := lab.NewTap(t)
	x.Gen.Run(t, "tc", "qdisc", "add", "dev", x.GenA, "clsact")
	x.Gen.Run(t, "tc", "filter", "add", "dev", x.GenA, "egress", "protocol", "all",
		"u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", x.GenB)
	replay := func() { x.Gen.Run(t, "tcpreplay", "-q", "--pps="+tapPPS, "-i", x.GenA, pcap) }
	for _, tt := range []struct {
		name     string
		workers  int
		args     []string
		messages uint64
		removed  uint64
	}{
		{"without_dedup", 2, nil, 2 * messages, 0},
		{"dedup_10ms_1_worker", 1, []string{"--dedup", "10ms"}, messages, tapPackets},
		{"dedup_10ms_2_workers", 2, []string{"--dedup", "10ms"}, messages, tapPackets},
	} {
		t.Run(tt.name, func(t *testing.T) {
			summary := runTapSensor(t, bin, x, tt.workers, tt.args, replay)
			if got := summaryCounter(t, summary, "DNS messages"); got != tt.messages {
				t.Errorf("%d DNS messages, want %d:\n%s", got, tt.messages, summary)
			}
			a, da := ifaceCounters(t, summary, x.PortA)
			b, db := ifaceCounters(t, summary, x.PortB)
			if a != tapPackets || b != tapPackets {
				t.Errorf("packets by interface %d and %d, want %d on each:\n%s", a, b, tapPackets, summary)
			}
			if da+db != tt.removed {
				t.Errorf("duplicates removed %d + %d, want %d:\n%s", da, db, tt.removed, summary)
			}
			if tt.removed > 0 {
				if got := summaryCounter(t, summary, "dedup_removed"); got != tt.removed {
					t.Errorf("dedup_removed %d, want %d:\n%s", got, tt.removed, summary)
				}
			}
		})
	}
}

// TestTapCost measures DNS messages per CPU-second of the sensor (its own
// utime+stime) on the plain path (one interface), on two interfaces as one
// mirror (a two-port tap), and with --dedup on one interface and on two
// carrying the same packets: a 200,000-packet capture replayed five times
// at 100,000 packets/s, best of three. It is a measurement, run only when
// asked (it loads both cores for about two minutes):
//
//	SENSOR_REPLAY=1 go test -count=1 -v -run TestTapCost ./cmd/sensor/e2e
func TestTapCost(t *testing.T) {
	if os.Getenv(replayEnv) != "1" {
		t.Skip("measurement, not a check: set " + replayEnv + "=1 to run it")
	}
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	dir := t.TempDir()
	pcap, cache := filepath.Join(dir, "cost.pcap"), filepath.Join(dir, "cost.cache")
	cmd := exec.Command("go", "run", "./internal/synth/gencap", "-kind", "udp", "-n", "200000", "-o", pcap)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gencap: %v\n%s", err, out)
	}
	if out, err := exec.Command("tcpprep", "--port", "-i", pcap, "-o", cache).CombinedOutput(); err != nil {
		t.Fatalf("tcpprep: %v\n%s", err, out)
	}
	x := lab.NewTap(t)
	const loops, pps = "5", "100000"
	single := func() { x.Gen.Run(t, "tcpreplay", "-q", "-K", "--loop="+loops, "--pps="+pps, "-i", x.GenA, pcap) }
	split := func() {
		x.Gen.Run(t, "tcpreplay", "-q", "-K", "--loop="+loops, "--pps="+pps, "-c", cache, "-i", x.GenA, "-I", x.GenB, pcap)
	}
	cases := []struct {
		name   string
		args   []string
		replay func()
		mirror bool // tc mirred copies GenA's frames to GenB
	}{
		{"plain: -i A", []string{"-i", x.PortA}, single, false},
		{"mirror: -i A -i B, one direction on each", []string{"-i", x.PortA, "-i", x.PortB}, split, false},
		{"plain with --dedup 10ms", []string{"-i", x.PortA, "--dedup", "10ms"}, single, false},
		{"-i A -i B, same packets on both, --dedup 10ms", []string{"-i", x.PortA, "-i", x.PortB, "--dedup", "10ms"}, single, true},
	}
	var b strings.Builder
	b.WriteString("\n| path | DNS messages | kernel drops | best msgs per CPU-second |\n|---|---:|---:|---:|\n")
	for _, c := range cases {
		if c.mirror {
			x.Gen.Run(t, "tc", "qdisc", "add", "dev", x.GenA, "clsact")
			x.Gen.Run(t, "tc", "filter", "add", "dev", x.GenA, "egress", "protocol", "all",
				"u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", x.GenB)
		}
		best, msgs, drops := 0.0, uint64(0), uint64(0)
		for range 3 {
			p := x.Monitor.Start(t, bin, append(c.args, "-w", os.DevNull)...)
			p.WaitFor(t, "capture socket opened", sensorStartWait)
			c.replay()
			time.Sleep(tapSettle)
			cpu := cpuTime(t, p.Pid())
			if err := p.Stop(syscall.SIGTERM); err != nil {
				t.Fatalf("sensor: %v\n%s", err, p.Stderr())
			}
			msgs = summaryCounter(t, p.Stderr(), "DNS messages")
			drops = summaryCounter(t, p.Stderr(), "kernel_drops")
			if r := float64(msgs) / cpu.Seconds(); r > best {
				best = r
			}
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %.0f |\n", c.name, msgs, drops, best)
	}
	t.Log(b.String())
}
