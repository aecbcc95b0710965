package analyze_test

import (
	"encoding/binary"
	"net/netip"
	"os"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/miekg/dns"
)

// The live wiring of --alerts-out and --ecs: each is one emit.Output,
// handed batches of Frame Streams data frames like any other output.
func Example() {
	rules := analyze.DefaultRules()
	rules.Sinkholes, _ = analyze.ParseSinkholes("192.0.2.66,sinkhole.example.net")
	aw := analyze.NewAlertWriter(os.Stdout, nil) // --alerts-out -
	var alerts emit.Output = analyze.NewAlertOutput(analyze.NewAlertEngine(rules, aw.Sink()), aw)
	var ecs emit.Output = analyze.NewECSOutput(analyze.NewECSWriter(os.Stdout), nil) // --ecs -

	// One answer pointing at the sinkhole, as the sensor frames it.
	q := new(dns.Msg)
	q.SetQuestion("update.malware-cnc.example.", dns.TypeA)
	q.Id = 4242
	r := new(dns.Msg)
	r.SetReply(q)
	a, _ := dns.NewRR("update.malware-cnc.example. 60 IN A 192.0.2.66")
	r.Answer = append(r.Answer, a)
	wire, _ := r.Pack()
	t := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	frame := emit.AppendDnstap(nil, []byte("sensor1"), nil, &emit.Record{Type: emit.ClientResponse, Protocol: 1,
		QueryAddr: netip.MustParseAddrPort("198.51.100.88:40000"), ResponseAddr: netip.MustParseAddrPort("192.0.2.53:53"),
		HasResponseTime: true, ResponseTime: t, ResponseMessage: wire})
	batch := binary.BigEndian.AppendUint32(nil, uint32(len(frame)))
	batch = append(batch, frame...)

	_ = ecs.WriteBatch(batch)
	_ = ecs.Close()
	_ = alerts.WriteBatch(batch)
	_ = alerts.Close()
	// Output:
	// {"@timestamp":"2026-01-01T00:00:00Z","ecs":{"version":"8.12.0"},"event":{"kind":"event","category":["network"],"type":["protocol"],"module":"dnstap","dataset":"dnstap.sensor","action":"client_response"},"observer":{"name":"sensor1"},"network":{"protocol":"dns","transport":"udp","type":"ipv4"},"client":{"ip":"198.51.100.88","port":40000},"server":{"ip":"192.0.2.53","port":53},"source":{"ip":"192.0.2.53","port":53},"destination":{"ip":"198.51.100.88","port":40000},"dns":{"type":"answer","id":"4242","op_code":"QUERY","header_flags":["RD"],"response_code":"NOERROR","question":{"name":"update.malware-cnc.example","type":"A","class":"IN","registered_domain":"malware-cnc.example","subdomain":"update","top_level_domain":"example"},"answers":[{"name":"update.malware-cnc.example","type":"A","class":"IN","ttl":60,"data":"192.0.2.66"}],"resolved_ip":["192.0.2.66"]}}
	// {"time":"2026-01-01T00:00:00Z","rule":"sinkhole","client":"198.51.100.88","evidence":{"name":"update.malware-cnc.example","answer":"192.0.2.66","suppressed_before":0}}
}
