package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze/ecscheck"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestAnalyticsFlags: the alert and ECS outputs take their place in the
// output list, only one output may have stdout, and their option files are
// read (and refused) before the run starts.
func TestAnalyticsFlags(t *testing.T) {
	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.conf")
	os.WriteFile(rules, []byte("nxdomain_burst.count 20\nsinkhole 203.0.113.9\n"), 0o644)
	badRules := filepath.Join(dir, "bad.conf")
	os.WriteFile(badRules, []byte("# ok\nnxdomain_burst.count many\n"), 0o644)
	in := pcap("dnscap_dns.pcap")
	tests := []struct {
		name string
		args []string
		err  string // substring of the usage error; "" for success
		want []string
	}{
		{name: "alerts alone", args: []string{"--alerts-out", "a.jsonl"}, want: []string{"alerts:a.jsonl"}},
		{name: "alerts to stdout alone", args: []string{"--alerts-out", "-"}, want: []string{"stdout (alerts)"}},
		{name: "ecs beside a file", args: []string{"-w", "x.dnstap", "--ecs", "-"}, want: []string{"x.dnstap", "stdout (ecs)"}},
		{name: "all", args: []string{"-w", "x.dnstap", "-j", "-", "--alerts-out", "a.jsonl", "--ecs", "e.jsonl", "--alerts", rules, "--sinkhole", "192.0.2.66"},
			want: []string{"x.dnstap", "stdout (json)", "alerts:a.jsonl", "ecs:e.jsonl"}},
		{name: "alerts and ecs on stdout", args: []string{"--alerts-out", "-", "--ecs", "-"}, err: "--alerts-out - and --ecs - both write to stdout"},
		{name: "alerts and -w on stdout", args: []string{"-w", "-", "--alerts-out", "-"}, err: "-w - and --alerts-out - both write to stdout"},
		{name: "ecs and text on stdout", args: []string{"-j", "--ecs", "-"}, err: "-j - and --ecs - both write to stdout"},
		{name: "sinkhole without alerts", args: []string{"--sinkhole", "192.0.2.66"}, err: "give --alerts-out"},
		{name: "rules without alerts", args: []string{"--ecs", "e", "--alerts", rules}, err: "give --alerts-out"},
		{name: "bad rules", args: []string{"--alerts-out", "a", "--alerts", badRules}, err: "bad.conf:2: nxdomain_burst.count: want a positive integer"},
		{name: "missing rules", args: []string{"--alerts-out", "a", "--alerts", filepath.Join(dir, "none.conf")}, err: "--alerts: "},
		{name: "missing baseline", args: []string{"--alerts-out", "a", "--baseline", filepath.Join(dir, "none.json")}, err: "--baseline: "},
		{name: "bad sinkhole", args: []string{"--alerts-out", "a", "--sinkhole", "192.0.2.66,2001:db8::zz"}, err: "neither an address nor a name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(append([]string{"-r", in}, tc.args...), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for i := range o.outputs {
				names = append(names, o.outputs[i].name())
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("outputs %q, want %q", names, tc.want)
			}
		})
	}
	o, err := parseOptions([]string{"-r", in, "--alerts-out", "a", "--alerts", rules, "--sinkhole", "192.0.2.66,sinkhole.example.net"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	r := o.outputs[0].rules
	if r.NXDomainCount != 20 || len(r.Sinkholes.Addrs) != 2 || len(r.Sinkholes.Names) != 1 || r.TunnelUnique != 30 {
		t.Errorf("rules: nxdomain %d, sinkholes %v %v, tunnel %d; want 20 from the file, both files' sinkholes, default 30",
			r.NXDomainCount, r.Sinkholes.Addrs, r.Sinkholes.Names, r.TunnelUnique)
	}
}

type alertKey struct{ rule, client string }

// readAlerts reads an --alerts-out file: every line one JSON object with
// the fields the issue asks for.
func readAlerts(t *testing.T, path string) []alertKey {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var keys []alertKey
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		var a map[string]any
		if err := json.Unmarshal(sc.Bytes(), &a); err != nil {
			t.Fatalf("alert line %q: %v", sc.Text(), err)
		}
		for _, k := range []string{"time", "rule", "client", "evidence"} {
			if _, ok := a[k]; !ok {
				t.Errorf("alert %s lacks %q", sc.Text(), k)
			}
		}
		rule, _ := a["rule"].(string)
		client, _ := a["client"].(string)
		keys = append(keys, alertKey{rule, client})
	}
	slices.SortFunc(keys, func(a, b alertKey) int { return strings.Compare(a.rule+" "+a.client, b.rule+" "+b.client) })
	return keys
}

