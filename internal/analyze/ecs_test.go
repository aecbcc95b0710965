package analyze

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	"github.com/miekg/dns"
)

type ecsField struct {
	typ   string
	array bool
}

// ecsFields reads testdata/ecs_fields.csv (rows of the ECS reference).
func ecsFields(t testing.TB) map[string]ecsField {
	t.Helper()
	f, err := os.Open("testdata/ecs_fields.csv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := csv.NewReader(f)
	r.Comment = '#'
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]ecsField{}
	for _, row := range rows[1:] {
		out[row[3]] = ecsField{typ: row[4], array: row[6] == "array"}
	}
	return out
}

// validateECS checks every leaf of an event against the field definitions:
// the name exists, the JSON value fits the type, arrays only where ECS
// says the field is an array.
func validateECS(fields map[string]ecsField, event []byte) []string {
	var v map[string]any
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return []string{"not JSON: " + err.Error()}
	}
	var problems []string
	var walk func(name string, v any, inArray bool)
	walk = func(name string, v any, inArray bool) {
		if m, ok := v.(map[string]any); ok && (name == "" || fields[name].typ == "object" || fields[name].typ == "") {
			if name != "" && fields[name].typ == "" && !isPrefix(fields, name) {
				problems = append(problems, name+": not an ECS field")
				return
			}
			for k, x := range m {
				n := k
				if name != "" {
					n = name + "." + k
				}
				walk(n, x, false)
			}
			return
		}
		f, ok := fields[name]
		if !ok {
			problems = append(problems, name+": not an ECS field")
			return
		}
		if a, ok := v.([]any); ok {
			if !f.array || inArray {
				problems = append(problems, name+": array where ECS has one value")
				return
			}
			for _, x := range a {
				walk(name, x, true)
			}
			return
		}
		var okType bool
		switch f.typ {
		case "keyword":
			_, okType = v.(string)
		case "long":
			n, isNum := v.(json.Number)
			_, err := n.Int64()
			okType = isNum && err == nil
		case "ip":
			s, isStr := v.(string)
			_, err := netip.ParseAddr(s)
			okType = isStr && err == nil
		case "date":
			s, isStr := v.(string)
			_, err := time.Parse(time.RFC3339Nano, s)
			okType = isStr && err == nil
		}
		if !okType {
			problems = append(problems, name+": value does not fit type "+f.typ)
		}
	}
	walk("", v, false)
	for _, req := range []string{"@timestamp", "dns.type", "event.kind", "network.protocol"} {
		if !hasPath(v, req) {
			problems = append(problems, req+": missing")
		}
	}
	return problems
}

func isPrefix(fields map[string]ecsField, name string) bool {
	for k := range fields {
		if strings.HasPrefix(k, name+".") {
			return true
		}
	}
	return false
}

func hasPath(v map[string]any, path string) bool {
	if _, ok := v[path]; ok {
		return true
	}
	parts := strings.Split(path, ".")
	var cur any = v
	for _, p := range parts {
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[p]; !ok {
			return false
		}
	}
	return true
}

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
