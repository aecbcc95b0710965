package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	xbpf "golang.org/x/net/bpf"

	"github.com/dnstap-sensor/dnstap-sensor/bpf"
	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// maxDrain bounds how long a worker keeps reading its ring after a stop
// signal: a link that never falls quiet must not delay the exit for ever.
const maxDrain = 2 * time.Second

// liveWorker is one capture goroutine: one AF_PACKET socket (kept open by a
// Supervisor), with its own reassembly and pairing state. Workers on the same
// interface share a fanout group, so each flow, both directions, always
// reaches the same worker.
type liveWorker struct {
	sup  captureSource
	asm  *reassembly.Assembler
	pipe *emit.Pipeline
	out  fanout // one Producer per output
	// frames, bytes and perIface are published copies of the loop's own
	// plain counts (n*): an atomic store per frame is a locked instruction
	// on amd64, about 10 ns each, so they are stored with the gauges.
	frames          atomic.Uint64
	bytes           atomic.Uint64
	nFrames, nBytes uint64
	nIface          [capture.MaxMirrorInterfaces]uint64
	err             error // why the worker stopped early, if it did
	iface           string
	// mirror names the -i interfaces when the worker is one of a Mirror's,
	// and perIface counts its frames by Frame.Interface (that order).
	mirror   []string
	perIface [capture.MaxMirrorInterfaces]atomic.Uint64
	worker   int // its number on the interface, for metrics and logs
	gauges   workerGauges
}

// workerGauges are a worker's figures that metrics and the health check
// read from other goroutines. The loop stores them at most once a second
// of capture time while frames flow, and on every poll timeout when the
// link is idle: never per packet.
type workerGauges struct {
	beat     atomic.Int64 // wall clock of the loop's last turn, ns
	lastPkt  atomic.Int64 // capture time of the last frame, ns (0: none yet)
	flows    atomic.Int64
	fragSets atomic.Int64
	pending  atomic.Int64
}

// publishEvery bounds how stale the gauges get while frames flow.
const publishEvery = int64(time.Second)

// publish copies the tables' sizes (owned by this goroutine) and the
// heartbeat into the gauges.
func (w *liveWorker) publish(lastPkt int64) {
	g := &w.gauges
	g.beat.Store(time.Now().UnixNano())
	if lastPkt != 0 {
		g.lastPkt.Store(lastPkt)
	}
	g.flows.Store(int64(w.asm.Flows()))
	g.fragSets.Store(int64(w.asm.FragmentSets()))
	g.pending.Store(int64(w.pipe.Pending()))
	w.frames.Store(w.nFrames)
	w.bytes.Store(w.nBytes)
	for i := range w.mirror {
		if i < len(w.perIface) {
			w.perIface[i].Store(w.nIface[i])
		}
	}
}

// captureSource is a worker's socket: a Supervisor on one interface, or a
// MirrorSource on all the -i interfaces at once.
type captureSource interface {
	Next(f *packet.Frame) error
	Stats() capture.SupervisorStats
	Events() <-chan capture.SupervisorEvent
	Close() error
}

func (w *liveWorker) loop(stop *stopper) {
	var f packet.Frame
	draining := false
	var drainUntil time.Time
	var last, published int64 // capture times: of the last frame, of the last publish
	w.publish(0)
	// However the loop ends, the counts the summary reads are exact.
	defer func() { w.publish(last) }()
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
				w.out.Flush()
				w.pipe.Tick(time.Now().UnixNano())
				w.publish(last)
				published = last
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
		w.nFrames++
		w.nBytes += uint64(len(f.Data))
		if uint(f.Interface) < uint(len(w.nIface)) {
			w.nIface[f.Interface]++
		}
		w.asm.HandleFrame(&f)
		last = f.Timestamp
		if last-published >= publishEvery {
			w.publish(last)
			published = last
		}
	}
}

