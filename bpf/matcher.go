package bpf

import (
	"errors"
	"fmt"
	"sync/atomic"
)

// maxLinkTypes bounds the programs a Matcher keeps. A pcapng file names its
// link types in interface blocks, so a hostile file could name thousands;
// real captures have one to three.
const maxLinkTypes = 16

// ErrTooManyLinkTypes is recorded by a Matcher asked to filter more than
// maxLinkTypes distinct link types; frames of the extra ones do not match.
var ErrTooManyLinkTypes = errors.New("bpf: too many link types for one filter")

// Matcher applies one filter expression to frames of any link type, so that
// file input sees the same packets as a live capture attached with the same
// expression. It compiles the expression once per link type, the first time
// it sees that link type (or up front through Prepare).
//
// A nil *Matcher matches everything. A Matcher is for one goroutine; give
// each worker its own (they are cheap once compiled).
type Matcher struct {
	expr  string
	progs []linkProgram
	last  int         // index into progs of the previous frame's link type
	spill linkProgram // stands for every link type beyond maxLinkTypes

	failed atomic.Uint64 // frames dropped because their link type's compile failed
}

type linkProgram struct {
	linkType uint16
	prog     *Program // nil when compiling failed
	err      error
}

// NewMatcher returns a Matcher for expr in tcpdump syntax, or nil (match
// everything) for an empty expression. It compiles nothing yet: call Prepare
// for the link types known up front to report a bad expression at start-up.
func NewMatcher(expr string) *Matcher {
	if expr == "" {
		return nil
	}
	return &Matcher{expr: expr}
}

// Expr is the filter expression.
func (m *Matcher) Expr() string {
	if m == nil {
		return ""
	}
	return m.expr
}

// Prepare compiles the expression for linkType (a pcap LINKTYPE_* value) if
// it has not been compiled for it yet, and returns the compile error, which
// names the expression and the link type.
func (m *Matcher) Prepare(linkType uint16) error {
	if m == nil {
		return nil
	}
	return m.lookup(linkType).err
}

func (m *Matcher) lookup(linkType uint16) *linkProgram {
	if m.last < len(m.progs) && m.progs[m.last].linkType == linkType {
		return &m.progs[m.last]
	}
	for i := range m.progs {
		if m.progs[i].linkType == linkType {
			m.last = i
			return &m.progs[i]
		}
	}
	// First frame of this link type: compile (this allocates, once).
	if len(m.progs) >= maxLinkTypes {
		// Not kept: the table stays bounded; one error stands for all.
		if m.spill.err == nil {
			m.spill.err = fmt.Errorf("%w: %q, link type %d and more", ErrTooManyLinkTypes, m.expr, linkType)
		}
		return &m.spill
	}
	lp := linkProgram{linkType: linkType}
	raw, err := Compile(m.expr, linkType)
	if err == nil {
		lp.prog, err = NewProgram(raw)
	}
	lp.err = err
	m.progs = append(m.progs, lp)
	m.last = len(m.progs) - 1
	return &m.progs[m.last]
}

// Match reports whether the filter accepts a frame of linkType whose
// captured bytes are data and whose length on the wire was wireLen. A frame
// whose link type the expression cannot be compiled for does not match; the
// error is in Errors and the frame is counted in Failed. Match does not
// allocate once its link type has been seen.
func (m *Matcher) Match(linkType uint16, data []byte, wireLen int) bool {
	if m == nil {
		return true
	}
	lp := m.lookup(linkType)
	if lp.prog == nil {
		m.failed.Add(1)
		return false
	}
	return lp.prog.Run(data, wireLen) != 0
}

// Failed counts the frames that did not match because the expression could
// not be compiled for their link type. Safe to call from another goroutine.
func (m *Matcher) Failed() uint64 {
	if m == nil {
		return 0
	}
	return m.failed.Load()
}

// Errors returns the compile errors met so far, one per link type, joined
// (nil when there were none).
func (m *Matcher) Errors() error {
	if m == nil {
		return nil
	}
	var errs []error
	for _, lp := range m.progs {
		if lp.err != nil {
			errs = append(errs, lp.err)
		}
	}
	if m.spill.err != nil {
		errs = append(errs, m.spill.err)
	}
	return errors.Join(errs...)
}
