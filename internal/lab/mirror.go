package lab

import (
	"net/netip"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Addresses of the second client in a Mirror lab, on the authoritative
// server's side of the mirrored link. It queries the resolver.
var (
	Client2V4 = netip.MustParseAddr("192.0.2.3")
	Client2V6 = netip.MustParseAddr("fd00:53::3")
)

// Mirror is the point-to-point lab of issue #4: two namespaces joined by
// one veth pair, and both directions of that pair copied to a SPAN port
// with `tc ... clsact` and `mirred egress mirror` on the ingress and the
// egress hook of ServerIf. A sensor listens on SpanIf, alone in Monitor.
//
// With a single mirrored link every conversation the test checks must
// cross it: client↔BIND, client↔Unbound and Unbound↔BIND. No split of
// three hosts into two sides puts every pair on opposite sides, so each
// side holds one server and the client of the other server:
//
//	Client ns ("cli"): Unbound (ResolverV4/V6, the primary source address,
//	                   so its upstream queries to BIND come from it) and the
//	                   client of BIND (ClientV4/V6, dig -b)
//	     | veth ClientIf ↔ ServerIf   (ingress + egress of ServerIf mirrored)
//	Server ns ("srv"): BIND (ServerV4/V6) and the client of Unbound
//	                   (Client2V4/V6, dig -b)
//	     | veth mirrorIf ↔ SpanIf
//	Monitor ns ("mon"): SpanIf, no addresses, IPv6 off
//
// A bridge with every port mirrored on ingress (NewSPAN) sees the same
// traffic; this lab checks the other way a SPAN copy is made, one port's
// both directions, where egress copies come from the server's own stack.
type Mirror struct {
	// Client, Server and Monitor are the namespaces.
	Client, Server, Monitor *Netns
	// ClientIf and ServerIf are the mirrored veth pair's ends.
	ClientIf, ServerIf string
	// SpanIf is the SPAN port, in Monitor. It has no addresses.
	SpanIf string
	// MirrorIf is SpanIf's peer in Server, the mirred target.
	MirrorIf string
}

// NewMirror builds a Mirror lab and registers its teardown with t.Cleanup.
// It needs root, ip and tc (iproute2) and ethtool.
func NewMirror(t testing.TB) *Mirror {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip", "iproute2")
	testenv.NeedTool(t, "tc", "iproute2")
	testenv.NeedTool(t, "ethtool", "ethtool")
	id := newID(t)
	m := &Mirror{
		Client:   newNetns(t, id, "cli"),
		Server:   newNetns(t, id, "srv"),
		Monitor:  newNetns(t, id, "mon"),
		ClientIf: "mc" + id,
		ServerIf: "ms" + id,
		SpanIf:   "sp" + id,
		MirrorIf: "mm" + id,
	}
	// The monitor's own MLD and router solicitations would show up on the
	// SPAN port.
	m.Monitor.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1", "net.ipv6.conf.default.disable_ipv6=1")

	veth(t, m.Client, m.ClientIf, m.Server, m.ServerIf)
	// The first address of a subnet is the primary one, which the kernel
	// picks as the source of unbound sockets: Unbound's upstream queries
	// must come from the resolver's address, not the client's. Over IPv6
	// the client's address is deprecated (preferred_lft 0) for the same
	// reason (RFC 6724 rule 3); dig -b still binds it.
	m.Client.configure(t, m.ClientIf, ClientMAC, ResolverV4, ResolverV6)
	m.Client.addAddrs(t, m.ClientIf, ClientV4, ClientV6)
	m.Server.configure(t, m.ServerIf, ServerMAC, ServerV4, ServerV6)
	m.Server.addAddrs(t, m.ServerIf, Client2V4, Client2V6)
	m.Client.neighbours(t, m.ClientIf, ServerMAC, ServerV4, ServerV6, Client2V4, Client2V6)
	m.Server.neighbours(t, m.ServerIf, ClientMAC, ClientV4, ClientV6, ResolverV4, ResolverV6)

	m.Server.Run(t, "tc", "qdisc", "add", "dev", m.ServerIf, "clsact")
	m.AttachSpan(t)
	return m
}

// addAddrs adds a secondary, deprecated address pair to ifname.
func (ns *Netns) addAddrs(t testing.TB, ifname string, v4, v6 netip.Addr) {
	t.Helper()
	ns.Run(t, "ip", "addr", "add", netip.PrefixFrom(v4, prefixV4).String(), "dev", ifname)
	ns.Run(t, "ip", "-6", "addr", "add", netip.PrefixFrom(v6, prefixV6).String(), "dev", ifname, "nodad", "preferred_lft", "0")
}

// AttachSpan creates the SPAN veth pair (MirrorIf in Server, SpanIf in
// Monitor), turns its offloads off, brings it up and mirrors both
// directions of ServerIf to it. A test that deleted SpanIf calls it again
// to re-create the port: deleting either end deletes the pair, and the
// mirred actions that pointed at the old MirrorIf are replaced.
func (m *Mirror) AttachSpan(t testing.TB) {
	t.Helper()
	veth(t, m.Server, m.MirrorIf, m.Monitor, m.SpanIf)
	// No IPv6 on the mirror end: its own link-local traffic would reach
	// the SPAN port without being part of the mirrored link.
	m.Server.Run(t, "sysctl", "-q", "-w", "net.ipv6.conf."+m.MirrorIf+".disable_ipv6=1")
	m.Server.offloadsOff(t, m.MirrorIf)
	m.Monitor.offloadsOff(t, m.SpanIf)
	m.Server.Run(t, "ip", "link", "set", m.MirrorIf, "up")
	m.Monitor.Run(t, "ip", "link", "set", m.SpanIf, "up")
	// A filter whose target was deleted stays in place and mirrors to
	// nothing: flush both hooks before adding the new ones.
	for _, hook := range []string{"ingress", "egress"} {
		if _, err := m.Server.Output("tc", "filter", "del", "dev", m.ServerIf, hook); err != nil {
			t.Fatal(err)
		}
		// matchall is missing from some kernels (this machine's); u32
		// matching zero bits at offset 0 matches every frame.
		m.Server.Run(t, "tc", "filter", "add", "dev", m.ServerIf, hook, "protocol", "all",
			"u32", "match", "u32", "0", "0", "action", "mirred", "egress", "mirror", "dev", m.MirrorIf)
	}
}

// DeleteSpan deletes the SPAN veth pair, as when a mirror port's interface
// disappears (driver reload, USB NIC unplugged).
func (m *Mirror) DeleteSpan(t testing.TB) {
	t.Helper()
	m.Monitor.Run(t, "ip", "link", "del", m.SpanIf)
}

// SetSpan sets SpanIf administratively up or down.
func (m *Mirror) SetSpan(t testing.TB, up bool) {
	t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	m.Monitor.Run(t, "ip", "link", "set", m.SpanIf, state)
}
