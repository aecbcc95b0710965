package main

import (
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// checkLinkTypes refuses a file none of whose link types the sensor decodes
// (there is nothing it could do with it), and warns once about unsupported
// interfaces of a pcapng that also has supported ones: their frames are
// counted as unknown_link_type and skipped.
func checkLinkTypes(name string, lts []packet.LinkType, stderr io.Writer) error {
	var bad []packet.LinkType
	for _, lt := range lts {
		if !lt.Supported() {
			bad = append(bad, lt)
		}
	}
	switch {
	case len(bad) == 0:
		return nil
	case len(bad) == len(lts):
		return fmt.Errorf("%s: unknown link type %d (supported: %s)", name, bad[0], packet.SupportedList())
	}
	fmt.Fprintf(stderr, "sensor: %s: warning: interfaces with unknown link types %d are skipped\n", name, bad)
	return nil
}

// openInput opens -r. A pipe on stdin is switched to non-blocking mode so
// that Go's poller owns it: a signal can then interrupt a read that waits for
// a writer that never writes again, and the output is still closed properly.
// A terminal or a file on stdin is left alone (O_NONBLOCK would outlive us on
// a terminal the shell shares).
func openInput(path string) (*capture.FileSource, func(), error) {
	if path != "-" {
		src, err := capture.OpenFile(path)
		return src, nil, err
	}
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		src, err := capture.OpenFile(path)
		return src, nil, err
	}
	if err := syscall.SetNonblock(int(os.Stdin.Fd()), true); err != nil {
		src, err := capture.OpenFile(path)
		return src, nil, err
	}
	stdin := os.NewFile(os.Stdin.Fd(), "stdin")
	src, err := capture.NewFileSource("stdin", stdin)
	if err != nil {
		return nil, nil, err
	}
	return src, func() { stdin.SetReadDeadline(time.Now()) }, nil
}
