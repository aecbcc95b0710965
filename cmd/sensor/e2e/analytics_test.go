package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze/ecscheck"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// alertWait bounds the wait for an alert to reach its file while the
// sensor runs: the workers hand their batches over at the next poll
// timeout, and the alert writer flushes when its queue runs dry.
const alertWait = 20 * time.Second

// alertLines returns the JSON alerts of an --alerts-out file as
// "rule client" strings.
func alertLines(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if l == "" {
			continue
		}
		var a struct {
			Time, Rule, Client string
			Evidence           map[string]any
		}
		if err := json.Unmarshal([]byte(l), &a); err != nil || a.Time == "" || a.Evidence == nil {
			t.Fatalf("alert line %q: %v", l, err)
		}
		out = append(out, a.Rule+" "+a.Client)
	}
	return out
}

// TestE2ELiveAlerts runs the sensor live on a SPAN port with --alerts-out
// and --ecs to files while dig asks BIND ordinary names from one address
// and 60 names that do not exist from another: the NXDOMAIN burst alert
// reaches its file while the sensor still runs, naming the burst's client
// only. The ECS file is then moved and SIGHUP sent (logrotate) before more
// queries: the moved file and the new one hold whole lines, together one
// valid event per frame of -w.
func TestE2ELiveAlerts(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	testenv.NeedTool(t, "curl", "curl")
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	defer named.Stop(t)
	dir := t.TempDir()
	// -w in a directory of its own: SIGHUP moves its file aside too.
	wdir := filepath.Join(dir, "w")
	if err := os.Mkdir(wdir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, alerts, ecs := filepath.Join(wdir, "live.dnstap"), filepath.Join(dir, "alerts.jsonl"), filepath.Join(dir, "ecs.jsonl")
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", out, "--alerts-out", alerts, "--ecs", ecs,
		"--server", serverFlag, "--sinkhole", "192.0.2.66", "--metrics", metricsAddr)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	batch := func(name string, lines []string) string {
		f := filepath.Join(dir, name)
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return f
	}
	var ordinary, nx []string
	for range 20 {
		ordinary = append(ordinary, "www."+lab.ZoneAuth+" A", lab.ZoneAuth+" MX")
	}
	for i := range 60 {
		nx = append(nx, fmt.Sprintf("no-such-host-%d.%s A", i, lab.ZoneAuth))
	}
	m.Client.Dig(t, "-b", lab.ClientV6.String(), at6, "-f", batch("ordinary", ordinary))
	m.Client.Dig(t, "-b", lab.ClientV4.String(), at4, "-f", batch("nx", nx))

	want := []string{"nxdomain_burst " + lab.ClientV4.String()}
	var got []string
	for deadline := time.Now().Add(alertWait); ; time.Sleep(100 * time.Millisecond) {
		select {
		case <-sensor.Done():
			t.Fatalf("the sensor exited before the alert was written:\n%s", sensor.Stderr())
		default:
		}
		if got = alertLines(t, alerts); len(got) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alert in %s after %v while the sensor runs:\n%s", alerts, alertWait, sensor.Stderr())
		}
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("alerts while running %v, want %v", got, want)
	}
	// The counters are in the metrics while the sensor runs.
	if code, body := probe(t, m.Monitor, "/metrics"); code != 200 ||
		!strings.Contains(body, `dnstap_sensor_output_alerts_nxdomain_burst_total{output="alerts:`+alerts+`"} 1`+"\n") ||
		!strings.Contains(body, `dnstap_sensor_output_alerts_dropped_total{output="alerts:`+alerts+`"} 0`+"\n") ||
		!strings.Contains(body, `dnstap_sensor_output_ecs_events_written_total{output="ecs:`+ecs+`"}`) {
		t.Errorf("/metrics (%d) lacks the alert and ECS counters:\n%s", code, body)
	}
	// logrotate: move the ECS file, SIGHUP, ask again; the new events
	// go to a new file at the path (whole lines in each).
	time.Sleep(ringSettle + 1500*time.Millisecond)
	if err := os.Rename(ecs, ecs+".1"); err != nil {
		t.Fatal(err)
	}
	syscall.Kill(sensor.Pid(), syscall.SIGHUP)
	m.Client.Dig(t, "-b", lab.ClientV6.String(), at6, "-f", batch("ordinary", ordinary))
	time.Sleep(ringSettle)
	if err := sensor.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	t.Logf("sensor:\n%s", sensor.Stderr())
	if got := alertLines(t, alerts); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("alerts at the end %v, want %v", got, want)
	}
	var frames [][]byte
	for _, f := range sortedFiles(t, wdir) {
		frames = append(frames, completeFrames(t, f)...)
	}
	// 40 + 40 ordinary and 60 NXDOMAIN queries, each with its answer.
	if len(frames) != 280 {
		t.Errorf("-w holds %d frames, want 280", len(frames))
	}
	fields, err := ecscheck.Read(filepath.Join(testenv.RepoRoot(), "internal", "analyze", "testdata", "ecs_fields.csv"))
	if err != nil {
		t.Fatal(err)
	}
	moved, err := os.ReadFile(ecs + ".1")
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(ecs)
	if err != nil {
		t.Fatalf("no new ECS file after SIGHUP: %v", err)
	}
	if len(moved) == 0 || len(data) == 0 || moved[len(moved)-1] != '\n' || data[0] != '{' {
		t.Errorf("ECS files of %d and %d bytes: want whole lines in each", len(moved), len(data))
	}
	lines := bytes.Split(bytes.TrimSuffix(append(moved, data...), []byte("\n")), []byte("\n"))
	if len(lines) != len(frames) {
		t.Errorf("%d ECS events for %d frames", len(lines), len(frames))
	}
	nxEvents := 0
	for _, l := range lines {
		if p := ecscheck.Validate(fields, l); len(p) > 0 {
			t.Fatalf("%s\n  %v", l, p)
		}
		if bytes.Contains(l, []byte(`"response_code":"NXDOMAIN"`)) && bytes.Contains(l, []byte(`"client":{"ip":"`+lab.ClientV4.String()+`"`)) {
			nxEvents++
		}
	}
	if nxEvents != 60 {
		t.Errorf("%d NXDOMAIN answers to %s among the ECS events, want 60", nxEvents, lab.ClientV4)
	}
	s := sensor.Stderr()
	for _, c := range []string{"alerts_nxdomain_burst 1", "alerts_written 1", "ecs_events_written 280"} {
		if !strings.Contains(s, c) {
			t.Errorf("summary lacks %q", c)
		}
	}
}

