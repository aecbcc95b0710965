package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// parseInterleaved parses flags that may come before, between or after the
// file names (`sensor report a.dnstap -o r.html b.dnstap`).
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var files []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return files, nil
		}
		files = append(files, args[0])
		args = args[1:]
	}
}

// eachFrame feeds every data frame of the dnstap files to fn, in order. A
// file cut inside a frame (a server still writing it) is read up to the
// cut, with a warning on stderr.
func eachFrame(files []string, stderr io.Writer, fn func(file string, frame []byte)) error {
	for _, path := range files {
		var r io.Reader = os.Stdin
		if path != "-" {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			r = f
		}
		fr := emit.NewFrameReader(r)
		n := 0
		for {
			frame, err := fr.ReadFrame()
			if err == io.EOF {
				break
			}
			if errors.Is(err, io.ErrUnexpectedEOF) && n > 0 {
				fmt.Fprintf(stderr, "sensor: %s: cut inside a frame after %d frames; read up to there\n", path, n)
				break
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			fn(path, frame)
			n++
		}
	}
	return nil
}

// createOutput opens the -o file ("" or "-" is stdout).
func createOutput(path string, stdout io.Writer) (io.Writer, func() error, error) {
	if path == "" || path == "-" {
		bw := bufio.NewWriter(stdout)
		return bw, bw.Flush, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, nil, err
	}
	bw := bufio.NewWriterSize(f, 64<<10)
	return bw, func() error {
		if err := bw.Flush(); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	}, nil
}

// runReport is `sensor report FILE.dnstap…`: the security report of dnstap
// files, HTML (default) or JSON.
func runReport(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "write the report to `FILE` (default stdout)")
	format := fs.String("format", "html", "html or json")
	sinkhole := fs.String("sinkhole", "", "sinkhole `ADDRS,NAMES`: answers holding an address or queries for a name are hits")
	baseline := fs.String("baseline", "", "baseline `FILE` (sensor baseline build): flag new domains and clients out of line")
	top := fs.Int("top", 20, "length of each list")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: sensor report [-o FILE] [--format html|json] [--sinkhole LIST] [--baseline FILE] FILE.dnstap...")
		fs.PrintDefaults()
	}
	files, err := parseInterleaved(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return usagef("report: %v", err)
	}
	if len(files) == 0 {
		return usagef("report: which dnstap files?")
	}
	if *format != "html" && *format != "json" {
		return usagef("report: --format %q: want html or json", *format)
	}
	if *top < 1 {
		return usagef("report: --top %d: want at least 1", *top)
	}
	opt := analyze.ReportOptions{TopN: *top}
	if opt.Sinkholes, err = analyze.ParseSinkholes(*sinkhole); err != nil {
		return usagef("report: --sinkhole: %v", err)
	}
	if *baseline != "" {
		if opt.Baseline, err = analyze.ReadBaseline(*baseline); err != nil {
			return fmt.Errorf("report: %w", err)
		}
	}
	rep := analyze.NewReport(opt)
	var m analyze.Msg
	for _, f := range files {
		rep.AddFile(f)
	}
	if err := eachFrame(files, stderr, func(_ string, frame []byte) { _ = rep.AddFrame(&m, frame) }); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	w, done, err := createOutput(*out, stdout)
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	res := rep.Result()
	if *format == "json" {
		err = res.WriteJSON(w)
	} else {
		err = res.WriteHTML(w)
	}
	if err2 := done(); err == nil {
		err = err2
	}
	if err != nil {
		return fmt.Errorf("report: write %s: %w", *out, err)
	}
	return nil
}
