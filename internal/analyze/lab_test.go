package analyze

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Culprits of testdata/pcaps/security_mixed.pcap (see its README line and
// cmd/sensor/seccap_test.go, which wrote it).
var (
	labNX       = netip.MustParseAddr("198.51.100.66")
	labTunnel   = netip.MustParseAddr("198.51.100.77")
	labSinkhole = netip.MustParseAddr("198.51.100.88")
)

const labSinkholes = "192.0.2.66,sinkhole.example.net"

type frameCollector struct{ frames [][]byte }

func (c *frameCollector) WriteFrame(b []byte) error {
	c.frames = append(c.frames, bytes.Clone(b))
	return nil
}

// pcapFrames runs a capture of testdata/pcaps through the sensor's own
// pipeline (capture → reassembly → emit, as `sensor -r` does) and returns
// the dnstap payloads.
func pcapFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	if !strings.Contains(path, "/") {
		path = filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", path)
	}
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var c frameCollector
	p := emit.NewPipeline(emit.Config{Identity: []byte("lab"), Version: []byte("test")}, &c)
	asm := reassembly.NewAssembler(reassembly.DefaultConfig(), p)
	var f packet.Frame
	for {
		err := src.Next(&f)
		if err == io.EOF {
			break
		}
		if errors.Is(err, capture.ErrTruncated) || errors.Is(err, capture.ErrCorrupt) {
			break // damaged captures: what was read before counts
		}
		if err != nil {
			t.Fatal(err)
		}
		asm.HandleFrame(&f)
	}
	asm.Flush()
	p.Flush()
	return c.frames
}

type alertKey struct {
	rule   string
	client string
}

