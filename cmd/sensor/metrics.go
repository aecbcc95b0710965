package main

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"
)

// serveMetrics exposes the live counters in the Prometheus text format on
// addr (/metrics), so that drops are visible while the sensor runs, not only
// in the summary at exit. snapshot builds the same totals the summary prints.
// The listener is opened before capture starts, so a bad address fails at once.
func serveMetrics(addr string, snapshot func() *summary) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics %s: %w", addr, err)
	}
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
	return func() { srv.Close() }, nil
}

// writeMetrics writes every counter as dnstap_sensor_<name>_total, and the
// frames by dnstap type as one labelled family.
func writeMetrics(w *bufio.Writer, s *summary) {
	emitSet := func(prefix string, t *totals) {
		if t == nil {
			return
		}
		for _, n := range t.order {
			name := "dnstap_sensor_" + prefix + metricName(n) + "_total"
			fmt.Fprintf(w, "# TYPE %s counter\n%s %d\n", name, name, t.v[n])
		}
	}
	fmt.Fprintf(w, "# TYPE dnstap_sensor_packets_total counter\ndnstap_sensor_packets_total %d\n", s.packets)
	fmt.Fprintf(w, "# TYPE dnstap_sensor_bytes_total counter\ndnstap_sensor_bytes_total %d\n", s.bytes)
	emitSet("", s.kernel)
	emitSet("reassembly_", s.decode)
	emitSet("emit_", s.pipe)
	emitSet("output_", s.output)
	fmt.Fprintf(w, "# TYPE dnstap_sensor_frames_by_type_total counter\n")
	for _, n := range s.types.order {
		fmt.Fprintf(w, "dnstap_sensor_frames_by_type_total{type=%q} %d\n", n, s.types.v[n])
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