// TestE2ELiveBlockedAlertSink replays traffic into a SPAN port watched by
// a sensor whose alert sink is a FIFO nobody reads, with rules that make
// every query an alert: the pipe fills at once. Capture does not slow
// down: -w holds every frame of the replay (as many as a file run of the
// capture, no kernel drops), the alert output takes every frame, and the
// alerts that did not fit are dropped and counted, exactly.
func TestE2ELiveBlockedAlertSink(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "udp.pcap")
	gen := exec.Command("go", "run", "./internal/synth/gencap", "-kind", "udp", "-n", "20000", "-o", pcap)
	gen.Dir = testenv.RepoRoot()
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gencap: %v\n%s", err, out)
	}
	_, fileSummary := convert(t, pcap)
	want := summaryCount(t, fileSummary)

	fifo := filepath.Join(dir, "alerts.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// Opened for reading (so the sensor's open does not wait), never read.
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rules := filepath.Join(dir, "every-query.conf")
	if err := os.WriteFile(rules, []byte("rate_spike.count 1\nrate_spike.window 1ns\nsuppress 1ns\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m := lab.NewMirror(t)
	out := filepath.Join(dir, "live.dnstap")
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", out, "--alerts-out", fifo, "--alerts", rules)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	m.Server.Run(t, "tcpreplay", "-K", "--pps=20000", "-i", m.MirrorIf, pcap)
	time.Sleep(ringSettle)
	err = sensor.Stop(syscall.SIGTERM)
	s := sensor.Stderr()
	t.Logf("sensor:\n%s", s)
	if err == nil {
		t.Errorf("the sensor lost alerts and exited 0")
	}
	if n := len(completeFrames(t, out)); n != want {
		t.Errorf("-w holds %d frames, a file run of the capture %d", n, want)
	}
	raised := summaryCounter(t, s, "alerts_rate_spike")
	written, dropped := summaryCounter(t, s, "alerts_written"), summaryCounter(t, s, "alerts_dropped")
	if raised == 0 || dropped == 0 || written+dropped != raised {
		t.Errorf("alerts raised %d, written %d, dropped %d: want drops and the sum exact", raised, written, dropped)
	}
	if n := summaryCounter(t, s, "kernel_drops"); n != 0 {
		t.Errorf("%d kernel drops", n)
	}
	if !strings.Contains(s, fmt.Sprintf("frames delivered           %12d  -> alerts:%s (", want, fifo)) {
		t.Errorf("the alert output did not take all %d frames", want)
	}
	if strings.Contains(s, "frames dropped") {
		t.Errorf("frames were dropped: only alerts may be")
	}
}
