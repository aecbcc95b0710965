package main

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	xbpf "golang.org/x/net/bpf"

	"github.com/dnstap-sensor/dnstap-sensor/bpf"
	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// maxDrain bounds how long a worker keeps reading its ring after a stop
// signal: a link that never falls quiet must not delay the exit for ever.
const maxDrain = 2 * time.Second

// liveWorker is one capture goroutine: one AF_PACKET socket (kept open by a
// Supervisor), with its own reassembly and pairing state. Workers on the same
// interface share a fanout group, so each flow, both directions, always
// reaches the same worker.
type liveWorker struct {
	sup    *capture.Supervisor
	asm    *reassembly.Assembler
	pipe   *emit.Pipeline
	prod   *emit.Producer
	frames atomic.Uint64
	bytes  atomic.Uint64
	err    error // why the worker stopped early, if it did
	iface  string
}

func (w *liveWorker) loop(stop *stopper) {
	var f capture.Frame
	draining := false
	var drainUntil time.Time
	for {
		if !draining && stop.Load() {
			// Clean shutdown: what the kernel already put in the ring
			// crossed the wire before the signal; read it until the
			// ring is empty (the first poll timeout), within a bound.
			draining, drainUntil = true, time.Now().Add(maxDrain)
		}
		if draining && time.Now().After(drainUntil) {
			return
		}
		err := w.sup.Next(&f)
		if err != nil {
			if errors.Is(err, capture.ErrTimeout) {
				if draining {
					return
				}
				// An idle link: hand over the partial batch so quiet
				// periods still reach the output, and age pending queries.
				w.prod.Flush()
				w.pipe.Tick(time.Now().UnixNano())
				continue
			}
			// The Supervisor hides link changes and returns nothing but
			// frames and timeouts until Close; anything else (a socket
			// it can never reopen) ends this worker, reported at exit.
			if !errors.Is(err, capture.ErrClosed) {
				w.err = err
			}
			return
		}
		w.frames.Store(w.frames.Load() + 1)
		w.bytes.Store(w.bytes.Load() + uint64(len(f.Data)))
		w.asm.HandleFrame(&f)
	}
}

// runLive captures from interfaces until SIGINT/SIGTERM or --duration.
// Output goes through a bounded queue: a slow disk or receiver drops whole
// batches, counted, and never stalls capture.
func runLive(o *options, rcfg reassembly.Config, ecfg emit.Config, stdout, stderr io.Writer) error {
	// Everything that can fail for want of root, a bad filter or a busy
	// metrics port is set up before the output is opened: os.Create would
	// otherwise truncate an existing dnstap file for nothing.
	var workers []*liveWorker
	closeAll := func() {
		for _, w := range workers {
			w.sup.Close()
		}
	}
	for i, iface := range o.interfaces {
		filter, err := liveFilter(o, iface)
		if err != nil {
			closeAll()
			return err
		}
		for n := 0; n < o.workers; n++ {
			lc := capture.LiveConfig{
				Interface: iface, BlockSize: o.ringBlockKB << 10, NumBlocks: o.ringBlocks,
				Filter: filter, Promiscuous: !o.noPromisc, Index: i,
			}
			if o.workers > 1 {
				lc.FanoutGroup = capture.FanoutGroupFor(i)
			}
			sup, err := capture.NewSupervisor(capture.SupervisorConfig{Live: lc, Worker: n})
			if err != nil {
				closeAll()
				return fmt.Errorf("capture on %s: %w", iface, err)
			}
			workers = append(workers, &liveWorker{sup: sup, iface: iface})
		}
	}
	var queue *emit.Queue
	var out *sink
	var running atomic.Bool // the pipelines exist: metrics may read them
	if o.metrics != "" {
		stopMetrics, err := serveMetrics(o.metrics, func() *summary {
			if !running.Load() {
				return &summary{kernel: newTotals(), decode: newTotals(), pipe: newTotals(), types: newTotals(), output: newTotals()}
			}
			return liveSummary(o, workers, queue, out, 0)
		})
		if err != nil {
			closeAll()
			return err
		}
		defer stopMetrics()
	}
	out, err := openOutput(o, stdout)
	if err != nil {
		closeAll()
		return err
	}
	dropped, err := dropUser(o)
	if err != nil {
		closeAll()
		out.Close()
		return err
	}
	queue = emit.NewQueue(out.batch, emit.QueueConfig{Batches: o.queueBatches})
	for _, w := range workers {
		w.prod = queue.Producer()
		w.pipe = emit.NewPipeline(ecfg, w.prod)
		w.asm = reassembly.NewAssembler(rcfg, w.pipe)
	}
	running.Store(true)

	stop := stopOnSignal()
	defer stop.release()
	if o.duration > 0 {
		t := time.AfterFunc(o.duration, func() { stop.Store(true) })
		defer t.Stop()
	}

	logf := func(format string, args ...any) {
		fmt.Fprintf(stderr, time.Now().UTC().Format("2006-01-02T15:04:05Z ")+format+"\n", args...)
	}
	if dropped != "" {
		logf("%s", dropped)
	}
	logf("capturing on %v with %d worker(s) per interface -> %s", o.interfaces, o.workers, outputName(o))
	start := time.Now()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func(w *liveWorker) {
			defer wg.Done()
			// One recover per goroutine, not per packet: a bug must not
			// cost the output of every other worker (the summary and the
			// closing frames still get written).
			defer func() {
				if r := recover(); r != nil {
					w.err = fmt.Errorf("internal error in capture worker: %v", r)
				}
			}()
			w.loop(stop)
		}(w)
	}
	// Socket events (link down, re-created, back) are logged once each;
	// counters for the summary and --stats-interval.
	evDone := make(chan struct{})
	go func() {
		var tick <-chan time.Time
		if o.statsEvery > 0 {
			t := time.NewTicker(o.statsEvery)
			defer t.Stop()
			tick = t.C
		}
		cases := make([]<-chan capture.SupervisorEvent, len(workers))
		for i, w := range workers {
			cases[i] = w.sup.Events()
		}
		poll := time.NewTicker(100 * time.Millisecond)
		defer poll.Stop()
		for {
			select {
			case <-evDone:
				return
			case <-tick:
				s := liveSummary(o, workers, queue, out, time.Since(start))
				logf("stats: %d packets, %d frames written, %d dropped by kernel, %d dropped by output queue",
					s.packets, s.pipe.v["frames_written"], s.kernel.v["kernel_drops"], queueDrops(queue))
			case <-poll.C:
				for _, ch := range cases {
					for drained := false; !drained; {
						select {
						case ev := <-ch:
							logf("%s", ev)
						default:
							drained = true
						}
					}
				}
			}
		}
	}()

	wg.Wait()
	close(evDone)
	for _, w := range workers {
		w.asm.Flush()
		w.pipe.Flush()
		w.prod.Flush()
	}
	elapsed := time.Since(start)
	closeAll()
	qerr := queue.Close() // writes what is queued, then closes the writer
	ferr := out.closeFile()
	s := liveSummary(o, workers, queue, out, elapsed) // after the queue drained: its counts are final
	s.heapAllocs = heapAllocs()
	s.print(stderr)
	var werrs []error
	for _, w := range workers {
		if w.err != nil {
			werrs = append(werrs, fmt.Errorf("%s worker: %w", w.iface, w.err))
		}
	}
	if err := errors.Join(werrs...); err != nil {
		return err
	}
	if qerr != nil {
		return fmt.Errorf("output %s: %w", outputName(o), qerr)
	}
	if ferr != nil {
		return fmt.Errorf("output %s: %w", outputName(o), ferr)
	}
	return nil
}

