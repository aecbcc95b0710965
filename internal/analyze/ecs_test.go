package analyze

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze/ecscheck"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	"github.com/miekg/dns"
)

// ecsFields reads testdata/ecs_fields.csv (rows of the ECS reference).
func ecsFields(t testing.TB) ecscheck.Fields {
	t.Helper()
	f, err := ecscheck.Read("testdata/ecs_fields.csv")
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// validateECS is ecscheck.Validate, shared with the sensor's own tests.
var validateECS = ecscheck.Validate

// TestECSValidates: every event of every capture in testdata/pcaps (public
// and lab traffic, malformed included), run through the sensor's pipeline,
// validates against the ECS field definitions.
func TestECSValidates(t *testing.T) {
	fields := ecsFields(t)
	for _, path := range testenv.Pcaps(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			var out bytes.Buffer
			ew := NewECSWriter(&out)
			frames := pcapFrames(t, path)
			for _, f := range frames {
				if err := ew.WriteFrame(f); err != nil && err != ErrBadDNS {
					t.Fatal(err)
				}
			}
			if err := ew.Flush(); err != nil {
				t.Fatal(err)
			}
			lines := bytes.Split(bytes.TrimSuffix(out.Bytes(), []byte("\n")), []byte("\n"))
			if len(frames) > 0 && len(lines) != len(frames) {
				t.Fatalf("%d events for %d frames", len(lines), len(frames))
			}
			bad := 0
			for _, l := range lines {
				if len(frames) == 0 {
					break
				}
				if p := validateECS(fields, l); len(p) > 0 {
					if bad++; bad <= 3 {
						t.Errorf("%s\n  %v", l, p)
					}
				}
			}
		})
	}
}

// TestECSMapping pins the mapping of one response: direction, answers,
// resolved addresses, registered domain, latency.
func TestECSMapping(t *testing.T) {
	c := netip.MustParseAddrPort("198.51.100.88:40000")
	x := mkTxn(c, tStart, "update.malware-cnc.example", dns.TypeA, 0, mustRR(t, "update.malware-cnc.example. 60 IN A 192.0.2.66"))
	x.q.RecursionDesired = true
	x.r.RecursionDesired, x.r.RecursionAvailable = true, true
	x.r.SetEdns0(1232, true)
	_, rf := x.frames(t)
	var m Msg
	if err := m.Decode(rf); err != nil {
		t.Fatal(err)
	}
	got := string(AppendECS(nil, &m))
	want := `{"@timestamp":"2026-01-01T00:00:00.002Z","ecs":{"version":"8.12.0"},` +
		`"event":{"kind":"event","category":["network"],"type":["protocol"],"module":"dnstap","dataset":"dnstap.sensor","action":"client_response","duration":2000000},` +
		`"observer":{"name":"sensor1"},"network":{"protocol":"dns","transport":"udp","type":"ipv4"},` +
		`"client":{"ip":"198.51.100.88","port":40000},"server":{"ip":"192.0.2.53","port":53},` +
		`"source":{"ip":"192.0.2.53","port":53},"destination":{"ip":"198.51.100.88","port":40000},` +
		`"dns":{"type":"answer","id":"0","op_code":"QUERY","header_flags":["RD","RA","DO"],"response_code":"NOERROR",` +
		`"question":{"name":"update.malware-cnc.example","type":"A","class":"IN","registered_domain":"malware-cnc.example","subdomain":"update","top_level_domain":"example"},` +
		`"answers":[{"name":"update.malware-cnc.example","type":"A","class":"IN","ttl":60,"data":"192.0.2.66"}],"resolved_ip":["192.0.2.66"]}}`
	if got != want {
		t.Errorf("ECS event\n got %s\nwant %s", got, want)
	}
	if p := validateECS(ecsFields(t), []byte(got)); len(p) > 0 {
		t.Error(p)
	}
	buf := make([]byte, 0, 4096)
	if n := testing.AllocsPerRun(100, func() { buf = AppendECS(buf[:0], &m) }); n != 0 {
		t.Errorf("AppendECS allocates %v per message, want 0", n)
	}
}

// TestECSValidatorCatches: the validator rejects what ECS does not allow,
// so the test above can fail.
func TestECSValidatorCatches(t *testing.T) {
	fields := ecsFields(t)
	for _, ev := range []string{
		`{"@timestamp":"x","dns":{"type":"query"},"event":{"kind":"event"},"network":{"protocol":"dns"}}`,
		`{"@timestamp":"2026-01-01T00:00:00Z","dns":{"type":"query","id":5},"event":{"kind":"event"},"network":{"protocol":"dns"}}`,
		`{"@timestamp":"2026-01-01T00:00:00Z","dns":{"type":"query","qname":"a"},"event":{"kind":"event"},"network":{"protocol":"dns"}}`,
		`{"@timestamp":"2026-01-01T00:00:00Z","dns":{"type":["query"]},"event":{"kind":"event"},"network":{"protocol":"dns"}}`,
		`{"@timestamp":"2026-01-01T00:00:00Z","dns":{"type":"query"},"event":{"kind":"event"},"network":{"protocol":"dns"},"source":{"ip":"nope"}}`,
		`{"@timestamp":"2026-01-01T00:00:00Z","event":{"kind":"event"},"network":{"protocol":"dns"}}`,
	} {
		if p := validateECS(fields, []byte(ev)); len(p) == 0 {
			t.Errorf("validator accepted %s", ev)
		}
	}
}
