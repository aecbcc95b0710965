package emit_test

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the current output")

// goldenText runs a capture through reassembly and a Pipeline (no
// --server: the port-53 side is a recursive server) and renders every frame
// in the one-line format, followed by the pipeline's counters.
func goldenText(t *testing.T, path string) []byte {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out bytes.Buffer
	tw := tapfile.NewTextWriter(&out, tapfile.TextQuiet)
	p := emit.NewPipeline(emit.Config{Identity: []byte("golden"), Version: []byte("test")}, tw)
	asm := reassembly.NewAssembler(reassembly.DefaultConfig(), p)
	var f packet.Frame
	for {
		err := src.Next(&f)
		if err == io.EOF {
			break
		}
		if err != nil {
			// Damaged captures are part of the corpus; what was read
			// before the damage is still rendered.
			switch {
			case errors.Is(err, capture.ErrTruncated):
				out.WriteString("# capture truncated\n")
			case errors.Is(err, capture.ErrCorrupt):
				out.WriteString("# capture corrupt\n")
			default:
				t.Fatal(err)
			}
			break
		}
		asm.HandleFrame(&f)
	}
	asm.Flush()
	p.Flush()
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	p.Stats().Each(func(name string, v uint64) {
		if v != 0 {
			fmt.Fprintf(&out, "# %s %d\n", name, v)
		}
	})
	return out.Bytes()
}

// TestGolden holds the dnstap output for every capture in testdata/pcaps.
// Regenerate with: go test ./internal/emit -run TestGolden -update
func TestGolden(t *testing.T) {
	for _, path := range testenv.Pcaps(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			got := goldenText(t, path)
			golden := filepath.Join("testdata", "golden", strings.TrimSuffix(name, filepath.Ext(name))+".txt")
			if *update {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("output differs from %s (run with -update after checking the change):\n%s", golden, lineDiff(want, got))
			}
		})
	}
}

// lineDiff shows the first differing lines, enough to see what changed.
func lineDiff(want, got []byte) string {
	w, g := strings.Split(string(want), "\n"), strings.Split(string(got), "\n")
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, b string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			b = g[i]
		}
		if a != b {
			return fmt.Sprintf("line %d:\nwant %q\n got %q", i+1, a, b)
		}
	}
	return ""
}
