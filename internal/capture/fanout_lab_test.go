//go:build linux

package capture

import (
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// kernelFanoutID is the kernel's fanout group ID of fd (getsockopt
// PACKET_FANOUT: ID in the low 16 bits).
func kernelFanoutID(t *testing.T, fd int) uint16 {
	t.Helper()
	v, err := unix.GetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT)
	if err != nil {
		t.Fatalf("getsockopt PACKET_FANOUT: %v", err)
	}
	return uint16(v)
}

// TestLiveFanoutForeignGroup: another process (here a raw socket) already
// has a hash+defrag fanout group with the ID this process asks for on the
// same interface, as a second sensor whose process ID equals the first's
// modulo 4096 had with FanoutGroupFor. The sources must form their own
// group, not join the foreign one and split its traffic.
func TestLiveFanoutForeignGroup(t *testing.T) {
	l := newLiveLab(t)
	const group = 0x5354
	foreign := -1
	inNetns(t, l.Server.Name, func() {
		ifi, err := net.InterfaceByName(l.ServerIf)
		if err != nil {
			t.Error(err)
			return
		}
		fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, int(htons(unix.ETH_P_ALL)))
		if err != nil {
			t.Error(err)
			return
		}
		foreign = fd
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: htons(unix.ETH_P_ALL), Ifindex: ifi.Index}); err != nil {
			t.Error(err)
			return
		}
		if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_FANOUT, group|fanoutHashDefrag<<16); err != nil {
			t.Error(err)
		}
	})
	if foreign >= 0 {
		t.Cleanup(func() { unix.Close(foreign) })
	}
	if t.Failed() {
		t.FailNow()
	}
	cfg := LiveConfig{Interface: l.ServerIf, FanoutGroup: group, Filter: dnsFilter(t), PollTimeout: 20 * time.Millisecond}
	a := openLive(t, l.Server.Name, cfg)
	b := openLive(t, l.Server.Name, cfg)
	idA, idB := kernelFanoutID(t, a.fd), kernelFanoutID(t, b.fd)
	if idA == group || idA != idB {
		t.Fatalf("sources in kernel groups %#x and %#x; want one group of their own, not the foreign %#x", idA, idB, group)
	}
	// A source re-opened while the group has members joins it again.
	c := openLive(t, l.Server.Name, cfg)
	if id := kernelFanoutID(t, c.fd); id != idA {
		t.Fatalf("third source in group %#x, want %#x", id, idA)
	}
}
