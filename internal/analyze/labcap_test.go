package analyze

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// The real-peer security lab: BIND in the server namespace, dig from
// several client addresses, tcpdump on the server's port. Its capture is
// committed as testdata/pcaps/lab_security.pcap (SENSOR_REGEN_SECURITY_LAB=1
// rewrites it); TestLabSecurityLive makes a fresh one every run and checks
// the same things on it.
var (
	labOrdinary = []netip.Addr{netip.MustParseAddr("192.0.2.10"), netip.MustParseAddr("192.0.2.11"),
		netip.MustParseAddr("192.0.2.12"), netip.MustParseAddr("192.0.2.13")}
	labLiveNX       = netip.MustParseAddr("192.0.2.60") // NXDOMAIN burst
	labLiveTunnel   = netip.MustParseAddr("192.0.2.70") // TXT tunnel under t.upd.example
	labLiveSinkhole = netip.MustParseAddr("192.0.2.80") // resolves cnc.upd.example → 192.0.2.66
)

const labSecurityPcap = "lab_security.pcap"

// makeSecurityLab runs the scenario and returns the capture's path.
func makeSecurityLab(t *testing.T) string {
	t.Helper()
	l := lab.New(t)
	named := l.StartNamed(t)
	defer named.Stop(t)
	all := append(slices.Clone(labOrdinary), labLiveNX, labLiveTunnel, labLiveSinkhole)
	for _, a := range all {
		l.Client.Run(t, "ip", "addr", "add", a.String()+"/24", "dev", l.ClientIf)
		l.Server.Run(t, "ip", "neigh", "replace", a.String(), "lladdr", lab.ClientMAC, "dev", l.ServerIf, "nud", "permanent")
	}
	// The tunnel's answers and the sinkholed name, added by DNS UPDATE
	// (before the capture starts, so only queries are in it).
	l.Client.NSUpdate(t, fmt.Sprintf("server %s\nzone %s\nupdate add *.t.%s 0 TXT \"ack\"\nupdate add cnc.%s 60 A 192.0.2.66\nsend\n",
		lab.ServerV4, lab.ZoneUpdate, lab.ZoneUpdate, lab.ZoneUpdate))
	path := filepath.Join(t.TempDir(), labSecurityPcap)
	capt := l.Server.StartCapture(t, l.ServerIf, path, "port 53")
	rng := rand.New(rand.NewPCG(7, 7))
	randLabel := func(n int, alphabet string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	batch := func(src netip.Addr, lines []string) {
		f := filepath.Join(t.TempDir(), "batch")
		if err := os.WriteFile(f, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		l.Client.Dig(t, "@"+lab.ServerV4.String(), "-b", src.String(), "-f", f)
	}
	for i, c := range labOrdinary {
		batch(c, []string{"www." + lab.ZoneAuth + " A", "www." + lab.ZoneAuth + " AAAA", lab.ZoneAuth + " MX",
			"mail." + lab.ZoneAuth + " A", "txt." + lab.ZoneAuth + " TXT", fmt.Sprintf("wwww%d.%s A", i, lab.ZoneAuth)})
	}
	var nx, tunnel []string
	for range 60 {
		nx = append(nx, randLabel(12, "abcdefghijklmnopqrstuvwxyz")+"."+lab.ZoneAuth+" A")
	}
	const b32 = "abcdefghijklmnopqrstuvwxyz234567"
	for range 40 {
		tunnel = append(tunnel, randLabel(40, b32)+"."+randLabel(20, b32)+".t."+lab.ZoneUpdate+" TXT")
	}
	batch(labLiveNX, nx)
	batch(labLiveTunnel, tunnel)
	batch(labLiveSinkhole, []string{"cnc." + lab.ZoneUpdate + " A", "www." + lab.ZoneAuth + " A", "cnc." + lab.ZoneUpdate + " A"})
	capt.Stop(t)
	return path
}

// checkSecurityLab runs the report and the alert engine over a lab capture.
func checkSecurityLab(t *testing.T, path string) {
	t.Helper()
	frames := pcapFrames(t, path)
	sh, _ := ParseSinkholes(labSinkholes)
	r := NewReport(ReportOptions{Sinkholes: sh})
	var m Msg
	for _, f := range frames {
		if err := r.AddFrame(&m, f); err != nil {
			t.Fatal(err)
		}
	}
	res := r.Result()
	// 4 × 6 + 60 + 40 + 3 queries, each answered.
	if res.Queries != 127 || res.Responses != 127 {
		t.Errorf("queries %d responses %d, want 127 and 127", res.Queries, res.Responses)
	}
	if len(res.NXDomainClients) == 0 || res.NXDomainClients[0].Client != labLiveNX.String() || res.NXDomainClients[0].NXDomain != 60 {
		t.Errorf("nxdomain_clients %+v, want %s first with 60", res.NXDomainClients, labLiveNX)
	}
	if len(res.TunnelSuspects) != 1 || res.TunnelSuspects[0].Client != labLiveTunnel.String() || res.TunnelSuspects[0].Domain != lab.ZoneUpdate {
		t.Errorf("tunnel_suspects %+v, want only %s under %s", res.TunnelSuspects, labLiveTunnel, lab.ZoneUpdate)
	}
	if len(res.SinkholeHits) != 1 || res.SinkholeHits[0].Client != labLiveSinkhole.String() || res.SinkholeHits[0].ByAnswer != 2 {
		t.Errorf("sinkhole_hits %+v, want only %s with 2 answers", res.SinkholeHits, labLiveSinkhole)
	}
	rules := DefaultRules()
	rules.Sinkholes = sh
	alerts, _, _ := runAlerts(t, rules, frames)
	want := []alertKey{{"nxdomain_burst", labLiveNX.String()}, {"sinkhole", labLiveSinkhole.String()}, {"tunnel", labLiveTunnel.String()}}
	if got := keysOf(alerts); !slices.Equal(got, want) {
		t.Errorf("alerts %v, want %v", got, want)
	}
}

// TestLabSecurityCapture checks the committed real-peer capture; with
// SENSOR_REGEN_SECURITY_LAB=1 it first makes it anew.
func TestLabSecurityCapture(t *testing.T) {
	dst := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", labSecurityPcap)
	if os.Getenv("SENSOR_REGEN_SECURITY_LAB") == "1" {
		src := makeSecurityLab(t)
		data, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checkSecurityLab(t, dst)
}

// TestLabSecurityLive makes the scenario with real BIND and dig every run
// (root, named, dig, tcpdump) and checks the fresh capture.
func TestLabSecurityLive(t *testing.T) {
	if testing.Short() {
		t.Skip("lab")
	}
	checkSecurityLab(t, makeSecurityLab(t))
}
