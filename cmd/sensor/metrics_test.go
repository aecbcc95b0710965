package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

func TestMetricsEndpoint(t *testing.T) {
	s := newSummary("test")
	s.packets, s.bytes = 7, 700
	s.kernel.add("kernel_drops", stat.Drop, 3)
	s.decode.add("frag_evicted-sets", stat.Drop, 2)
	s.pipe.add("frames_encoded", stat.Activity, 5)
	s.types.add("CLIENT_QUERY", stat.Activity, 4)
	var st emit.OutputStats
	st.AddEncoded(5)
	st.AddDelivered(3)
	st.AddDropped(emit.DropQueueFull, 2)
	s.outputs = []outputReport{{name: "out.dnstap", stats: &st, extra: newTotals()}}
	s.outputs[0].extra.add("files_finished", stat.Activity, 1)
	var b bytes.Buffer
	w := bufio.NewWriter(&b)
	writeMetrics(w, s)
	w.Flush()
	for _, want := range []string{
		"dnstap_sensor_packets_total 7\n",
		"# HELP dnstap_sensor_kernel_drops_total drop counter of the kernel capture\n",
		"dnstap_sensor_kernel_drops_total 3\n",
		"dnstap_sensor_reassembly_frag_evicted_sets_total 2\n",
		"# HELP dnstap_sensor_emit_frames_encoded_total activity counter of the dnstap pipeline\n",
		"dnstap_sensor_emit_frames_encoded_total 5\n",
		`dnstap_sensor_frames_by_type_total{type="CLIENT_QUERY"} 4` + "\n",
		`dnstap_sensor_output_frames_encoded_total{output="out.dnstap"} 5` + "\n",
		`dnstap_sensor_output_frames_delivered_total{output="out.dnstap"} 3` + "\n",
		`dnstap_sensor_output_frames_dropped_total{output="out.dnstap",reason="queue_full"} 2` + "\n",
		`dnstap_sensor_output_frames_dropped_total{output="out.dnstap",reason="write_error"} 0` + "\n",
		`dnstap_sensor_output_up{output="out.dnstap",state="starting"} 1` + "\n",
		`dnstap_sensor_output_files_finished_total{output="out.dnstap"} 1` + "\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %q:\n%s", want, b.String())
		}
	}
}

// TestMetricsOverHTTP serves on a listener the test opened itself: no port
// freed and taken again.
func TestMetricsOverHTTP(t *testing.T) {
	s := newSummary("test")
	s.packets = 1
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stop := serveMetrics(l, func() *summary { return s })
	defer stop()
	resp, err := http.Get("http://" + l.Addr().String() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "dnstap_sensor_packets_total 1\n") {
		t.Errorf("body:\n%s", body)
	}
}
