//go:build linux

package capture

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// openTun creates a tun device (raw IP, no link header) in namespace ns,
// brings it up and returns the descriptor that writes packets into it,
// closed with the test unless closeTun closed it first.
func openTun(t *testing.T, ns, name string) int {
	t.Helper()
	var fd int
	var err error
	inNetns(t, ns, func() {
		if fd, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return
		}
		var ifr *unix.Ifreq
		if ifr, err = unix.NewIfreq(name); err != nil {
			return
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr)
	})
	if err != nil {
		t.Fatalf("tun %s: %v", name, err)
	}
	t.Cleanup(func() {
		if !closedTuns[fd] {
			unix.Close(fd)
		}
		delete(closedTuns, fd)
	})
	ipRun(t, "-n", ns, "link", "set", name, "up")
	return fd
}

// closedTuns holds the descriptors closeTun closed, so that the cleanup
// does not close a number the kernel may have given to another file.
var closedTuns = map[int]bool{}

// closeTun closes a tun descriptor before the test ends; the device goes
// with it.
func closeTun(fd int) {
	unix.Close(fd)
	closedTuns[fd] = true
}

// rawUDP4 is an IPv4 UDP packet without a link header.
func rawUDP4(src, dst netip.AddrPort, payload []byte) []byte {
	pkt := append([]byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0}, src.Addr().AsSlice()...)
	pkt = append(pkt, dst.Addr().AsSlice()...)
	pkt = append(pkt, udpHeader(src, dst, payload)...)
	binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
	return pkt
}

