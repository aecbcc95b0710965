package emit

import (
	"net/netip"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

const dnsPort = 53 // RFC 1035 §4.2

// opcodeUpdate is the DNS UPDATE opcode (RFC 2136 §1.3).
const opcodeUpdate = 5

// classifier decides the dnstap view(s) of a message from the configured
// servers. Servers are few (a handful of --server values), so a linear scan
// of prefixes beats any trie here.
type classifier struct {
	servers    []ServerSpec
	forwarders []netip.Prefix
	identity   []byte   // Config.Identity: views without a server of their own
	identities [][]byte // per server, resolved once so that a view costs a slice copy
}

func (c *classifier) init(cfg *Config) {
	c.servers = cfg.Servers
	c.forwarders = cfg.Forwarders
	c.identity = cfg.Identity
	c.identities = make([][]byte, len(cfg.Servers))
	for i := range cfg.Servers {
		c.identities[i] = cfg.Identity
		if cfg.Servers[i].Identity != "" {
			c.identities[i] = []byte(cfg.Servers[i].Identity)
		}
	}
}

// views is the result of classifying one message: which end started the
// transaction, which answered, and one or two dnstap types (two when both
// ends are monitored servers: each server's own view), each with the
// identity of the server whose view it is. The identities alias the
// classifier's configuration.
type views struct {
	initiator, responder netip.AddrPort
	types                [2]MessageType
	identity             [2][]byte
	n                    int
}

// lookup returns the index in c.servers of the first server containing a,
// or -1.
func (c *classifier) lookup(a netip.Addr) int {
	a = a.Unmap()
	for i := range c.servers {
		if c.servers[i].Prefix.Contains(a) {
			return i
		}
	}
	return -1
}

func (c *classifier) isForwarder(a netip.Addr) bool {
	a = a.Unmap()
	for i := range c.forwarders {
		if c.forwarders[i].Contains(a) {
			return true
		}
	}
	return false
}

// classify fills v for m and reports whether any view applies (false: not
// monitored). The type constants are the query types; a response is query+1
// in dnstap's numbering.
func (c *classifier) classify(m *reassembly.Message, v *views) bool {
	resp := m.DNS.Response()
	if resp {
		v.initiator, v.responder = m.Dst, m.Src
	} else {
		v.initiator, v.responder = m.Src, m.Dst
	}
	v.n = 0
	if len(c.servers) == 0 {
		// Without --server the port-53 side serves, as a recursive server.
		// When both are 53 the QR bit has already chosen the responder.
		switch {
		case v.responder.Port() == dnsPort:
			v.types[0] = ClientQuery
			v.identity[0] = c.identity
			v.n = 1
		case v.initiator.Port() == dnsPort:
			if c.isForwarder(v.responder.Addr()) {
				v.types[0] = ForwarderQuery
			} else {
				v.types[0] = ResolverQuery
			}
			v.identity[0] = c.identity
			v.n = 1
		}
	} else {
		if i := c.lookup(v.responder.Addr()); i >= 0 {
			if c.servers[i].Role == RoleAuthoritative {
				v.types[0] = AuthQuery
			} else {
				v.types[0] = ClientQuery
			}
			v.identity[0] = c.identities[i]
			v.n = 1
		}
		if i := c.lookup(v.initiator.Addr()); i >= 0 {
			t := ResolverQuery
			if c.servers[i].Role == RoleForwarder || c.isForwarder(v.responder.Addr()) {
				t = ForwarderQuery
			}
			v.types[v.n] = t
			v.identity[v.n] = c.identities[i]
			v.n++
		}
	}
	if v.n == 0 {
		return false
	}
	update := m.DNS.Opcode() == opcodeUpdate
	for i := 0; i < v.n; i++ {
		if update {
			v.types[i] = UpdateQuery
		}
		if resp {
			v.types[i]++
		}
	}
	return true
}
