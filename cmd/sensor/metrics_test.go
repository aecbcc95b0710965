package main

import (
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// startLoopbackRun sets up a live run on lo (workers, a dnstap file output,
// the metrics listener) as runLive does, with its loops turning, and
// returns the base URL of the metrics server.
func startLoopbackRun(t *testing.T, workers int) (string, []*liveWorker, *outputSet) {
	t.Helper()
	testenv.NeedRoot(t)
	o, err := parseOptions([]string{"-i", "lo", "--workers", "2", "-w", filepath.Join(t.TempDir(), "out.dnstap")}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	o.workers = workers
	ws, err := openWorkers(o)
	if err != nil {
		t.Fatal(err)
	}
	outs, err := openOutputs(o.outputs, io.Discard, func(string, ...any) {})
	if err != nil {
		closeWorkers(ws)
		t.Fatal(err)
	}
	outs.start(emit.QueueConfig{Batches: 4})
	ecfg, err := emitConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range ws {
		w.out = outs.writer()
		w.pipe = emit.NewPipeline(ecfg, w.out)
		w.asm = reassembly.NewAssembler(reassemblyConfig(o), w.pipe)
		w.gauges.beat.Store(time.Now().UnixNano())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	stopHTTP := serveMetrics(ln, newRegistry(ws, outs), &health{workers: ws, outs: outs})
	stop := &stopper{}
	done := make(chan struct{})
	go func() { runWorkers(ws, stop); close(done) }()
	t.Cleanup(func() {
		stopHTTP()
		stop.Store(true)
		<-done
		for _, w := range ws {
			w.out.Flush()
		}
		closeWorkers(ws)
		if err := outs.close(); err != nil {
			t.Error(err)
		}
	})
	return "http://" + ln.Addr().String(), ws, outs
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// TestMetricsPromtool scrapes a live run on lo and has promtool check the
// exposition: any complaint (missing HELP, a unit not in base units, a
// counter without _total) fails the test.
func TestMetricsPromtool(t *testing.T) {
	promtool := testenv.NeedTool(t, "promtool", "prometheus")
	base, _, _ := startLoopbackRun(t, 2)
	code, body := get(t, base+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d\n%s", code, body)
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(body)
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	for _, want := range []string{
		"# TYPE dnstap_sensor_kernel_drops_total counter\n",
		`dnstap_sensor_kernel_drops_total{interface="lo",worker="0"} `,
		`dnstap_sensor_kernel_drops_total{interface="lo",worker="1"} `,
		`dnstap_sensor_socket_up{interface="lo",worker="1"} 1` + "\n",
		"# TYPE dnstap_sensor_capture_gap_seconds_total counter\n",
		"# TYPE dnstap_sensor_tcp_flows gauge\n",
		`dnstap_sensor_pending_queries{interface="lo",worker="0"} 0` + "\n",
		`dnstap_sensor_fragment_sets{interface="lo",worker="0"} 0` + "\n",
		"# TYPE dnstap_sensor_last_packet_timestamp_seconds gauge\n",
		"# TYPE dnstap_sensor_reassembly_frag_evicted_sets_total counter\n",
		"# TYPE dnstap_sensor_emit_frames_encoded_total counter\n",
		`dnstap_sensor_output_frames_dropped_total{output="`,
		`reason="queue_full"} 0` + "\n",
		`dnstap_sensor_output_queue_capacity_batches{output="`,
		`dnstap_sensor_build_info{goversion="go`,
		"# TYPE go_goroutines gauge\n",
		"# TYPE process_resident_memory_bytes gauge\n",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if ms := regexp.MustCompile(`(?m)^dnstap_sensor_\w*_ms(_|\{| )`).FindString(body); ms != "" {
		t.Errorf("/metrics has a millisecond unit: %s", ms)
	}
}

// TestHealthStates drives /healthz and /readyz through each state a unit
// test can reach on lo: capturing, a worker loop that stopped turning, an
// output writer that stopped turning, an output that is down. The lab
// test (e2e) covers a missing and a deleted interface and a dead receiver.
func TestHealthStates(t *testing.T) {
	base, ws, outs := startLoopbackRun(t, 1)
	h := &health{workers: ws, outs: outs}
	now := time.Now()
	type probe struct {
		path string
		code int
		body string
	}
	check := func(state string, want ...probe) {
		t.Helper()
		for _, p := range want {
			code, body := get(t, base+p.path)
			if code != p.code || body != p.body {
				t.Errorf("%s: %s = %d %q, want %d %q", state, p.path, code, body, p.code, p.body)
			}
		}
	}
	check("capturing", probe{"/healthz", 200, "ok\n"}, probe{"/readyz", 200, "ok\n"})

	// The checks themselves, at a time when the heartbeats are stale.
	later := now.Add(time.Minute)
	for _, w := range ws {
		w.gauges.beat.Store(now.UnixNano())
	}
	if got, want := h.live(later), "capture loop of lo worker 0 stuck for 1m0s"; got != want {
		t.Errorf("live with a stale worker: %q, want %q", got, want)
	}
	if got := h.live(now.Add(healthStale - time.Second)); strings.Contains(got, "capture loop") {
		t.Errorf("live within healthStale: %q", got)
	}

	st := outs.outs[0].Stats()
	st.SetState(emit.StateDown)
	st.SetError(io.ErrShortWrite, now)
	name := outs.specs[0].name()
	check("output down", probe{"/healthz", 200, "ok\n"}, probe{"/readyz", 503, "output " + name + " down: short write\n"})
	st.SetState(emit.StateUp)
	check("output back", probe{"/readyz", 200, "ok\n"})
}

// TestMetricsWithFile: --metrics with -r is refused with one line, never
// ignored; --memory-limit takes a size.
func TestMetricsWithFile(t *testing.T) {
	dns := pcap("dnscap_dns.pcap")
	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string
	}{
		{"metrics with -r", []string{"-r", dns, "-q", "--metrics", "127.0.0.1:0"}, exitUsage,
			"sensor: --metrics serves a live capture (-i); with -r the counters are in the summary at exit (sensor -h for help)\n"},
		{"memory limit", []string{"-r", dns, "-w", filepath.Join(t.TempDir(), "x.dnstap"), "--memory-limit", "96MiB"}, exitOK, "DNS messages"},
		{"bad memory limit", []string{"-r", dns, "-q", "--memory-limit", "lots"}, exitUsage, `sensor: invalid value "lots" for flag -memory-limit: "lots": want a positive size`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb strings.Builder
			if code := run(tc.args, &out, &errb); code != tc.code || !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("exit %d, want %d; stderr %q, want %q in it", code, tc.code, errb.String(), tc.stderr)
			}
		})
	}
}
