package lab

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// realWorldEnv guards TestRealWorldCaptures: it rewrites committed files.
const realWorldEnv = "SENSOR_LAB_REGEN"

// realWorldOut, when set, is where TestRealWorldCaptures writes instead of
// testdata/pcaps (to look at captures before committing them).
const realWorldOut = "SENSOR_REALWORLD_OUT"

// TestRealWorldCaptures makes testdata/pcaps/lab_realworld_* with real
// BIND (primary and secondary), Unbound, dig, kdig, nsupdate and dnsperf:
//
//	SENSOR_LAB_REGEN=1 go test -count=1 ./internal/lab -run TestRealWorldCaptures -v
//
// Each capture comes with the dnstap of every server in it.
func TestRealWorldCaptures(t *testing.T) {
	if os.Getenv(realWorldEnv) != "1" {
		t.Skip(realWorldEnv + "=1 not set: the committed captures stay as they are")
	}
	testenv.NeedRoot(t)
	dst := os.Getenv(realWorldOut)
	if dst == "" {
		dst = filepath.Join(testenv.RepoRoot(), "testdata", "pcaps")
	}
	for _, sc := range []struct {
		name string
		run  func(t *testing.T, dir string) map[string]string
	}{
		{"xfr", realXFR},
		{"dnssec", realDNSSEC},
		{"unbound", realUnbound},
		{"dnsperf", realDNSPerf},
		{"big", realBig},
		{"fragq", realFragQuery},
		{"offload", realOffload},
		{"tfo", realTFO},
		{"unbound_udp", realUnboundUDP},
		{"cookie", realCookie},
	} {
		t.Run(sc.name, func(t *testing.T) {
			for src, name := range sc.run(t, t.TempDir()) {
				copyTo(t, src, filepath.Join(dst, name))
			}
		})
	}
}

func copyTo(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("%s: %d bytes", dst, len(b))
}

func want(t *testing.T, out, substr string) {
	t.Helper()
	if !strings.Contains(out, substr) {
		t.Fatalf("want %q in:\n%s", substr, out)
	}
}