// TestMirror: a mirror of lo, a tun device (raw IP) and a veth end, with
// two workers. Every frame of the three comes out once (lo's outgoing
// copies dropped), marked with its interface's position and its own link
// type; a tun device outside the mirror is never seen; both directions of
// a flow, arriving on two interfaces, reach the same worker.
func TestMirror(t *testing.T) {
	l := newLiveLab(t)
	ns := l.Server.Name
	tunFD := openTun(t, ns, "tunmir0")
	otherFD := openTun(t, ns, "tunother0")
	var m *Mirror
	var err error
	rawCalls := 0
	inNetns(t, ns, func() {
		m, err = OpenMirror(MirrorConfig{
			Interfaces: []string{"lo", "tunmir0", l.ServerIf}, Workers: 2,
			Live: LiveConfig{BlockSize: 1 << 16, NumBlocks: 8, PollTimeout: 20 * time.Millisecond},
			Filter: func(lt packet.LinkType) ([]bpf.RawInstruction, error) {
				if lt == packet.LinkTypeRaw {
					rawCalls++
					return nil, nil // every packet of the tun device
				}
				return dnsFilter(t), nil
			},
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Source(0).Close(); m.Source(1).Close() })
	if rawCalls != 1 {
		t.Errorf("raw-IP filter compiled %d times, want once", rawCalls)
	}

	loopback := netip.MustParseAddr("127.0.0.1")
	srv := listenUDP(t, ns, netip.AddrPortFrom(loopback, 53))
	c := dialUDP(t, ns, netip.AddrPortFrom(loopback, 0), netip.AddrPortFrom(loopback, 53))
	const onLo = 5
	for range onLo {
		if _, err := c.Write([]byte("mirror on lo")); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]byte, 64)
	for range onLo {
		if _, err := srv.Read(buf); err != nil {
			t.Fatal(err)
		}
	}
	// One flow, the query into the tun device and the answer from the
	// veth: a two-port tap's two directions.
	query, answer := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	if _, err := unix.Write(tunFD, rawUDP4(query, answer, []byte("mirror query"))); err != nil {
		t.Fatal(err)
	}
	if _, err := unix.Write(otherFD, rawUDP4(query, answer, []byte("not mirrored"))); err != nil {
		t.Fatal(err)
	}
	in := newInjector(t, l)
	in.sendUDP4(t, 0, answer, query, []byte("mirror answer"))

	type seen struct {
		iface  int
		lt     packet.LinkType
		worker int
	}
	got := map[string][]seen{}
	for w := range 2 {
		src := m.Source(w)
		var f packet.Frame
		for idle := 0; idle < 3; {
			err := src.Next(&f)
			if errors.Is(err, ErrTimeout) {
				idle++
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			b := f.Data
			if f.LinkType == packet.LinkTypeRaw {
				b = append(append(make([]byte, 12), 0x08, 0x00), b...)
			}
			if u, ok := parseUDP4(b); ok {
				got[string(u.payload)] = append(got[string(u.payload)], seen{f.Interface, f.LinkType, w})
			}
		}
	}
	check := func(payload string, n, iface int, lt packet.LinkType) {
		t.Helper()
		s := got[payload]
		if len(s) != n {
			t.Errorf("%q: %d frames, want %d (%v)", payload, len(s), n, s)
			return
		}
		for _, x := range s {
			if x.iface != iface || x.lt != lt {
				t.Errorf("%q: interface %d link type %d, want %d and %d", payload, x.iface, x.lt, iface, lt)
			}
		}
	}
	check("mirror on lo", onLo, 0, packet.LinkTypeEthernet)
	check("mirror query", 1, 1, packet.LinkTypeRaw)
	check("mirror answer", 1, 2, packet.LinkTypeEthernet)
	check("not mirrored", 0, 0, 0)
	if q, a := got["mirror query"], got["mirror answer"]; len(q) == 1 && len(a) == 1 && q[0].worker != a[0].worker {
		t.Errorf("query on worker %d, its answer on worker %d", q[0].worker, a[0].worker)
	}
}

// TestMirrorFilterLayout checks the ifindex prefix: each present
// interface jumps to its own block, absent ones are left out.
func TestMirrorFilterLayout(t *testing.T) {
	accept := []bpf.RawInstruction{{Op: bpfRetK, K: 99}}
	m := &Mirror{cfg: MirrorConfig{Filter: func(packet.LinkType) ([]bpf.RawInstruction, error) { return accept, nil }},
		progs: map[packet.LinkType][]bpf.RawInstruction{}}
	m.ifs = []mirrorIface{{name: "a", ifindex: 7, hw: unix.ARPHRD_ETHER}, {name: "gone"}, {name: "lo", ifindex: 1, hw: unix.ARPHRD_LOOPBACK}}
	got, err := m.filterLocked()
	if err != nil {
		t.Fatal(err)
	}
	want := []bpf.RawInstruction{
		{Op: bpfLdAbsW, K: skfAdIfindex},
		{Op: bpfJeqK, Jt: 0, Jf: 1, K: 7}, {Op: bpfJa, K: 3}, // → 6
		{Op: bpfJeqK, Jt: 0, Jf: 1, K: 1}, {Op: bpfJa, K: 2}, // → 7
		{Op: bpfRetK, K: 0},
		{Op: bpfRetK, K: 99},
		{Op: bpfLdAbsW, K: skfAdPkttype}, {Op: bpfJeqK, Jt: 0, Jf: 1, K: unix.PACKET_OUTGOING}, {Op: bpfRetK, K: 0},
		{Op: bpfRetK, K: 99},
	}
	if !equalProg(got, want) {
		t.Errorf("filter\n got %v\nwant %v", got, want)
	}
	m.ifs[0].hw = unix.ARPHRD_IEEE80211
	if _, err := m.filterLocked(); !errors.Is(err, errLinkType) {
		t.Errorf("unsupported hardware type: %v, want errLinkType", err)
	}
}

func equalProg(a, b []bpf.RawInstruction) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestMirrorNextAllocs: reading a mirror's frames (the interface looked up
// from the sockaddr_ll) allocates nothing.
func TestMirrorNextAllocs(t *testing.T) {
	l := newLiveLab(t)
	in := newInjector(t, l)
	var m *Mirror
	var err error
	inNetns(t, l.Server.Name, func() {
		m, err = OpenMirror(MirrorConfig{Interfaces: []string{"lo", l.ServerIf}, Workers: 1,
			Live:   LiveConfig{NumBlocks: 4},
			Filter: func(packet.LinkType) ([]bpf.RawInstruction, error) { return dnsFilter(t), nil }})
	})
	if err != nil {
		t.Fatal(err)
	}
	src := m.Source(0)
	t.Cleanup(func() { src.Close() })
	const runs = 1000
	from, to := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	for range runs + 100 {
		in.sendUDP4(t, 0, from, to, []byte("allocation test payload"))
	}
	waitKernel(t, src.live, runs+100)
	var f packet.Frame
	frames := 0
	allocs := testing.AllocsPerRun(runs, func() {
		if src.Next(&f) == nil && f.Interface == 1 {
			frames++
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v per frame, want 0", allocs)
	}
	if frames != runs+1 {
		t.Errorf("read %d frames of interface 1 in %d calls", frames, runs+1)
	}
}

// TestMirrorRecreate: a tun device of the mirror disappears (its
// descriptor closed) and comes back with a new ifindex; the mirror reports
// both, and the new device's frames are captured under the same position.
func TestMirrorRecreate(t *testing.T) {
	l := newLiveLab(t)
	ns := l.Server.Name
	fd := openTun(t, ns, "tunre0")
	var m *Mirror
	var err error
	inNetns(t, ns, func() {
		m, err = OpenMirror(MirrorConfig{Interfaces: []string{l.ServerIf, "tunre0"}, Workers: 1,
			Live: LiveConfig{BlockSize: 1 << 16, NumBlocks: 4, PollTimeout: 20 * time.Millisecond}})
	})
	if err != nil {
		t.Fatal(err)
	}
	src := m.Source(0)
	t.Cleanup(func() { src.Close() })
	wait := func(kind SupervisorEventKind) SupervisorEvent {
		t.Helper()
		timeout := time.After(5 * time.Second)
		for {
			select {
			case ev := <-src.Events():
				if ev.Kind == kind && ev.Interface == "tunre0" {
					return ev
				}
			case <-timeout:
				t.Fatalf("no %v event", kind)
			}
		}
	}
	old := m.table.Load().ifindex[1]
	closeTun(fd) // a tun device without persistence goes with its descriptor
	wait(InterfaceLeft)
	fd = openTun(t, ns, "tunre0")
	ev := wait(InterfaceJoined)
	if ev.IfIndex == int(old) || ev.IfIndex == 0 {
		t.Fatalf("joined with ifindex %d, had %d", ev.IfIndex, old)
	}
	if st := src.Stats(); st.Reopens != 1 || st.Gap <= 0 {
		t.Errorf("stats after re-creation: %+v, want 1 reopen and a gap", st)
	}
	payload := []byte("after re-creation")
	if _, err := unix.Write(fd, rawUDP4(netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53), payload)); err != nil {
		t.Fatal(err)
	}
	ok := captureUntil(t, src.Next, 3*time.Second, func(f *packet.Frame) bool {
		return f.Interface == 1 && f.LinkType == packet.LinkTypeRaw && len(f.Data) >= 28 && string(f.Data[28:]) == string(payload)
	})
	if !ok {
		t.Fatal("frame of the re-created device not captured")
	}
}

// TestMirrorLateInterface: an interface that does not exist when the
// mirror opens joins it when it appears.
func TestMirrorLateInterface(t *testing.T) {
	l := newLiveLab(t)
	ns := l.Server.Name
	var m *Mirror
	var err error
	inNetns(t, ns, func() {
		m, err = OpenMirror(MirrorConfig{Interfaces: []string{l.ServerIf, "tunlate0"}, Workers: 1,
			Live: LiveConfig{BlockSize: 1 << 16, NumBlocks: 4, PollTimeout: 20 * time.Millisecond}})
	})
	if err != nil {
		t.Fatal(err)
	}
	src := m.Source(0)
	t.Cleanup(func() { src.Close() })
	fd := openTun(t, ns, "tunlate0")
	timeout := time.After(5 * time.Second)
	for joined := false; !joined; {
		select {
		case ev := <-src.Events():
			joined = ev.Kind == InterfaceJoined && ev.Interface == "tunlate0" && ev.IfIndex != 0
		case <-timeout:
			t.Fatal("tunlate0 never joined")
		}
	}
	payload := []byte("late interface")
	if _, err := unix.Write(fd, rawUDP4(netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53), payload)); err != nil {
		t.Fatal(err)
	}
	if !captureUntil(t, src.Next, 3*time.Second, func(f *packet.Frame) bool {
		return f.Interface == 1 && len(f.Data) >= 28 && string(f.Data[28:]) == string(payload)
	}) {
		t.Fatal("frame of the late interface not captured")
	}
	if st := src.Stats(); st.Reopens != 0 {
		t.Errorf("a first appearance counted as %d reopens", st.Reopens)
	}
}
