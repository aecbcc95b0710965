package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

func TestMetricsEndpoint(t *testing.T) {
	s := &summary{packets: 7, bytes: 700, kernel: newTotals(), decode: newTotals(), pipe: newTotals(), types: newTotals(), output: newTotals()}
	s.kernel.add("kernel_drops", 3)
	s.decode.add("frag_evicted-sets", 2)
	s.pipe.add("frames_written", 5)
	s.types.add("CLIENT_QUERY", 4)
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeMetrics(w, s)
	w.Flush()
	for _, want := range []string{
		"dnstap_sensor_packets_total 7\n",
		"dnstap_sensor_kernel_drops_total 3\n",
		"dnstap_sensor_reassembly_frag_evicted_sets_total 2\n",
		"dnstap_sensor_emit_frames_written_total 5\n",
		`dnstap_sensor_frames_by_type_total{type="CLIENT_QUERY"} 4` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
	if _, err := serveMetrics("256.0.0.1:1", func() *summary { return s }); err == nil || !strings.Contains(err.Error(), "--metrics") {
		t.Errorf("bad address: err %v, want one naming --metrics", err)
	}
}

func TestMetricsOverHTTP(t *testing.T) {
	s := &summary{packets: 1, kernel: newTotals(), decode: newTotals(), pipe: newTotals(), types: newTotals(), output: newTotals()}
	// A port that was free a moment ago: serveMetrics takes an address, as
	// the --metrics flag does, and does not report the port it got.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	stop, err := serveMetrics(addr, func() *summary { return s })
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "dnstap_sensor_packets_total 1\n") {
		t.Errorf("body:\n%s", body)
	}
}
