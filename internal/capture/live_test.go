//go:build linux

package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// TestLiveCapture sends UDP datagrams across the lab's veth pair, from a
// socket and as injected 802.1Q-tagged frames, to port 53 and to another
// port, and checks
// what a LiveSource on the server's end of the pair hands out: the exact
// datagrams to port 53 with their VLAN ID and a kernel timestamp taken
// while they were in flight, none of the others, and kernel counters that
// match.
func TestLiveCapture(t *testing.T) {
	l := newLiveLab(t)
	src := openLive(t, l.Server.Name, LiveConfig{
		Interface: l.ServerIf,
		Filter:    dnsFilter(t),
		Index:     3,
		BlockSize: 1 << 16, NumBlocks: 4,
		PollTimeout: 20 * time.Millisecond,
	})
	in := newInjector(t, l)
	cases := []struct {
		name     string
		from, to netip.Addr
		port     uint16
		vlan     uint16 // 0: sent from a UDP socket; else injected with this tag
		captured bool
	}{
		{"dns", lab.ClientV4, lab.ServerV4, 53, 0, true},
		{"dns_vlan", vlanClientV4, vlanServerV4, 53, testVLAN, true},
		{"other_port", lab.ClientV4, lab.ServerV4, 5300, 0, false},
		{"other_port_vlan", vlanClientV4, vlanServerV4, 5300, testVLAN, false},
	}
	var wantPackets uint64
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			const n = 5
			send := func(port uint16, p []byte) {
				src := netip.AddrPortFrom(tc.from, 40053)
				dst := netip.AddrPortFrom(tc.to, port)
				if tc.vlan != 0 {
					in.sendUDP4(t, tc.vlan, src, dst, p)
					return
				}
				c := dialUDP(t, l.Client.Name, src, dst)
				if _, err := c.Write(p); err != nil {
					t.Fatal(err)
				}
				c.Close()
			}
			want := make(map[string]bool)
			before := time.Now().UnixNano()
			for i := range n {
				p := fmt.Appendf(nil, "%s datagram %d \x00\xff", tc.name, i)
				want[string(p)] = true
				send(tc.port, p)
			}
			// A datagram to port 53 after the others marks the end: the
			// ring keeps order, so once it is read every earlier frame
			// that passed the filter has been read too.
			endMark := []byte(tc.name + " end")
			send(53, endMark)
			var got []udpFrame
			ok := captureUntil(t, src.Next, 5*time.Second, func(f *packet.Frame) bool {
				after := time.Now().UnixNano()
				u, ok := parseUDP4(f.Data)
				if !ok {
					t.Errorf("frame is not IPv4/UDP: % x", f.Data)
					return false
				}
				if f.Timestamp < before || f.Timestamp > after {
					t.Errorf("timestamp %d outside [%d, %d]", f.Timestamp, before, after)
				}
				if f.WireLen != len(f.Data) || f.LinkType != packet.LinkTypeEthernet || f.Interface != 3 {
					t.Errorf("frame: WireLen %d len %d LinkType %d Interface %d", f.WireLen, len(f.Data), f.LinkType, f.Interface)
				}
				if f.VLAN != tc.vlan {
					t.Errorf("VLAN %d, want %d", f.VLAN, tc.vlan)
				}
				got = append(got, u)
				return bytes.Equal(u.payload, endMark)
			})
			if !ok {
				t.Fatalf("end marker not captured; got %d frames", len(got))
			}
			wantPackets += uint64(len(got))
			got = got[:len(got)-1]
			if !tc.captured {
				if len(got) != 0 {
					t.Fatalf("filter passed %d frames to port %d: %q", len(got), tc.port, got[0].payload)
				}
				return
			}
			if len(got) != n {
				t.Fatalf("captured %d frames, want %d", len(got), n)
			}
			for _, u := range got {
				if !want[string(u.payload)] {
					t.Errorf("unexpected payload %q", u.payload)
				}
				delete(want, string(u.payload))
				if u.src.Addr() != tc.from || u.dst != netip.AddrPortFrom(tc.to, tc.port) {
					t.Errorf("addresses %v → %v", u.src, u.dst)
				}
			}
		})
	}
	st := src.KernelStats()
	if st.Packets != wantPackets || st.Drops != 0 {
		t.Errorf("KernelStats %+v, want %d packets, 0 drops", st, wantPackets)
	}
	// Counters are read as deltas: a second read adds nothing.
	if st2 := src.KernelStats(); st2 != st {
		t.Errorf("second KernelStats %+v, want %+v", st2, st)
	}
}

