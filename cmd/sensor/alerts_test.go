package main

import (
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestAlertRules checks the example alert rules (packaging/alerts.yml) with
// promtool and runs their unit tests (packaging/alerts_test.yml): each
// alert fires on the series that should raise it, after its "for", and not
// on the healthy ones beside it.
func TestAlertRules(t *testing.T) {
	promtool := testenv.NeedTool(t, "promtool", "prometheus")
	dir := filepath.Join(testenv.RepoRoot(), "packaging")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
