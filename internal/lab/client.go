package lab

import (
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Dig runs dig in the namespace with the given arguments, plus one try and
// a short timeout so that a lost answer fails fast instead of retrying, and
// returns its output. The test fails if dig exits non-zero or got no
// answer at all (a DNS error status such as NXDOMAIN is an answer).
func (ns *Netns) Dig(t testing.TB, args ...string) string {
	t.Helper()
	testenv.NeedTool(t, "dig", "bind9-dnsutils")
	out := string(ns.Run(t, "dig", append([]string{"+tries=1", "+time=3"}, args...)...))
	if !strings.Contains(out, "status: ") {
		t.Fatalf("lab: dig %s: no answer:\n%s", strings.Join(args, " "), out)
	}
	return out
}

// Kdig runs Knot's kdig in the namespace, with one try, and returns its
// output. (kdig's option is +retry; dig's +tries is "invalid option" to it.)
func (ns *Netns) Kdig(t testing.TB, args ...string) string {
	t.Helper()
	testenv.NeedTool(t, "kdig", "knot-dnsutils")
	return string(ns.Run(t, "kdig", append([]string{"+retry=0", "+timeout=3"}, args...)...))
}

// NSUpdate sends the update script (nsupdate's own language, ending in
// "send") from the namespace and fails the test if the server refuses it.
func (ns *Netns) NSUpdate(t testing.TB, script string) string {
	t.Helper()
	testenv.NeedTool(t, "nsupdate", "bind9-dnsutils")
	ctxOut, err := ns.runInput("nsupdate", script, "-t", "3")
	if err != nil {
		t.Fatalf("lab: nsupdate: %v", err)
	}
	return ctxOut
}
