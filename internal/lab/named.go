package lab

import (
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Zones and names that the lab's named serves.
const (
	// ZoneAuth is served authoritatively; recursion is off, so any other
	// name is REFUSED.
	ZoneAuth = "lab.example"
	// ZoneUpdate accepts DNS UPDATE from the lab's addresses.
	ZoneUpdate = "upd.example"
	// NameBigTXT has a TXT answer of BigTXTLen bytes of text: with
	// +bufsize=4096 the UDP answer is IP-fragmented on a 1500-byte MTU.
	NameBigTXT = "big." + ZoneAuth
	// NameMSSTXT has a TXT answer longer than the TCP MSS but small enough
	// for one 4096-byte UDP answer; over UDP without EDNS it comes back
	// with TC=1.
	NameMSSTXT = "mss." + ZoneAuth
	// BigTXTLen and MSSTXTLen are the TXT text lengths in bytes.
	BigTXTLen = 3400
	MSSTXTLen = 2000
	// RefusedName is in no zone the server has.
	RefusedName = "www.not-served.example"
)

// namedStartWait bounds named's start: zone loading takes well under a
// second here, but a loaded 2-core machine can stretch it.
const namedStartWait = 30 * time.Second

// Named is a running BIND in the lab's server namespace, writing its own
// dnstap of every message it receives and sends.
type Named struct {
	proc *Process
	// Dir holds named.conf, the zones and the dnstap file. It belongs to
	// the user named runs as and is removed by t.Cleanup.
	Dir string
	// DnstapPath is BIND's dnstap file; complete only after Stop.
	DnstapPath string
	// Addrs are the addresses named listens on, port 53.
	Addrs []netip.Addr
	// Identity is the dnstap identity BIND writes.
	Identity string
}

// StartNamed starts named in the server namespace, authoritative for
// ZoneAuth and ZoneUpdate, listening on ServerV4 and ServerV6, with
// `dnstap { all; }` and max-udp-size 4096. It returns once named answers.
func (l *Lab) StartNamed(t testing.TB) *Named {
	t.Helper()
	return StartNamed(t, l.Server, ServerV4, ServerV6)
}

// StartNamed starts named in namespace ns listening on v4 and v6, as
// Lab.StartNamed does.
func StartNamed(t testing.TB, ns *Netns, v4, v6 netip.Addr) *Named {
	t.Helper()
	return startNamed(t, ns, v4, v6, "")
}

// startNamed starts named writing its dnstap to a file in its directory,
// or, when sock is set, sending it to the Frame Streams receiver on sock.
func startNamed(t testing.TB, ns *Netns, v4, v6 netip.Addr, sock string) *Named {
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

	// Not under t.TempDir: its parents are 0700 root, and named gives up
	// nearly every capability when it drops to the bind user, so the user
	// itself must reach and own the directory.
	dir, err := os.MkdirTemp("", "sensorlab-named-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &Named{
		Dir:        dir,
		DnstapPath: filepath.Join(dir, "named.dnstap"),
		Addrs:      []netip.Addr{v4, v6},
		Identity:   "lab-bind",
	}
	conf := n.conf()
	if sock != "" {
		// The file configuration with its output line swapped: everything
		// else (zones, listeners, dnstap { all; }) stays the same.
		n.DnstapPath = sock
		conf = strings.Replace(n.conf(), "dnstap-output file "+strconv.Quote(sock)+";",
			"dnstap-output unix "+strconv.Quote(sock)+";", 1)
		if !strings.Contains(conf, "dnstap-output unix") {
			t.Fatal("lab: named.conf has no dnstap-output line to replace")
		}
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
	}
	for _, p := range []string{dir, filepath.Join(dir, "named.conf"), filepath.Join(dir, ZoneAuth+".db"), filepath.Join(dir, ZoneUpdate+".db")} {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// -g: foreground, log to stderr (so WaitFor can see "running").
	// -n 1: one worker thread is plenty and spares the shared cores.
	n.proc = ns.Start(t, named, "-g", "-n", "1", "-u", runAs, "-c", filepath.Join(dir, "named.conf"))
	// The last start-up line is exactly "<time> running"; an earlier one
	// says "running as: ...".
	n.proc.WaitForSuffix(t, " running", namedStartWait)
	return n
}

// Stop stops named with SIGTERM and waits for it to exit, which is when
// BIND writes the last block of its dnstap file and the STOP frame.
func (n *Named) Stop(t testing.TB) {
	t.Helper()
	err := n.proc.Stop(syscall.SIGTERM)
	// named exits 0 on SIGTERM; anything else means its dnstap may be cut.
	if err != nil {
		t.Fatalf("lab: named: %v; stderr:\n%s", err, n.proc.Stderr())
	}
	if fi, err := os.Stat(n.DnstapPath); err != nil || fi.Size() == 0 {
		t.Fatalf("lab: named wrote no dnstap file %s (%v); stderr:\n%s", n.DnstapPath, err, n.proc.Stderr())
	}
}

// Log returns named's log so far.
func (n *Named) Log() string { return n.proc.Stderr() }

func (n *Named) conf() string {
	d := n.Dir
	return fmt.Sprintf(`options {
	directory %[1]q;
	pid-file %[2]q;
	session-keyfile %[3]q;
	managed-keys-directory %[1]q;
	listen-on port 53 { %[4]s; };
	listen-on-v6 port 53 { %[5]s; };
	recursion no;
	allow-query { any; };
	dnssec-validation no;
	// The default (1232) keeps every answer below the fragmentation limit;
	// the lab needs 3-4 KB UDP answers that the kernel fragments.
	max-udp-size 4096;
	edns-udp-size 4096;
	dnstap { all; };
	dnstap-output file %[6]q;
	dnstap-identity %[7]q;
	dnstap-version "lab";
	notify no;
};
controls { };
zone %[8]q { type primary; file %[9]q; };
zone %[10]q { type primary; file %[11]q; allow-update { 192.0.2.0/24; fd00:53::/64; }; };
`, d, filepath.Join(d, "named.pid"), filepath.Join(d, "session.key"), n.Addrs[0], n.Addrs[1],
		n.DnstapPath, n.Identity, ZoneAuth, ZoneAuth+".db", ZoneUpdate, ZoneUpdate+".db")
}

const soa = `$TTL 300
@ IN SOA ns.%[1]s. hostmaster.%[1]s. 1 3600 600 86400 300
@ IN NS ns.%[1]s.
ns IN A %[2]s
ns IN AAAA %[3]s
`

func authZone() string {
	var b strings.Builder
	fmt.Fprintf(&b, soa, ZoneAuth, ServerV4, ServerV6)
	b.WriteString("www IN A 192.0.2.80\nwww IN AAAA fd00:53::80\n")
	b.WriteString("@ IN MX 10 mail\nmail IN A 192.0.2.25\n")
	b.WriteString("txt IN TXT \"hello from the lab\"\n")
	fmt.Fprintf(&b, "big IN TXT %s\n", txtStrings("big", BigTXTLen))
	fmt.Fprintf(&b, "mss IN TXT %s\n", txtStrings("mss", MSSTXTLen))
	return b.String()
}

func updateZone() string {
	return fmt.Sprintf(soa, ZoneUpdate, ServerV4, ServerV6)
}

// txtStrings returns n bytes of deterministic text as quoted strings of at
// most 255 bytes each (RFC 1035 §3.3.14 character-strings).
func txtStrings(tag string, n int) string {
	var text strings.Builder
	for i := 0; text.Len() < n; i++ {
		fmt.Fprintf(&text, "%s-%04d-lab-padding.", tag, i)
	}
	s := text.String()[:n]
	var b strings.Builder
	b.WriteString("(")
	for len(s) > 0 {
		k := min(len(s), 255)
		fmt.Fprintf(&b, " %q", s[:k])
		s = s[k:]
	}
	b.WriteString(" )")
	return b.String()
}
