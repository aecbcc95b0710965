// Package testenv owns what tests need to know about the machine they run
// on: whether a missing tool or privilege may skip a test, and where the
// shared test captures are.
//
// A skip is only allowed on a developer's machine. CI sets SENSOR_E2E=require,
// which turns every such skip into a failure, so a green CI always means the
// lab and interop tests ran.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// RequireEnv is the variable that turns skips into failures.
const RequireEnv = "SENSOR_E2E"

// Skip skips the test with the reason, or fails it when SENSOR_E2E=require.
func Skip(t testing.TB, reason string) {
	t.Helper()
	if os.Getenv(RequireEnv) == "require" {
		t.Fatalf("%s=require but the test cannot run: %s", RequireEnv, reason)
	}
	t.Skip(reason)
}

// NeedRoot skips (or fails, in CI) when the test is not running as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (network namespaces, AF_PACKET)")
	}
}

// NeedTool returns the path of a command the test needs, skipping (or
// failing, in CI) when it is not installed. pkg names the Debian package.
func NeedTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
				return filepath.Join(dir, name)
			}
		}
		Skip(t, name+" not installed (Debian package "+pkg+")")
	}
	return p
}

// RepoRoot returns the repository's top directory.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// Pcaps returns the paths of every capture in testdata/pcaps.
func Pcaps(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, pat := range []string{"*.pcap", "*.pcapng", "*.pcap.gz"} {
		m, err := filepath.Glob(filepath.Join(RepoRoot(), "testdata", "pcaps", pat))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, m...)
	}
	if len(out) == 0 {
		t.Fatal("no captures in testdata/pcaps")
	}
	return out
}
