package capture

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// ErrNoMatch: a glob pattern given as input matched no file.
var ErrNoMatch = errors.New("no file matches")

// maxInputFiles bounds how many files one run takes from directories and
// patterns, so that a mistyped `-r /` cannot make the sensor probe a whole
// file system. A day of `tcpdump -G 60` files is 1,440.
const maxInputFiles = 1 << 20

// ExpandInputs turns -r arguments into the capture files to read, in the
// order given and, inside a directory or a pattern, by name. An argument is a
// file, a directory (every capture file below it, recognised by its content,
// not its name: other files are skipped and counted in skipped), or a glob
// pattern (as filepath.Match; quoted so that the shell leaves it alone, or
// expanded by the shell into several arguments, which is the same). "-" is
// stdin and must stand alone.
//
// A missing or unreadable argument, or a pattern that matches nothing, is a
// problem: it is returned in problems, named, and the rest goes on (the
// caller exits non-zero at the end). err is for the command line itself.
func ExpandInputs(args []string) (paths []string, skipped int, problems []error, err error) {
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			paths = append(paths, p)
		}
	}
	for _, a := range args {
		if a == "-" {
			if len(args) > 1 {
				return nil, 0, nil, fmt.Errorf("capture: stdin (-r -) cannot be merged with other inputs")
			}
			return []string{"-"}, 0, nil, nil
		}
		if _, serr := os.Stat(a); serr != nil && strings.ContainsAny(a, "*?[") {
			matches, gerr := filepath.Glob(a)
			if gerr != nil {
				return nil, 0, nil, fmt.Errorf("capture: pattern %q: %w", a, gerr)
			}
			if len(matches) == 0 {
				problems = append(problems, fmt.Errorf("capture: %s: %w", a, ErrNoMatch))
				continue
			}
			for _, m := range matches {
				n, perr := expandOne(m, add)
				skipped += n
				problems = append(problems, perr...)
			}
			continue
		}
		n, perr := expandOne(a, add)
		skipped += n
		problems = append(problems, perr...)
		if len(paths) > maxInputFiles {
			return nil, 0, nil, fmt.Errorf("capture: more than %d input files", maxInputFiles)
		}
	}
	return paths, skipped, problems, nil
}

// expandOne adds path, or the capture files below it when it is a directory.
func expandOne(path string, add func(string)) (skipped int, problems []error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, []error{fmt.Errorf("capture: %w", err)}
	}
	if !fi.IsDir() {
		add(path)
		return 0, nil
	}
	var found []string
	werr := filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			problems = append(problems, fmt.Errorf("capture: %w", err))
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if looksLikeCapture(p) {
			found = append(found, p)
		} else {
			skipped++
		}
		return nil
	})
	if werr != nil {
		problems = append(problems, fmt.Errorf("capture: %s: %w", path, werr))
	}
	slices.Sort(found)
	for _, p := range found {
		add(p)
	}
	return skipped, problems
}

// looksLikeCapture reports whether the file starts with a pcap, pcapng or
// gzip magic number. A gzipped file of anything else passes here and is
// reported when it is opened.
func looksLikeCapture(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return true // let the open report it, by name
	}
	defer f.Close()
	var b [4]byte
	if _, err := io.ReadFull(f, b[:]); err != nil {
		return false
	}
	if b[0] == gzipMagic0 && b[1] == gzipMagic1 {
		return true
	}
	le := uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
	be := uint32(b[3]) | uint32(b[2])<<8 | uint32(b[1])<<16 | uint32(b[0])<<24
	switch {
	case le == magicPcapng, le == magicPcapMicro, le == magicPcapNano, be == magicPcapMicro, be == magicPcapNano:
		return true
	}
	return false
}

// IsCaptureOrDir reports whether path is a directory or a file that starts
// like a capture (pcap, pcapng, gzip): the CLI uses it to tell a
// shell-expanded list of captures from a filter expression.
func IsCaptureOrDir(path string) bool {
	fi, err := os.Stat(path)
	if err != nil {
		return false
	}
	return fi.IsDir() || (fi.Mode().IsRegular() && looksLikeCapture(path))
}
