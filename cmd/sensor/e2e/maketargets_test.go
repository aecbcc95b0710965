package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestREADMEMakeTargets keeps the README honest about make: every `make X`
// it names must be a target of the Makefile whose recipe make can expand
// (make -n). `make replay` once broke unnoticed because nothing ran it;
// `make test` now also runs a short replay (replay-smoke), and this test
// makes sure the README cannot name a target that does not exist.
func TestREADMEMakeTargets(t *testing.T) {
	testenv.NeedTool(t, "make", "make")
	root := testenv.RepoRoot()
	readme, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var named []string
	for _, m := range regexp.MustCompile("`make ([a-z][a-z0-9-]*)").FindAllStringSubmatch(string(readme), -1) {
		if !slices.Contains(named, m[1]) {
			named = append(named, m[1])
		}
	}
	if len(named) < 3 {
		t.Fatalf("README names only %v as make targets; the pattern no longer finds them", named)
	}
	for _, target := range named {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(target) + `:`).Match(makefile) {
			t.Errorf("README names `make %s`, which the Makefile does not define", target)
			continue
		}
		cmd := exec.Command("make", "-n", "--no-print-directory", target)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("make -n %s: %v\n%s", target, err, out)
		}
	}
}
