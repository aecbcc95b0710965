package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// serveMetrics exposes the live counters in the Prometheus text format on
// ln (/metrics), so that drops are visible while the sensor runs, not only
// in the summary at exit. snapshot builds the same totals the summary prints.
// The caller opens the listener before capture starts, so a bad address
// fails at once (and a test passes a 127.0.0.1:0 listener).
func serveMetrics(ln net.Listener, snapshot func() *summary) (stop func()) {
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		bw := bufio.NewWriter(w)
		writeMetrics(bw, snapshot())
		bw.Flush()
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the capture goes on without metrics; nothing to report to
		}
	}()
	return func() { srv.Close() }
}

// writeMetrics writes every counter as dnstap_sensor_<name>_total with its
// kind in the HELP line, the frames by dnstap type as one labelled family,
// and each output's accounting labelled by output (and reason).
func writeMetrics(w *bufio.Writer, s *summary) {
	family := func(name, typ, help string) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
	}
	emitSet := func(prefix, group string, t *totals) {
		for _, n := range t.order {
			name := "dnstap_sensor_" + prefix + metricName(n) + "_total"
			family(name, "counter", fmt.Sprintf("%s counter of the %s", t.kind[n], group))
			fmt.Fprintf(w, "%s %d\n", name, t.v[n])
		}
	}
	family("dnstap_sensor_packets_total", "counter", "activity counter: packets captured")
	fmt.Fprintf(w, "dnstap_sensor_packets_total %d\n", s.packets)
	family("dnstap_sensor_bytes_total", "counter", "activity counter: bytes captured")
	fmt.Fprintf(w, "dnstap_sensor_bytes_total %d\n", s.bytes)
	emitSet("", "kernel capture", s.kernel)
	emitSet("reassembly_", "reassembly", s.decode)
	emitSet("emit_", "dnstap pipeline", s.pipe)
	emitSet("interface_", "interface (name after the colon)", s.ifaces)
	family("dnstap_sensor_frames_by_type_total", "counter", "activity counter: frames built by dnstap message type")
	for _, n := range s.types.order {
		fmt.Fprintf(w, "dnstap_sensor_frames_by_type_total{type=%q} %d\n", n, s.types.v[n])
	}
	writeOutputMetrics(w, family, s.outputs)
}

// writeOutputMetrics writes one family per output counter, one sample per
// output: encoded = delivered + dropped + spooled + queued at any time.
func writeOutputMetrics(w *bufio.Writer, family func(name, typ, help string), outs []outputReport) {
	if len(outs) == 0 {
		return
	}
	per := func(name, typ, help string, v func(st *emit.OutputStats) uint64) {
		family(name, typ, help)
		for _, o := range outs {
			fmt.Fprintf(w, "%s{output=%q} %d\n", name, o.name, v(o.stats))
		}
	}
	per("dnstap_sensor_output_frames_encoded_total", "counter", "activity counter: frames handed to the output", (*emit.OutputStats).Encoded)
	per("dnstap_sensor_output_frames_delivered_total", "counter", "activity counter: frames written to the file or the receiver", (*emit.OutputStats).Delivered)
	family("dnstap_sensor_output_frames_dropped_total", "counter", "drop counter: frames the output lost, by reason")
	for _, o := range outs {
		for r := emit.DropReason(0); r < emit.NumDropReasons; r++ {
			fmt.Fprintf(w, "dnstap_sensor_output_frames_dropped_total{output=%q,reason=%q} %d\n", o.name, r.String(), o.stats.DroppedBy(r))
		}
	}
	per("dnstap_sensor_output_frames_spooled", "gauge", "frames held in the spool, not yet delivered", (*emit.OutputStats).Spooled)
	per("dnstap_sensor_output_frames_queued", "gauge", "frames waiting in the output's queue", (*emit.OutputStats).Queued)
	per("dnstap_sensor_output_reconnects_total", "counter", "activity counter: connections to a receiver after the first", (*emit.OutputStats).Reconnects)
	family("dnstap_sensor_output_up", "gauge", "1 while the output writes (state up or starting), 0 while it fails or is closed")
	for _, o := range outs {
		up := 0
		if st := o.stats.State(); st == emit.StateUp || st == emit.StateStarting {
			up = 1
		}
		fmt.Fprintf(w, "dnstap_sensor_output_up{output=%q,state=%q} %d\n", o.name, o.stats.State().String(), up)
	}
	// The outputs' own counters (files finished, deleted …), one family
	// per name across the outputs that have it.
	var names []string
	seen := map[string]bool{}
	for _, o := range outs {
		for _, n := range o.extra.order {
			if !seen[n] {
				seen[n] = true
				names = append(names, n)
			}
		}
	}
	for _, n := range names {
		name := "dnstap_sensor_output_" + metricName(n) + "_total"
		first := true
		for _, o := range outs {
			v, ok := o.extra.v[n]
			if !ok {
				continue
			}
			if first {
				family(name, "counter", o.extra.kind[n].String()+" counter of the output")
				first = false
			}
			fmt.Fprintf(w, "%s{output=%q} %d\n", name, o.name, v)
		}
	}
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