// waitSigned waits until BIND has signed ZoneSigned (RRSIG over DNSKEY),
// before any capture starts.
func waitSigned(t *testing.T, ns *Netns) {
	t.Helper()
	for deadline := time.Now().Add(60 * time.Second); ; {
		out, _ := ns.Output("dig", "+tries=1", "+time=2", "+dnssec", "@"+ServerV4.String(), ZoneSigned, "DNSKEY")
		if strings.Contains(string(out), "RRSIG\tDNSKEY 8") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not signed after a minute:\n%s", ZoneSigned, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// realXFR: a secondary in the client namespace loads ZoneXFR by AXFR, the
// primary is updated and NOTIFYs, the secondary asks SOA and IXFR; dig
// makes its own AXFR, IXFR and NOTIFY, and queries names in mixed case.
func realXFR(t *testing.T, dir string) map[string]string {
	l := New(t)
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	primary := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-primary", Primary: true, Secondary: ClientV4})
	secondary := StartRealNamed(t, l.Client, ClientV4, ClientV6, RealNamedOptions{Identity: "lab-secondary", PrimaryAddr: ServerV4})
	secondary.WaitLog(t, "transferred serial 1", time.Minute)
	at4, at6 := "@"+ServerV4.String(), "@"+ServerV6.String()
	want(t, string(l.Client.Run(t, "dig", "+tries=1", "+time=3", at6, ZoneXFR, "AXFR")), "XFR size: ")
	var up strings.Builder
	fmt.Fprintf(&up, "server %s\nzone %s\n", ServerV4, ZoneXFR)
	for i := range 150 {
		fmt.Fprintf(&up, "update add NeW-%03d.%s 300 A 203.0.113.%d\n", i, ZoneXFR, i)
	}
	up.WriteString("update delete HoSt-0001.WeB." + ZoneXFR + " A\nsend\n")
	l.Client.NSUpdate(t, up.String())
	secondary.WaitLog(t, "transferred serial 2", time.Minute)
	want(t, string(l.Client.Run(t, "dig", "+tries=1", "+time=3", at4, "IXFR=1", ZoneXFR)), "XFR size: ")
	want(t, l.Client.Dig(t, at4, "+opcode=notify", "+norecurse", ZoneXFR, "SOA"), "opcode: NOTIFY")
	want(t, l.Client.Dig(t, at4, "hOsT-0042.WeB."+strings.ToUpper(ZoneXFR), "TXT"), "record 42 of")
	want(t, l.Client.Dig(t, at6, "+dnssec", "WwW.xFr.ExAmPlE", "A"), "MiXeD")
	c.Stop(t)
	secondary.Stop(t)
	primary.Stop(t)
	return map[string]string{
		pcap:                 "lab_realworld_xfr.pcap",
		primary.DnstapPath:   "lab_realworld_xfr.primary.dnstap",
		secondary.DnstapPath: "lab_realworld_xfr.secondary.dnstap",
	}
}

// realDNSSEC: large signed answers over UDP (IPv4 and IPv6 fragments) and
// TCP, TC=1 and the TCP retry, EDNS cookies, many queries on one kdig
// connection, captured by dumpcap as pcapng.
func realDNSSEC(t *testing.T, dir string) map[string]string {
	l := New(t)
	// Capture from the start: waitSigned's probes are in BIND's dnstap.
	pcap := filepath.Join(dir, "x.pcapng")
	c := l.Server.StartDumpcap(t, l.ServerIf, pcap)
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true})
	waitSigned(t, l.Client)
	at4, at6 := "@"+ServerV4.String(), "@"+ServerV6.String()
	for _, at := range []string{at4, at6} {
		want(t, l.Client.Dig(t, at, "+dnssec", "+bufsize=4096", NameSignedBig, "TXT"), "RRSIG")
		want(t, l.Client.Dig(t, at, "+dnssec", "+bufsize=4096", ZoneSigned, "DNSKEY"), "RRSIG")
		want(t, l.Client.Dig(t, at, "+dnssec", "+tcp", ZoneSigned, "DNSKEY"), "RRSIG")
		// TC=1 on a 1232-byte EDNS buffer, then dig's own TCP retry.
		want(t, l.Client.Dig(t, at, "+dnssec", "+bufsize=1232", NameSignedBig, "TXT"), "Truncated, retrying in TCP mode")
		// dig sends a client cookie by default; the second query echoes
		// the server cookie of the first.
		out := l.Client.Dig(t, at, "+cookie", "WwW.SeC.eXaMpLe", "A")
		want(t, out, "COOKIE: ")
		ck := cookieOf(out)
		want(t, l.Client.Dig(t, at, "+cookie="+ck, "+dnssec", "mx."+ZoneSigned, "MX"), "RRSIG")
	}
	args := []string{"+tcp", "+keepopen", at4}
	for i := range 8 {
		args = append(args, fmt.Sprintf("mail%d.%s", i, ZoneSigned), "A", "+dnssec", "mx."+ZoneSigned, "MX")
	}
	want(t, l.Client.Kdig(t, args...), "mail7."+ZoneSigned)
	want(t, l.Client.Kdig(t, "+tcp", "+keepopen", at6, "+dnssec", ZoneSigned, "DNSKEY", ZoneSigned, "SOA", "nx."+ZoneSigned, "A"), "NXDOMAIN")
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_dnssec.pcapng", named.DnstapPath: "lab_realworld_dnssec.bind.dnstap"}
}

func cookieOf(dig string) string {
	_, rest, _ := strings.Cut(dig, "; COOKIE: ")
	ck, _, _ := strings.Cut(rest, " ")
	return strings.TrimSpace(ck)
}

// realUnbound: Unbound in the client namespace (RealResolverV4/V6) with
// tcp-upstream and 0x20 (use-caps-for-id) forwards to BIND; dig asks
// Unbound from the server namespace, so both legs cross the veth. tcpdump
// takes it on "any" (SLL2), and the capture is gzipped.
func realUnbound(t *testing.T, dir string) map[string]string {
	l := New(t)
	l.AddResolverAddrs(t)
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCaptureArgs(t, pcap, "-i", "any")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true})
	waitSigned(t, l.Client)
	ub := StartRealUnbound(t, l.Client, []netip.Addr{ServerV4, ServerV6},
		RealUnboundOptions{Extra: []string{"tcp-upstream: yes", "use-caps-for-id: yes", "edns-buffer-size: 1232",
			"outgoing-interface: " + RealResolverV4.String(), "outgoing-interface: " + RealResolverV6.String()}},
		RealResolverV4, RealResolverV6)
	for i, at := range []string{"@" + RealResolverV4.String(), "@" + RealResolverV6.String()} {
		want(t, l.Server.Dig(t, at, fmt.Sprintf("host-%04d.web.%s", 10+i, ZoneXFR), "A"), "198.51.")
		want(t, l.Server.Dig(t, at, "+dnssec", fmt.Sprintf("mx.%s", ZoneSigned), "MX"), "RRSIG")
		want(t, l.Server.Dig(t, at, "+dnssec", "+tcp", NameSignedBig, "TXT"), "RRSIG")
		want(t, l.Server.Dig(t, at, "www."+ZoneXFR, "A"), "192.0.2.20")
		want(t, l.Server.Dig(t, at, fmt.Sprintf("nx%d.%s", i, ZoneSigned), "A"), "NXDOMAIN")
	}
	c.Stop(t)
	ub.Stop(t)
	named.Stop(t)
	gz := pcap + ".gz"
	gzipFile(t, pcap, gz)
	return map[string]string{gz: "lab_realworld_unbound_sll2.pcap.gz", named.DnstapPath: "lab_realworld_unbound_sll2.bind.dnstap", ub.DnstapPath: "lab_realworld_unbound_sll2.unbound.dnstap"}
}