// summaryCount returns the counter `name N` of the summary, or -1.
func summaryCount(summary, name string) int {
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + ` (\d+)\b`).FindStringSubmatch(summary)
	if m == nil {
		return -1
	}
	n, _ := strconv.Atoi(m[1])
	return n
}

// TestAlertsOut runs the sensor over the security captures with
// --alerts-out: the alerts name exactly the culprits the analyze package's
// tests expect (with a baseline, new_domain for the same three), no
// ordinary client, and the normal capture raises nothing; the counters are
// in the summary, and the -w file is what it is without alerting.
func TestAlertsOut(t *testing.T) {
	dir := t.TempDir()
	baseline := filepath.Join(dir, "baseline.json")
	var errb bytes.Buffer
	if code := run([]string{"baseline", "build", secDnstap(t, "security_normal.pcap"), "-o", baseline}, io.Discard, &errb); code != exitOK {
		t.Fatalf("baseline build: exit %d: %s", code, errb.String())
	}
	nx, tunnel, sink := secNXClient.String(), secTunnel.String(), secSinkhole.String()
	labNX, labTunnel, labSink := "192.0.2.60", "192.0.2.70", "192.0.2.80"
	tests := []struct {
		name, pcap string
		args       []string
		want       []alertKey
	}{
		{"mixed", "security_mixed.pcap", []string{"--sinkhole", secSinkholes},
			[]alertKey{{"nxdomain_burst", nx}, {"sinkhole", sink}, {"tunnel", tunnel}}},
		{"mixed with baseline", "security_mixed.pcap", []string{"--sinkhole", secSinkholes, "--baseline", baseline},
			[]alertKey{{"new_domain", nx}, {"new_domain", tunnel}, {"new_domain", sink}, {"nxdomain_burst", nx}, {"sinkhole", sink}, {"tunnel", tunnel}}},
		{"real-peer lab", "lab_security.pcap", []string{"--sinkhole", secSinkholes},
			[]alertKey{{"nxdomain_burst", labNX}, {"sinkhole", labSink}, {"tunnel", labTunnel}}},
		{"normal", "security_normal.pcap", []string{"--sinkhole", secSinkholes, "--baseline", baseline}, nil},
		{"normal, no options", "security_normal.pcap", nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "alerts.jsonl")
			file := filepath.Join(t.TempDir(), "out.dnstap")
			var errb bytes.Buffer
			args := append([]string{"-r", pcap(tc.pcap), "-w", file, "--alerts-out", out, "--no-progress"}, tc.args...)
			if code := run(args, io.Discard, &errb); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			if got := readAlerts(t, out); !slices.Equal(got, tc.want) {
				t.Errorf("alerts %v, want %v", got, tc.want)
			}
			frames := len(readFrames(t, file))
			if frames != len(singleRun(t, pcap(tc.pcap))) {
				t.Errorf("-w holds %d frames, not those of a run without alerts", frames)
			}
			s := errb.String()
			if !strings.Contains(s, fmt.Sprintf("frames delivered           %12d  -> alerts:%s (closed)\n", frames, out)) {
				t.Errorf("the summary does not show the alert output taking all %d frames:\n%s", frames, s)
			}
			if n := summaryCount(s, "alerts_written"); n != len(tc.want) && !(n == -1 && len(tc.want) == 0) {
				t.Errorf("summary: alerts_written %d, want %d:\n%s", n, len(tc.want), s)
			}
			for _, k := range tc.want {
				if summaryCount(s, "alerts_"+k.rule) < 1 {
					t.Errorf("summary lacks alerts_%s:\n%s", k.rule, s)
				}
			}
		})
	}
}

