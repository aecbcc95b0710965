package main

import (
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// idleSource is a capture source with nothing to read, for tests of what
// the workers' counters become.
type idleSource struct{}

func (idleSource) Next(*packet.Frame) error               { return capture.ErrTimeout }
func (idleSource) Stats() capture.SupervisorStats         { return capture.SupervisorStats{Open: true} }
func (idleSource) Events() <-chan capture.SupervisorEvent { return nil }
func (idleSource) Close() error                           { return nil }

// TestMirrorInterfaceFigures: the workers of a mirror count frames by
// interface; the summary lists them per interface and the metrics have
// one labelled sample per interface, summed over the workers.
func TestMirrorInterfaceFigures(t *testing.T) {
	names := []string{"tapA", "tapB"}
	ws := []*liveWorker{
		{sup: idleSource{}, iface: "tapA,tapB", worker: 0, mirror: names},
		{sup: idleSource{}, iface: "tapA,tapB", worker: 1, mirror: names},
	}
	ws[0].perIface[0].Store(3)
	ws[0].perIface[1].Store(5)
	ws[1].perIface[0].Store(7)
	s := newSummary("live")
	interfaceCounters(ws, s.ifaces)
	want := map[string]uint64{"packets:tapA": 10, "duplicates_removed:tapA": 0, "packets:tapB": 5, "duplicates_removed:tapB": 0}
	if len(s.ifaces.order) != len(want) {
		t.Errorf("summary counters %v, want %v", s.ifaces.v, want)
	}
	for n, v := range want {
		if s.ifaces.v[n] != v {
			t.Errorf("%s = %d, want %d", n, s.ifaces.v[n], v)
		}
	}
	mfs, err := newRegistry(ws, nil).Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "dnstap_sensor_interface_packets_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
		}
	}
	if len(got) != 2 || got["tapA"] != 10 || got["tapB"] != 5 {
		t.Errorf("dnstap_sensor_interface_packets_total %v, want tapA 10, tapB 5", got)
	}
	single := []*liveWorker{{sup: idleSource{}, iface: "eth0"}}
	if names, _, _ := interfaceCounts(single); names != nil {
		t.Errorf("one interface: per-interface figures %v, want none", names)
	}
}
