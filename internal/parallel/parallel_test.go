package parallel

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/synth"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// collect keeps copies of every frame written.
type collect struct{ frames [][]byte }

func (c *collect) WriteFrame(b []byte) error {
	c.frames = append(c.frames, bytes.Clone(b))
	return nil
}

func testEmitConfig() emit.Config {
	return emit.Config{Identity: []byte("parallel-test"), Version: []byte("test")}
}

// sequential is the reference: one Assembler and one Pipeline, as a plain
// file run has them.
func sequential(t testing.TB, path string) [][]byte {
	t.Helper()
	frames, _ := sequentialRun(t, path)
	return frames
}

// sequentialRun returns the one-worker frames and the pairs it matched.
func sequentialRun(t testing.TB, path string) ([][]byte, uint64) {
	t.Helper()
	out := &collect{}
	pipe := emit.NewPipeline(testEmitConfig(), out)
	asm := reassembly.NewAssembler(reassembly.DefaultConfig(), pipe)
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var f packet.Frame
	for src.Next(&f) == nil {
		asm.HandleFrame(&f)
	}
	asm.Flush()
	pipe.Flush()
	return out.frames, pipe.Stats().Matched()
}

func parallelRun(t testing.TB, path string, workers int) ([][]byte, *Runner) {
	t.Helper()
	out := &collect{}
	r := New(Config{Workers: workers, Reassembly: reassembly.DefaultConfig(), Emit: testEmitConfig(), Out: out})
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var f packet.Frame
	for src.Next(&f) == nil {
		r.HandleFrame(&f)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	return out.frames, r
}

// TestWorkersMatchOneWorker: on every bundled capture, 1, 2 and 4 workers
// write exactly the frames of a one-worker run, in the same order.
func TestWorkersMatchOneWorker(t *testing.T) {
	for _, p := range testenv.Pcaps(t) {
		want, wantMatched := sequentialRun(t, p)
		for _, n := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", filepath.Base(p), n), func(t *testing.T) {
				got, r := parallelRun(t, p, n)
				if len(got) != len(want) {
					t.Fatalf("%d frames, one worker wrote %d", len(got), len(want))
				}
				for i := range got {
					if !bytes.Equal(got[i], want[i]) {
						t.Fatalf("frame %d differs from the one-worker run", i)
					}
				}
				var matched uint64
				for _, p := range r.Pipelines() {
					matched += p.Stats().Matched()
				}
				if matched != wantMatched {
					t.Fatalf("%d pairs matched with %d workers, %d with one", matched, n, wantMatched)
				}
			})
		}
	}
}

// TestWorkersShareTheLoad: on a capture of 5,000 clients every worker gets
// work (the steering is not degenerate), and the output still equals the
// one-worker run. (A capture of one address pair would go to one worker
// whatever the seed: that is the documented cost of steering by addresses.)
func TestWorkersShareTheLoad(t *testing.T) {
	p := filepath.Join(t.TempDir(), "many-clients.pcap")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := synth.Generate(f, synth.Options{Kind: synth.KindUDP, Packets: 20000, Seed: 7}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	want := sequential(t, p)
	got, r := parallelRun(t, p, 4)
	if len(got) != len(want) {
		t.Fatalf("%d frames, one worker wrote %d", len(got), len(want))
	}
	for i, a := range r.Assemblers() {
		var frames uint64
		a.Stats().Each(func(name string, v uint64) {
			if name == "frames" {
				frames = v
			}
		})
		// 5,000 clients over 4 workers: each gets about a quarter.
		if frames < 20000/8 {
			t.Errorf("worker %d got %d of 20000 frames", i, frames)
		}
	}
}

// discard counts frames without keeping them.
type discard struct{ n int }

func (d *discard) WriteFrame(b []byte) error { d.n++; return nil }

func BenchmarkRunner(b *testing.B) {
	p := os.Getenv("PARALLEL_BENCH_PCAP")
	if p == "" {
		p = filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "dnscap_dns.pcap")
	}
	src, err := capture.OpenFile(p)
	if err != nil {
		b.Fatal(err)
	}
	var frames [][]byte
	var meta []packet.Frame
	var f packet.Frame
	for {
		if err := src.Next(&f); err == io.EOF {
			break
		} else if err != nil {
			b.Fatal(err)
		}
		frames = append(frames, bytes.Clone(f.Data))
		meta = append(meta, f)
	}
	src.Close()
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("workers=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				r := New(Config{Workers: n, Reassembly: reassembly.DefaultConfig(), Emit: testEmitConfig(), Out: &discard{}})
				for j := range meta {
					fr := meta[j]
					fr.Data = frames[j]
					r.HandleFrame(&fr)
				}
				r.Close()
			}
			b.ReportMetric(float64(len(frames))*float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}
