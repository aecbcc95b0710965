package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// secDnstap converts a security capture to dnstap with the sensor's own
// pipeline (sensor -r … -w …) and returns the file.
func secDnstap(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(name, ".pcap")+".dnstap")
	var errb bytes.Buffer
	if code := run([]string{"-r", filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name), "-w", out, "-no-progress"}, io.Discard, &errb); code != exitOK {
		t.Fatalf("sensor -r %s: exit %d: %s", name, code, errb.String())
	}
	return out
}

func runJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(args, &out, &errb); code != exitOK {
		t.Fatalf("sensor %s: exit %d: %s", strings.Join(args, " "), code, errb.String())
	}
	if err := json.Unmarshal(out.Bytes(), v); err != nil {
		t.Fatalf("sensor %s: %v", strings.Join(args, " "), err)
	}
}

func clientsOf[T any](list []T, client func(T) string) []string {
	var out []string
	for _, x := range list {
		out = append(out, client(x))
	}
	return out
}

// TestReportCulprits: each culprit of the mixed capture is first in its
// section, and the sections that only culprits may enter hold nobody else.
func TestReportCulprits(t *testing.T) {
	mixed := secDnstap(t, "security_mixed.pcap")
	var res analyze.Result
	runJSON(t, &res, "report", "--format", "json", "--sinkhole", secSinkholes, mixed)

	if res.Frames != 1072 || res.Queries != 536 || res.Responses != 536 {
		t.Errorf("frames/queries/responses = %d/%d/%d, want 1072/536/536", res.Frames, res.Queries, res.Responses)
	}
	if len(res.NXDomainClients) == 0 || res.NXDomainClients[0].Client != secNXClient.String() || res.NXDomainClients[0].NXDomain != 120 {
		t.Errorf("nxdomain_clients[0] = %+v, want %s with 120", first(res.NXDomainClients), secNXClient)
	}
	for _, c := range res.NXDomainClients[1:] {
		if c.NXDomain != 1 {
			t.Errorf("ordinary client %s has %d NXDOMAIN, want 1", c.Client, c.NXDomain)
		}
	}
	if got := clientsOf(res.TunnelSuspects, func(s analyze.TunnelSuspect) string { return s.Client }); !slices.Equal(got, []string{secTunnel.String()}) {
		t.Errorf("tunnel_suspects clients = %v, want [%s]", got, secTunnel)
	} else if s := res.TunnelSuspects[0]; s.Domain != secTunnelDomain || s.Queries != 150 || s.TXTNullCNAMEShare != 1 {
		t.Errorf("tunnel suspect = %+v, want exfil.example, 150 queries, all TXT", s)
	}
	if got := clientsOf(res.SinkholeHits, func(s analyze.SinkholeHit) string { return s.Client }); !slices.Equal(got, []string{secSinkhole.String()}) {
		t.Errorf("sinkhole_hits clients = %v, want [%s]", got, secSinkhole)
	} else if h := res.SinkholeHits[0]; h.ByAnswer != 3 || !slices.Equal(h.Names, []string{secSinkName}) {
		t.Errorf("sinkhole hit = %+v, want 3 answers for %s", h, secSinkName)
	}
	if len(res.RandomNames) == 0 || res.RandomNames[0].Client != secTunnel.String() {
		t.Errorf("random_names[0] = %+v, want a name of %s", first(res.RandomNames), secTunnel)
	}
	if len(res.TopClients) == 0 || res.TopClients[0].Client != secTunnel.String() || res.TopClients[0].Queries != 155 {
		t.Errorf("top_clients[0] = %+v, want %s with 155", first(res.TopClients), secTunnel)
	}
	if len(res.Latency) != 1 || res.Latency[0].Server != secServer.String() || res.Latency[0].Answers != 536 || res.Latency[0].MaxMs != 30 {
		t.Errorf("latency = %+v, want one server %s, 536 answers, max 30 ms", res.Latency, secServer)
	}
}

func first[T any](s []T) any {
	if len(s) == 0 {
		return nil
	}
	return s[0]
}

// TestReportNormal: the normal-only capture has no suspect and no hit.
func TestReportNormal(t *testing.T) {
	var res analyze.Result
	runJSON(t, &res, "report", "--format", "json", "--sinkhole", secSinkholes, secDnstap(t, "security_normal.pcap"))
	if res.Frames != 496 {
		t.Errorf("frames = %d, want 496", res.Frames)
	}
	if len(res.TunnelSuspects) != 0 || len(res.SinkholeHits) != 0 {
		t.Errorf("tunnel_suspects %v, sinkhole_hits %v, want none", res.TunnelSuspects, res.SinkholeHits)
	}
	if len(res.NXDomainClients) != secOrdinary {
		t.Errorf("%d NXDOMAIN clients, want %d (one typo each)", len(res.NXDomainClients), secOrdinary)
	}
}

