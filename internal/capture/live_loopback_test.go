//go:build linux

package capture

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// TestLiveLoopbackOnce: on a loopback device the kernel shows every packet
// twice (as sent and as received); the sensor must see each once, or every
// DNS message on lo is logged twice.
func TestLiveLoopbackOnce(t *testing.T) {
	l := newLiveLab(t)
	l.Server.Run(t, "ip", "link", "set", "lo", "up")
	for _, tc := range []struct {
		name   string
		filter bool
	}{{"with a filter", true}, {"without a filter", false}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := LiveConfig{Interface: "lo"}
			if tc.filter {
				cfg.Filter = dnsFilter(t)
			}
			src := openLive(t, l.Server.Name, cfg)
			lo := netip.MustParseAddr("127.0.0.1")
			srv := listenUDP(t, l.Server.Name, netip.AddrPortFrom(lo, 53))
			c := dialUDP(t, l.Server.Name, netip.AddrPortFrom(lo, 0), netip.AddrPortFrom(lo, 53))
			const sent = 5
			for range sent {
				if _, err := c.Write([]byte("0123456789abcdef")); err != nil {
					t.Fatal(err)
				}
			}
			buf := make([]byte, 64)
			for range sent {
				if _, err := srv.Read(buf); err != nil {
					t.Fatal(err)
				}
			}
			var f packet.Frame
			got := 0
			for {
				err := src.Next(&f)
				if errors.Is(err, ErrTimeout) {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				// Without a filter other loopback traffic may appear;
				// count the test's datagrams: 14 (Ethernet) + 20 + 8 + 16.
				if len(f.Data) == 58 && f.Data[36] == 0 && f.Data[37] == 53 {
					got++
				}
			}
			if got != sent {
				t.Errorf("captured %d copies of %d datagrams sent on lo", got, sent)
			}
		})
	}
}
