package lab

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Capture is a tcpdump writing a pcap file inside a namespace.
type Capture struct {
	proc *Process
	// Path is the pcap file; complete only after Stop.
	Path string
}

const (
	captureStartWait = 20 * time.Second
	// captureSettle lets frames already in the capture ring reach tcpdump
	// before SIGINT: tcpdump leaves its loop at once on the signal, and
	// nothing tells from outside which frames it has read.
	captureSettle = 300 * time.Millisecond
)

// StartCapture starts tcpdump on ifname in the namespace, writing every
// full-length frame that matches filter (empty: all) to path. It returns
// once tcpdump says it is listening, which it prints after the capture
// socket and its filter are in place.
func (ns *Netns) StartCapture(t testing.TB, ifname, path, filter string) *Capture {
	t.Helper()
	tcpdump := testenv.NeedTool(t, "tcpdump", "tcpdump")
	// -Z root: Debian's tcpdump otherwise drops to the tcpdump user, which
	// cannot write into a test's 0700 temporary directory.
	// -U --immediate-mode: each frame is written as it arrives, so a short
	// capture is never left sitting in a buffer.
	args := []string{"-i", ifname, "-w", path, "-s", "0", "-n", "-Z", "root", "-U", "--immediate-mode"}
	if filter != "" {
		args = append(args, filter)
	}
	c := &Capture{Path: path, proc: ns.Start(t, tcpdump, args...)}
	c.proc.WaitFor(t, "listening on", captureStartWait)
	return c
}

// Stop stops tcpdump with SIGINT, its clean exit, and waits for it. It
// fails the test if tcpdump wrote nothing. Frames tcpdump lost are in its
// closing counts (Stderr: "N packets dropped by kernel"); with offloads on,
// 18 KB super-segments make it drop some, which tests that use such
// captures allow for.
func (c *Capture) Stop(t testing.TB) {
	t.Helper()
	time.Sleep(captureSettle)
	if err := c.proc.Stop(syscall.SIGINT); err != nil {
		t.Fatalf("lab: tcpdump: %v; stderr:\n%s", err, c.proc.Stderr())
	}
	if fi, err := os.Stat(c.Path); err != nil || fi.Size() <= 24 {
		t.Fatalf("lab: tcpdump captured nothing in %s (%v); stderr:\n%s", c.Path, err, c.proc.Stderr())
	}
}

// Stderr returns tcpdump's messages, including its closing counts.
func (c *Capture) Stderr() string { return c.proc.Stderr() }
