package lab

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