// realDNSPerf: dnsperf over TCP at a bounded rate, several connections.
func realDNSPerf(t *testing.T, dir string) map[string]string {
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	l := New(t)
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true})
	var q strings.Builder
	for i := range 40 {
		fmt.Fprintf(&q, "HOST-%04d.web.%s A\nhost-%04d.WEB.%s TXT\n", i*7, ZoneXFR, i*11, ZoneXFR)
	}
	q.WriteString("www." + ZoneSigned + " AAAA\nnx." + ZoneXFR + " A\n")
	qf := filepath.Join(dir, "queries")
	if err := os.WriteFile(qf, []byte(q.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	out := l.Client.Run(t, dnsperf, "-s", ServerV4.String(), "-m", "tcp", "-c", "3", "-q", "20", "-Q", "150", "-l", "2", "-d", qf)
	t.Logf("dnsperf:\n%s", out)
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_dnsperf_tcp.pcap", named.DnstapPath: "lab_realworld_dnsperf_tcp.bind.dnstap"}
}

func gzipFile(t *testing.T, src, dst string) {
	t.Helper()
	in, err := os.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(out)
	if _, err := io.Copy(zw, in); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// realBig: DNS messages near the 65535-byte limit of DNS over TCP: a
// 63 KB TXT RRset over IPv4 and IPv6, and an AXFR with
// transfer-message-size 65535 (BIND's largest).
func realBig(t *testing.T, dir string) map[string]string {
	l := New(t)
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true, TransferMessageSize: 65535})
	at4, at6 := "@"+ServerV4.String(), "@"+ServerV6.String()
	want(t, l.Client.Dig(t, at4, "+tcp", NameFat, "TXT"), "059-xxx")
	want(t, l.Client.Dig(t, at6, "+tcp", NameFat, "TXT"), "059-xxx")
	// Over UDP the answer is truncated (TC=1) and dig retries over TCP.
	want(t, l.Client.Dig(t, at4, "+bufsize=4096", NameFat, "TXT"), "Truncated, retrying in TCP mode")
	want(t, string(l.Client.Run(t, "dig", "+tries=1", "+time=3", at6, ZoneXFR, "AXFR")), "XFR size: 2007 records (messages 2,")
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_big.pcap", named.DnstapPath: "lab_realworld_big.bind.dnstap"}
}

// realFragQuery: queries large enough to be IP-fragmented, IPv4 and IPv6
// (Fragment header): DNS UPDATEs of a 3000-byte TXT record over UDP, and
// kdig queries EDNS-padded to 2000 bytes (RFC 7830).
func realFragQuery(t *testing.T, dir string) map[string]string {
	l := New(t)
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true})
	for _, srv := range []netip.Addr{ServerV4, ServerV6} {
		var up strings.Builder
		fmt.Fprintf(&up, "server %s\nzone %s\nupdate add fragq-%s.%s 300 TXT %s\nsend\n", srv, ZoneXFR,
			strings.NewReplacer(".", "-", ":", "-").Replace(srv.String()), ZoneXFR, txtStrings("fq", 3000))
		l.Client.NSUpdate(t, up.String())
		at := "@" + srv.String()
		want(t, l.Client.Kdig(t, at, "+padding=2000", "+bufsize=4096", "www."+ZoneSigned, "A"), "192.0.2.80")
	}
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_fragq.pcap", named.DnstapPath: "lab_realworld_fragq.bind.dnstap"}
}

