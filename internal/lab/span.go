package lab

import (
	"net/netip"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Addresses of the SPAN lab's resolver host (the client and the
// authoritative server keep ClientV4/V6 and ServerV4/V6).
var (
	ResolverV4 = netip.MustParseAddr("192.0.2.54")
	ResolverV6 = netip.MustParseAddr("fd00:53::54")
)

// ResolverMAC is the resolver host's fixed MAC address.
const ResolverMAC = "02:00:00:00:00:54"

// SPAN is a switched lab, as on a real network with a mirror port: a
// client, an authoritative server host and a resolver host, each in its
// own namespace, joined by a Linux bridge in a switch namespace. Every
// frame that enters the bridge is copied by `tc ... mirred egress mirror`
// to SpanIf in the Monitor namespace, where a sensor listens.
//
// Mirroring ingress on every bridge port copies each frame exactly once,
// including resolver-to-server traffic, which a mirror of one host's link
// would miss (it would cross loopback if both servers shared a host).
type SPAN struct {
	// Client, Auth, Resolver and Monitor are the host namespaces.
	Client, Auth, Resolver, Monitor *Netns
	// SpanIf is the mirror port, in Monitor. It has no addresses.
	SpanIf string
	// Switch holds the bridge, its ports and the tc mirror rules.
	Switch *Netns
	// Ports are the bridge ports in Switch, by host role ("cli", "auth",
	// "res"); tests set them down/up to cut a host off.
	Ports map[string]string

	mirrorIf string // Switch's end of the SPAN veth
}

// NewSPAN builds a SPAN lab and registers its teardown with t.Cleanup. It
// needs root, ip and tc (iproute2) and ethtool.
func NewSPAN(t testing.TB) *SPAN {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip", "iproute2")
	testenv.NeedTool(t, "tc", "iproute2")
	testenv.NeedTool(t, "ethtool", "ethtool")
	id := newID(t)
	s := &SPAN{
		Switch:   newNetns(t, id, "sw"),
		Client:   newNetns(t, id, "cli"),
		Auth:     newNetns(t, id, "auth"),
		Resolver: newNetns(t, id, "res"),
		Monitor:  newNetns(t, id, "mon"),
		SpanIf:   "sp" + id,
		Ports:    map[string]string{},
	}
	// No IPv6 on the switch and the monitor: their own MLD and router
	// solicitations would otherwise show up on the mirror port.
	for _, ns := range []*Netns{s.Switch, s.Monitor} {
		ns.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")
	}
	br := "br" + id
	s.Switch.Run(t, "ip", "link", "add", br, "type", "bridge", "stp_state", "0", "forward_delay", "0")
	s.Switch.Run(t, "ip", "link", "set", br, "up")

	s.mirrorIf = "m" + id
	s.addSpanLink(t)

	type host struct {
		role   string
		ns     *Netns
		mac    string
		v4, v6 netip.Addr
	}
	hosts := []host{
		{"cli", s.Client, ClientMAC, ClientV4, ClientV6},
		{"auth", s.Auth, ServerMAC, ServerV4, ServerV6},
		{"res", s.Resolver, ResolverMAC, ResolverV4, ResolverV6},
	}
	for i, h := range hosts {
		hostIf, port := "h"+string(rune('0'+i))+id, "p"+string(rune('0'+i))+id
		veth(t, h.ns, hostIf, s.Switch, port)
		h.ns.configure(t, hostIf, h.mac, h.v4, h.v6)
		s.Switch.offloadsOff(t, port)
		s.Switch.Run(t, "ip", "link", "set", port, "master", br)
		s.Switch.Run(t, "ip", "link", "set", port, "up")
		s.Switch.Run(t, "tc", "qdisc", "add", "dev", port, "clsact")
		s.Ports[h.role] = port
		for _, o := range hosts {
			if o.role != h.role {
				h.ns.neighbours(t, hostIf, o.mac, o.v4, o.v6)
			}
		}
	}
	s.mirrorPorts(t)
	return s
}

// addSpanLink creates the veth pair from the switch to the monitor's SPAN
// port, offloads off, both ends up.
func (s *SPAN) addSpanLink(t testing.TB) {
	t.Helper()
	veth(t, s.Switch, s.mirrorIf, s.Monitor, s.SpanIf)
	s.Switch.offloadsOff(t, s.mirrorIf)
	s.Monitor.offloadsOff(t, s.SpanIf)
	s.Switch.Run(t, "ip", "link", "set", s.mirrorIf, "up")
	s.Monitor.Run(t, "ip", "link", "set", s.SpanIf, "up")
}

// mirrorPorts (re)installs the mirror rule on every bridge port.
func (s *SPAN) mirrorPorts(t testing.TB) {
	t.Helper()
	for _, port := range s.Ports {
		// A rule whose target was deleted stays and mirrors nowhere.
		_, _ = s.Switch.Output("tc", "filter", "del", "dev", port, "ingress")
		s.Switch.mirror(t, port, s.mirrorIf)
	}
}

// SetSpan sets the SPAN port down or up, as a cable pulled and plugged.
func (s *SPAN) SetSpan(t testing.TB, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	s.Monitor.Run(t, "ip", "link", "set", s.SpanIf, state)
}

// RecreateSpan deletes the SPAN port and creates it again under the same
// name (a new interface index), with the mirror rules pointing at it, as
// when a NIC driver is reloaded.
func (s *SPAN) RecreateSpan(t testing.TB) {
	t.Helper()
	s.Switch.Run(t, "ip", "link", "del", s.mirrorIf)
	s.addSpanLink(t)
	s.mirrorPorts(t)
}

// mirror copies every frame entering port to dst. matchall is the obvious
// classifier but some kernels are built without it (this machine's is);
// u32 matching zero bits at offset 0 matches every frame too.
func (ns *Netns) mirror(t testing.TB, port, dst string) {
	t.Helper()
	action := []string{"action", "mirred", "egress", "mirror", "dev", dst}
	_, err := ns.Output("tc", append([]string{"filter", "add", "dev", port, "ingress", "protocol", "all", "matchall"}, action...)...)
	if err == nil {
		return
	}
	ns.Run(t, "tc", append([]string{"filter", "add", "dev", port, "ingress", "protocol", "all", "u32", "match", "u32", "0", "0"}, action...)...)
}