// runAlerts feeds frames to an engine as emit.Output batches (as the live
// wiring will) and returns the alert lines it wrote.
func runAlerts(t *testing.T, rules Rules, frames [][]byte) ([]map[string]any, *AlertEngine, *AlertOutput) {
	t.Helper()
	var out bytes.Buffer
	aw := NewAlertWriter(&out, nil)
	e := NewAlertEngine(rules, aw.Sink())
	o := NewAlertOutput(e, aw)
	var batch []byte
	for i, f := range frames {
		batch = binary.BigEndian.AppendUint32(batch, uint32(len(f)))
		batch = append(batch, f...)
		if i%64 == 63 || i == len(frames)-1 {
			if err := o.WriteBatch(batch); err != nil {
				t.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got := o.Stats().Delivered(); got != uint64(len(frames)) || o.Stats().Dropped() != 0 {
		t.Errorf("output delivered %d dropped %d, want %d and 0", got, o.Stats().Dropped(), len(frames))
	}
	var alerts []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(out.String()), "\n") {
		if line == "" {
			continue
		}
		var a map[string]any
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatalf("alert line %q: %v", line, err)
		}
		for _, k := range []string{"time", "rule", "client", "evidence"} {
			if _, ok := a[k]; !ok {
				t.Errorf("alert %s lacks %q", line, k)
			}
		}
		alerts = append(alerts, a)
	}
	return alerts, e, o
}

func keysOf(alerts []map[string]any) []alertKey {
	var ks []alertKey
	for _, a := range alerts {
		ks = append(ks, alertKey{a["rule"].(string), a["client"].(string)})
	}
	slices.SortFunc(ks, func(a, b alertKey) int { return strings.Compare(a.rule+a.client, b.rule+b.client) })
	return ks
}

// TestAlertsCulprits: on the mixed capture the built-in rules name exactly
// the three culprits, once each (rate limit), and no ordinary client.
func TestAlertsCulprits(t *testing.T) {
	frames := pcapFrames(t, "security_mixed.pcap")
	rules := DefaultRules()
	var err error
	if rules.Sinkholes, err = ParseSinkholes(labSinkholes); err != nil {
		t.Fatal(err)
	}
	alerts, e, _ := runAlerts(t, rules, frames)
	want := []alertKey{{"nxdomain_burst", labNX.String()}, {"sinkhole", labSinkhole.String()}, {"tunnel", labTunnel.String()}}
	if got := keysOf(alerts); !slices.Equal(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
	for _, a := range alerts {
		ev := a["evidence"].(map[string]any)
		switch a["rule"] {
		case "nxdomain_burst":
			// The answer to the 50th query of the burst (0.5 s apart from
			// 00:03:20), 9 ms after it.
			if ev["nxdomain"] != 50.0 || a["time"] != "2026-01-01T00:03:44.509Z" {
				t.Errorf("nxdomain alert %v", a)
			}
		case "tunnel":
			if ev["domain"] != "exfil.example" || ev["queries"] != 30.0 || ev["txt_null_cname"] != 30.0 {
				t.Errorf("tunnel alert %v", a)
			}
		case "sinkhole":
			if ev["name"] != "update.malware-cnc.example" || ev["answer"] != "192.0.2.66" {
				t.Errorf("sinkhole alert %v", a)
			}
		}
	}
	st := e.Stats()
	// The sinkhole is hit three times in two minutes: one alert, two held
	// back by the five-minute rate limit.
	if st.Alerts[RuleSinkhole].Load() != 1 || st.Suppressed[RuleSinkhole].Load() != 2 {
		t.Errorf("sinkhole alerts %d suppressed %d, want 1 and 2", st.Alerts[RuleSinkhole].Load(), st.Suppressed[RuleSinkhole].Load())
	}
	if st.Frames.Load() != uint64(len(frames)) || st.DecodeErrors.Load() != 0 || st.ClientsEvicted.Load() != 0 {
		t.Errorf("frames %d errors %d evicted %d", st.Frames.Load(), st.DecodeErrors.Load(), st.ClientsEvicted.Load())
	}
}

// TestAlertsNormal: ordinary traffic raises nothing, with or without
// sinkholes and with a baseline of itself.
func TestAlertsNormal(t *testing.T) {
	frames := pcapFrames(t, "security_normal.pcap")
	rules := DefaultRules()
	rules.Sinkholes, _ = ParseSinkholes(labSinkholes)
	rules.Baseline = baselineOf(t, frames)
	if alerts, _, _ := runAlerts(t, rules, frames); len(alerts) != 0 {
		t.Errorf("normal capture raised %v", alerts)
	}
}

func baselineOf(t *testing.T, frames [][]byte) *Baseline {
	t.Helper()
	bb := NewBaselineBuilder()
	var m Msg
	for _, f := range frames {
		if m.Decode(f) == nil {
			bb.Add(&m)
		}
	}
	return bb.Baseline()
}

// TestAlertsBaseline: with a baseline of the normal capture, new_domain
// also names the culprits, and only them.
func TestAlertsBaseline(t *testing.T) {
	rules := DefaultRules()
	rules.Sinkholes, _ = ParseSinkholes(labSinkholes)
	rules.Baseline = baselineOf(t, pcapFrames(t, "security_normal.pcap"))
	alerts, _, _ := runAlerts(t, rules, pcapFrames(t, "security_mixed.pcap"))
	want := []alertKey{{"new_domain", labNX.String()}, {"new_domain", labTunnel.String()}, {"new_domain", labSinkhole.String()},
		{"nxdomain_burst", labNX.String()}, {"sinkhole", labSinkhole.String()}, {"tunnel", labTunnel.String()}}
	if got := keysOf(alerts); !slices.Equal(got, want) {
		t.Fatalf("alerts %v, want %v", got, want)
	}
}

// TestAlertRules: thresholds from a rules file change what fires; bad
// files say which line.
func TestAlertRules(t *testing.T) {
	frames := pcapFrames(t, "security_mixed.pcap")
	cases := []struct {
		name string
		file string
		want []alertKey
	}{
		{"nxdomain off, sinkhole from file", "nxdomain_burst.enabled off\nsinkhole 192.0.2.66\ntunnel.enabled off\n",
			[]alertKey{{"sinkhole", labSinkhole.String()}}},
		// 31 queries in 600 s: each ordinary client crosses 30 once.
		{"rate spike low", "rate_spike.count 31\nrate_spike.window 10m\nnxdomain_burst.enabled off\ntunnel.enabled off\n",
			nil},
		{"tunnel needs more than it got", "tunnel.unique 151\nnxdomain_burst.count 121\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rules, err := ParseRules(strings.NewReader(c.file), "test")
			if err != nil {
				t.Fatal(err)
			}
			alerts, _, _ := runAlerts(t, rules, frames)
			got := keysOf(alerts)
			want := c.want
			if c.name == "rate spike low" {
				for i := range 8 {
					want = append(want, alertKey{"rate_spike", netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)}).String()})
				}
				want = append(want, alertKey{"rate_spike", labNX.String()}, alertKey{"rate_spike", labTunnel.String()})
				slices.SortFunc(want, func(a, b alertKey) int { return strings.Compare(a.rule+a.client, b.rule+b.client) })
			}
			if !slices.Equal(got, want) {
				t.Errorf("alerts %v, want %v", got, want)
			}
		})
	}
	for _, bad := range []struct{ file, want string }{
		{"nxdomain_burst.count -1\n", "test:1: nxdomain_burst.count: want a positive integer"},
		{"# ok\n\nsuppress 5x\n", "test:3: suppress: want a positive duration"},
		{"frobnicate 1\n", "test:1: frobnicate: unknown key"},
		{"bogus.enabled on\n", "test:1: bogus.enabled: no such rule"},
	} {
		if _, err := ParseRules(strings.NewReader(bad.file), "test"); err == nil || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("ParseRules(%q) = %v, want %q", bad.file, err, bad.want)
		}
	}
}

