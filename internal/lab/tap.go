package lab

import (
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Tap is a two-port passive tap: a generator namespace sends into two veth
// pairs whose other ends, PortA and PortB, are the monitor ports in
// Monitor. tcpreplay in Gen replays a capture's client side out of GenA and
// its server side out of GenB (tcpreplay -c CACHE -i GenA -I GenB), as a
// tap's two ports deliver one direction each; or the same capture out of
// both, as two SPAN sessions that copy the same packets.
type Tap struct {
	// Gen holds the sending ends; Monitor the monitor ports.
	Gen, Monitor *Netns
	// GenA and GenB send into PortA and PortB.
	GenA, GenB string
	// PortA and PortB are the monitor ports, without addresses.
	PortA, PortB string
}

// NewTap builds a Tap and registers its teardown with t.Cleanup. It needs
// root, ip (iproute2) and ethtool.
func NewTap(t testing.TB) *Tap {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip", "iproute2")
	testenv.NeedTool(t, "ethtool", "ethtool")
	id := newID(t)
	x := &Tap{
		Gen:     newNetns(t, id, "gen"),
		Monitor: newNetns(t, id, "mon"),
		GenA:    "ga" + id, GenB: "gb" + id,
		PortA: "ta" + id, PortB: "tb" + id,
	}
	for _, ns := range []*Netns{x.Gen, x.Monitor} {
		// No MLD or router solicitations of their own on the ports.
		ns.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	for _, p := range [][2]string{{x.GenA, x.PortA}, {x.GenB, x.PortB}} {
		veth(t, x.Gen, p[0], x.Monitor, p[1])
		x.Gen.offloadsOff(t, p[0])
		x.Monitor.offloadsOff(t, p[1])
		x.Gen.Run(t, "ip", "link", "set", p[0], "up")
		x.Monitor.Run(t, "ip", "link", "set", p[1], "up")
	}
	return x
}

// RecreatePortB deletes the second veth pair and creates it again under
// the same names: PortB comes back with a new ifindex.
func (x *Tap) RecreatePortB(t testing.TB) {
	t.Helper()
	x.Gen.Run(t, "ip", "link", "del", x.GenB)
	veth(t, x.Gen, x.GenB, x.Monitor, x.PortB)
	x.Gen.offloadsOff(t, x.GenB)
	x.Monitor.offloadsOff(t, x.PortB)
	x.Gen.Run(t, "ip", "link", "set", x.GenB, "up")
	x.Monitor.Run(t, "ip", "link", "set", x.PortB, "up")
}
