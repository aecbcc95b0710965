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

// Names the lab's Unbound answers itself.
const (
	// ZoneLocal is an Unbound local-zone (static): answered without
	// asking anyone.
	ZoneLocal = "local.example"
	// NameLocal has an A record in ZoneLocal.
	NameLocal = "host." + ZoneLocal
	// NameLocalAddr is NameLocal's address.
	NameLocalAddr = "192.0.2.99"
)

const (
	unboundStartWait = 30 * time.Second
	// unboundFlushWait: Unbound's dnstap thread writes queued messages on a
	// timer, and messages still queued when Unbound exits are lost (seen
	// here with 1.17.1: none of 10 messages written when stopped 300 ms
	// after them, all of them after 2 s).
	unboundFlushWait = 2 * time.Second
)

// Unbound is a running Unbound resolver that forwards everything to the
// given servers and sends its dnstap (client and forwarder messages) to an
// fstrm_capture, which writes it to a file.
type Unbound struct {
	proc, capture *Process
	// Dir holds unbound.conf, the dnstap socket and the dnstap file.
	Dir string
	// DnstapPath is Unbound's dnstap; complete only after Stop.
	DnstapPath string
	// Addrs are the addresses Unbound listens on, port 53.
	Addrs []netip.Addr
}

// StartUnbound starts fstrm_capture and Unbound in namespace ns: Unbound
// listens on addrs, answers ZoneLocal itself, forwards every other name to
// forwardTo (a forward-zone for "."), and logs client and forwarder
// queries and responses to dnstap. It returns once Unbound says it serves.
func StartUnbound(t testing.TB, ns *Netns, forwardTo []netip.Addr, addrs ...netip.Addr) *Unbound {
	t.Helper()
	testenv.NeedTool(t, "dig", "bind9-dnsutils")
	local := []string{
		fmt.Sprintf("local-zone: %q static", ZoneLocal+"."),
		fmt.Sprintf("local-data: \"%s. 300 IN A %s\"", NameLocal, NameLocalAddr),
	}
	return startUnbound(t, ns, forwardTo, local, addrs)
}

// startUnbound writes Unbound's configuration with the extra server lines
// and starts fstrm_capture, then Unbound.
func startUnbound(t testing.TB, ns *Netns, forwardTo []netip.Addr, extra []string, addrs []netip.Addr) *Unbound {
	t.Helper()
	unbound := testenv.NeedTool(t, "unbound", "unbound")
	capture := testenv.NeedTool(t, "fstrm_capture", "fstrm-bin")
	dir := t.TempDir()
	u := &Unbound{Dir: dir, DnstapPath: filepath.Join(dir, "unbound.dnstap"), Addrs: addrs}
	sock := filepath.Join(dir, "dnstap.sock")
	var b strings.Builder
	fmt.Fprintf(&b, "server:\n\tusername: \"\"\n\tchroot: \"\"\n\tdirectory: %q\n\tpidfile: %q\n", dir, filepath.Join(dir, "unbound.pid"))
	b.WriteString("\tdo-daemonize: no\n\tuse-syslog: no\n\tlogfile: \"\"\n\tverbosity: 1\n\tnum-threads: 1\n")
	for _, a := range addrs {
		fmt.Fprintf(&b, "\tinterface: %s\n", a)
	}
	b.WriteString("\taccess-control: 0.0.0.0/0 allow\n\taccess-control: ::/0 allow\n")
	// The lab has no root servers and no trust anchor: iterate nothing,
	// validate nothing, and let the upstream be a private address.
	b.WriteString("\tmodule-config: \"iterator\"\n\tdo-not-query-localhost: no\n\tqname-minimisation: no\n")
	b.WriteString("\tprefetch: no\n\tharden-referral-path: no\n\tminimal-responses: no\n")
	for _, l := range extra {
		fmt.Fprintf(&b, "\t%s\n", l)
	}
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
	// fstrm_capture must listen before Unbound starts: Unbound connects
	// at start-up and only retries after a back-off.
	u.capture = ns.Start(t, capture, "-t", "protobuf:dnstap.Dnstap", "-u", sock, "-w", u.DnstapPath)
	waitFile(t, sock, unboundStartWait)
	u.proc = ns.Start(t, unbound, "-d", "-c", conf)
	// Not a probe query: it would cross loopback, where no sensor sees it,
	// and land in Unbound's dnstap as a message only the server has.
	u.proc.WaitFor(t, "start of service", unboundStartWait)
	return u
}

// Stop waits for Unbound's dnstap thread to send what it has queued, stops
// Unbound (which closes its dnstap stream), then fstrm_capture, which
// writes the file only as it exits.
func (u *Unbound) Stop(t testing.TB) {
	t.Helper()
	time.Sleep(unboundFlushWait)
	if err := u.proc.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("lab: unbound: %v\n%s", err, u.proc.Stderr())
	}
	if err := u.capture.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("lab: fstrm_capture: %v\n%s", err, u.capture.Stderr())
	}
	if fi, err := os.Stat(u.DnstapPath); err != nil || fi.Size() == 0 {
		t.Fatalf("lab: fstrm_capture wrote no %s (%v):\n%s", u.DnstapPath, err, u.capture.Stderr())
	}
}

// Log returns Unbound's log so far.
func (u *Unbound) Log() string { return u.proc.Stderr() }

// waitFile waits until path exists.
func waitFile(t testing.TB, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab: %s did not appear within %v", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
