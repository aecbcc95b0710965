package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
)

// sink is where frames end up: a dnstap file, text, or a socket. It closes
// everything it opened; Close is the last call and reports the first error.
type sink struct {
	batch  emit.BatchWriter // every kind of output takes batches (live capture, behind a Queue)
	frames emit.FrameWriter // what file input writes to directly (no queue)
	file   *os.File         // the -w file, closed after the writer
	stats  []counterSet     // writer counters for the summary
	// closeFrames, when set, closes frames and through it batch (a socket
	// behind a BatchFrameWriter must get its last partial batch first).
	closeFrames func() error
}

// openOutput opens the configured output. Files are created before capture
// starts, so a bad path fails at once, before any packet is read.
func openOutput(o *options, stdout io.Writer) (*sink, error) {
	s := &sink{}
	if o.unixSocket != "" || o.tcpAddr != "" {
		network, addr := "unix", o.unixSocket
		if o.tcpAddr != "" {
			network, addr = "tcp", o.tcpAddr
		}
		sw := emit.NewSocketWriter(network, addr, emit.SocketConfig{})
		s.batch = sw
		s.stats = append(s.stats, sw)
		// File input may wait for the receiver; live capture puts a
		// Queue in front of s.batch instead and never uses s.frames.
		bw := emit.NewBatchFrameWriter(sw)
		s.frames, s.closeFrames = bw, bw.Close
		return s, nil
	}
	w := stdout
	if o.writeFile != "" && o.writeFile != "-" {
		f, err := os.Create(o.writeFile)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		s.file, w = f, f
	}
	switch o.textFormat {
	case "":
		fw := emit.NewFileWriter(w)
		s.batch, s.frames = fw, fw
	default:
		format := map[string]tapfile.TextFormat{"yaml": tapfile.TextYAML, "json": tapfile.TextJSON, "quiet": tapfile.TextQuiet}[o.textFormat]
		tw := tapfile.NewTextWriter(w, format)
		s.batch, s.frames = tw, tw
	}
	return s, nil
}

// Close closes the writer (STOP, flush) and then the file, so that nothing
// already written is lost, and returns the first error.
func (s *sink) Close() error {
	var err error
	if s.closeFrames != nil {
		err = s.closeFrames()
	} else {
		err = s.batch.Close()
	}
	if cerr := s.closeFile(); err == nil {
		err = cerr
	}
	return err
}

// closeFile closes the -w file after whoever owned the writer closed it (a
// Queue closes its writer itself).
func (s *sink) closeFile() error {
	if s.file == nil {
		return nil
	}
	f := s.file
	s.file = nil
	return f.Close()
}

var errNotCovered = errors.New("not covered")
