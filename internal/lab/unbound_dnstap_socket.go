package lab

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// StartUnboundSocket starts Unbound in namespace ns as StartUnbound does
// (listening on addrs, ZoneLocal answered itself, everything else
// forwarded to forwardTo, client and forwarder messages logged), but with
// its dnstap sent to a Frame Streams receiver already listening on sock
// instead of an fstrm_capture. Unbound runs as root here, so the socket's
// permissions do not matter.
func StartUnboundSocket(t testing.TB, ns *Netns, forwardTo []netip.Addr, sock string, addrs ...netip.Addr) *Unbound {
	t.Helper()
	unbound := testenv.NeedTool(t, "unbound", "unbound")
	testenv.NeedTool(t, "dig", "bind9-dnsutils")
	dir := t.TempDir()
	u := &Unbound{Dir: dir, DnstapPath: sock, Addrs: addrs}
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n\tusername: \"\"\n\tchroot: \"\"\n\tdirectory: %q\n\tpidfile: %q\n", dir, filepath.Join(dir, "unbound.pid"))
	b.WriteString("\tdo-daemonize: no\n\tuse-syslog: no\n\tlogfile: \"\"\n\tverbosity: 1\n\tnum-threads: 1\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "\tinterface: %s\n", a)
	}
	b.WriteString("\taccess-control: 0.0.0.0/0 allow\n\taccess-control: ::/0 allow\n")
	b.WriteString("\tmodule-config: \"iterator\"\n\tdo-not-query-localhost: no\n\tqname-minimisation: no\n")
	b.WriteString("\tprefetch: no\n\tharden-referral-path: no\n\tminimal-responses: no\n")
	fmt.Fprintf(&b, "\tlocal-zone: %q static\n\tlocal-data: \"%s. 300 IN A %s\"\n", ZoneLocal+".", NameLocal, NameLocalAddr)
	b.WriteString("forward-zone:\n\tname: \".\"\n")
	for _, a := range forwardTo {
		fmt.Fprintf(&b, "\tforward-addr: %s\n", a)
	}
	b.WriteString("remote-control:\n\tcontrol-enable: no\n")
	fmt.Fprintf(&b, "dnstap:\n\tdnstap-enable: yes\n\tdnstap-socket-path: %q\n", sock)
	b.WriteString("\tdnstap-send-identity: yes\n\tdnstap-identity: \"lab-unbound\"\n\tdnstap-send-version: yes\n")
	for _, kind := range []string{"client-query", "client-response", "forwarder-query", "forwarder-response", "resolver-query", "resolver-response"} {
		fmt.Fprintf(&b, "\tdnstap-log-%s-messages: yes\n", kind)
	}
	conf := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	u.proc = ns.Start(t, unbound, "-d", "-c", conf)
	u.proc.WaitFor(t, "start of service", unboundStartWait)
	return u
}

// StopSocket waits for Unbound's dnstap thread to send what it has
// queued, then stops Unbound, which closes its dnstap connection.
func (u *Unbound) StopSocket(t testing.TB) {
	t.Helper()
	time.Sleep(unboundFlushWait)
	if err := u.proc.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("lab: unbound: %v\n%s", err, u.proc.Stderr())
	}
}