// runLive captures from interfaces until SIGINT/SIGTERM or --duration.
// Each output sits behind its own bounded queue: a slow disk or receiver
// drops whole batches of its own output, counted, and never stalls capture
// or another output.
func runLive(o *options, rcfg reassembly.Config, ecfg emit.Config, stop *stopper, stdout, stderr io.Writer) error {
	// Everything that can fail for want of root, a bad filter or a busy
	// metrics port is set up before the outputs are opened, so a failed
	// start leaves no new file behind.
	workers, err := openWorkers(o)
	if err != nil {
		return err
	}
	var ln net.Listener
	if o.metrics != "" {
		if ln, err = net.Listen("tcp", o.metrics); err != nil {
			closeWorkers(workers)
			return fmt.Errorf("--metrics %s: %w", o.metrics, err)
		}
	}
	logf := newLogger(stderr)
	outs, err := openOutputs(o.outputs, stdout, logf)
	if err == nil {
		err = outs.listenServerDnstap(&o.serverDnstap, logf)
	}
	if err != nil {
		closeWorkers(workers)
		if ln != nil {
			ln.Close()
		}
		return err
	}
	outs.start(emit.QueueConfig{Batches: o.queueBatches})
	privLine, err := dropUser(o)
	if err != nil {
		closeWorkers(workers)
		if ln != nil {
			ln.Close()
		}
		outs.close()
		return err
	}
	for _, w := range workers {
		w.out = outs.writer()
		w.pipe = emit.NewPipeline(ecfg, w.out)
		w.asm = reassembly.NewAssembler(rcfg, w.pipe)
		w.gauges.beat.Store(time.Now().UnixNano()) // healthy until its loop has had time to turn
	}
	stop.onHUP(outs.reopen)
	start := time.Now()
	snapshot := func() *summary { return liveSummary(o, workers, outs, time.Since(start)) }
	if ln != nil {
		defer serveMetrics(ln, newRegistry(workers, outs), &health{workers: workers, outs: outs})()
	}
	if o.duration > 0 {
		t := time.AfterFunc(o.duration, func() { stop.Store(true) })
		defer t.Stop()
	}
	names := make([]string, len(o.outputs))
	for i := range o.outputs {
		names[i] = o.outputs[i].name()
	}
	if privLine != "" {
		logf("%s", privLine)
	}
	logf("capturing on %v with %d worker(s) -> %s", o.interfaces, o.workers, strings.Join(names, ", "))
	if err := notifyReady(); err != nil {
		logf("%v", err)
	}
	endWatch := watch(o, workers, snapshot, logf)
	runWorkers(workers, stop)
	endWatch()
	stop.onHUP(nil)
	return shutdown(o, workers, outs, time.Since(start), stderr)
}

// openWorkers opens o.workers sockets: Supervisors on the one interface,
// or, with several -i, one Mirror whose sockets see every interface, so
// that a flow whose directions arrive on two interfaces (a two-port tap)
// reaches one worker.
func openWorkers(o *options) ([]*liveWorker, error) {
	if len(o.interfaces) > 1 {
		return openMirror(o)
	}
	var workers []*liveWorker
	for i, iface := range o.interfaces {
		filter, err := liveFilter(o, iface)
		if err != nil {
			closeWorkers(workers)
			return nil, err
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
				closeWorkers(workers)
				return nil, fmt.Errorf("capture on %s: %w", iface, err)
			}
			workers = append(workers, &liveWorker{sup: sup, iface: iface, worker: n})
		}
	}
	return workers, nil
}

// openMirror opens the workers of a Mirror over every -i interface.
func openMirror(o *options) ([]*liveWorker, error) {
	name := strings.Join(o.interfaces, ",")
	m, err := capture.OpenMirror(capture.MirrorConfig{
		Interfaces: o.interfaces, Workers: o.workers,
		Live: capture.LiveConfig{BlockSize: o.ringBlockKB << 10, NumBlocks: o.ringBlocks, Promiscuous: !o.noPromisc},
		Filter: func(lt packet.LinkType) ([]xbpf.RawInstruction, error) {
			return compileFilter(o, name, lt)
		},
	})
	if err != nil {
		return nil, fmt.Errorf("capture on %s: %w", name, err)
	}
	workers := make([]*liveWorker, o.workers)
	for n := range workers {
		workers[n] = &liveWorker{sup: m.Source(n), iface: name, worker: n, mirror: o.interfaces}
	}
	return workers, nil
}

func closeWorkers(workers []*liveWorker) {
	for _, w := range workers {
		w.sup.Close()
	}
}

// runWorkers runs every worker's loop and returns when all have stopped.
func runWorkers(workers []*liveWorker, stop *stopper) {
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
	wg.Wait()
}

