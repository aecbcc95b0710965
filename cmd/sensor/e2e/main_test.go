// Package e2e runs the sensor binary end to end: against real BIND in
// network namespaces (ground truth), over the committed lab captures and
// their BIND dnstap, and through every dnstap reader Debian ships (interop).
//
// TestMain builds the sensor once; a test that needs it calls sensorBin,
// which fails (or, off CI, skips) when the build failed.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

var (
	builtSensor string // path of the built binary, "" when the build failed
	buildErr    error
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sensor-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin := filepath.Join(dir, "sensor")
	args := []string{"build", "-o", bin}
	// As the Makefile does: without libpcap's headers the sensor builds
	// with its built-in DNS filter only, which these tests do not need.
	if _, err := os.Stat("/usr/include/pcap/pcap.h"); err != nil {
		args = append(args, "-tags", "nopcap")
	}
	cmd := exec.Command("go", append(args, "./cmd/sensor")...)
	cmd.Dir = testenv.RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/sensor: %v\n%s", err, out)
	} else {
		builtSensor = bin
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// sensorBin returns the built sensor, or fails the test when it did not
// build: a sensor that does not build is a failure, never a skip.
func sensorBin(t testing.TB) string {
	t.Helper()
	if builtSensor == "" {
		t.Fatalf("the sensor did not build: %v", buildErr)
	}
	return builtSensor
}
