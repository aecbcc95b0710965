package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// metricsAddr is where the sensor serves /metrics, /healthz and /readyz in
// the lab. The monitor namespace is the test's own, so the port is free.
const metricsAddr = "127.0.0.1:9153"

// probeWait bounds how long a probe may take to show a change the sensor
// has to notice first (a socket lost, a batch that fails to send).
const probeWait = 30 * time.Second

// probe fetches a path of the sensor's HTTP server from inside ns.
func probe(t *testing.T, ns *lab.Netns, path string) (int, string) {
	t.Helper()
	out, err := ns.Output("curl", "-sS", "-w", "\n%{http_code}", "http://"+metricsAddr+path)
	if err != nil {
		t.Fatalf("curl %s: %v", path, err)
	}
	s := string(out)
	i := strings.LastIndexByte(s, '\n')
	code, err := strconv.Atoi(s[i+1:])
	if err != nil {
		t.Fatalf("curl %s: no status in %q", path, s)
	}
	return code, s[:i]
}

// waitProbe polls path until it answers code with a body that starts with
// prefix, and fails the test with the last answer when it does not.
func waitProbe(t *testing.T, ns *lab.Netns, state, path string, code int, prefix string) {
	t.Helper()
	deadline := time.Now().Add(probeWait)
	for {
		c, body := probe(t, ns, path)
		if c == code && strings.HasPrefix(body, prefix) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s = %d %q, want %d %q…", state, path, c, body, code, prefix)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestHealthProbes (issue #10) walks /healthz and /readyz through each
// state an operator must tell apart from outside: the interface missing at
// start (not ready, logged once as waited for), capturing (ready), the
// interface deleted mid-run (not ready) and back (ready), its link set
// down (not ready) and up (ready), and an output whose receiver is gone
// (not ready). /healthz stays "ok" throughout: the
// loops turn in every one of these states.
func TestHealthProbes(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "curl", "curl")
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	defer named.Stop(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.dnstap")
	gone := filepath.Join(dir, "receiver.sock") // nothing listens there

	m.DeleteSpan(t)
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "--workers", "2", "-w", out, "-u", gone,
		"--metrics", metricsAddr, "--server", serverFlag, "--role", "authoritative")
	sensor.WaitFor(t, "capture: open "+m.SpanIf+": capture: no such interface; waiting for it", sensorStartWait)
	notOpen := "interface " + m.SpanIf + " worker 0: no capture socket"
	waitProbe(t, m.Monitor, "interface missing", "/readyz", 503, notOpen)
	waitProbe(t, m.Monitor, "interface missing", "/healthz", 200, "ok")

	m.AttachSpan(t)
	waitProbe(t, m.Monitor, "capturing", "/readyz", 200, "ok")
	if n := strings.Count(sensor.Stderr(), "waiting for it"); n != 1 {
		t.Errorf("the missing interface was logged %d times, want once (2 workers):\n%s", n, sensor.Stderr())
	}

	m.DeleteSpan(t)
	waitProbe(t, m.Monitor, "interface deleted", "/readyz", 503, notOpen)
	waitProbe(t, m.Monitor, "interface deleted", "/healthz", 200, "ok")
	m.AttachSpan(t)
	waitProbe(t, m.Monitor, "interface back", "/readyz", 200, "ok")
	m.SetSpan(t, false)
	waitProbe(t, m.Monitor, "link down", "/readyz", 503, notOpen)
	m.SetSpan(t, true)
	waitProbe(t, m.Monitor, "link up", "/readyz", 200, "ok")

	// A message makes the socket output try its receiver, which is gone.
	m.Client.Dig(t, "-b", lab.ClientV4.String(), at4, "health."+lab.ZoneAuth, "A")
	waitProbe(t, m.Monitor, "output dead", "/readyz", 503, "output unix:"+gone+" down: ")
	waitProbe(t, m.Monitor, "output dead", "/healthz", 200, "ok")

	_ = sensor.Stop(syscall.SIGTERM) // fails: the socket output dropped frames
}

// TestPrometheusScrape (issue #10): a real Prometheus scrapes the sensor
// every second during a lab run, and a PromQL query through its HTTP API
// returns the number of DNS messages the lab sent.
func TestPrometheusScrape(t *testing.T) {
	bin := sensorBin(t)
	prom := testenv.NeedTool(t, "prometheus", "prometheus")
	testenv.NeedTool(t, "curl", "curl")
	m := lab.NewMirror(t)
	named := lab.StartNamed(t, m.Server, lab.ServerV4, lab.ServerV6)
	defer named.Stop(t)
	dir := t.TempDir()
	sensor := m.Monitor.Start(t, bin, "-i", m.SpanIf, "--workers", "2", "-w", filepath.Join(dir, "sensor.dnstap"),
		"--metrics", metricsAddr, "--server", serverFlag, "--role", "authoritative")
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)

	conf := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(conf, []byte(`global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: sensor
    static_configs:
      - targets: ['`+metricsAddr+`']
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command(prom[:strings.LastIndexByte(prom, '/')+1]+"promtool", "check", "config", conf).CombinedOutput(); err != nil {
		t.Fatalf("promtool check config: %v\n%s", err, out)
	}
	const promAddr = "127.0.0.1:9090" // in the monitor namespace, like the sensor
	p := m.Monitor.Start(t, prom, "--config.file="+conf, "--storage.tsdb.path="+filepath.Join(dir, "tsdb"),
		"--web.listen-address="+promAddr)
	p.WaitFor(t, "Server is ready to receive web requests", sensorStartWait)

	const queries = 10 // each answered: 2 DNS messages
	for i := range queries {
		m.Client.Dig(t, "-b", lab.ClientV4.String(), at4, fmt.Sprintf("prom-%d.%s", i, lab.ZoneAuth), "A")
	}
	const want = 2 * queries
	query := "sum(dnstap_sensor_reassembly_messages_udp_total) + sum(dnstap_sensor_reassembly_messages_tcp_total)"
	deadline := time.Now().Add(probeWait)
	var got string
	for {
		got = promQuery(t, m.Monitor, promAddr, query)
		if got == strconv.Itoa(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got != strconv.Itoa(want) {
		t.Errorf("%s = %q through Prometheus, want %d", query, got, want)
	}
	if up := promQuery(t, m.Monitor, promAddr, `up{job="sensor"}`); up != "1" {
		t.Errorf(`up{job="sensor"} = %q, want 1`, up)
	}
	_ = p.Stop(syscall.SIGTERM)
	if err := sensor.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("sensor: %v\n%s", err, sensor.Stderr())
	}
	if n := summaryCounter(t, sensor.Stderr(), "DNS messages"); n != want {
		t.Errorf("the sensor's summary has %d DNS messages, want %d", n, want)
	}
}

// promQuery runs an instant query through Prometheus's HTTP API and
// returns the single sample's value, "" when the result is empty.
func promQuery(t *testing.T, ns *lab.Netns, addr, q string) string {
	t.Helper()
	out, err := ns.Output("curl", "-sS", "--get", "--data-urlencode", "query="+q, "http://"+addr+"/api/v1/query")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status string
		Data   struct {
			Result []struct {
				Value [2]any
			}
		}
	}
	if err := json.Unmarshal(out, &r); err != nil || r.Status != "success" {
		t.Fatalf("query %s: %v: %s", q, err, out)
	}
	if len(r.Data.Result) != 1 {
		return ""
	}
	v, _ := r.Data.Result[0].Value[1].(string)
	return v
}
