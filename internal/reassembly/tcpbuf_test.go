package reassembly

import (
	"bytes"
	"net/netip"
	"testing"
)

// TestTCPBufferFlood opens many connections that each send the first part of
// a large message and never the rest: without a global cap they would hold
// MaxFlows × the message size. Stream buffers must stay within
// MaxTCPBufferBytes, the least recently active connections are evicted and
// counted, and the most recent ones still complete their messages.
func TestTCPBufferFlood(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxTCPBufferBytes = 4 << 20
	tr := newTCPRun(t, cfg)
	big := framed(dnsTXT(7, "big.example", 30000))
	const conns = 2000 // × 32 KiB buffers = 64 MiB without the cap
	base := netip.MustParseAddr("198.51.100.0").As4()
	src := func(i int) netip.AddrPort {
		a := base
		a[2], a[3] = byte(i>>8), byte(i)
		return netip.AddrPortFrom(netip.AddrFrom4(a), 40000)
	}
	for i := range conns {
		tr.r.segment(&tcpSegment{src: src(i), dst: tsrv, flags: tcpSYN, seq: 1000, ts: t0 + int64(i)*1000})
		tr.r.segment(&tcpSegment{src: src(i), dst: tsrv, flags: tcpACK, seq: 1001, payload: big[:20000], ts: t0 + int64(i)*1000 + 1})
		if a := tr.r.allocatedBytes(); a > cfg.MaxTCPBufferBytes {
			t.Fatalf("after %d connections: %d bytes of stream buffers, cap %d", i+1, a, cfg.MaxTCPBufferBytes)
		}
	}
	evicted := tr.stats.TCP[TCPFlowsEvictedMemory].Load()
	if evicted == 0 || evicted >= conns {
		t.Fatalf("evicted %d connections for memory, want some but not all of %d", evicted, conns)
	}
	if int(evicted)+tr.r.tracked() != conns {
		t.Errorf("evicted %d + tracked %d != %d connections", evicted, tr.r.tracked(), conns)
	}
	// The newest connection was not evicted: its message completes.
	last := src(conns - 1)
	tr.r.segment(&tcpSegment{src: last, dst: tsrv, flags: tcpACK, seq: 1001 + 20000, payload: big[20000:], ts: t0 + conns*1000 + 5})
	if len(tr.got) != 1 || !bytes.Equal(tr.got[0].msg, big[2:]) {
		t.Fatalf("got %d messages, want the newest connection's message", len(tr.got))
	}
}
