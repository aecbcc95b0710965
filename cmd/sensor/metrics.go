package main

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// revision is the source revision in dnstap_sensor_build_info; builds set
// it with -ldflags "-X main.revision=..." (the Go toolchain's vcs.revision
// is used when they do not, "unknown" when there is neither).
var revision = ""

// newRegistry returns the registry /metrics serves: the sensor's own
// figures, read from the counters the capture path already keeps (nothing
// is updated per packet for Prometheus), build information, and the Go
// runtime and process collectors.
func newRegistry(workers []*liveWorker, outs *outputSet) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		&liveCollector{workers: workers, outs: outs, descs: map[string]*prometheus.Desc{}},
	)
	return reg
}

func buildRevision() string {
	if revision != "" {
		return revision
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return "unknown"
}

// liveCollector turns a live run's counters into metrics at scrape time.
// Its families depend on the counter tables of reassembly and emit, so it
// is an unchecked collector (Describe sends nothing) and builds each
// family's description once, on first use.
type liveCollector struct {
	workers []*liveWorker
	outs    *outputSet

	mu    sync.Mutex
	descs map[string]*prometheus.Desc
}

// Describe sends nothing: the registry then accepts whatever Collect
// sends, and still checks it for consistency at every scrape.
func (c *liveCollector) Describe(chan<- *prometheus.Desc) {}

var (
	workerLabels = []string{"interface", "worker"}
	outputLabels = []string{"output"}
)

// metricSink sends one scrape's samples.
type metricSink struct {
	c  *liveCollector
	ch chan<- prometheus.Metric
}

func (m metricSink) send(name, help string, typ prometheus.ValueType, v float64, labels []string, values ...string) {
	m.c.mu.Lock()
	d, ok := m.c.descs[name]
	if !ok {
		d = prometheus.NewDesc(name, help, labels, nil)
		m.c.descs[name] = d
	}
	m.c.mu.Unlock()
	m.ch <- prometheus.MustNewConstMetric(d, typ, v, values...)
}

func (m metricSink) counter(name, help string, v uint64, labels []string, values ...string) {
	m.send(name, help, prometheus.CounterValue, float64(v), labels, values...)
}

func (m metricSink) gauge(name, help string, v float64, labels []string, values ...string) {
	m.send(name, help, prometheus.GaugeValue, v, labels, values...)
}

// kindHelp is the HELP text of a counter from a typed table.
func kindHelp(k stat.Kind, group, name string) string {
	return k.String() + " counter of the " + group + ": " + name
}

func unixSeconds(ns int64) float64 {
	if ns == 0 {
		return 0
	}
	return float64(ns) / 1e9
}

// Collect reads every worker's and output's counters.
func (c *liveCollector) Collect(ch chan<- prometheus.Metric) {
	m := metricSink{c: c, ch: ch}
	m.gauge("dnstap_sensor_build_info", "version of the sensor and of Go it was built with; always 1",
		1, []string{"version", "goversion", "revision"}, version, runtime.Version(), buildRevision())
	lastPkt := map[string]int64{}
	var ifaces []string
	for _, w := range c.workers {
		c.collectWorker(m, w)
		if _, ok := lastPkt[w.iface]; !ok {
			ifaces = append(ifaces, w.iface)
		}
		lastPkt[w.iface] = max(lastPkt[w.iface], w.gauges.lastPkt.Load())
	}
	for _, iface := range ifaces {
		m.gauge("dnstap_sensor_last_packet_timestamp_seconds",
			"capture time of the last frame read on the interface (Unix seconds; 0: none yet); updated at least once a second while frames flow",
			unixSeconds(lastPkt[iface]), []string{"interface"}, iface)
	}
	if c.outs != nil {
		c.collectOutputs(m)
	}
}

func (c *liveCollector) collectWorker(m metricSink, w *liveWorker) {
	lv := []string{w.iface, strconv.Itoa(w.worker)}
	st := w.sup.Stats()
	m.counter("dnstap_sensor_capture_packets_total", "activity counter: frames read from the capture socket", w.frames.Load(), workerLabels, lv...)
	m.counter("dnstap_sensor_capture_bytes_total", "activity counter: bytes of the frames read from the capture socket", w.bytes.Load(), workerLabels, lv...)
	m.counter("dnstap_sensor_kernel_packets_total", "activity counter: packets the kernel passed the socket's filter (PACKET_STATISTICS)", st.Kernel.Packets, workerLabels, lv...)
	m.counter("dnstap_sensor_kernel_drops_total", "drop counter: packets the kernel dropped because the ring was full", st.Kernel.Drops, workerLabels, lv...)
	m.counter("dnstap_sensor_kernel_queue_freezes_total", "drop counter: times the kernel froze the ring queue", st.Kernel.QueueFreezes, workerLabels, lv...)
	m.counter("dnstap_sensor_socket_reopens_total", "activity counter: capture sockets opened again after a loss (link down, interface re-created)", st.Reopens, workerLabels, lv...)
	m.counter("dnstap_sensor_socket_open_errors_total", "error counter: failed attempts to open the capture socket (interface missing or down)", st.OpenErrors, workerLabels, lv...)
	m.send("dnstap_sensor_capture_gap_seconds_total", "drop counter: time without a capture socket after the first was opened",
		prometheus.CounterValue, st.Gap.Seconds(), workerLabels, lv...)
	up := 0.0
	if st.Open {
		up = 1
	}
	m.gauge("dnstap_sensor_socket_up", "1 while the worker's capture socket is open, 0 while the interface is missing or down", up, workerLabels, lv...)
	g := &w.gauges
	m.gauge("dnstap_sensor_worker_heartbeat_timestamp_seconds", "wall clock of the capture loop's last turn (Unix seconds); /healthz fails when it is stale",
		unixSeconds(g.beat.Load()), workerLabels, lv...)
	m.gauge("dnstap_sensor_tcp_flows", "TCP connections tracked now (bounded by --max-flows)", float64(g.flows.Load()), workerLabels, lv...)
	m.gauge("dnstap_sensor_fragment_sets", "IP datagrams being reassembled now (bounded by --max-frag-sets)", float64(g.fragSets.Load()), workerLabels, lv...)
	m.gauge("dnstap_sensor_pending_queries", "queries waiting for their response now (bounded by --max-pending)", float64(g.pending.Load()), workerLabels, lv...)
	if w.asm == nil {
		return
	}
	w.asm.Stats().EachKind(func(name string, k stat.Kind, v uint64) {
		m.counter("dnstap_sensor_reassembly_"+metricName(name)+"_total", kindHelp(k, "reassembly", name), v, workerLabels, lv...)
	})
	w.pipe.Stats().EachKind(func(name string, k stat.Kind, v uint64) {
		m.counter("dnstap_sensor_emit_"+metricName(name)+"_total", kindHelp(k, "dnstap pipeline", name), v, workerLabels, lv...)
	})
	w.pipe.Stats().EachType(func(t emit.MessageType, v uint64) {
		m.counter("dnstap_sensor_frames_by_type_total", "activity counter: frames built, by dnstap message type",
			v, []string{"interface", "worker", "type"}, lv[0], lv[1], t.String())
	})
}

// collectOutputs writes each output's accounting, labelled by output:
// encoded = delivered + dropped + spooled + queued at any time.
func (c *liveCollector) collectOutputs(m metricSink) {
	for i, r := range c.outs.reports() {
		st, name := r.stats, r.name
		m.counter("dnstap_sensor_output_frames_encoded_total", "activity counter: frames handed to the output", st.Encoded(), outputLabels, name)
		m.counter("dnstap_sensor_output_frames_delivered_total", "activity counter: frames written to the file or the receiver", st.Delivered(), outputLabels, name)
		for reason := emit.DropReason(0); reason < emit.NumDropReasons; reason++ {
			m.counter("dnstap_sensor_output_frames_dropped_total", "drop counter: frames the output lost, by reason",
				st.DroppedBy(reason), []string{"output", "reason"}, name, reason.String())
		}
		m.gauge("dnstap_sensor_output_frames_spooled", "frames held in the spool, not yet delivered", float64(st.Spooled()), outputLabels, name)
		m.gauge("dnstap_sensor_output_frames_queued", "frames waiting in the output's queue", float64(st.Queued()), outputLabels, name)
		m.counter("dnstap_sensor_output_reconnects_total", "activity counter: connections to a receiver after the first", st.Reconnects(), outputLabels, name)
		state := st.State()
		up := 0.0
		if state == emit.StateUp || state == emit.StateStarting {
			up = 1
		}
		m.gauge("dnstap_sensor_output_up", "1 while the output writes (state up or starting), 0 while it fails or is closed", up, outputLabels, name)
		for s := emit.StateStarting; s <= emit.StateClosed; s++ {
			v := 0.0
			if s == state {
				v = 1
			}
			m.gauge("dnstap_sensor_output_state", "1 for the output's current state, 0 for the others", v, []string{"output", "state"}, name, s.String())
		}
		if i < len(c.outs.queues) {
			q := c.outs.queues[i]
			m.gauge("dnstap_sensor_output_queue_batches", "full batches waiting for the output's writer", float64(q.Depth()), outputLabels, name)
			m.gauge("dnstap_sensor_output_queue_capacity_batches", "batches the output's queue holds before it drops (--queue-batches)", float64(q.Capacity()), outputLabels, name)
			m.gauge("dnstap_sensor_output_writer_heartbeat_timestamp_seconds", "wall clock of the output writer's last turn (Unix seconds); /healthz fails when it is stale",
				float64(q.Heartbeat().UnixNano())/1e9, outputLabels, name)
		}
		for _, n := range r.extra.order {
			m.counter("dnstap_sensor_output_"+metricName(n)+"_total", kindHelp(r.extra.kind[n], "output", n), r.extra.v[n], outputLabels, name)
		}
	}
}

// serveMetrics serves /metrics, /healthz and /readyz on ln. The caller
// opens the listener before capture starts, so a bad address fails at once
// (and a test passes a 127.0.0.1:0 listener).
func serveMetrics(ln net.Listener, reg *prometheus.Registry, h *health) (stop func()) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError}))
	probe := func(check func(time.Time) string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.Header().Set("Cache-Control", "no-store")
			if reason := check(time.Now()); reason != "" {
				w.WriteHeader(http.StatusServiceUnavailable)
				w.Write([]byte(reason + "\n"))
				return
			}
			w.Write([]byte("ok\n"))
		}
	}
	mux.Handle("/healthz", probe(h.live))
	mux.Handle("/readyz", probe(h.ready))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the capture goes on without metrics; nothing to report to
		}
	}()
	return func() { srv.Close() }
}

// metricName keeps [a-z0-9_] so any counter name is a valid metric name.
func metricName(n string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '_':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '_'
	}, n)
}
