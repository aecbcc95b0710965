package main

import (
	"errors"
	"io"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

func runLive(o *options, rcfg reassembly.Config, ecfg emit.Config, stdout, stderr io.Writer) error {
	return errors.New("live capture: not built yet")
}

// packetMatcher is the filter expression applied to file input.
type packetMatcher interface {
	Match(lt capture.LinkType, data []byte, wireLen int) bool
}

func newMatcher(expr string) (packetMatcher, error) {
	return nil, errors.New("filter expressions: not built yet")
}
