package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze"
)

// runBaseline is `sensor baseline build FILES… -o baseline.json`: a compact
// record of normal traffic for `report --baseline` and live alerting.
func runBaseline(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "build" {
		return usagef("baseline: usage: sensor baseline build [-o baseline.json] FILE.dnstap...")
	}
	fs := flag.NewFlagSet("baseline build", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "usage: sensor baseline build [-o baseline.json] FILE.dnstap...\n  a compact record of normal (registered domains, per-client volumes and rcode rates) for report --baseline and --baseline\n")
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "write the baseline to `FILE` (default stdout)")
	files, err := parseInterleaved(fs, args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usagef("baseline: %v", err)
	}
	if len(files) == 0 {
		return usagef("baseline: which dnstap files?")
	}
	bb := analyze.NewBaselineBuilder()
	var m analyze.Msg
	for _, f := range files {
		bb.AddFile(f)
	}
	err = eachFrame(files, stderr, func(_ string, frame []byte) {
		if m.Decode(frame) == nil {
			bb.Add(&m)
		}
	})
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	w, done, err := createOutput(*out, stdout)
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	err = bb.Baseline().Write(w)
	if err2 := done(); err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("baseline: write %s: %w", *out, err)
	}
	return nil
}