// realOffload: the same kinds of traffic as realXFR and realBig, captured
// with the veths' offloads left on, as on an ordinary host where tcpdump
// runs beside the server: TSO/GSO super-segments far above the MTU going
// out, GRO-merged segments coming in, partial checksums.
func realOffload(t *testing.T, dir string) map[string]string {
	l := New(t)
	for _, side := range []struct {
		ns *Netns
		If string
	}{{l.Server, l.ServerIf}, {l.Client, l.ClientIf}} {
		side.ns.Run(t, "ethtool", "-K", side.If, "rx", "on", "tx", "on", "sg", "on", "tso", "on", "gso", "on", "gro", "on")
	}
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true, TransferMessageSize: 16384})
	at4, at6 := "@"+ServerV4.String(), "@"+ServerV6.String()
	for _, at := range []string{at4, at6} {
		want(t, l.Client.Dig(t, at, "+tcp", NameFat, "TXT"), "059-xxx")
		want(t, string(l.Client.Run(t, "dig", "+tries=1", "+time=3", at, ZoneXFR, "AXFR")), "XFR size: 2007 records")
		want(t, l.Client.Dig(t, at, "+dnssec", "+bufsize=4096", NameSignedBig, "TXT"), "RRSIG")
	}
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_offload.pcap", named.DnstapPath: "lab_realworld_offload.bind.dnstap"}
}

// realTFO: DNS over TCP Fast Open (RFC 7413) between kdig and BIND, the
// query in the SYN, on IPv4 and IPv6. BIND 9.18 does not ask for TFO on
// its sockets, so both namespaces turn it on for every socket, cookies
// not required (net.ipv4.tcp_fastopen 0x607: client, server, server
// without the socket option, no cookie on either side).
func realTFO(t *testing.T, dir string) map[string]string {
	l := New(t)
	for _, ns := range []*Netns{l.Server, l.Client} {
		ns.Run(t, "sysctl", "-q", "-w", "net.ipv4.tcp_fastopen=0x607")
	}
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true})
	for _, at := range []string{"@" + ServerV4.String(), "@" + ServerV6.String()} {
		for i := range 3 {
			want(t, l.Client.Kdig(t, at, "+tcp", "+fastopen", fmt.Sprintf("HoSt-%04d.WeB.%s", i, ZoneXFR), "A"), "198.51.")
		}
	}
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_tfo.pcap", named.DnstapPath: "lab_realworld_tfo.bind.dnstap"}
}

// realUnboundUDP: Unbound asking BIND over UDP with a 4096-byte EDNS
// buffer: fragmented signed answers on the upstream leg (IPv4 and IPv6),
// and a 60 KB answer that BIND truncates (TC=1) so that Unbound retries
// it over TCP itself.
func realUnboundUDP(t *testing.T, dir string) map[string]string {
	l := New(t)
	l.AddResolverAddrs(t)
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true})
	waitSigned(t, l.Client)
	ub := StartRealUnbound(t, l.Client, []netip.Addr{ServerV4, ServerV6},
		RealUnboundOptions{Extra: []string{"edns-buffer-size: 4096", "max-udp-size: 4096",
			"outgoing-interface: " + RealResolverV4.String(), "outgoing-interface: " + RealResolverV6.String()}},
		RealResolverV4, RealResolverV6)
	for _, at := range []string{"@" + RealResolverV4.String(), "@" + RealResolverV6.String()} {
		want(t, l.Server.Dig(t, at, "+dnssec", "+bufsize=4096", NameSignedBig, "TXT"), "RRSIG")
		want(t, l.Server.Dig(t, at, "+tcp", NameFat, "TXT"), "059-xxx")
		want(t, l.Server.Dig(t, at, "+dnssec", ZoneSigned, "DNSKEY"), "RRSIG")
	}
	c.Stop(t)
	ub.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_unbound_udp.pcap", named.DnstapPath: "lab_realworld_unbound_udp.bind.dnstap", ub.DnstapPath: "lab_realworld_unbound_udp.unbound.dnstap"}
}

// realCookie: BIND with require-server-cookie: a query with only a client
// cookie gets BADCOOKIE (extended RCODE 23, RFC 7873 §5.2.3) and dig
// retries with the server cookie; kdig sends cookies too.
func realCookie(t *testing.T, dir string) map[string]string {
	l := New(t)
	pcap := filepath.Join(dir, "x.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	named := StartRealNamed(t, l.Server, ServerV4, ServerV6, RealNamedOptions{Identity: "lab-bind", Primary: true,
		Extra: "require-server-cookie yes; answer-cookie yes;"})
	for _, at := range []string{"@" + ServerV4.String(), "@" + ServerV6.String()} {
		want(t, l.Client.Dig(t, at, "+cookie", "www."+ZoneSigned, "A"), "192.0.2.80")
		want(t, l.Client.Dig(t, at, "+cookie", "+badcookie", "mx."+ZoneSigned, "MX"), "mail0")
		want(t, l.Client.Kdig(t, at, "+cookie", "www."+ZoneSigned, "AAAA"), "fd00:53::80")
	}
	c.Stop(t)
	named.Stop(t)
	return map[string]string{pcap: "lab_realworld_cookie.pcap", named.DnstapPath: "lab_realworld_cookie.bind.dnstap"}
}