// TestReportBaseline: a baseline of the normal capture makes the culprits'
// domains and the culprits themselves new, and nothing of the ordinary
// clients.
func TestReportBaseline(t *testing.T) {
	normal, mixed := secDnstap(t, "security_normal.pcap"), secDnstap(t, "security_mixed.pcap")
	bl := filepath.Join(t.TempDir(), "baseline.json")
	var errb bytes.Buffer
	if code := run([]string{"baseline", "build", normal, "-o", bl}, io.Discard, &errb); code != exitOK {
		t.Fatalf("baseline build: exit %d: %s", code, errb.String())
	}
	b, err := analyze.ReadBaseline(bl)
	if err != nil {
		t.Fatal(err)
	}
	wantDomains := []string{"203.in-addr.arpa", "corp.example", "example.co.uk", "example.com", "example.net", "example.org"}
	for i := range secOrdinary {
		wantDomains = append(wantDomains, "example"+string(rune('0'+i))+".com")
	}
	slices.Sort(wantDomains)
	if !slices.Equal(b.Domains, wantDomains) {
		t.Errorf("baseline domains = %v, want %v", b.Domains, wantDomains)
	}
	if len(b.Clients) != secOrdinary {
		t.Errorf("baseline has %d clients, want %d", len(b.Clients), secOrdinary)
	}
	for _, c := range b.Clients {
		if c.Queries != 31 || c.Responses != 31 || c.NXDomainRate != 0.032 {
			t.Errorf("baseline client %+v, want 31 queries and responses, NXDOMAIN rate 1/31", c)
		}
	}

	var res analyze.Result
	runJSON(t, &res, "report", "--format", "json", "--baseline", bl, mixed)
	if res.Baseline == nil {
		t.Fatal("no baseline section")
	}
	newClients := clientsOf(res.Baseline.NewClients, func(c analyze.TopClient) string { return c.Client })
	slices.Sort(newClients)
	if want := []string{secNXClient.String(), secTunnel.String(), secSinkhole.String()}; !slices.Equal(newClients, want) {
		t.Errorf("new clients = %v, want %v", newClients, want)
	}
	var doms []string
	for _, d := range res.Baseline.NewDomains {
		doms = append(doms, d.Domain)
		switch {
		case d.Domain == secTunnelDomain && (d.Queries != 150 || d.FirstClient != secTunnel.String()),
			d.Domain == "malware-cnc.example" && (d.Queries != 3 || d.FirstClient != secSinkhole.String()):
			t.Errorf("new domain %+v", d)
		case d.Domain != secTunnelDomain && d.Domain != "malware-cnc.example" && d.FirstClient != secNXClient.String():
			t.Errorf("new domain %+v, want only the culprits' domains", d)
		}
	}
	if doms[0] != secTunnelDomain || !slices.Contains(doms, "malware-cnc.example") {
		t.Errorf("new domains = %v, want %s first and malware-cnc.example", doms, secTunnelDomain)
	}
	if len(res.Baseline.OutOfLine) != 0 {
		t.Errorf("out of line = %+v, want none (ordinary clients do as usual)", res.Baseline.OutOfLine)
	}
}

// TestReportUsage: bad command lines exit 2 with one line; HTML goes to -o.
func TestReportUsage(t *testing.T) {
	mixed := secDnstap(t, "security_mixed.pcap")
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"report"}, exitUsage, "which dnstap files"},
		{[]string{"report", "--format", "xml", mixed}, exitUsage, "want html or json"},
		{[]string{"report", "--sinkhole", "a b", mixed}, exitUsage, "neither an address nor a name"},
		{[]string{"report", "/nonexistent.dnstap"}, exitFailure, "no such file"},
		{[]string{"report", "--baseline", "/nonexistent.json", mixed}, exitFailure, "no such file"},
		{[]string{"baseline"}, exitUsage, "sensor baseline build"},
		{[]string{"baseline", "build"}, exitUsage, "which dnstap files"},
	} {
		var errb bytes.Buffer
		if code := run(c.args, io.Discard, &errb); code != c.code || !strings.Contains(errb.String(), c.want) || strings.Count(errb.String(), "\n") != 1 {
			t.Errorf("sensor %v: exit %d, stderr %q; want exit %d and one line with %q", c.args, code, errb.String(), c.code, c.want)
		}
	}
	html := filepath.Join(t.TempDir(), "r.html")
	var errb bytes.Buffer
	if code := run([]string{"report", mixed, "-o", html, "--sinkhole", secSinkholes}, io.Discard, &errb); code != exitOK {
		t.Fatalf("report: exit %d: %s", code, errb.String())
	}
	page, err := os.ReadFile(html)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"<!DOCTYPE html>", secTunnel.String(), secNXClient.String(), secSinkName, "<svg"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
}

// TestReportServerDnstap: the report reads servers' own dnstap files (BIND
// and Unbound, resolver and client types) and accounts for every frame.
func TestReportServerDnstap(t *testing.T) {
	var files []string
	var want uint64
	for _, name := range []string{"lab_bind_udp.bind.dnstap", "lab_realworld_unbound_udp.unbound.dnstap"} {
		path := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name)
		files = append(files, path)
		var out, errb bytes.Buffer
		if code := run([]string{"read", path}, &out, &errb); code != exitOK {
			t.Fatalf("read %s: %s", name, errb.String())
		}
		want += uint64(strings.Count(out.String(), "\n"))
	}
	var res analyze.Result
	runJSON(t, &res, append([]string{"report", "--format", "json"}, files...)...)
	if res.Frames != want || res.Queries+res.Responses != want || res.Undecoded != (analyze.Undecoded{}) {
		t.Errorf("frames %d (queries %d, responses %d, undecoded %+v), want %d", res.Frames, res.Queries, res.Responses, res.Undecoded, want)
	}
	if len(res.TopClients) == 0 || len(res.Latency) == 0 {
		t.Errorf("no clients or latency from servers' dnstap: %+v %+v", res.TopClients, res.Latency)
	}
}
