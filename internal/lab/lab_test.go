package lab

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// TestLab brings a lab up, queries named over v4 and v6, UDP and TCP, and
// checks that tcpdump and BIND's dnstap both recorded something.
func TestLab(t *testing.T) {
	l := New(t)
	named := l.StartNamed(t)
	pcap := filepath.Join(t.TempDir(), "lab.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "port 53 or (ip[6:2] & 0x1fff != 0) or ip6[6] = 44")
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"v4 A", []string{"@" + ServerV4.String(), "www." + ZoneAuth, "A"}, "192.0.2.80"},
		{"v6 AAAA", []string{"@" + ServerV6.String(), "www." + ZoneAuth, "AAAA"}, "fd00:53::80"},
		{"nxdomain", []string{"@" + ServerV4.String(), "nope." + ZoneAuth}, "status: NXDOMAIN"},
		{"refused", []string{"@" + ServerV4.String(), RefusedName}, "status: REFUSED"},
		{"tcp", []string{"@" + ServerV4.String(), "+tcp", "txt." + ZoneAuth, "TXT"}, "hello from the lab"},
		{"frag v4", []string{"@" + ServerV4.String(), "+bufsize=4096", NameBigTXT, "TXT"}, "MSG SIZE  rcvd: 3"},
		{"tc retry", []string{"@" + ServerV4.String(), "+noedns", NameMSSTXT, "TXT"}, "Truncated, retrying in TCP mode"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := l.Client.Dig(t, tc.args...)
			if !strings.Contains(out, tc.want) {
				t.Errorf("dig %v: want %q in:\n%s", tc.args, tc.want, out)
			}
		})
	}
	out := l.Client.NSUpdate(t, "server "+ServerV4.String()+"\nzone "+ZoneUpdate+"\nupdate add x."+ZoneUpdate+" 300 A 192.0.2.99\nsend\n")
	t.Logf("nsupdate: %s", out)
	if got := l.Client.Dig(t, "@"+ServerV4.String(), "x."+ZoneUpdate, "A"); !strings.Contains(got, "192.0.2.99") {
		t.Errorf("update not applied:\n%s", got)
	}
	c.Stop(t)
	named.Stop(t)
	t.Logf("tcpdump: %s", c.Stderr())
	for _, p := range []string{pcap, named.DnstapPath} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %d bytes", p, fi.Size())
	}
}

// TestSPAN builds the switched lab with BIND and Unbound, queries both
// from the client, and checks that the mirror port saw every DNS packet
// exactly once and both servers wrote dnstap.
func TestSPAN(t *testing.T) {
	s := NewSPAN(t)
	named := StartNamed(t, s.Auth, ServerV4, ServerV6)
	ub := StartUnbound(t, s.Resolver, []netip.Addr{ServerV4}, ResolverV4, ResolverV6)
	pcap := filepath.Join(t.TempDir(), "span.pcap")
	c := s.Monitor.StartCapture(t, s.SpanIf, pcap, "")
	digs := [][]string{
		{"@" + ServerV4.String(), "www." + ZoneAuth, "A"},
		{"@" + ServerV6.String(), "www." + ZoneAuth, "AAAA"},
		{"@" + ResolverV4.String(), NameLocal, "A"},
		{"@" + ResolverV6.String(), "www." + ZoneAuth, "A"},
		{"@" + ResolverV4.String(), "+tcp", "txt." + ZoneAuth, "TXT"},
	}
	for _, d := range digs {
		s.Client.Dig(t, d...)
	}
	c.Stop(t)
	ub.Stop(t)
	named.Stop(t)
	for _, f := range []struct {
		path string
		want int
	}{{named.DnstapPath, 8}, {ub.DnstapPath, 10}} {
		out, err := exec.Command("dnstap-read", f.path).CombinedOutput()
		if err != nil {
			t.Fatalf("dnstap-read %s: %v\n%s", f.path, err, out)
		}
		if n := strings.Count(string(out), "\n"); n != f.want {
			t.Errorf("%s: %d messages, want %d:\n%s", f.path, n, f.want, out)
		}
	}
	// Every frame enters the bridge once, so the mirror holds no frame twice.
	dns := 0
	mirroredDNSFrames(t, pcap, func([]byte) { dns++ })
	// 5 client queries and answers, and 2 forwarded queries and answers.
	if dns != 14 {
		t.Errorf("mirror holds %d frames with DNS names, want 14", dns)
	}
}

// mirroredDNSFrames reads a mirror port's capture, fails the test on any
// frame seen twice (a mirror must copy each frame once), and calls fn for
// every frame that carries one of the lab's DNS names.
func mirroredDNSFrames(t *testing.T, pcap string, fn func(data []byte)) {
	t.Helper()
	f, err := os.Open(pcap)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for {
		data, _, err := r.ReadPacketData()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if seen[string(data)] {
			t.Errorf("frame mirrored twice: % x", data)
		}
		seen[string(data)] = true
		if bytes.Contains(data, []byte("\x03lab\x07example\x00")) || bytes.Contains(data, []byte("\x05local\x07example\x00")) {
			fn(data)
		}
	}
}
