package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
)

// step is one client action in a lab: a dig, or an nsupdate script.
type step struct {
	dig    []string // dig arguments, server first
	update string   // nsupdate script, when dig is nil
	want   string   // must appear in the client's output
}

// scenario is the traffic of one lab capture.
type scenario struct {
	name  string // capture is testdata/pcaps/lab_bind_<name>.pcap
	steps []step
}

var (
	at4 = "@" + lab.ServerV4.String()
	at6 = "@" + lab.ServerV6.String()
	www = "www." + lab.ZoneAuth
)

func updateScript(server, name, addr string) string {
	return "server " + server + "\nzone " + lab.ZoneUpdate + "\nupdate add " + name + "." + lab.ZoneUpdate +
		" 300 A " + addr + "\nsend\n"
}

// scenarios are the lab captures of issues #2 and #3. The same steps run
// live in TestGroundTruthUDP and made the committed captures.
var scenarios = []scenario{
	{name: "udp", steps: []step{
		{dig: []string{at4, www, "A"}, want: "192.0.2.80"},
		{dig: []string{at6, www, "AAAA"}, want: "fd00:53::80"},
		{dig: []string{at4, lab.ZoneAuth, "MX"}, want: "10 mail." + lab.ZoneAuth},
		{dig: []string{at6, "txt." + lab.ZoneAuth, "TXT"}, want: "hello from the lab"},
		{dig: []string{at4, "+norecurse", www, "A"}, want: "192.0.2.80"},
		{dig: []string{at6, "+norecurse", lab.ZoneAuth, "SOA"}, want: "hostmaster"},
		{dig: []string{at4, "nope." + lab.ZoneAuth, "A"}, want: "status: NXDOMAIN"},
		{dig: []string{at6, "nope." + lab.ZoneAuth, "AAAA"}, want: "status: NXDOMAIN"},
		{dig: []string{at4, lab.RefusedName, "A"}, want: "status: REFUSED"},
		{dig: []string{at6, lab.RefusedName, "AAAA"}, want: "status: REFUSED"},
		{update: updateScript(lab.ServerV4.String(), "v4", "192.0.2.41")},
		{update: updateScript(lab.ServerV6.String(), "v6", "192.0.2.61")},
		{dig: []string{at4, "v4." + lab.ZoneUpdate, "A"}, want: "192.0.2.41"},
	}},
	{name: "tcp", steps: []step{
		{dig: []string{at4, "+tcp", www, "A"}, want: "192.0.2.80"},
		{dig: []string{at6, "+tcp", www, "AAAA"}, want: "fd00:53::80"},
		// Several queries on one connection (RFC 7766 §6.2.1).
		{dig: []string{at4, "+tcp", "+keepopen", www, "A", lab.ZoneAuth, "MX", "txt." + lab.ZoneAuth, "TXT"}, want: "hello from the lab"},
		{dig: []string{at6, "+tcp", "+keepopen", www, "AAAA", "nope." + lab.ZoneAuth, "A"}, want: "status: NXDOMAIN"},
		// An answer longer than the TCP MSS spans several segments.
		{dig: []string{at4, "+tcp", lab.NameBigTXT, "TXT"}, want: "big-0000-lab-padding"},
		{dig: []string{at6, "+tcp", lab.NameMSSTXT, "TXT"}, want: "mss-0000-lab-padding"},
		// Without EDNS the answer exceeds 512 bytes: TC=1, then dig retries over TCP.
		{dig: []string{at4, "+noedns", lab.NameMSSTXT, "TXT"}, want: "Truncated, retrying in TCP mode"},
		{dig: []string{at6, "+noedns", lab.NameMSSTXT, "TXT"}, want: "Truncated, retrying in TCP mode"},
	}},
	{name: "frag", steps: []step{
		// 3-4 KB EDNS answers through max-udp-size 4096: IP fragments.
		{dig: []string{at4, "+bufsize=4096", lab.NameBigTXT, "TXT"}, want: "big-0000-lab-padding"},
		{dig: []string{at6, "+bufsize=4096", lab.NameBigTXT, "TXT"}, want: "big-0000-lab-padding"},
		{dig: []string{at4, "+bufsize=4096", lab.NameMSSTXT, "TXT"}, want: "mss-0000-lab-padding"},
		{dig: []string{at6, "+bufsize=4096", lab.NameMSSTXT, "TXT"}, want: "mss-0000-lab-padding"},
		{dig: []string{at4, www, "A"}, want: "192.0.2.80"},
	}},
}

func scenarioByName(t testing.TB, name string) scenario {
	t.Helper()
	for _, s := range scenarios {
		if s.name == name {
			return s
		}
	}
	t.Fatalf("no scenario %q", name)
	return scenario{}
}

// commands returns the client commands of a scenario as shell lines, for
// the captures' README rows.
func (s scenario) commands() []string {
	var out []string
	for _, st := range s.steps {
		if st.dig != nil {
			out = append(out, "dig +tries=1 +time=3 "+strings.Join(st.dig, " "))
		} else {
			out = append(out, "nsupdate -t 3 <<< '"+strings.ReplaceAll(strings.TrimSpace(st.update), "\n", "; ")+"'")
		}
	}
	return out
}

// labRun is the result of running a scenario in a fresh lab.
type labRun struct {
	pcap, bindDnstap string
}

// runScenario builds a lab, starts named and tcpdump on the server's veth,
// runs the scenario's steps from the client namespace, and stops tcpdump
// and named so that both files are complete. Files go to dir.
func runScenario(t *testing.T, s scenario, dir string) labRun {
	t.Helper()
	l := lab.New(t)
	named := l.StartNamed(t)
	pcap := filepath.Join(dir, "lab_bind_"+s.name+".pcap")
	// No filter: ARP and neighbour discovery stay in, as on a real port.
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	for _, st := range s.steps {
		var out string
		if st.dig != nil {
			out = l.Client.Dig(t, st.dig...)
		} else {
			out = l.Client.NSUpdate(t, st.update)
		}
		if !strings.Contains(out, st.want) {
			t.Fatalf("%s: step %v: want %q in:\n%s", s.name, st.dig, st.want, out)
		}
	}
	c.Stop(t)
	named.Stop(t)
	dst := filepath.Join(dir, "lab_bind_"+s.name+".bind.dnstap")
	copyFile(t, named.DnstapPath, dst)
	return labRun{pcap: pcap, bindDnstap: dst}
}

func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
