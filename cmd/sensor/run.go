package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/bpf"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

func defaultLimits() limits {
	r := reassembly.DefaultConfig()
	return limits{
		maxFlows: r.MaxFlows, maxStreamBytes: r.MaxStreamBytes, maxOutOfOrder: r.MaxOutOfOrderBytes,
		maxTCPBuffers: r.MaxTCPBufferBytes,
		flowTimeout:   r.FlowTimeout, maxFragSets: r.MaxFragmentSets, maxFragBytes: r.MaxFragmentBytes,
		fragTimeout: r.FragmentTimeout, maxPending: emit.DefaultMaxPending, pairTimeout: emit.DefaultPairTimeout,
		queueBatches: emit.DefaultBatches,
	}
}

func reassemblyConfig(o *options) reassembly.Config {
	return reassembly.Config{
		MaxFlows: o.maxFlows, MaxStreamBytes: o.maxStreamBytes, MaxOutOfOrderBytes: o.maxOutOfOrder,
		MaxTCPBufferBytes: o.maxTCPBuffers,
		FlowTimeout:       o.flowTimeout, MaxFragmentSets: o.maxFragSets, MaxFragmentBytes: o.maxFragBytes,
		FragmentTimeout: o.fragTimeout, DedupWindow: o.dedup,
	}
}

// stopper is set by SIGINT or SIGTERM. The capture loop polls it, so the
// outputs are always flushed and closed by the goroutines that own them,
// whatever the signal interrupts. It is installed before any input or output
// is opened, so an early signal is not fatal either. SIGHUP never stops the
// run: it asks the file outputs to reopen their files (logrotate).
type stopper struct {
	atomic.Bool
	mu        sync.Mutex
	interrupt func() // wakes a loop blocked in a read
	hup       func() // reopens the outputs
	ch        chan os.Signal
	done      chan struct{}
}

func stopOnSignal() *stopper {
	s := &stopper{ch: make(chan os.Signal, 4), done: make(chan struct{})}
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		for {
			select {
			case sig := <-s.ch:
				s.mu.Lock()
				if sig == syscall.SIGHUP {
					if s.hup != nil {
						s.hup()
					}
				} else {
					s.Store(true)
					if s.interrupt != nil {
						s.interrupt()
					}
				}
				s.mu.Unlock()
			case <-s.done:
				return
			}
		}
	}()
	return s
}

// onStop sets what wakes the loop after the flag is set.
func (s *stopper) onStop(interrupt func()) {
	s.mu.Lock()
	s.interrupt = interrupt
	stopped := s.Load()
	s.mu.Unlock()
	if stopped && interrupt != nil {
		interrupt()
	}
}

// onHUP sets what SIGHUP does (before it is set, SIGHUP is ignored).
func (s *stopper) onHUP(f func()) {
	s.mu.Lock()
	s.hup = f
	s.mu.Unlock()
}

func (s *stopper) release() { signal.Stop(s.ch); close(s.done) }

// runCapture runs one capture: a file or live interfaces into the outputs.
func runCapture(o *options, stdout, stderr io.Writer) error {
	if len(o.readFiles) > 0 && o.metrics != "" {
		// A file run ends when the file does: there is nothing to scrape
		// or probe, and its counters are in the summary at exit.
		return usagef("--metrics serves a live capture (-i); with -r the counters are in the summary at exit")
	}
	stop := stopOnSignal()
	defer stop.release()
	ecfg, err := emitConfig(o)
	if err != nil {
		return err
	}
	rcfg := reassemblyConfig(o)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			f.Close()
			return fmt.Errorf("--cpuprofile: %w", err)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if o.memoryLimit.n > 0 {
		debug.SetMemoryLimit(o.memoryLimit.n)
	}
	if len(o.readFiles) > 0 {
		return runFile(o, rcfg, ecfg, stop, stdout, stderr)
	}
	return runLive(o, rcfg, ecfg, stop, stdout, stderr)
}

