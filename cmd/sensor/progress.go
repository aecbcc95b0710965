package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// sizedSource is a source that knows how far through its input it is.
type sizedSource interface {
	BytesRead() int64
	Size() int64 // -1 when unknown (stdin)
}

// progress draws one line on stderr, at most every half second, and only when
// stderr is a terminal: a log file or a pipe gets the summary alone.
type progress struct {
	w       io.Writer
	src     sizedSource
	on      bool
	last    time.Time
	started time.Time
}

func newProgress(w io.Writer, disabled bool, src sizedSource) *progress {
	p := &progress{w: w, src: src, started: time.Now()}
	if f, ok := w.(*os.File); ok && !disabled {
		_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
		p.on = err == nil
	}
	return p
}

func (p *progress) update(packets uint64, st *emit.Stats) {
	if !p.on {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 500*time.Millisecond {
		return
	}
	p.last = now
	frames := st.FramesEncoded()
	pct := ""
	if size := p.src.Size(); size > 0 {
		pct = fmt.Sprintf("%5.1f%% ", 100*float64(p.src.BytesRead())/float64(size))
	}
	fmt.Fprintf(p.w, "\r%s%d packets, %d frames, %v", pct, packets, frames, now.Sub(p.started).Round(time.Second))
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
