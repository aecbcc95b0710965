package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/parallel"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// frameSource is what a file run reads: one capture (FileSource) or several
// merged in capture-time order (MergedSource).
type frameSource interface {
	Next(f *packet.Frame) error
	LinkTypes() []packet.LinkType
	BytesRead() int64
	Size() int64
	Close() error
}

// inputs is the opened -r arguments.
type inputs struct {
	src       frameSource
	name      string // for the summary: the file, or "N files"
	interrupt func() // wakes a read that waits (stdin, a FIFO)
	merged    *capture.MergedSource
	expandErr []error // arguments that named nothing readable
	skipped   int     // files in directories that are no captures
}

// openInputs opens the -r arguments. One file (or stdin, or a FIFO) is read
// as it always was, errors ending the run. Several files, directories and
// patterns are merged: a file that cannot be read is reported by name,
// skipped, and makes the run exit non-zero at the end.
func openInputs(args []string, stderr io.Writer) (*inputs, error) {
	paths, skipped, problems, err := capture.ExpandInputs(args)
	if err != nil {
		return nil, usagef("-r: %v", err)
	}
	if len(paths) == 1 && len(problems) == 0 && len(args) == 1 {
		src, interrupt, err := openInput(paths[0])
		if err != nil {
			return nil, err
		}
		if err := checkLinkTypes(paths[0], src.LinkTypes(), stderr); err != nil {
			src.Close()
			return nil, err
		}
		return &inputs{src: src, name: paths[0], interrupt: interrupt}, nil
	}
	for _, p := range problems {
		fmt.Fprintf(stderr, "sensor: %v (skipped)\n", p)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no capture file in %s", strings.Join(args, ", "))
	}
	// Files that fail their probe are listed in the summary with the rest.
	m, err := capture.OpenMerged(paths, 0, packet.LinkType.Supported)
	if err != nil {
		return nil, err
	}
	return &inputs{src: m, name: fmt.Sprintf("%d inputs", len(paths)), merged: m, expandErr: problems, skipped: skipped}, nil
}

// results lists what happened to each merged file (nil for one file).
func (in *inputs) results() []capture.FileResult {
	if in.merged == nil {
		return nil
	}
	return in.merged.Results()
}

// problems is non-nil when any input was skipped or cut short: the run
// converted the rest, and its exit code says that something is missing.
func (in *inputs) problems() error {
	n := len(in.expandErr)
	for _, r := range in.results() {
		if r.Err != nil {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	return fmt.Errorf("%d of the inputs could not be read in full (named above); the rest was converted", n)
}

// fileDecoder is reassembly and pairing for a file run: one Assembler and
// Pipeline, or a parallel.Runner over several workers.
type fileDecoder struct {
	asms   []*reassembly.Assembler
	pipes  []*emit.Pipeline
	asm    *reassembly.Assembler // one worker
	runner *parallel.Runner      // several
}

func newFileDecoder(workers int, rcfg reassembly.Config, ecfg emit.Config, out emit.FrameWriter) *fileDecoder {
	d := &fileDecoder{}
	if workers > 1 {
		d.runner = parallel.New(parallel.Config{Workers: workers, Reassembly: rcfg, Emit: ecfg, Out: out})
		d.asms, d.pipes = d.runner.Assemblers(), d.runner.Pipelines()
		return d
	}
	pipe := emit.NewPipeline(ecfg, out)
	d.asm = reassembly.NewAssembler(rcfg, pipe)
	d.asms, d.pipes = []*reassembly.Assembler{d.asm}, []*emit.Pipeline{pipe}
	return d
}

func (d *fileDecoder) handle(f *packet.Frame) {
	if d.runner != nil {
		d.runner.HandleFrame(f)
		return
	}
	d.asm.HandleFrame(f)
}

// close ends the input: partial TCP messages and pending queries are
// counted, and every frame is handed to the output.
func (d *fileDecoder) close() error {
	if d.runner != nil {
		return d.runner.Close()
	}
	d.asm.Flush()
	d.pipes[0].Flush()
	return nil
}

// framesEncoded is for progress: it may trail by a few hundred frames.
func (d *fileDecoder) framesEncoded() uint64 {
	var n uint64
	for _, p := range d.pipes {
		n += p.Stats().FramesEncoded()
	}
	return n
}