// runFile reads capture files. Offline the outputs' queues block the loop
// when full: a slow disk slows the run down but loses nothing, and a socket
// output waits for its receiver (bounded by its write timeout, then it drops
// and counts). Several inputs are merged into one stream in capture-time
// order; --workers N spreads the decoding over N workers whose output is put
// back into one-worker order (internal/parallel).
func runFile(o *options, rcfg reassembly.Config, ecfg emit.Config, stop *stopper, stdout, stderr io.Writer) error {
	in, err := openInputs(o.readFiles, stderr)
	if err != nil {
		return err
	}
	defer in.src.Close()
	stop.onStop(in.interrupt)

	// The expression is compiled by libpcap for each link type of the file,
	// as tcpdump would, and run over every frame before decoding: a file run
	// and a live run with the same expression see the same packets.
	match := bpf.NewMatcher(o.filter)
	for _, lt := range in.src.LinkTypes() {
		if err := match.Prepare(uint16(lt)); err != nil {
			return usagef("%v", err)
		}
	}
	outs, err := openOutputs(o.outputs, stdout, newLogger(stderr))
	if err == nil {
		err = outs.listenServerDnstap(&o.serverDnstap, newLogger(stderr))
	}
	if err != nil {
		return err
	}
	outs.start(emit.QueueConfig{Batches: o.queueBatches, Block: true})
	stop.onHUP(outs.reopen)
	w := outs.writer()
	dec := newFileDecoder(o.workers, rcfg, ecfg, w)

	prog := newProgress(stderr, o.noProgress, in.src)

	start := time.Now()
	var f packet.Frame
	var packets, bytes, filtered uint64
	var readErr error
	// One recover for the whole loop, not per packet: should a bug panic,
	// what was already written is still flushed and closed below, and the
	// user gets one line instead of a stack trace.
	func() {
		defer func() {
			if r := recover(); r != nil {
				readErr = fmt.Errorf("internal error at packet %d: %v", packets, r)
			}
		}()
		for !stop.Load() {
			if err := in.src.Next(&f); err != nil {
				if !errors.Is(err, io.EOF) && !stop.Load() {
					readErr = err
				}
				return
			}
			packets++
			bytes += uint64(len(f.Data))
			if !match.Match(uint16(f.LinkType), f.Data, f.WireLen) {
				filtered++
				continue
			}
			dec.handle(&f)
			if packets&0xffff == 0 {
				prog.update(packets, dec.framesEncoded())
			}
		}
	}()
	prog.done()
	if err := dec.close(); err != nil && readErr == nil {
		readErr = err
	}
	w.Flush()
	stop.onHUP(nil)
	closeErr := outs.close()

	s := newSummary(in.name)
	s.elapsed, s.packets, s.bytes, s.filtered = time.Since(start), packets, bytes, filtered
	for _, a := range dec.asms {
		s.decode.addSet(a.Stats())
	}
	for _, p := range dec.pipes {
		s.pipe.addSet(p.Stats())
		p.Stats().EachType(func(t emit.MessageType, v uint64) { s.types.add(t.String(), stat.Activity, v) })
	}
	s.outputs = outs.reports()
	s.server = outs.serverSummary()
	s.heapAllocs = heapAllocs()
	if n := match.Failed(); n > 0 {
		s.decode.add("filter_compile_failed", stat.Error, n)
		fmt.Fprintf(stderr, "sensor: %v\n", match.Errors())
	}
	s.files, s.skippedFiles = in.results(), in.skipped
	s.print(stderr)

	if readErr != nil {
		return fmt.Errorf("%w (the messages before it were written)", readErr)
	}
	// Frames lost by an output (a receiver away, a full disk) fail the
	// run even when everything closed well: the exit code must say so.
	return errors.Join(closeErr, dropped(s.outputs), in.problems())
}
