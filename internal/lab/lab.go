package lab

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// Addresses used inside every lab. They come from the documentation ranges
// (RFC 5737) and a ULA prefix (RFC 4193), are configured only inside the
// namespaces, and no route leads out of them, so lab traffic cannot leak.
var (
	ClientV4 = netip.MustParseAddr("192.0.2.2")
	ServerV4 = netip.MustParseAddr("192.0.2.53")
	ClientV6 = netip.MustParseAddr("fd00:53::2")
	ServerV6 = netip.MustParseAddr("fd00:53::53")
)

// Fixed, locally administered MAC addresses (IEEE 802: second bit of the
// first byte set), so captures are reproducible and neighbours can be
// static.
const (
	ClientMAC = "02:00:00:00:00:02"
	ServerMAC = "02:00:00:00:00:53"
)

const (
	prefixV4 = 24
	prefixV6 = 64
	// stopWait bounds how long a stopped process may take to exit before it
	// is killed; named needs about a second to flush and close its dnstap.
	stopWait = 15 * time.Second
)

// labSeq makes names unique between several labs of one test process.
var labSeq atomic.Uint32

// Lab is a client namespace and a server namespace joined by one veth
// pair, with offloads turned off so captured frames look like wire frames.
type Lab struct {
	t testing.TB
	// Client and Server are the two namespaces.
	Client, Server *Netns
	// ClientIf and ServerIf are the two ends of the veth pair, one in each
	// namespace.
	ClientIf, ServerIf string
}

// New builds a lab and registers its teardown with t.Cleanup. It needs root,
// ip (iproute2) and ethtool.
func New(t testing.TB) *Lab {
	t.Helper()
	testenv.NeedRoot(t)
	testenv.NeedTool(t, "ip", "iproute2")
	testenv.NeedTool(t, "ethtool", "ethtool")
	id := newID(t)
	l := &Lab{
		t:        t,
		Client:   newNetns(t, id, "cli"),
		Server:   newNetns(t, id, "srv"),
		ClientIf: "vc" + id, // interface names are at most 15 bytes
		ServerIf: "vs" + id,
	}
	veth(t, l.Client, l.ClientIf, l.Server, l.ServerIf)
	l.Client.configure(t, l.ClientIf, ClientMAC, ClientV4, ClientV6)
	l.Server.configure(t, l.ServerIf, ServerMAC, ServerV4, ServerV6)
	// Static neighbours: no ARP or neighbour discovery delays the first
	// query (a lost first solicitation costs a second, which a loaded
	// machine can stretch past dig's timeout) or shows up in captures.
	l.Client.neighbours(t, l.ClientIf, ServerMAC, ServerV4, ServerV6)
	l.Server.neighbours(t, l.ServerIf, ClientMAC, ClientV4, ClientV6)
	return l
}

// newID returns a name part unique on this machine: the test process's pid
// and a per-process sequence letter. It also sweeps namespaces of dead
// test processes.
func newID(t testing.TB) string {
	t.Helper()
	sweepStale(t)
	n := labSeq.Add(1)
	return fmt.Sprintf("%d%c", os.Getpid(), 'a'+rune(n%26))
}

// newNetns creates a namespace with its loopback up and registers its
// deletion (which also deletes the veths inside it).
func newNetns(t testing.TB, id, role string) *Netns {
	t.Helper()
	ns := &Netns{t: t, Name: netnsPrefix + id + "-" + role}
	mustRun(t, "ip", "netns", "add", ns.Name)
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", ns.Name).CombinedOutput(); err != nil {
			t.Errorf("lab: delete namespace %s: %v: %s", ns.Name, err, out)
		}
	})
	ns.Run(t, "ip", "link", "set", "lo", "up")
	return ns
}

// veth creates a veth pair with one end in each namespace.
func veth(t testing.TB, a *Netns, aName string, b *Netns, bName string) {
	t.Helper()
	mustRun(t, "ip", "link", "add", aName, "netns", a.Name, "type", "veth", "peer", "name", bName, "netns", b.Name)
}

// offloadsOff turns off the offloads that make captured frames differ from
// wire frames.
func (ns *Netns) offloadsOff(t testing.TB, ifname string) {
	t.Helper()
	// Checksum and segmentation offloads make captured (and tc-mirrored)
	// frames carry partial checksums and exceed the MTU; a sensor on a real
	// SPAN port never sees those, so the lab must not produce them either.
	ns.Run(t, "ethtool", "-K", ifname, "rx", "off", "tx", "off", "sg", "off",
		"tso", "off", "gso", "off", "gro", "off")
}

// configure addresses one veth end, turns its offloads off and brings it up.
func (ns *Netns) configure(t testing.TB, ifname, mac string, v4, v6 netip.Addr) {
	t.Helper()
	ns.Run(t, "ip", "link", "set", ifname, "address", mac)
	ns.offloadsOff(t, ifname)
	ns.Run(t, "ip", "addr", "add", netip.PrefixFrom(v4, prefixV4).String(), "dev", ifname)
	// nodad: the address must be usable at once, or named fails to bind it.
	ns.Run(t, "ip", "-6", "addr", "add", netip.PrefixFrom(v6, prefixV6).String(), "dev", ifname, "nodad")
	ns.Run(t, "ip", "link", "set", ifname, "up")
}

