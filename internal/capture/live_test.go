//go:build linux

package capture

import (
	"bytes"
	"fmt"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
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
			ok := captureUntil(t, src.Next, 5*time.Second, func(f *Frame) bool {
				after := time.Now().UnixNano()
				u, ok := parseUDP4(f.Data)
				if !ok {
					t.Errorf("frame is not IPv4/UDP: % x", f.Data)
					return false
				}
				if f.Timestamp < before || f.Timestamp > after {
					t.Errorf("timestamp %d outside [%d, %d]", f.Timestamp, before, after)
				}
				if f.WireLen != len(f.Data) || f.LinkType != LinkTypeEthernet || f.Interface != 3 {
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
			var f Frame
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
