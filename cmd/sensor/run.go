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
	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
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

func emitConfig(o *options) (emit.Config, error) {
	defRole, err := emit.ParseRole(o.role)
	if err != nil {
		return emit.Config{}, usagef("--role %q: %v", o.role, err)
	}
	cfg := emit.Config{
		Forwarders:  o.forwarderPrefixe,
		Identity:    []byte(o.identity),
		Version:     []byte("dnstap-sensor " + version),
		PairTimeout: o.pairTimeout,
		MaxPending:  o.maxPending,
	}
	for _, s := range o.serverPrefixes {
		r := defRole
		if s.role != "" {
			if r, err = emit.ParseRole(s.role); err != nil {
				return emit.Config{}, usagef("--server role %q: %v", s.role, err)
			}
		}
		cfg.Servers = append(cfg.Servers, emit.ServerSpec{Prefix: s.prefix, Role: r, Identity: []byte(s.identity)})
	}
	return cfg, nil
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
	var f capture.Frame
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

// checkLinkTypes refuses a file none of whose link types the sensor decodes
// (there is nothing it could do with it), and warns once about unsupported
// interfaces of a pcapng that also has supported ones: their frames are
// counted as unknown_link_type and skipped.
func checkLinkTypes(name string, lts []capture.LinkType, stderr io.Writer) error {
	var bad []capture.LinkType
	for _, lt := range lts {
		if !capture.SupportedLinkType(lt) {
			bad = append(bad, lt)
		}
	}
	switch {
	case len(bad) == 0:
		return nil
	case len(bad) == len(lts):
		return fmt.Errorf("%s: unknown link type %d (supported: Ethernet 1, raw IP 101/228/229, Linux SLL 113, SLL2 276, BSD loopback 0/108)", name, bad[0])
	}
	fmt.Fprintf(stderr, "sensor: %s: warning: interfaces with unknown link types %v are skipped\n", name, bad)
	return nil
}

// openInput opens -r. A pipe on stdin is switched to non-blocking mode so
// that Go's poller owns it: a signal can then interrupt a read that waits for
// a writer that never writes again, and the output is still closed properly.
// A terminal or a file on stdin is left alone (O_NONBLOCK would outlive us on
// a terminal the shell shares).
func openInput(path string) (*capture.FileSource, func(), error) {
	if path != "-" {
		src, err := capture.OpenFile(path)
		return src, nil, err
	}
	if fi, err := os.Stdin.Stat(); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		src, err := capture.OpenFile(path)
		return src, nil, err
	}
	if err := syscall.SetNonblock(int(os.Stdin.Fd()), true); err != nil {
		src, err := capture.OpenFile(path)
		return src, nil, err
	}
	stdin := os.NewFile(os.Stdin.Fd(), "stdin")
	src, err := capture.NewFileSource("stdin", stdin)
	if err != nil {
		return nil, nil, err
	}
	return src, func() { stdin.SetReadDeadline(time.Now()) }, nil
}