// TestECSOut runs the sensor with --ecs over the lab captures: one event
// per message, each valid against the ECS field definitions (the analyze
// package's validator and field list), counted in the summary.
func TestECSOut(t *testing.T) {
	fields, err := ecscheck.Read(filepath.Join(testenv.RepoRoot(), "internal", "analyze", "testdata", "ecs_fields.csv"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"security_mixed.pcap", "lab_security.pcap", "security_normal.pcap", "dnscap_dns.pcap"} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run([]string{"-r", pcap(name), "--ecs", "-", "--no-progress"}, &out, &errb); code != exitOK {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			want := len(singleRun(t, pcap(name)))
			lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if len(lines) != want || want == 0 {
				t.Fatalf("%d events, want one per frame (%d)", len(lines), want)
			}
			bad := 0
			for _, l := range lines {
				if p := ecscheck.Validate(fields, []byte(l)); len(p) > 0 {
					if bad++; bad <= 3 {
						t.Errorf("%s\n  %v", l, p)
					}
				}
			}
			if n := summaryCount(errb.String(), "ecs_events_written"); n != want {
				t.Errorf("summary: ecs_events_written %d, want %d:\n%s", n, want, errb.String())
			}
		})
	}
}

// sinkholeFlood writes a capture in which each of n clients resolves a
// name answered with the sinkhole address: n alerts, one per client.
func sinkholeFlood(t *testing.T, n int) string {
	t.Helper()
	var ev []secEvent
	for i := range n {
		c := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		q := new(dns.Msg)
		q.SetQuestion(secSinkName+".", dns.TypeA)
		q.Id = uint16(i)
		r := new(dns.Msg)
		r.SetReply(q)
		a, err := dns.NewRR(secSinkName + ". 60 IN A " + secSinkAddr.String())
		if err != nil {
			t.Fatal(err)
		}
		r.Answer = append(r.Answer, a)
		// 10 ms apart, answered after 1 ms: already in time order.
		ev = append(ev, secEvent{t: secStart*int64(time.Second) + int64(i)*int64(10*time.Millisecond), client: c, port: 40000, q: q, r: r, rdelay: int64(time.Millisecond)})
	}
	path := filepath.Join(t.TempDir(), "flood.pcap")
	if err := writeSecurityPcap(path, ev); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestBlockedAlertSink: an alert sink nobody reads (a FIFO opened by a
// reader that never reads: the pipe fills) costs neither capture nor the
// other outputs: -w gets every frame, the alert output takes every frame
// too, and the alerts that do not fit are dropped and counted (written +
// dropped = raised, exactly); the run ends, and fails saying so.
func TestBlockedAlertSink(t *testing.T) {
	const clients = 20000
	in := sinkholeFlood(t, clients)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "alerts.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// O_RDWR opens without waiting for a writer; this end is never read.
	r, err := os.OpenFile(fifo, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	file := filepath.Join(dir, "out.dnstap")
	var errb bytes.Buffer
	code := run([]string{"-r", in, "-w", file, "--alerts-out", fifo, "--sinkhole", secSinkAddr.String(), "--no-progress"}, io.Discard, &errb)
	s := errb.String()
	if code != exitFailure {
		t.Fatalf("exit %d, want %d (alerts lost):\n%s", code, exitFailure, s)
	}
	if n := len(readFrames(t, file)); n != 2*clients {
		t.Errorf("-w holds %d frames, want %d", n, 2*clients)
	}
	raised, written, dropped := summaryCount(s, "alerts_sinkhole"), summaryCount(s, "alerts_written"), summaryCount(s, "alerts_dropped")
	if raised != clients || written < 1 || dropped < 1 || written+dropped != raised {
		t.Errorf("alerts raised %d, written %d, dropped %d: want %d raised, some of each, the sum exact:\n%s", raised, written, dropped, clients, s)
	}
	for _, want := range []string{
		fmt.Sprintf("frames delivered           %12d  -> alerts:%s (closed)\n", 2*clients, fifo),
		"alerts dropped: the sink did not keep up",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("stderr lacks %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "frames dropped") {
		t.Errorf("frames were dropped: only alerts may be:\n%s", s)
	}
}

// TestLineFileReopen: a reopen asked for in the middle of a line takes
// effect at the end of that line, whatever the buffer above splits the
// lines into: the moved file and the new one hold whole lines, together
// every line once, in order.
func TestLineFileReopen(t *testing.T) {
	var lines []string
	for i := range 200 {
		lines = append(lines, fmt.Sprintf(`{"n":%d,"pad":"%s"}`, i, strings.Repeat("x", i%37)))
	}
	for _, bufSize := range []int{16, 61, 4096} {
		t.Run(strconv.Itoa(bufSize), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "ecs.jsonl")
			if err := os.WriteFile(path, []byte("{\"earlier\":1}\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			lf, err := openLineFile(path, t.Logf)
			if err != nil {
				t.Fatal(err)
			}
			bw := bufio.NewWriterSize(lf, bufSize)
			for i, l := range lines {
				if i == 100 {
					bw.WriteString(l[:5]) // a line begun before the signal
					if err := os.Rename(path, path+".1"); err != nil {
						t.Fatal(err)
					}
					lf.Reopen()
					bw.WriteString(l[5:] + "\n")
					continue
				}
				bw.WriteString(l + "\n")
			}
			if err := bw.Flush(); err != nil {
				t.Fatal(err)
			}
			if err := lf.Close(); err != nil {
				t.Fatal(err)
			}
			old, _ := os.ReadFile(path + ".1")
			cur, _ := os.ReadFile(path)
			all := append([]string{`{"earlier":1}`}, lines...)
			if got := strings.Split(strings.TrimSuffix(string(old)+string(cur), "\n"), "\n"); !slices.Equal(got, all) {
				t.Fatalf("the two files together do not hold every line once in order")
			}
			if len(cur) == 0 {
				t.Errorf("no new file after the reopen")
			}
			for name, b := range map[string][]byte{"moved": old, "new": cur} {
				if len(b) > 0 && (b[len(b)-1] != '\n' || b[0] != '{') {
					t.Errorf("%s file does not hold whole lines: %.40q … %.40q", name, b, b[max(0, len(b)-40):])
				}
			}
			// What the buffer had written out before the signal (all
			// but at most bufSize bytes, lines of 18+ bytes) stays in
			// the moved file.
			if n := strings.Count(string(old), "\n"); n < 101-(bufSize+17)/18 {
				t.Errorf("moved file holds %d lines: lines written before the reopen went to the new file", n)
			}
		})
	}
}

// stuckWriter blocks every Write until released, as a stdout pipe nobody
// reads does (no deadline can interrupt it).
type stuckWriter struct{ release chan struct{} }

func (w stuckWriter) Write(p []byte) (int, error) {
	<-w.release
	return 0, io.ErrClosedPipe
}

// TestAlertSinkNeverReturns: --alerts-out - into a stdout whose write never
// returns. The run still ends (after the bounded wait), -w holds every
// frame, and the alerts held by the stuck writer are counted dropped: the
// summary's written + dropped = raised, and the run fails saying so.
func TestAlertSinkNeverReturns(t *testing.T) {
	out := stuckWriter{make(chan struct{})}
	defer close(out.release)
	file := filepath.Join(t.TempDir(), "out.dnstap")
	var errb bytes.Buffer
	code := run([]string{"-r", pcap("security_mixed.pcap"), "-w", file, "--alerts-out", "-", "--sinkhole", secSinkholes, "--no-progress"}, out, &errb)
	s := errb.String()
	if code != exitFailure || !strings.Contains(s, "output stdout (alerts): alert sink blocked: 3 alerts not written") {
		t.Fatalf("exit %d, want %d naming the 3 alerts lost:\n%s", code, exitFailure, s)
	}
	if n := len(readFrames(t, file)); n != 1072 {
		t.Errorf("-w holds %d frames, want 1072", n)
	}
	if w, d := summaryCount(s, "alerts_written"), summaryCount(s, "alerts_dropped"); w != -1 || d != 3 {
		t.Errorf("alerts written %d dropped %d, want none (not in the summary) and 3:\n%s", w, d, s)
	}
}
