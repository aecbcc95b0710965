package e2e

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// serverFlag names the lab's BIND for --server.
var serverFlag = lab.ServerV4.String() + "," + lab.ServerV6.String()

const sensorTimeout = time.Minute

// runCmd runs a command with a timeout and returns stdout, stderr and the
// exit error.
func runCmd(t testing.TB, name string, args ...string) (string, string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), sensorTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

// convert runs `sensor -r pcap -w <tmp>/out.dnstap args...` and returns the
// output path and the sensor's stderr (its summary).
func convert(t testing.TB, pcap string, args ...string) (string, string) {
	t.Helper()
	bin := sensorBin(t)
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(pcap), filepath.Ext(pcap))+".sensor.dnstap")
	_, stderr, err := runCmd(t, bin, append([]string{"-r", pcap, "-w", out}, args...)...)
	if err != nil {
		t.Fatalf("sensor -r %s -w %s %s: %v\n%s", pcap, out, strings.Join(args, " "), err, stderr)
	}
	return out, stderr
}

// summaryFrames matches the frames-delivered line (of the only output) of the sensor's summary.
var summaryFrames = regexp.MustCompile(`(?m)^\s*frames delivered\s+(\d+)`)

// summaryCount is the number of frames the sensor says it wrote, from the
// summary it prints on stderr at the end of a file run.
func summaryCount(t testing.TB, summary string) int {
	t.Helper()
	m := summaryFrames.FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no \"frames delivered N\" line in the sensor's summary:\n%s", summary)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// sensorCount is the number of messages the sensor itself reads back from
// a dnstap file: `sensor read` prints one line per frame.
func sensorCount(t testing.TB, file string) int {
	t.Helper()
	stdout, stderr, err := runCmd(t, sensorBin(t), "read", file)
	if err != nil {
		t.Fatalf("sensor read %s: %v\n%s", file, err, stderr)
	}
	n := 0
	for _, line := range strings.Split(stdout, "\n") {
		if strings.TrimSpace(line) != "" {
			n++
		}
	}
	return n
}

// decodedCount counts MESSAGE frames with golang-dnstap, independently of
// the sensor's own reader.
func decodedCount(t testing.TB, file string) int {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := tapfile.ReadCompareEntries(f)
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	return len(e)
}

func pcapPath(name string) string {
	return filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name)
}
