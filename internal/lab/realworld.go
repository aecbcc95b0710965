package lab

import (
	"cmp"
	"fmt"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Zones and addresses of the real-world lab (NewRealWorld): traffic the
// other lab helpers do not make, as real servers make it.
const (
	// ZoneXFR is a dynamic zone of XFRRecords names in mixed case (0x20
	// style) that the primary transfers to the secondary: AXFR at start,
	// NOTIFY and IXFR after each update.
	ZoneXFR = "xfr.example"
	// XFRRecords is the number of host names in ZoneXFR, each with an A
	// and a TXT record: the AXFR spans many segments and messages.
	XFRRecords = 1000
	// ZoneSigned is signed by BIND itself (inline-signing) with a 4096-bit
	// RSA KSK and a 2048-bit ZSK, so DNSKEY and RRSIG answers with DO=1
	// exceed one 1500-byte frame.
	ZoneSigned = "sec.example"
	// NameSignedBig has a 1400-byte TXT record in ZoneSigned: with its
	// RRSIG the answer is fragmented over UDP.
	NameSignedBig = "big." + ZoneSigned
)

// ZoneFat holds NameFat, whose TXT RRset makes a DNS message of
// FatLen bytes, near the 65535-byte limit of DNS over TCP (RFC 1035
// §4.2.2).
const (
	ZoneFat = "fat.example"
	NameFat = "fat." + ZoneFat
	// BIND 9.18 refuses RRsets of more than 100 records
	// (max-records-per-type), so each holds four 250-byte strings.
	FatRRs = 60
)

func fatZone() string {
	var b strings.Builder
	fmt.Fprintf(&b, soa, ZoneFat, ServerV4, ServerV6)
	for i := range FatRRs {
		x := strings.Repeat("x", 246)
		fmt.Fprintf(&b, "fat IN TXT \"%03d-%s\" \"a%s\" \"b%s\" \"c%s\"\n", i, x, x, x, x)
	}
	return b.String()
}

// Second client-side addresses, for a server (Unbound) that must not share
// the client's address with the secondary named.
var (
	RealResolverV4 = netip.MustParseAddr("192.0.2.3")
	RealResolverV6 = netip.MustParseAddr("fd00:53::3")
)

// AddResolverAddrs puts RealResolverV4 and RealResolverV6 on the client's veth,
// with static neighbours on the server side.
func (l *Lab) AddResolverAddrs(t testing.TB) {
	t.Helper()
	l.Client.Run(t, "ip", "addr", "add", netip.PrefixFrom(RealResolverV4, prefixV4).String(), "dev", l.ClientIf)
	l.Client.Run(t, "ip", "-6", "addr", "add", netip.PrefixFrom(RealResolverV6, prefixV6).String(), "dev", l.ClientIf, "nodad")
	l.Server.neighbours(t, l.ServerIf, ClientMAC, RealResolverV4, RealResolverV6)
}

// RealNamedOptions choose what a real-world named serves.
type RealNamedOptions struct {
	// Identity is the dnstap identity.
	Identity string
	// Primary makes named the primary of ZoneXFR (notifying Secondary)
	// and ZoneSigned; otherwise it is ZoneXFR's secondary of PrimaryAddr.
	Primary bool
	// Secondary is the address the primary notifies (also-notify); none
	// when invalid.
	Secondary netip.Addr
	// PrimaryAddr is where a secondary transfers ZoneXFR from.
	PrimaryAddr netip.Addr
	// Extra is appended inside options { }.
	Extra string
	// TransferMessageSize is BIND's transfer-message-size; 0 means 4096,
	// so an AXFR of ZoneXFR is many DNS messages on one connection.
	TransferMessageSize int
}

// StartRealNamed starts named in ns on v4 and v6 with the zones of opts,
// writing its dnstap, and returns once named runs and (primary) ZoneSigned
// is signed.
func StartRealNamed(t testing.TB, ns *Netns, v4, v6 netip.Addr, opts RealNamedOptions) *Named {
	t.Helper()
	named := testenv.NeedTool(t, "named", "bind9")
	testenv.NeedTool(t, "dig", "bind9-dnsutils")
	u, err := user.Lookup("bind")
	if err != nil {
		testenv.Skip(t, "user bind missing (Debian package bind9)")
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	dir, err := os.MkdirTemp("", "sensorlab-named-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	n := &Named{Dir: dir, DnstapPath: filepath.Join(dir, "named.dnstap"), Addrs: []netip.Addr{v4, v6}, Identity: opts.Identity}
	var conf strings.Builder
	fmt.Fprintf(&conf, `options {
	directory %[1]q;
	pid-file %[2]q;
	session-keyfile %[3]q;
	managed-keys-directory %[1]q;
	key-directory %[1]q;
	listen-on port 53 { %[4]s; };
	listen-on-v6 port 53 { %[5]s; };
	recursion no;
	allow-query { any; };
	allow-transfer { any; };
	dnssec-validation no;
	max-udp-size 4096;
	edns-udp-size 4096;
	transfer-message-size %[9]d;
	ixfr-from-differences yes;
	dnstap { all; };
	dnstap-output file %[6]q;
	dnstap-identity %[7]q;
	dnstap-version "lab";
	%[8]s
};
controls { };
dnssec-policy "labrsa" {
	keys {
		ksk lifetime unlimited algorithm rsasha256 4096;
		zsk lifetime unlimited algorithm rsasha256 2048;
	};
};
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), v4, v6, n.DnstapPath, opts.Identity, opts.Extra, cmp.Or(opts.TransferMessageSize, 4096))
	files := map[string]string{}
	if opts.Primary {
		notify := "notify no;"
		if opts.Secondary.IsValid() {
			notify = fmt.Sprintf("notify explicit; also-notify { %s; };", opts.Secondary)
		}
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; allow-update { any; }; %s };\n", ZoneXFR, ZoneXFR+".db", notify)
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; dnssec-policy \"labrsa\"; inline-signing yes; };\n",
			ZoneSigned, ZoneSigned+".db")
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; };\n", ZoneFat, ZoneFat+".db")
		files[ZoneFat+".db"] = fatZone()
		files[ZoneXFR+".db"] = xfrZone()
		files[ZoneSigned+".db"] = signedZone()
	} else {
		fmt.Fprintf(&conf, "zone %q { type secondary; file %q; primaries { %s; }; };\n", ZoneXFR, ZoneXFR+".bak", opts.PrimaryAddr)
	}
	files["named.conf"] = conf.String()
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, p := range append([]string{dir}, keys(files, dir)...) {
		if err := os.Chown(p, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	n.proc = ns.Start(t, named, "-g", "-n", "1", "-u", "bind", "-c", filepath.Join(dir, "named.conf"))
	n.proc.WaitForSuffix(t, " running", namedStartWait)
	return n
}

func keys(files map[string]string, dir string) []string {
	var out []string
	for name := range files {
		out = append(out, filepath.Join(dir, name))
	}
	return out
}

// WaitLog waits until named's log holds substr.
func (n *Named) WaitLog(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	n.proc.WaitFor(t, substr, timeout)
}

// xfrZone has names whose case differs from label to label (as a 0x20
// resolver writes queries), so a sensor that folds case or rewrites names
// cannot match the wire bytes.
func xfrZone() string {
	var b strings.Builder
	fmt.Fprintf(&b, soa, ZoneXFR, ServerV4, ServerV6)
	for i := range XFRRecords {
		fmt.Fprintf(&b, "HoSt-%04d.WeB IN A 198.51.%d.%d\n", i, i/250, i%250)
		fmt.Fprintf(&b, "hOsT-%04d.wEb IN TXT \"record %d of the transfer\"\n", i, i)
	}
	b.WriteString("MiXeD IN A 192.0.2.20\nwww IN CNAME MiXeD\n")
	return b.String()
}

func signedZone() string {
	var b strings.Builder
	fmt.Fprintf(&b, soa, ZoneSigned, ServerV4, ServerV6)
	b.WriteString("www IN A 192.0.2.80\nwww IN AAAA fd00:53::80\n")
	for i := range 8 {
		fmt.Fprintf(&b, "mx IN MX %d mail%d\nmail%d IN A 192.0.2.%d\n", 10*i, i, i, 30+i)
	}
	fmt.Fprintf(&b, "big IN TXT %s\n", txtStrings("sig", 1400))
	return b.String()
}

// RealUnboundOptions choose what a real-world Unbound does differently
// from StartUnbound's.
type RealUnboundOptions struct {
	// Extra lines go into the server: clause.
	Extra []string
}

// StartRealUnbound is StartUnbound with extra server options (for
// example "tcp-upstream: yes" and "use-caps-for-id: yes").
func StartRealUnbound(t testing.TB, ns *Netns, forwardTo []netip.Addr, opts RealUnboundOptions, addrs ...netip.Addr) *Unbound {
	t.Helper()
	return startUnbound(t, ns, forwardTo, opts.Extra, addrs)
}

// StartDumpcap starts Wireshark's dumpcap on ifname in the namespace,
// writing pcapng (its native format) to path, and returns once it captures.
// Stop it as a Capture.
func (ns *Netns) StartDumpcap(t testing.TB, ifname, path string) *Capture {
	t.Helper()
	dumpcap := testenv.NeedTool(t, "dumpcap", "wireshark-common")
	c := &Capture{Path: path, proc: ns.Start(t, dumpcap, "-i", ifname, "-w", path, "-s", "0")}
	c.proc.WaitFor(t, "Capturing on", captureStartWait)
	return c
}

// StartCaptureArgs is StartCapture with tcpdump arguments of the caller's
// choice instead of "-i ifname" (for example "-i any").
func (ns *Netns) StartCaptureArgs(t testing.TB, path string, args ...string) *Capture {
	t.Helper()
	tcpdump := testenv.NeedTool(t, "tcpdump", "tcpdump")
	all := append([]string{"-w", path, "-s", "0", "-n", "-Z", "root", "-U", "--immediate-mode"}, args...)
	c := &Capture{Path: path, proc: ns.Start(t, tcpdump, all...)}
	c.proc.WaitFor(t, "listening on", captureStartWait)
	return c
}
