package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
)

// runCompare is `sensor compare A B`: it exits 0 when B covers A (every
// message of A is in B), 1 when it does not or a file cannot be read, 2 on
// bad usage.
func runCompare(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strict := fs.Bool("strict-type", false, "count every dnstap type difference as a mismatch, BIND's RD=1 labelling too")
	all := fs.Bool("all", false, "list every unmatched message (default: the first 20 per side)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sensor compare [--strict-type] [--all] A.dnstap B.dnstap   (exit 0 when B covers A)")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK // fs.Usage has printed the help
		}
		return exitCode(usagef("compare: %v", err), stderr)
	}
	if fs.NArg() != 2 {
		return exitCode(usagef("compare: want two dnstap files, got %d", fs.NArg()), stderr)
	}
	a, b := fs.Arg(0), fs.Arg(1)
	fa, err := os.Open(a)
	if err != nil {
		return exitCode(fmt.Errorf("compare: %w", err), stderr)
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if err != nil {
		return exitCode(fmt.Errorf("compare: %w", err), stderr)
	}
	defer fb.Close()
	opts := tapfile.CompareOptions{StrictType: *strict, NameA: a, NameB: b}
	if *all {
		opts.MaxListed = -1
	}
	rep, err := tapfile.Compare(fa, fb, opts)
	if err != nil {
		return exitCode(fmt.Errorf("compare: %w", err), stderr)
	}
	if err := rep.WriteText(stdout); err != nil {
		return exitCode(fmt.Errorf("compare: %w", err), stderr)
	}
	if !rep.Covers() {
		return exitFailure
	}
	return exitOK
}
