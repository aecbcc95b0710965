package analyze

import (
	"encoding/json"
	"testing"
)

// FuzzDecode: any bytes decode to a Msg or a sentinel, never a panic, and
// whatever decodes encodes to valid JSON for ECS and feeds the report and
// the alert engine. Seeded with frames of every kind in the lab and
// public captures (a sample of the mixed capture keeps the seed corpus,
// run in every `make test`, short).
func FuzzDecode(f *testing.F) {
	for _, name := range []string{"security_mixed.pcap", "dnscap_edns.pcap", "netutils_dnsdump_udp_truncated+tcp_fragmented.pcap"} {
		for i, fr := range pcapFrames(f, name) {
			if i%16 == 0 || name != "security_mixed.pcap" {
				f.Add(fr)
			}
		}
	}
	sh, _ := ParseSinkholes(labSinkholes)
	r := NewReport(ReportOptions{Sinkholes: sh})
	rules := DefaultRules()
	rules.Sinkholes = sh
	e := NewAlertEngine(rules, func(a *Alert) {
		if !json.Valid(a.AppendJSON(nil)) {
			panic("alert is not JSON")
		}
	})
	f.Fuzz(func(t *testing.T, frame []byte) {
		var m Msg
		err := m.Decode(frame)
		if err != nil && err != ErrBadDNS && err != ErrNotDnstap && err != ErrNoMessage {
			t.Fatalf("Decode returned %v, not a sentinel", err)
		}
		if err == nil || err == ErrBadDNS {
			if ev := AppendECS(nil, &m); !json.Valid(ev) {
				t.Fatalf("ECS event is not JSON: %s", ev)
			}
		}
		var m2 Msg
		_ = r.AddFrame(&m2, frame)
		_ = e.HandleFrame(frame)
	})
}