func queueDrops(q *emit.Queue) uint64 { return q.Stats().Dropped() }

func liveSummary(o *options, workers []*liveWorker, queue *emit.Queue, out *sink, elapsed time.Duration) *summary {
	s := &summary{
		source: fmt.Sprintf("live %v", o.interfaces), elapsed: elapsed,
		kernel: newTotals(), decode: newTotals(), pipe: newTotals(), types: newTotals(), output: newTotals(),
		outputName: outputName(o),
	}
	for _, w := range workers {
		s.packets += w.frames.Load()
		s.bytes += w.bytes.Load()
		st := w.sup.Stats()
		s.kernel.add("kernel_packets", st.Kernel.Packets)
		s.kernel.add("kernel_drops", st.Kernel.Drops)
		s.kernel.add("kernel_queue_freezes", st.Kernel.QueueFreezes)
		s.kernel.add("socket_reopens", st.Reopens)
		s.kernel.add("capture_gap_ms", uint64(st.Gap/time.Millisecond))
		s.decode.addSet(w.asm.Stats())
		s.pipe.addSet(w.pipe.Stats())
		w.pipe.Stats().EachType(func(t emit.MessageType, v uint64) { s.types.add(t.String(), v) })
	}
	s.output.addSet(queue.Stats())
	for _, st := range out.stats {
		s.output.addSet(st)
	}
	return s
}

// liveFilter returns the program attached to the sockets on iface: the
// built-in DNS filter (with tunnels when asked) or the user's expression,
// compiled for the interface's link type (Ethernet, or raw IP on tun and
// tunnel devices; Ethernet when the interface does not exist yet). The kernel
// runs it after removing the outer VLAN tag, so `port 53` also catches
// tagged DNS.
func liveFilter(o *options, iface string) ([]xbpf.RawInstruction, error) {
	lt, err := capture.InterfaceLinkType(iface)
	if err != nil {
		lt = capture.LinkTypeEthernet
	}
	expr := o.filter
	if expr == "" {
		expr = bpf.DNSExpr
		if o.tunnels {
			expr = bpf.DNSTunnelExpr
		}
	}
	prog, err := bpf.Compile(expr, uint16(lt))
	if err != nil {
		return nil, usagef("%s: %v", iface, err)
	}
	return prog, nil
}
