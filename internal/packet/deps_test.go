package packet

import (
	"go/build"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

const module = "github.com/dnstap-sensor/dnstap-sensor/"

// TestImportsPointOneWay keeps the vocabulary where this package put it:
// the decoder and the per-message output path must not reach the Linux
// capture code (AF_PACKET, netlink, x/sys) nor the dnstap decoding of
// package tapfile (golang-dnstap, protobuf reflection, miekg/dns), directly
// or through another package of this module. It reads the import lines of
// the non-test files, for every OS.
func TestImportsPointOneWay(t *testing.T) {
	tests := []struct {
		pkg       string
		forbidden []string // import path prefixes
		stdOnly   bool
	}{
		{pkg: "internal/packet", stdOnly: true},
		{pkg: "internal/reassembly", forbidden: []string{module + "internal/capture", module + "internal/emit", "golang.org/x/sys", "github.com/vishvananda/"}},
		{pkg: "internal/emit", forbidden: []string{module + "internal/capture", module + "internal/tapfile", "golang.org/x/sys", "github.com/vishvananda/",
			"github.com/miekg/dns", "google.golang.org/protobuf", "github.com/dnstap/golang-dnstap"}},
	}
	for _, tt := range tests {
		t.Run(tt.pkg, func(t *testing.T) {
			for imp, via := range moduleImports(t, tt.pkg) {
				std := !strings.Contains(strings.SplitN(imp, "/", 2)[0], ".")
				if tt.stdOnly && !std {
					t.Errorf("%s imports %s (via %s); it may import only the standard library", tt.pkg, imp, via)
				}
				for _, f := range tt.forbidden {
					if strings.HasPrefix(imp, f) {
						t.Errorf("%s imports %s (via %s)", tt.pkg, imp, via)
					}
				}
			}
		})
	}
}

// moduleImports returns every import of pkg and of the module packages it
// imports, transitively, each with the module package that imports it.
func moduleImports(t *testing.T, pkg string) map[string]string {
	t.Helper()
	ctx := build.Default
	ctx.UseAllFiles = true // every OS's files: the rules hold on each
	out := map[string]string{}
	seen := map[string]bool{}
	var walk func(rel string)
	walk = func(rel string) {
		if seen[rel] {
			return
		}
		seen[rel] = true
		p, err := ctx.ImportDir(filepath.Join(testenv.RepoRoot(), rel), build.ImportComment)
		if err != nil {
			t.Fatalf("%s: %v", rel, err)
		}
		for _, imp := range p.Imports {
			if _, ok := out[imp]; !ok {
				out[imp] = rel
			}
			if strings.HasPrefix(imp, module) {
				walk(strings.TrimPrefix(imp, module))
			}
		}
	}
	walk(pkg)
	return out
}
