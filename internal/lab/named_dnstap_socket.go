package lab

import (
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
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
	named := testenv.NeedTool(t, "named", "bind9")
	testenv.NeedTool(t, "dig", "bind9-dnsutils")
	runAs := "bind" // Debian's bind9 package runs named as this user
	u, err := user.Lookup(runAs)
	if err != nil {
		testenv.Skip(t, "user "+runAs+" missing (Debian package bind9)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "sensorlab-named-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &Named{
		Dir:        dir,
		DnstapPath: sock,
		Addrs:      []netip.Addr{v4, v6},
		Identity:   "lab-bind",
	}
	// The file configuration with its output line swapped: everything
	// else (zones, listeners, dnstap { all; }) stays StartNamed's.
	conf := strings.Replace(n.conf(), "dnstap-output file "+strconv.Quote(sock)+";",
		"dnstap-output unix "+strconv.Quote(sock)+";", 1)
	if !strings.Contains(conf, "dnstap-output unix") {
		t.Fatal("lab: named.conf has no dnstap-output line to replace")
	}
	files := map[string]string{
		"named.conf":       conf,
		ZoneAuth + ".db":   authZone(),
		ZoneUpdate + ".db": updateZone(),
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.proc = ns.Start(t, named, "-g", "-n", "1", "-u", runAs, "-c", filepath.Join(dir, "named.conf"))
	n.proc.WaitForSuffix(t, " running", namedStartWait)
	return n
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