// neighbours adds permanent neighbour entries for the peer's addresses.
func (ns *Netns) neighbours(t testing.TB, ifname, mac string, addrs ...netip.Addr) {
	t.Helper()
	for _, a := range addrs {
		ns.Run(t, "ip", "neigh", "replace", a.String(), "lladdr", mac, "dev", ifname, "nud", "permanent")
	}
}

// Netns is one network namespace of a lab.
type Netns struct {
	t testing.TB
	// Name is the namespace's name, as `ip netns` knows it.
	Name string
}

// Command returns a command that runs name inside the namespace.
func (ns *Netns) Command(ctx context.Context, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns.Name, name}, args...)...)
}

// Run runs a command in the namespace to completion and returns its
// standard output; the test fails if it exits non-zero or takes longer
// than a minute.
func (ns *Netns) Run(t testing.TB, name string, args ...string) []byte {
	t.Helper()
	out, err := ns.Output(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Output runs a command in the namespace and returns its standard output,
// and an error that holds its standard error when it fails.
func (ns *Netns) Output(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("lab: %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, stderr.Bytes())
	}
	return out, nil
}

func mustRun(t testing.TB, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("lab: %s %s: %v: %s", name, strings.Join(args, " "), err, out)
	}
}

// Process is a background command started in a namespace. It is killed by
// t.Cleanup if the test has not stopped it.
type Process struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error // valid once done is closed

	mu     sync.Mutex
	stderr bytes.Buffer
	lines  chan string // stderr lines, for WaitFor; dropped when nobody reads
}

// Start starts a command in the namespace in the background. Its standard
// error is kept (see Stderr) and can be waited on line by line (WaitFor).
func (ns *Netns) Start(t testing.TB, name string, args ...string) *Process {
	t.Helper()
	p := &Process{name: name, done: make(chan struct{}), lines: make(chan string, 256)}
	p.cmd = ns.Command(context.Background(), name, args...)
	p.cmd.Stdout = io.Discard
	pr, pw := io.Pipe()
	p.cmd.Stderr = pw
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("lab: %s: start %s: %v", ns.Name, name, err)
	}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.Write(sc.Bytes())
			p.stderr.WriteByte('\n')
			p.mu.Unlock()
			select {
			case p.lines <- sc.Text():
			default:
			}
		}
		_, _ = io.Copy(io.Discard, pr)
	}()
	go func() {
		p.err = p.cmd.Wait()
		pw.Close()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// WaitFor waits until a line of the process's standard error contains
// substr. It fails the test when the process exits first or after timeout.
func (p *Process) WaitFor(t testing.TB, substr string, timeout time.Duration) {
	t.Helper()
	p.waitLine(t, substr, func(line string) bool { return strings.Contains(line, substr) }, timeout)
}

// WaitForSuffix is WaitFor for a line that ends with suffix.
func (p *Process) WaitForSuffix(t testing.TB, suffix string, timeout time.Duration) {
	t.Helper()
	p.waitLine(t, suffix, func(line string) bool { return strings.HasSuffix(line, suffix) }, timeout)
}

func (p *Process) waitLine(t testing.TB, substr string, match func(string) bool, timeout time.Duration) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		select {
		case line := <-p.lines:
			if match(line) {
				return
			}
		case <-p.done:
			// Lines written just before exit may still be queued.
			for {
				select {
				case line := <-p.lines:
					if match(line) {
						return
					}
				default:
					t.Fatalf("lab: %s exited (%v) before printing %q; stderr:\n%s", p.name, p.err, substr, p.Stderr())
				}
			}
		case <-deadline.C:
			t.Fatalf("lab: %s did not print %q within %v; stderr:\n%s", p.name, substr, timeout, p.Stderr())
		}
	}
}

// Stderr returns what the process has written to standard error so far.
func (p *Process) Stderr() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// Stop sends sig and waits for the process to exit, killing it after a
// grace period. It returns the process's exit error, if any.
func (p *Process) Stop(sig syscall.Signal) error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopWait):
		_ = p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("lab: %s did not exit within %v of %v; killed", p.name, stopWait, sig)
	}
}

// Pid is the process's id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// runInput runs a command in the namespace with stdin and returns its
// combined output.
func (ns *Netns) runInput(name, stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := ns.Command(ctx, name, args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("lab: %s: %s %s: %w: %s", ns.Name, name, strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// netnsPrefix starts every namespace name a lab creates.
const netnsPrefix = "sensorlab-"

// sweepStale deletes lab namespaces left behind by test processes that no
// longer exist (a test binary killed by -timeout never runs its cleanups).
// Namespaces of live processes, other test binaries' included, stay.
func sweepStale(t testing.TB) {
	t.Helper()
	entries, err := os.ReadDir("/run/netns")
	if err != nil {
		return // no namespaces at all yet
	}
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), netnsPrefix)
		if !ok {
			continue
		}
		digits := rest[:len(rest)-len(strings.TrimLeft(rest, "0123456789"))]
		pid, err := strconv.Atoi(digits)
		if err != nil || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			if out, err := exec.Command("ip", "netns", "del", e.Name()).CombinedOutput(); err != nil {
				t.Logf("lab: delete stale namespace %s: %v: %s", e.Name(), err, out)
			}
		}
	}
}
