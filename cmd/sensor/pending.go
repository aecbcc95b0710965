package main

import (
	xbpf "golang.org/x/net/bpf"

	"errors"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
)

// packetMatcher is the filter expression applied to file input.
type packetMatcher interface {
	Match(lt capture.LinkType, data []byte, wireLen int) bool
}

func newMatcher(expr string) (packetMatcher, error) {
	return nil, errors.New("filter expressions: not built yet")
}

// liveFilter returns the kernel filter for live capture.
func liveFilter(o *options) ([]xbpf.RawInstruction, error) {
	return nil, nil
}
