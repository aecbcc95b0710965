package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
)

const readUsage = `usage: sensor read FILE [-y|-j|-q|-p]   (FILE - is stdin)
  -q	one line per message, like dnstap-read (the default)
  -p	the line, then the message in dig's text form, like dnstap-read -p
  -y	multi-document YAML, like dnstap-read -y
  -j	one JSON object per line, like the Go dnstap tool's -j
`

// runRead renders a dnstap file as text: `sensor read FILE [-y|-j|-q|-p]`.
func runRead(args []string, stdout, stderr io.Writer) error {
	format := tapfile.TextQuiet
	var path string
	for _, a := range args {
		switch a {
		case "-y":
			format = tapfile.TextYAML
		case "-j":
			format = tapfile.TextJSON
		case "-q":
			format = tapfile.TextQuiet
		case "-p":
			format = tapfile.TextPrint
		case "-h", "-help", "--help":
			fmt.Fprint(stderr, readUsage)
			return flag.ErrHelp
		default:
			if len(a) > 1 && a[0] == '-' {
				return usagef("read: unknown flag %s (want -y, -j, -q or -p)", a)
			}
			if path != "" {
				return usagef("read: one file at a time")
			}
			path = a
		}
	}
	if path == "" {
		return usagef("read: which file? (sensor read FILE [-y|-j|-q|-p]; - is stdin)")
	}
	var r io.Reader = os.Stdin
	if path != "-" {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		defer f.Close()
		r = f
	}
	n, err := tapfile.ReadText(r, stdout, format)
	if err != nil {
		return fmt.Errorf("read %s: frame %d: %w", path, n+1, err)
	}
	return nil
}
