package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/bpf"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

func defaultLimits() limits {
	r := reassembly.DefaultConfig()
	return limits{
		maxFlows: r.MaxFlows, maxStreamBytes: r.MaxStreamBytes, maxOutOfOrder: r.MaxOutOfOrderBytes,
		maxTCPBuffers: r.MaxTCPBufferBytes,
		flowTimeout:   r.FlowTimeout, maxFragSets: r.MaxFragmentSets, maxFragBytes: r.MaxFragmentBytes,
		fragTimeout: r.FragmentTimeout, maxPending: emit.DefaultMaxPending, pairTimeout: emit.DefaultPairTimeout,
		queueBatches: 256,
	}
}

func reassemblyConfig(o *options) reassembly.Config {
	return reassembly.Config{
		MaxFlows: o.maxFlows, MaxStreamBytes: o.maxStreamBytes, MaxOutOfOrderBytes: o.maxOutOfOrder,
		MaxTCPBufferBytes: o.maxTCPBuffers,
		FlowTimeout:       o.flowTimeout, MaxFragmentSets: o.maxFragSets, MaxFragmentBytes: o.maxFragBytes,
		FragmentTimeout: o.fragTimeout,
	}
}

// stopper is set by SIGINT or SIGTERM. The capture loop polls it, so the
// output is always flushed and closed by the goroutine that owns it,
// whatever the signal interrupts. It is installed before any input is
// opened, so an early signal is not fatal either.
type stopper struct {
	atomic.Bool
	mu        sync.Mutex
	interrupt func() // wakes a loop blocked in a read
	ch        chan os.Signal
	done      chan struct{}
}

func stopOnSignal() *stopper {
	s := &stopper{ch: make(chan os.Signal, 2), done: make(chan struct{})}
	signal.Notify(s.ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case <-s.ch:
			s.Store(true)
			s.mu.Lock()
			if s.interrupt != nil {
				s.interrupt()
			}
			s.mu.Unlock()
		case <-s.done:
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

func (s *stopper) release() { signal.Stop(s.ch); close(s.done) }

// runCapture runs one capture: a file or live interfaces into one output.
func runCapture(o *options, stdout, stderr io.Writer) error {
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
	if o.readFile != "" {
		return runFile(o, rcfg, ecfg, stdout, stderr)
	}
	return runLive(o, rcfg, ecfg, stdout, stderr)
}

// runFile reads one capture file. Offline the output may block the loop: a
// slow disk slows the run down but loses nothing.
func runFile(o *options, rcfg reassembly.Config, ecfg emit.Config, stdout, stderr io.Writer) error {
	stop := stopOnSignal()
	defer stop.release()
	src, interrupt, err := openInput(o.readFile)
	if err != nil {
		return err
	}
	defer src.Close()
	stop.onStop(interrupt)
	if err := checkLinkTypes(o.readFile, src.LinkTypes(), stderr); err != nil {
		return err
	}

	// The expression is compiled by libpcap for each link type of the file,
	// as tcpdump would, and run over every frame before decoding: a file run
	// and a live run with the same expression see the same packets.
	match := bpf.NewMatcher(o.filter)
	for _, lt := range src.LinkTypes() {
		if err := match.Prepare(uint16(lt)); err != nil {
			return usagef("%v", err)
		}
	}
	out, err := openOutput(o, stdout)
	if err != nil {
		return err
	}
	pipe := emit.NewPipeline(ecfg, out.frames)
	asm := reassembly.NewAssembler(rcfg, pipe)

	prog := newProgress(stderr, o.noProgress, src)

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
			if err := src.Next(&f); err != nil {
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
			asm.HandleFrame(&f)
			if packets&0xffff == 0 {
				prog.update(packets, pipe.Stats())
			}
		}
	}()
	prog.done()
	asm.Flush()
	pipe.Flush()
	closeErr := out.Close()

	s := &summary{
		source: o.readFile, elapsed: time.Since(start), packets: packets, bytes: bytes, filtered: filtered,
		decode: newTotals(), pipe: newTotals(), types: newTotals(), output: newTotals(), outputName: outputName(o),
	}
	s.decode.addSet(asm.Stats())
	s.pipe.addSet(pipe.Stats())
	pipe.Stats().EachType(func(t emit.MessageType, v uint64) { s.types.add(t.String(), v) })
	for _, st := range out.stats {
		s.output.addSet(st)
	}
	s.heapAllocs = heapAllocs()
	if n := match.Failed(); n > 0 {
		s.decode.add("filter_compile_failed", n)
		fmt.Fprintf(stderr, "sensor: %v\n", match.Errors())
	}
	s.print(stderr)

	if readErr != nil {
		return fmt.Errorf("%w (the messages before it were written)", readErr)
	}
	if n := s.output.v["socket_batches_dropped_down"]; n > 0 && closeErr == nil {
		// A socket receiver that went away and came back: the run ended
		// well, but frames were lost and the exit code must say so.
		closeErr = fmt.Errorf("%d batches of frames dropped while the receiver was unreachable", n)
	}
	if closeErr != nil {
		return fmt.Errorf("output %s: %w", outputName(o), closeErr)
	}
	return nil
}

func outputName(o *options) string {
	switch {
	case o.unixSocket != "":
		return "unix:" + o.unixSocket
	case o.tcpAddr != "":
		return "tcp:" + o.tcpAddr
	case o.writeFile == "" || o.writeFile == "-":
		return "stdout"
	}
	return o.writeFile
}
