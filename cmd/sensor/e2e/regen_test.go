package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// regenEnv guards TestRegenerateLabCaptures: it rewrites committed files.
const regenEnv = "SENSOR_LAB_REGEN"

// TestRegenerateLabCaptures remakes testdata/pcaps/lab_bind_*.pcap and
// their .bind.dnstap with real BIND, dig and tcpdump in namespaces:
//
//	SENSOR_LAB_REGEN=1 go test -count=1 ./cmd/sensor/e2e -run TestRegenerateLabCaptures -v
//
// It logs each capture's client commands for the README row.
func TestRegenerateLabCaptures(t *testing.T) {
	if os.Getenv(regenEnv) != "1" {
		t.Skip(regenEnv + "=1 not set: the committed captures stay as they are")
	}
	testenv.NeedRoot(t)
	dst := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps")
	for _, s := range scenarios {
		t.Run(s.name, func(t *testing.T) {
			run := runScenario(t, s, t.TempDir())
			for _, p := range []string{run.pcap, run.bindDnstap} {
				copyFile(t, p, filepath.Join(dst, filepath.Base(p)))
				fi, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s: %d bytes", filepath.Base(p), fi.Size())
			}
			t.Logf("commands:\n%s", strings.Join(s.commands(), "\n"))
		})
	}
}
