package merge

import (
	"bytes"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Lab addresses of the recorded captures (internal/lab).
const (
	bindV4, bindV6       = "192.0.2.53", "fd00:53::53"
	unboundV4, unboundV6 = "192.0.2.3", "fd00:53::3"
)

// realWorld is a recorded lab capture with one server's own dnstap of the
// same traffic, and the sensor configuration that sees that server alone.
type realWorld struct {
	pcap, dnstap string
	cfg          emit.Config
}

var (
	bindCfg    = emit.Config{Servers: servers(emit.RoleAuthoritative, bindV4, bindV6)}
	unboundCfg = emit.Config{Servers: servers(emit.RoleRecursive, unboundV4, unboundV6), Forwarders: prefixes(bindV4, bindV6)}
)

var realWorlds = []realWorld{
	{"lab_realworld_dnssec.pcapng", "lab_realworld_dnssec.bind.dnstap", bindCfg},
	{"lab_realworld_big.pcap", "lab_realworld_big.bind.dnstap", bindCfg},
	{"lab_realworld_fragq.pcap", "lab_realworld_fragq.bind.dnstap", bindCfg},
	{"lab_realworld_offload.pcap", "lab_realworld_offload.bind.dnstap", bindCfg},
	{"lab_realworld_tfo.pcap", "lab_realworld_tfo.bind.dnstap", bindCfg},
	{"lab_realworld_cookie.pcap", "lab_realworld_cookie.bind.dnstap", bindCfg},
	{"lab_realworld_dnsperf_tcp.pcap", "lab_realworld_dnsperf_tcp.bind.dnstap", bindCfg},
	{"lab_realworld_unbound_udp.pcap", "lab_realworld_unbound_udp.bind.dnstap", bindCfg},
	{"lab_realworld_unbound_udp.pcap", "lab_realworld_unbound_udp.unbound.dnstap", unboundCfg},
	{"lab_realworld_unbound_sll2.pcap.gz", "lab_realworld_unbound_sll2.bind.dnstap", bindCfg},
	{"lab_realworld_unbound_sll2.pcap.gz", "lab_realworld_unbound_sll2.unbound.dnstap", unboundCfg},
	{"lab_bind_udp.pcap", "lab_bind_udp.bind.dnstap", bindCfg},
	{"lab_bind_tcp.pcap", "lab_bind_tcp.bind.dnstap", bindCfg},
	{"lab_bind_frag.pcap", "lab_bind_frag.bind.dnstap", bindCfg},
}

// TestRealWorld merges and verifies recorded BIND and Unbound dnstap with
// the sensor's frames of the same capture, whole streams at once (frozen
// clock), and checks the outcome against `sensor compare` (tapfile.Compare)
// of the same two streams: the same both/server-only/wire-only counts, the
// server's frames byte for byte, and each wire message exactly once.
func TestRealWorld(t *testing.T) {
	dir := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps")
	for _, rw := range realWorlds {
		t.Run(rw.dnstap, func(t *testing.T) {
			wire := wireFrames(t, filepath.Join(dir, rw.pcap), rw.cfg)
			server := readFrames(t, filepath.Join(dir, rw.dnstap))
			rep, err := tapfile.Compare(fileOf(t, server), fileOf(t, wire), tapfile.CompareOptions{NameA: "server", NameB: "wire"})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.TypeMismatch) > 0 {
				t.Fatalf("the sensor's configuration does not fit the capture:\n%s", rep)
			}
			for _, mode := range []Mode{ModeMerge, ModeVerify} {
				t.Run(mode.String(), func(t *testing.T) {
					out := &memOutput{}
					m, err := New(Config{Mode: mode, Outputs: []emit.Output{out}, Window: 24 * time.Hour, Now: frozen(firstTime(t, server))})
					if err != nil {
						t.Fatal(err)
					}
					must(t, m.ServerBatch(batch(server...)))
					must(t, m.WriteBatch(batch(wire...)))
					must(t, m.Close())
					c := m.Counters()
					got := [3]uint64{c.Get(Both), c.Get(ServerOnly), c.Get(WireOnly)}
					want := [3]uint64{uint64(rep.Matched + rep.ExcusedTotal()), uint64(len(rep.OnlyA)), uint64(len(rep.OnlyB))}
					if got != want {
						t.Fatalf("both, server only, wire only = %v; sensor compare says %v:\n%s", got, want, rep)
					}
					checkMerged(t, mode, out.all(), server, wire, c)
					t.Logf("%d server, %d wire frames: both %d (%v), server only %d, wire only %d",
						len(server), len(wire), got[0], rep.Excused, got[1], got[2])
				})
			}
		})
	}
}

// checkMerged checks a Merger's output against its two inputs: the
// server's frames all there byte for byte, the filled frames as many as
// the wire-only count, and (merge mode) every wire message in the output.
func checkMerged(t *testing.T, mode Mode, out, server, wire [][]byte, c *Stats) {
	t.Helper()
	var fromServer, filled [][]byte
	for _, f := range out {
		if bytes.Contains(f, []byte(FilledMark)) && isFilled(t, f) {
			filled = append(filled, f)
		} else {
			fromServer = append(fromServer, f)
		}
	}
	if !sameFrames(fromServer, server) {
		t.Fatalf("the output's %d server frames are not the server's %d frames byte for byte", len(fromServer), len(server))
	}
	wantFilled := c.Get(WireOnly)
	if mode == ModeVerify {
		wantFilled = 0
	}
	if uint64(len(filled)) != wantFilled || c.Get(Filled) != wantFilled {
		t.Fatalf("%d filled frames out (counted %d), want %d", len(filled), c.Get(Filled), wantFilled)
	}
	if mode == ModeVerify {
		return
	}
	// The merged stream is A: the server's frames in it carry the server's
	// way of logging, which Compare excuses on its A side.
	rep, err := tapfile.Compare(fileOf(t, out), fileOf(t, wire), tapfile.CompareOptions{NameA: "merged", NameB: "wire"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.OnlyB) != 0 || len(rep.TypeMismatch) != 0 || uint64(len(rep.OnlyA)) != c.Get(ServerOnly) {
		t.Fatalf("the merged stream does not hold each wire message once (only in merged: %d, server only: %d):\n%s",
			len(rep.OnlyA), c.Get(ServerOnly), rep)
	}
}

// sameFrames compares two lists of frames as multisets.
func sameFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	n := map[string]int{}
	for _, f := range a {
		n[string(f)]++
	}
	for _, f := range b {
		if n[string(f)]--; n[string(f)] < 0 {
			return false
		}
	}
	return true
}

// firstTime is the earliest message time of frames, for a frozen clock.
func firstTime(t testing.TB, frames [][]byte) int64 {
	t.Helper()
	first := int64(0)
	for _, f := range frames {
		var m Message
		if m.Parse(f) == nil && m.HasTime && (first == 0 || m.Time < first) {
			first = m.Time
		}
	}
	return first
}