// TestAlertEngineBounded: more clients than the table holds evict the
// least recently active, counted, and a burst still fires for a client
// that stays active.
func TestAlertEngineBounded(t *testing.T) {
	rules := DefaultRules()
	rules.MaxClients = 16
	var got []string
	e := NewAlertEngine(rules, func(a *Alert) { got = append(got, a.Rule.String()+" "+a.Client.String()) })
	var m Msg
	for i := range 1000 {
		// a churn of one-off clients, and one client with NXDOMAIN every 10th message
		x := mkTxn(clientN(i+100), tStart+int64(i)*int64(time.Millisecond), "www.example.com", 1, 0)
		if i%10 == 0 {
			x = mkTxn(clientN(1), tStart+int64(i)*int64(time.Millisecond), "nx.example.com", 1, 3)
		}
		qf, rf := x.frames(t)
		if i%10 != 0 {
			rf = qf // one-off clients only ask
		}
		if err := m.Decode(rf); err != nil {
			t.Fatal(err)
		}
		e.Handle(&m)
	}
	if !slices.Equal(got, []string{"nxdomain_burst " + clientN(1).Addr().String()}) {
		t.Errorf("alerts %v, want the one burst", got)
	}
	// 900 one-off clients and the bursting one through 16 slots.
	if ev := e.Stats().ClientsEvicted.Load(); ev != 900+1-16 {
		t.Errorf("evicted %d, want %d", ev, 900+1-16)
	}
}

// TestAlertEngineIdleExpiry: a client idle past every rule window and the
// suppress interval gives its slot up as expired, not evicted: the
// counters tell table pressure from ordinary churn.
func TestAlertEngineIdleExpiry(t *testing.T) {
	rules := DefaultRules()
	rules.MaxClients = 2
	e := NewAlertEngine(rules, nil)
	var m Msg
	ask := func(client int, at int64) {
		t.Helper()
		qf, _ := mkTxn(clientN(client), at, "www.example.com", 1, 0).frames(t)
		if err := m.Decode(qf); err != nil {
			t.Fatal(err)
		}
		e.Handle(&m)
	}
	ask(1, tStart)
	ask(2, tStart)
	ask(3, tStart+int64(time.Second)) // table full, both others recent: one evicted
	later := tStart + int64(time.Second) + e.idle + int64(time.Second)
	ask(4, later) // the oldest slot has been idle past the timeout: expired
	st := e.Stats()
	if st.ClientsEvicted.Load() != 1 || st.ClientsExpired.Load() != 1 {
		t.Fatalf("evicted %d expired %d, want 1 and 1", st.ClientsEvicted.Load(), st.ClientsExpired.Load())
	}
}
