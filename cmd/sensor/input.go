package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
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

// openInput opens -r and returns, with the source, what wakes a read that
// waits for input (the stopper calls it on SIGINT or SIGTERM).
//
// A pipe on stdin and a FIFO are read through Go's poller, whose reads a
// deadline can end, so that a signal stops a run whose writer is idle and the
// output is still closed properly. A pipe on stdin is switched to
// non-blocking mode for that; a terminal or a file on stdin is left alone
// (O_NONBLOCK would outlive us on a terminal the shell shares). A FIFO is
// opened without blocking, and the wait for its writer is a poll that a
// signal ends too. Until openInput returns, the stopper cannot interrupt
// anything, so it watches the signals itself while it waits for the writer
// and reads the capture's header.
func openInput(path string) (*capture.FileSource, func(), error) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	var f *os.File
	switch {
	case path == "-":
		if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			break
		}
		if err := syscall.SetNonblock(int(os.Stdin.Fd()), true); err != nil {
			break
		}
		f = os.NewFile(os.Stdin.Fd(), "stdin")
	default:
		if fi, err := os.Stat(path); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
			break
		}
		// Without O_NONBLOCK, open(2) of a FIFO waits for a writer
		// where no signal can end it.
		fifo, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return nil, nil, fmt.Errorf("capture: %w", err)
		}
		f = fifo
	}
	if f == nil {
		src, err := capture.OpenFile(path)
		if err != nil {
			return nil, nil, err
		}
		return src, src.Interrupt, nil
	}

	opened := make(chan struct{})
	go func() {
		select {
		case <-sig:
			f.SetReadDeadline(time.Now())
		case <-opened:
		}
	}()
	src, err := openPollable(path, f)
	close(opened)
	if errors.Is(err, os.ErrDeadlineExceeded) {
		err = fmt.Errorf("capture: %s: %w", path, errStoppedAtOpen)
	}
	if err != nil {
		return nil, nil, err
	}
	return src, src.Interrupt, nil
}

// errStoppedAtOpen: a signal came before the input's capture header did.
var errStoppedAtOpen = errors.New("stopped by a signal before the capture header arrived")

// openPollable reads the capture header from f, a pipe or FIFO in Go's
// poller. A FIFO opened with O_NONBLOCK reads as empty (EOF) until a writer
// opens it, so first wait until it is readable: on Linux that is a writer's
// first bytes or its close, not its mere absence.
func openPollable(path string, f *os.File) (*capture.FileSource, error) {
	name := path
	if path == "-" {
		name = "stdin"
	} else {
		rc, err := f.SyscallConn()
		if err != nil {
			return nil, fmt.Errorf("capture: %s: %w", path, err)
		}
		waited := false
		err = rc.Read(func(uintptr) bool {
			done := waited
			waited = true
			return done
		})
		if err != nil {
			return nil, err
		}
	}
	return capture.NewFileSource(name, f)
}
