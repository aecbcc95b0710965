package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"golang.org/x/sys/unix"
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

func (p *progress) update(packets, frames uint64) {
	if !p.on {
		return
	}
	now := time.Now()
	if now.Sub(p.last) < 500*time.Millisecond {
		return
	}
	p.last = now
	elapsed := now.Sub(p.started)
	pct, eta := "", ""
	if size := p.src.Size(); size > 0 {
		done := float64(p.src.BytesRead()) / float64(size)
		pct = fmt.Sprintf("%5.1f%% ", 100*done)
		// After a few seconds the rate is steady enough to extrapolate.
		if done > 0.01 && elapsed > 2*time.Second {
			eta = fmt.Sprintf(", %v left", time.Duration(float64(elapsed)*(1-done)/done).Round(time.Second))
		}
	}
	fmt.Fprintf(p.w, "\r%s%d packets, %d frames, %v%s\033[K", pct, packets, frames, elapsed.Round(time.Second), eta)
}

func (p *progress) done() {
	if p.on && !p.last.IsZero() {
		fmt.Fprint(p.w, "\r\033[K")
	}
}