// TestLiveFanout joins two sockets to one fanout group and sends several
// flows, each both ways (a query to port 53 and its echo back): every flow
// must reach exactly one socket, with all of its frames in both directions.
func TestLiveFanout(t *testing.T) {
	l := newLiveLab(t)
	const group = 0x5353
	srcs := []*LiveSource{
		openLive(t, l.Server.Name, LiveConfig{Interface: l.ServerIf, FanoutGroup: group, Filter: dnsFilter(t), PollTimeout: 20 * time.Millisecond}),
		openLive(t, l.Server.Name, LiveConfig{Interface: l.ServerIf, FanoutGroup: group, Filter: dnsFilter(t), PollTimeout: 20 * time.Millisecond}),
	}
	server := listenUDP(t, l.Server.Name, netip.AddrPortFrom(lab.ServerV4, 53))
	go func() { // echo server
		buf := make([]byte, 512)
		for {
			n, from, err := server.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			_, _ = server.WriteToUDPAddrPort(buf[:n], from)
		}
	}()

	const flows, perFlow = 24, 4
	const total = flows * perFlow * 2
	seen := make([]map[flowKey]int, len(srcs))
	var wg sync.WaitGroup
	var mu sync.Mutex
	count := 0
	stop := make(chan struct{})
	for i, s := range srcs {
		seen[i] = make(map[flowKey]int)
		wg.Add(1)
		go func() {
			defer wg.Done()
			var f packet.Frame
			for {
				select {
				case <-stop:
					return
				default:
				}
				if err := s.Next(&f); err != nil {
					if err != ErrTimeout {
						t.Errorf("Next: %v", err)
						return
					}
					continue
				}
				if u, ok := parseUDP4(f.Data); ok {
					seen[i][u.flow()]++
					mu.Lock()
					count++
					mu.Unlock()
				}
			}
		}()
	}
	buf := make([]byte, 512)
	for i := range flows {
		c := dialUDP(t, l.Client.Name, netip.AddrPortFrom(lab.ClientV4, 0), netip.AddrPortFrom(lab.ServerV4, 53))
		for j := range perFlow {
			if _, err := c.Write(fmt.Appendf(nil, "flow %d query %d", i, j)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, err := c.Read(buf); err != nil {
				t.Fatalf("flow %d: no echo: %v", i, err)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		mu.Lock()
		n := count
		mu.Unlock()
		if n >= total || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if count != total {
		t.Fatalf("captured %d frames, want %d", count, total)
	}
	for k, n := range seen[0] {
		if m := seen[1][k]; m != 0 {
			t.Errorf("flow %v split: %d frames on socket 0, %d on socket 1", k, n, m)
		}
	}
	for i, m := range seen {
		if len(m) == 0 {
			t.Errorf("socket %d got no flow: the group does not spread flows", i)
		}
		for k, n := range m {
			if n != perFlow*2 {
				t.Errorf("socket %d: flow %v has %d frames, want %d", i, k, n, perFlow*2)
			}
		}
	}
	t.Logf("flows per socket: %d, %d", len(seen[0]), len(seen[1]))
	if st := srcs[0].KernelStats().Add(srcs[1].KernelStats()); st.Packets != total || st.Drops != 0 {
		t.Errorf("kernel stats %+v, want %d packets", st, total)
	}
}

// TestOpenLiveErrors checks the errors a caller (Supervisor) decides on.
func TestOpenLiveErrors(t *testing.T) {
	l := newLiveLab(t)
	ipRun(t, "-n", l.Server.Name, "link", "add", "downA", "type", "veth", "peer", "name", "downB")
	cases := []struct {
		name string
		cfg  LiveConfig
		want error // nil: any error, checked by message only
	}{
		{"missing_interface", LiveConfig{Interface: "nosuchif0"}, ErrNoLink},
		{"interface_down", LiveConfig{Interface: "downA"}, ErrLinkDown},
		{"no_name", LiveConfig{}, nil},
		{"block_not_page_multiple", LiveConfig{Interface: l.ServerIf, BlockSize: 5000}, nil},
		{"block_timeout_too_short", LiveConfig{Interface: l.ServerIf, BlockTimeout: time.Microsecond}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			inNetns(t, l.Server.Name, func() {
				var s *LiveSource
				if s, err = OpenLive(tc.cfg); err == nil {
					s.Close()
				}
			})
			if err == nil {
				t.Fatal("OpenLive succeeded")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
		})
	}
}

// TestLiveKernelDrops overfills a small ring without reading it: the
// kernel must count every frame that passed the filter, count the ones it
// had no room for as drops, and hand out exactly the others.
func TestLiveKernelDrops(t *testing.T) {
	l := newLiveLab(t)
	in := newInjector(t, l)
	src := openLive(t, l.Server.Name, LiveConfig{
		Interface: l.ServerIf, Filter: dnsFilter(t),
		BlockSize: 4096, NumBlocks: 2, PollTimeout: 20 * time.Millisecond,
	})
	const sent = 500
	from, to := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	for i := range sent {
		in.sendUDP4(t, 0, from, to, fmt.Appendf(nil, "drop test %d", i))
	}
	waitKernel(t, src, sent)
	read := 0
	captureUntil(t, src.Next, 500*time.Millisecond, func(*packet.Frame) bool { read++; return false })
	st := src.KernelStats()
	if st.Packets != sent || st.Drops == 0 || st.Packets-st.Drops != uint64(read) || st.QueueFreezes == 0 {
		t.Fatalf("KernelStats %+v, read %d of %d sent: want all counted, some dropped, the rest read, a freeze", st, read, sent)
	}
	t.Logf("sent %d, read %d, kernel %+v", sent, read, st)
}

// TestLivePromiscuous checks that each source holds one promiscuous
// membership while it is open and gives it back at Close: the kernel's
// promiscuity count (IFLA_PROMISCUITY, what `ip -d link` prints) rises by
// one per source and returns to what it was, whether or not an operator
// had set the interface promiscuous before (which counts one more).
func TestLivePromiscuous(t *testing.T) {
	l := newLiveLab(t)
	promiscuity := func() int {
		var n int
		inNetns(t, l.Server.Name, func() {
			link, err := netlink.LinkByName(l.ServerIf)
			if err != nil {
				t.Error(err)
				return
			}
			n = link.Attrs().Promisc
		})
		return n
	}
	for _, preset := range []bool{false, true} {
		t.Run(fmt.Sprintf("preset_%v", preset), func(t *testing.T) {
			mode, base := "off", 0
			if preset {
				mode, base = "on", 1
			}
			ipRun(t, "-n", l.Server.Name, "link", "set", l.ServerIf, "promisc", mode)
			if n := promiscuity(); n != base {
				t.Fatalf("promiscuity %d before opening, want %d", n, base)
			}
			cfg := LiveConfig{Interface: l.ServerIf, Promiscuous: true, BlockSize: 4096, NumBlocks: 2}
			var a, b *LiveSource
			var err error
			inNetns(t, l.Server.Name, func() {
				if a, err = OpenLive(cfg); err == nil {
					b, err = OpenLive(cfg)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if n := promiscuity(); n != base+2 {
				t.Fatalf("promiscuity %d with two sources open, want %d", n, base+2)
			}
			inNetns(t, l.Server.Name, func() { err = a.Close() })
			if n := promiscuity(); err != nil || n != base+1 {
				t.Fatalf("after the first Close (err %v): promiscuity %d, want %d", err, n, base+1)
			}
			inNetns(t, l.Server.Name, func() { err = b.Close() })
			if n := promiscuity(); err != nil || n != base {
				t.Fatalf("after the last Close (err %v): promiscuity %d, want %d", err, n, base)
			}
		})
	}
}

// TestLiveNextAllocs reads a ring full of frames, half of them VLAN-tagged:
// Next must not allocate.
func TestLiveNextAllocs(t *testing.T) {
	l := newLiveLab(t)
	in := newInjector(t, l)
	src := openLive(t, l.Server.Name, LiveConfig{Interface: l.ServerIf, Filter: dnsFilter(t), NumBlocks: 4})
	const runs = 1000
	from, to := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	for i := range runs + 100 {
		in.sendUDP4(t, uint16(i%2)*testVLAN, from, to, []byte("allocation test payload"))
	}
	waitKernel(t, src, runs+100)
	var f packet.Frame
	frames, tagged := 0, 0
	allocs := testing.AllocsPerRun(runs, func() {
		if src.Next(&f) == nil {
			frames++
			if f.VLAN == testVLAN {
				tagged++
			}
		}
	})
	if allocs != 0 {
		t.Errorf("Next allocates %v per frame, want 0", allocs)
	}
	if frames != runs+1 || tagged < runs/2 {
		t.Errorf("read %d frames (%d tagged) in %d calls: the ring was not busy", frames, tagged, runs+1)
	}
}

// BenchmarkLiveNext measures the ring walk: each round fills the ring with
// injected frames (timer stopped), then reads them all.
func BenchmarkLiveNext(b *testing.B) {
	l := newLiveLab(b)
	in := newInjector(b, l)
	src := openLive(b, l.Server.Name, LiveConfig{Interface: l.ServerIf, Filter: dnsFilter(b), NumBlocks: 8})
	from, to := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	payload := make([]byte, 60)
	const round = 4096
	var f packet.Frame
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; {
		b.StopTimer()
		n := min(round, b.N-done)
		for i := range n {
			in.sendUDP4(b, uint16(i%2)*testVLAN, from, to, payload)
		}
		waitKernel(b, src, uint64(done+n))
		b.StartTimer()
		for got := 0; got < n; {
			switch err := src.Next(&f); err {
			case nil:
				got++
			case ErrTimeout:
				b.Fatalf("ring ran dry after %d of %d frames", got, n)
			default:
				b.Fatal(err)
			}
		}
		done += n
	}
}

// TestLiveFanoutDefrag sends a UDP/53 datagram in two IPv4 fragments. In a
// fanout group (hash+defrag) the kernel reassembles it before the filter
// and the socket see it, so one whole datagram comes out; without fanout
// the fragments come one by one, and the test filter, which looks for
// ports where a non-first fragment has none, keeps only the first.
func TestLiveFanoutDefrag(t *testing.T) {
	l := newLiveLab(t)
	in := newInjector(t, l)
	src, dst := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
	payload := bytes.Repeat([]byte("A"), 1000)
	udp := udpHeader(src, dst, payload)
	cases := []struct {
		name      string
		group     uint16
		wantIPLen int
		wantFrag  uint16 // flags and offset field of the frame's IP header
	}{
		{"fanout_reassembles", 0x4242, 20 + len(udp), 0},
		{"no_fanout_first_fragment", 0, 20 + 512, 0x2000},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := openLive(t, l.Server.Name, LiveConfig{Interface: l.ServerIf, FanoutGroup: tc.group, Filter: dnsFilter(t), PollTimeout: 20 * time.Millisecond})
			id := uint16(0x1000 + i)
			in.sendIPv4(t, 0, src.Addr(), dst.Addr(), id, 0, true, udp[:512])
			in.sendIPv4(t, 0, src.Addr(), dst.Addr(), id, 512/8, false, udp[512:])
			var got [][]byte
			captureUntil(t, s.Next, 300*time.Millisecond, func(f *packet.Frame) bool {
				got = append(got, append([]byte(nil), f.Data...))
				return false
			})
			if len(got) != 1 {
				t.Fatalf("captured %d frames, want 1", len(got))
			}
			ip := got[0][14:]
			ipLen := int(binary.BigEndian.Uint16(ip[2:4]))
			frag := binary.BigEndian.Uint16(ip[6:8])
			if ipLen != tc.wantIPLen || frag != tc.wantFrag || len(ip) != ipLen {
				t.Fatalf("IP length %d (frame %d), flags/offset %#04x; want %d, %#04x", ipLen, len(ip), frag, tc.wantIPLen, tc.wantFrag)
			}
			if !bytes.Equal(ip[20:], udp[:ipLen-20]) {
				t.Fatal("datagram bytes differ from those sent")
			}
		})
	}
}

// TestLiveLinkTypes captures on interfaces of other hardware types: the
// loopback (an Ethernet header of zeros) and a tun device (no link header:
// frames are raw IP).
func TestLiveLinkTypes(t *testing.T) {
	l := newLiveLab(t)
	const tunName = "tunlive0"
	var tunFD int
	var err error
	inNetns(t, l.Server.Name, func() {
		if tunFD, err = unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
			return
		}
		var ifr *unix.Ifreq
		if ifr, err = unix.NewIfreq(tunName); err != nil {
			return
		}
		ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
		err = unix.IoctlIfreq(tunFD, unix.TUNSETIFF, ifr)
	})
	if err != nil {
		t.Fatalf("tun: %v", err)
	}
	t.Cleanup(func() { unix.Close(tunFD) })
	ipRun(t, "-n", l.Server.Name, "link", "set", tunName, "up")

	loopback := netip.MustParseAddr("127.0.0.1")
	cases := []struct {
		name     string
		iface    string
		linkType packet.LinkType
		send     func(t *testing.T, payload []byte)
	}{
		{"loopback", "lo", packet.LinkTypeEthernet, func(t *testing.T, payload []byte) {
			c := dialUDP(t, l.Server.Name, netip.AddrPortFrom(loopback, 0), netip.AddrPortFrom(loopback, 53))
			if _, err := c.Write(payload); err != nil {
				t.Fatal(err)
			}
		}},
		{"tun", tunName, packet.LinkTypeRaw, func(t *testing.T, payload []byte) {
			src, dst := netip.AddrPortFrom(vlanClientV4, 40000), netip.AddrPortFrom(vlanServerV4, 53)
			pkt := append([]byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, 17, 0, 0}, src.Addr().AsSlice()...)
			pkt = append(pkt, dst.Addr().AsSlice()...)
			pkt = append(pkt, udpHeader(src, dst, payload)...)
			binary.BigEndian.PutUint16(pkt[2:], uint16(len(pkt)))
			if _, err := unix.Write(tunFD, pkt); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var lt packet.LinkType
			inNetns(t, l.Server.Name, func() { lt, err = InterfaceLinkType(tc.iface) })
			if err != nil || lt != tc.linkType {
				t.Fatalf("InterfaceLinkType: %d, %v; want %d", lt, err, tc.linkType)
			}
			s := openLive(t, l.Server.Name, LiveConfig{Interface: tc.iface, BlockSize: 1 << 16, NumBlocks: 4, PollTimeout: 20 * time.Millisecond})
			if s.LinkType() != tc.linkType {
				t.Fatalf("LinkType %d, want %d", s.LinkType(), tc.linkType)
			}
			payload := []byte("link type " + tc.name)
			tc.send(t, payload)
			ok := captureUntil(t, s.Next, 3*time.Second, func(f *packet.Frame) bool {
				if f.LinkType != tc.linkType {
					t.Errorf("frame LinkType %d, want %d", f.LinkType, tc.linkType)
				}
				b := f.Data
				if tc.linkType == packet.LinkTypeRaw {
					// Prepend an Ethernet header of zeros so parseUDP4 reads it.
					b = append(append(make([]byte, 12), 0x08, 0x00), b...)
				}
				u, ok := parseUDP4(b)
				return ok && bytes.Equal(u.payload, payload) && u.dst.Port() == 53
			})
			if !ok {
				t.Fatal("datagram not captured")
			}
		})
	}
}
