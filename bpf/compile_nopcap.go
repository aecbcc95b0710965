//go:build !cgo || nopcap

package bpf

import (
	"fmt"

	"golang.org/x/net/bpf"
)

// HaveCompiler reports whether this build can compile filter expressions
// with libpcap.
const HaveCompiler = false

func compile(expr string, linkType uint16) ([]bpf.RawInstruction, error) {
	return nil, fmt.Errorf("%w (filter %q)", ErrNoCompiler, expr)
}

func pcapVersion() string { return "" }
