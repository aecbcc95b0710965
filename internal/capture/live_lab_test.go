//go:build linux

package capture

import (
	"encoding/binary"
	"net"
	"net/netip"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netns"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// How the live tests reach into the lab namespaces: an AF_PACKET or UDP
// socket belongs to the namespace of the thread that created it, and keeps
// it whichever thread uses it later. So sockets are created on a goroutine
// locked to a thread that joined the namespace (inNetns), and used from
// anywhere. What resolves names through netlink at run time (OpenLive,
// Supervisor's re-opens, WatchLinks) runs on a test goroutine that joined
// the namespace for good (enterNetns): a goroutine that ends while locked
// takes its thread with it, so a thread in a lab namespace never serves
// another goroutine. This is simpler than running a helper binary under
// `ip netns exec`, and AF_PACKET needs nothing more.

// Addresses of the VLAN frames the tests inject, documentation range (RFC 5737).
var (
	vlanClientV4 = netip.MustParseAddr("198.51.100.2")
	vlanServerV4 = netip.MustParseAddr("198.51.100.53")
)

const testVLAN = 100

// liveLab is a lab: two namespaces joined by a veth pair.
type liveLab struct {
	*lab.Lab
}

func newLiveLab(t testing.TB) *liveLab {
	t.Helper()
	testenv.NeedRoot(t)
	return &liveLab{Lab: lab.New(t)}
}

// injector writes raw Ethernet frames onto the client's end of the veth
// pair, so that they arrive at the server's end as from a wire. It stands
// in for 802.1Q sub-interfaces, which need a kernel built with
// CONFIG_VLAN_8021Q (this machine's is not): the receiving side removes the
// tag in the core network code either way, before AF_PACKET sees the frame.
type injector struct {
	fd       int
	ifindex  int
	src, dst net.HardwareAddr
}

func newInjector(t testing.TB, l *liveLab) *injector {
	t.Helper()
	in := &injector{fd: -1}
	var err error
	inNetns(t, l.Server.Name, func() {
		var ifc *net.Interface
		if ifc, err = net.InterfaceByName(l.ServerIf); err == nil {
			in.dst = ifc.HardwareAddr
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	inNetns(t, l.Client.Name, func() {
		var ifc *net.Interface
		if ifc, err = net.InterfaceByName(l.ClientIf); err != nil {
			return
		}
		in.src, in.ifindex = ifc.HardwareAddr, ifc.Index
		in.fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(in.fd) })
	return in
}

// sendUDP4 injects one IPv4/UDP datagram, tagged with vlan when not 0.
func (in *injector) sendUDP4(t testing.TB, vlan uint16, src, dst netip.AddrPort, payload []byte) {
	t.Helper()
	in.sendIPv4(t, vlan, src.Addr(), dst.Addr(), 0, 0, false, udpHeader(src, dst, payload))
}

// udpHeader returns a UDP datagram (checksum 0: none, allowed for IPv4).
func udpHeader(src, dst netip.AddrPort, payload []byte) []byte {
	b := make([]byte, 0, 8+len(payload))
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = append(b, 0, 0)
	return append(b, payload...)
}

// sendIPv4 injects one IPv4 UDP packet or fragment: fragOff is in 8-byte
// units, mf the more-fragments flag, data what follows the IP header.
func (in *injector) sendIPv4(t testing.TB, vlan uint16, src, dst netip.Addr, id, fragOff uint16, mf bool, data []byte) {
	t.Helper()
	b := make([]byte, 0, 64+len(data))
	b = append(b, in.dst...)
	b = append(b, in.src...)
	if vlan != 0 {
		b = binary.BigEndian.AppendUint16(b, 0x8100)
		b = binary.BigEndian.AppendUint16(b, vlan)
	}
	b = binary.BigEndian.AppendUint16(b, 0x0800)
	ip := len(b)
	flags := fragOff
	if mf {
		flags |= 0x2000
	}
	b = append(b, 0x45, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(20+len(data)))
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = append(b, 64, 17, 0, 0)
	b = append(b, src.AsSlice()...)
	b = append(b, dst.AsSlice()...)
	var sum uint32
	for i := ip; i < ip+20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(b[ip+10:], ^uint16(sum))
	b = append(b, data...)
	sa := unix.SockaddrLinklayer{Ifindex: in.ifindex, Halen: 6}
	copy(sa.Addr[:], in.dst)
	if err := unix.Sendto(in.fd, b, 0, &sa); err != nil {
		t.Fatalf("inject: %v", err)
	}
}

// inNetns runs fn on a fresh thread that joined the named namespace; the
// thread is discarded afterwards.
func inNetns(t testing.TB, name string, fn func()) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with the goroutine
		ns, err := netns.GetFromName(name)
		if err == nil {
			err = netns.Set(ns)
			ns.Close()
		}
		if err == nil {
			fn()
		}
		errc <- err
	}()
	if err := <-errc; err != nil {
		t.Fatalf("enter netns %s: %v", name, err)
	}
}

// enterNetns moves the calling goroutine, for the rest of its life, into
// the named namespace. Call it only from a goroutine that ends with the
// test (the test's own, or one it started).
func enterNetns(t testing.TB, name string) {
	t.Helper()
	runtime.LockOSThread()
	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("netns %s: %v", name, err)
	}
	defer ns.Close()
	if err := netns.Set(ns); err != nil {
		t.Fatalf("enter netns %s: %v", name, err)
	}
}

// dialUDP returns a UDP socket in namespace ns, bound to laddr (port 0:
// any) and connected to raddr.
func dialUDP(t testing.TB, ns string, laddr, raddr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	var err error
	inNetns(t, ns, func() {
		c, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(laddr), net.UDPAddrFromAddrPort(raddr))
	})
	if err != nil {
		t.Fatalf("dial %v→%v in %s: %v", laddr, raddr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// listenUDP returns a UDP socket in namespace ns bound to laddr.
func listenUDP(t testing.TB, ns string, laddr netip.AddrPort) *net.UDPConn {
	t.Helper()
	var c *net.UDPConn
	var err error
	inNetns(t, ns, func() {
		c, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(laddr))
	})
	if err != nil {
		t.Fatalf("listen %v in %s: %v", laddr, ns, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// openLive opens a LiveSource inside namespace ns and closes it with the
// test (Close, too, runs in ns: it may turn promiscuous mode off).
func openLive(t testing.TB, ns string, cfg LiveConfig) *LiveSource {
	t.Helper()
	var s *LiveSource
	var err error
	inNetns(t, ns, func() { s, err = OpenLive(cfg) })
	if err != nil {
		t.Fatalf("OpenLive %s in %s: %v", cfg.Interface, ns, err)
	}
	t.Cleanup(func() {
		inNetns(t, ns, func() { err = s.Close() })
		if err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return s
}

// dnsFilter accepts IPv4 UDP frames from or to port 53 and nothing else.
// It stands in for package bpf's filter, which capture must not import.
func dnsFilter(t testing.TB) []bpf.RawInstruction {
	t.Helper()
	prog, err := bpf.Assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 12, Size: 2},                                  // 0: EtherType
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 0x0800, SkipTrue: 8},        // 1: not IPv4 → 10
		bpf.LoadAbsolute{Off: 23, Size: 1},                                  // 2: IP protocol
		bpf.JumpIf{Cond: bpf.JumpNotEqual, Val: 17, SkipTrue: 6},            // 3: not UDP → 10
		bpf.LoadMemShift{Off: 14},                                           // 4: X = IP header length
		bpf.LoadIndirect{Off: 14, Size: 2},                                  // 5: source port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 53, SkipTrue: 2},               // 6: → 9
		bpf.LoadIndirect{Off: 16, Size: 2},                                  // 7: destination port
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: 53, SkipTrue: 0, SkipFalse: 1}, // 8
		bpf.RetConstant{Val: 262144},                                        // 9: accept, full snaplen
		bpf.RetConstant{Val: 0},                                             // 10: drop
	})
	if err != nil {
		t.Fatal(err)
	}
	return prog
}

// udpFrame is a decoded Ethernet/IPv4/UDP frame; payload is a copy.
type udpFrame struct {
	src, dst netip.AddrPort
	payload  []byte
}

// flowKey is a 5-tuple without direction: both directions map to one key.
type flowKey struct{ a, b netip.AddrPort }

func (u udpFrame) flow() flowKey {
	if u.src.Addr().Less(u.dst.Addr()) || (u.src.Addr() == u.dst.Addr() && u.src.Port() < u.dst.Port()) {
		return flowKey{u.src, u.dst}
	}
	return flowKey{u.dst, u.src}
}

func parseUDP4(b []byte) (udpFrame, bool) {
	if len(b) < 14+20+8 || binary.BigEndian.Uint16(b[12:14]) != 0x0800 {
		return udpFrame{}, false
	}
	ip := b[14:]
	ihl := int(ip[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(ip[2:4]))
	if ip[9] != 17 || ihl < 20 || total > len(ip) || total < ihl+8 {
		return udpFrame{}, false
	}
	udp := ip[ihl:total]
	src := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[12:16])), binary.BigEndian.Uint16(udp[0:2]))
	dst := netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip[16:20])), binary.BigEndian.Uint16(udp[2:4]))
	if int(binary.BigEndian.Uint16(udp[4:6])) != len(udp) {
		return udpFrame{}, false
	}
	return udpFrame{src: src, dst: dst, payload: append([]byte(nil), udp[8:]...)}, true
}

// ipRun runs ip(8) with args, failing the test on error.
func ipRun(t testing.TB, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
	}
}

// captureUntil reads frames from next until done returns true or the
// deadline passes; it returns false on the deadline.
func captureUntil(t testing.TB, next func(*packet.Frame) error, timeout time.Duration, fn func(*packet.Frame) (done bool)) bool {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var f packet.Frame
	for time.Now().Before(deadline) {
		err := next(&f)
		if err == ErrTimeout {
			continue
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if fn(&f) {
			return true
		}
	}
	return false
}

// waitKernel waits until the kernel has counted at least n frames on s
// since it was opened (each is in the ring or dropped), then for the block
// timer to hand over the last, partly filled block.
func waitKernel(t testing.TB, s *LiveSource, n uint64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.KernelStats().Packets < n {
		if time.Now().After(deadline) {
			t.Fatalf("kernel counted %d frames, want %d", s.KernelStats().Packets, n)
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(3 * DefaultBlockTimeout)
}
