package lab

import (
	"net/netip"
	"syscall"
	"testing"
)

// StartNamedSocket starts named in namespace ns as StartNamed does, but
// with `dnstap-output unix "SOCK"`: BIND sends its dnstap over Frame
// Streams (bidirectional handshake) to a receiver listening on sock, with
// its fstrm options at their defaults (input queue 512 per thread). The
// receiver should listen first: BIND retries a refused socket only after
// its reopen interval (5 s by default). sock's directory must be reachable
// by the bind user and the socket writable by it.
func StartNamedSocket(t testing.TB, ns *Netns, v4, v6 netip.Addr, sock string) *Named {
	t.Helper()
	return startNamed(t, ns, v4, v6, sock)
}

// StopSocket stops a named started by StartNamedSocket with SIGTERM and
// waits for it to exit; on the way out BIND sends STOP on its dnstap
// connection and waits (briefly) for FINISH.
func (n *Named) StopSocket(t testing.TB) {
	t.Helper()
	if err := n.proc.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("lab: named: %v; stderr:\n%s", err, n.proc.Stderr())
	}
}