// watch logs socket events (link down, re-created, back) once each, and
// the counters every --stats-interval, until the returned function is
// called. Output conditions (disk full, receiver away) are logged by the
// outputs themselves, once per condition, with or without --stats-interval.
func watch(o *options, workers []*liveWorker, snapshot func() *summary, logf func(string, ...any)) (end func()) {
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		var tick <-chan time.Time
		if o.statsEvery > 0 {
			t := time.NewTicker(o.statsEvery)
			defer t.Stop()
			tick = t.C
		}
		waiting := map[string]bool{} // interfaces said to be waited for
		poll := time.NewTicker(100 * time.Millisecond)
		defer poll.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick:
				logStats(snapshot(), logf)
			case <-poll.C:
				for _, w := range workers {
					for drained := false; !drained; {
						select {
						case ev := <-w.sup.Events():
							logEvent(ev, waiting, logf)
						default:
							drained = true
						}
					}
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// logEvent logs a socket event. An interface that is missing or down is
// said to be waited for once, not once per worker and attempt: the sensor
// keeps trying, and /readyz says it is not ready meanwhile.
func logEvent(ev capture.SupervisorEvent, waiting map[string]bool, logf func(string, ...any)) {
	switch {
	case ev.Kind == capture.OpenFailed && (errors.Is(ev.Err, capture.ErrNoLink) || errors.Is(ev.Err, capture.ErrLinkDown)):
		if !waiting[ev.Interface] {
			waiting[ev.Interface] = true
			logf("%v; waiting for it", ev.Err)
		}
	case ev.Kind == capture.SocketOpened:
		delete(waiting, ev.Interface)
		logf("%s", ev)
	default:
		logf("%s", ev)
	}
}

func logStats(s *summary, logf func(string, ...any)) {
	var b strings.Builder
	for _, o := range s.outputs {
		fmt.Fprintf(&b, "; %s: delivered %d, dropped %d, queued %d, %s", o.name, o.stats.Delivered(), o.stats.Dropped(), o.stats.Queued(), o.stats.State())
	}
	if s.server != nil {
		b.WriteString(s.server.logLine())
	}
	logf("stats: %d packets, %d frames encoded, %d dropped by kernel%s",
		s.packets, s.pipe.v["frames_encoded"], s.kernel.v["kernel_drops"], b.String())
}

// shutdown flushes every worker, closes the sockets and the outputs (what
// is queued is written first), prints the summary and returns the run's
// error: a worker that stopped early, an output that failed to close, or
// frames an output dropped.
func shutdown(o *options, workers []*liveWorker, outs *outputSet, elapsed time.Duration, stderr io.Writer) error {
	for _, w := range workers {
		w.asm.Flush()
		w.pipe.Flush()
		w.out.Flush()
	}
	closeWorkers(workers)
	closeErr := outs.close()
	s := liveSummary(o, workers, outs, elapsed) // after the queues drained: the counts are final
	s.heapAllocs = heapAllocs()
	s.print(stderr)
	var errs []error
	for _, w := range workers {
		if w.err != nil {
			errs = append(errs, fmt.Errorf("%s worker: %w", w.iface, w.err))
		}
	}
	return errors.Join(append(errs, closeErr, dropped(s.outputs))...)
}

// kernelKinds classifies the capture counters the summary names here.
var kernelKinds = map[string]stat.Kind{
	"kernel_packets": stat.Activity, "kernel_drops": stat.Drop, "kernel_queue_freezes": stat.Drop,
	"socket_reopens": stat.Activity, "capture_gap_ms": stat.Drop,
}

func liveSummary(o *options, workers []*liveWorker, outs *outputSet, elapsed time.Duration) *summary {
	s := newSummary(fmt.Sprintf("live %v", o.interfaces))
	s.elapsed = elapsed
	for _, w := range workers {
		s.packets += w.frames.Load()
		s.bytes += w.bytes.Load()
		st := w.sup.Stats()
		for _, c := range []struct {
			name string
			v    uint64
		}{{"kernel_packets", st.Kernel.Packets}, {"kernel_drops", st.Kernel.Drops}, {"kernel_queue_freezes", st.Kernel.QueueFreezes},
			{"socket_reopens", st.Reopens}, {"capture_gap_ms", uint64(st.Gap / time.Millisecond)}} {
			s.kernel.add(c.name, kernelKinds[c.name], c.v)
		}
		s.decode.addSet(w.asm.Stats())
		s.pipe.addSet(w.pipe.Stats())
		w.pipe.Stats().EachType(func(t emit.MessageType, v uint64) { s.types.add(t.String(), stat.Activity, v) })
	}
	s.outputs = outs.reports()
	s.server = outs.serverSummary()
	interfaceCounters(workers, s.ifaces)
	return s
}

// ifaceKinds classifies the per-interface counters.
var ifaceKinds = map[string]stat.Kind{
	"packets": stat.Activity, "duplicates_removed": stat.Activity,
}

// interfaceCounters adds, for a mirror of several interfaces, each one's
// packets and duplicates removed as "COUNTER:IFACE". Kernel drops are the
// socket's, and a mirror's sockets serve every interface, so they cannot
// be told apart by interface: the kernel's counters stay per run.
func interfaceCounters(workers []*liveWorker, t *totals) {
	names, packets, dups := interfaceCounts(workers)
	for i, iface := range names {
		t.add("packets:"+iface, ifaceKinds["packets"], packets[i])
		t.add("duplicates_removed:"+iface, ifaceKinds["duplicates_removed"], dups[i])
	}
}

// interfaceCounts sums the mirror's workers' frames and removed copies by
// interface; it returns no names for a run on one interface.
func interfaceCounts(workers []*liveWorker) (names []string, packets, dups []uint64) {
	if len(workers) == 0 || len(workers[0].mirror) == 0 {
		return nil, nil, nil
	}
	names = workers[0].mirror
	packets, dups = make([]uint64, len(names)), make([]uint64, len(names))
	for i := range names {
		for _, w := range workers {
			if i < len(w.perIface) {
				packets[i] += w.perIface[i].Load()
			}
			if i < reassembly.DedupInterfaces && w.asm != nil {
				dups[i] += w.asm.Stats().DedupByInterface[i].Load()
			}
		}
	}
	return names, packets, dups
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
		lt = packet.LinkTypeEthernet
	}
	return compileFilter(o, iface, lt)
}

// compileFilter compiles the capture filter for one link type.
func compileFilter(o *options, iface string, lt packet.LinkType) ([]xbpf.RawInstruction, error) {
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
