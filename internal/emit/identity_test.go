package emit

import (
	"net/netip"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// TestServerIdentity: each frame carries the identity of the server whose
// view it is (ServerSpec.Identity), or Config.Identity for a server without
// one and when no servers are configured. Frames are decoded with
// golang-dnstap, as a collector reads them.
func TestServerIdentity(t *testing.T) {
	const (
		client = "192.0.2.10:40000"
		recA   = "192.0.2.53:53"
		recAHi = "192.0.2.53:33000"
		authB  = "198.51.100.53:53"
		recC   = "203.0.113.53:53"
	)
	servers := []ServerSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: RoleRecursive, Identity: "recursive@dc1"},
		{Prefix: netip.MustParsePrefix("198.51.100.0/24"), Role: RoleAuthoritative},
		{Prefix: netip.MustParsePrefix("203.0.113.53/32"), Role: RoleRecursive, Identity: "dc2"},
	}
	type frame struct {
		typ      string
		identity string
	}
	for _, tc := range []struct {
		name     string
		servers  []ServerSpec
		src, dst string
		response bool
		want     []frame
	}{
		{"own identity/query", servers, client, recA, false, []frame{{"CLIENT_QUERY", "recursive@dc1"}}},
		{"own identity/response", servers, recA, client, true, []frame{{"CLIENT_RESPONSE", "recursive@dc1"}}},
		{"default identity", servers, client, authB, false, []frame{{"AUTH_QUERY", "sensor"}}},
		{"upstream of a server", servers, recAHi, authB, false, []frame{{"AUTH_QUERY", "sensor"}, {"RESOLVER_QUERY", "recursive@dc1"}}},
		{"both servers, each its view", servers, recAHi, recC, false, []frame{{"CLIENT_QUERY", "dc2"}, {"RESOLVER_QUERY", "recursive@dc1"}}},
		{"both servers, response", servers, recC, recAHi, true, []frame{{"CLIENT_RESPONSE", "dc2"}, {"RESOLVER_RESPONSE", "recursive@dc1"}}},
		{"no servers", nil, client, recA, false, []frame{{"CLIENT_QUERY", "sensor"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out collect
			p := NewPipeline(Config{Servers: tc.servers, Identity: []byte("sensor"), Version: []byte("v")}, &out)
			p.HandleMessage(message(t, msgSpec{Src: tc.src, Dst: tc.dst, Response: tc.response, ID: 7, TS: t0}))
			if len(out.frames) != len(tc.want) {
				t.Fatalf("%d frames, want %d", len(out.frames), len(tc.want))
			}
			for i, b := range out.frames {
				d := decodeFrame(t, b)
				got := frame{d.GetMessage().GetType().String(), string(d.GetIdentity())}
				if got != tc.want[i] {
					t.Errorf("frame %d: %+v, want %+v", i, got, tc.want[i])
				}
				if string(d.GetVersion()) != "v" {
					t.Errorf("frame %d: version %q, want %q", i, d.GetVersion(), "v")
				}
			}
		})
	}
}

// TestServerIdentityZeroAlloc: choosing a view's identity costs no
// allocation (the bytes are resolved per server in NewPipeline).
func TestServerIdentityZeroAlloc(t *testing.T) {
	servers := []ServerSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: RoleRecursive, Identity: "recursive@dc1"},
		{Prefix: netip.MustParsePrefix("203.0.113.53/32"), Role: RoleRecursive, Identity: "dc2"},
	}
	p := NewPipeline(Config{Servers: servers, Identity: []byte("sensor"), MaxPending: 256, PairTimeout: time.Millisecond}, &discard{})
	var msgs []*reassembly.Message
	for i := range 200 {
		port := uint16(1024 + i)
		c := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), port).String()
		a := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.53"), port).String()
		msgs = append(msgs,
			message(t, msgSpec{Src: c, Dst: "192.0.2.53:53", ID: uint16(i)}),
			message(t, msgSpec{Src: "192.0.2.53:53", Dst: c, ID: uint16(i), Response: true}),
			message(t, msgSpec{Src: a, Dst: "203.0.113.53:53", ID: uint16(i)}),
			message(t, msgSpec{Src: "203.0.113.53:53", Dst: a, ID: uint16(i), Response: true}))
	}
	ts := t0
	run := func() {
		for _, m := range msgs {
			ts += 1000
			m.Timestamp = ts
			p.HandleMessage(m)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("HandleMessage with per-server identities allocates %v per %d messages, want 0", n, len(msgs))
	}
}
