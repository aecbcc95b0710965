package emit

import (
	"net/netip"
	"testing"
)

func TestParseRole(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Role
		ok   bool
	}{
		{"recursive", RoleRecursive, true},
		{"resolver", RoleRecursive, true},
		{"authoritative", RoleAuthoritative, true},
		{"auth", RoleAuthoritative, true},
		{"forwarder", RoleForwarder, true},
		{"Recursive", 0, false},
		{"", 0, false},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseRole(tc.in)
			if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
				t.Fatalf("ParseRole(%q) = %v, %v", tc.in, got, err)
			}
			if tc.ok && got.String() != tc.in && tc.in != "resolver" && tc.in != "auth" {
				t.Fatalf("String() = %q", got.String())
			}
		})
	}
}

func TestClassify(t *testing.T) {
	const (
		client   = "192.0.2.10:40000"
		rec      = "192.0.2.53:53"
		recHigh  = "192.0.2.53:33333"
		auth     = "198.51.100.1:53"
		authSrv  = "203.0.113.53:53"
		fwd      = "198.51.100.99:53"
		client6  = "[2001:db8::10]:40000"
		rec6     = "[2001:db8::53]:53"
		highHigh = "192.0.2.10:5353"
	)
	servers := []ServerSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: RoleRecursive},
		{Prefix: netip.MustParsePrefix("2001:db8::53/128"), Role: RoleRecursive},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Role: RoleAuthoritative},
		{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Role: RoleForwarder},
	}
	forwarders := []netip.Prefix{netip.MustParsePrefix("198.51.100.99/32")}
	type tc struct {
		name             string
		servers          []ServerSpec
		src, dst         string
		response         bool
		opcode           int
		want             []MessageType // nil: not monitored
		initiator, respd string
	}
	cases := []tc{
		// No --server: the port-53 side is a recursive server.
		{"noservers/query", nil, client, rec, false, 0, []MessageType{ClientQuery}, client, rec},
		{"noservers/response", nil, rec, client, true, 0, []MessageType{ClientResponse}, client, rec},
		{"noservers/both53-query", nil, auth, fwd, false, 0, []MessageType{ClientQuery}, auth, fwd},
		{"noservers/both53-response", nil, fwd, auth, true, 0, []MessageType{ClientResponse}, auth, fwd},
		{"noservers/initiator53", nil, rec, client, false, 0, []MessageType{ResolverQuery}, rec, client},
		{"noservers/initiator53-forwarder", nil, rec, "198.51.100.99:1234", false, 0, []MessageType{ForwarderQuery}, rec, "198.51.100.99:1234"},
		{"noservers/update", nil, client, rec, false, 5, []MessageType{UpdateQuery}, client, rec},
		{"noservers/update-response", nil, rec, client, true, 5, []MessageType{UpdateResponse}, client, rec},
		{"noservers/no53", nil, client, highHigh, false, 0, nil, "", ""},
		{"noservers/v6", nil, client6, rec6, false, 0, []MessageType{ClientQuery}, client6, rec6},

		// Recursive server.
		{"recursive/client-query", servers, client, rec, false, 0, []MessageType{ClientQuery}, client, rec},
		{"recursive/client-response", servers, rec, client, true, 0, []MessageType{ClientResponse}, client, rec},
		{"recursive/upstream-query", servers, recHigh, auth, false, 0, []MessageType{ResolverQuery}, recHigh, auth},
		{"recursive/upstream-response", servers, auth, recHigh, true, 0, []MessageType{ResolverResponse}, recHigh, auth},
		{"recursive/forwarder-query", servers, recHigh, fwd, false, 0, []MessageType{ForwarderQuery}, recHigh, fwd},
		{"recursive/forwarder-response", servers, fwd, recHigh, true, 0, []MessageType{ForwarderResponse}, recHigh, fwd},
		{"recursive/v6-query", servers, client6, rec6, false, 0, []MessageType{ClientQuery}, client6, rec6},
		{"recursive/update", servers, client, rec, false, 5, []MessageType{UpdateQuery}, client, rec},
		{"recursive/update-response", servers, rec, client, true, 5, []MessageType{UpdateResponse}, client, rec},

		// Authoritative server.
		{"authoritative/query", servers, client, authSrv, false, 0, []MessageType{AuthQuery}, client, authSrv},
		{"authoritative/response", servers, authSrv, client, true, 0, []MessageType{AuthResponse}, client, authSrv},
		{"authoritative/update", servers, client, authSrv, false, 5, []MessageType{UpdateQuery}, client, authSrv},
		{"authoritative/notify-out", servers, "203.0.113.53:4444", "192.0.2.99:53", false, 0, []MessageType{ResolverQuery}, "203.0.113.53:4444", "192.0.2.99:53"},

		// Forwarder role: its upstream traffic is FORWARDER_* to anyone.
		{"forwarder/client-query", servers, client, "10.1.1.1:53", false, 0, []MessageType{ClientQuery}, client, "10.1.1.1:53"},
		{"forwarder/upstream-query", servers, "10.1.1.1:2222", auth, false, 0, []MessageType{ForwarderQuery}, "10.1.1.1:2222", auth},
		{"forwarder/upstream-response", servers, auth, "10.1.1.1:2222", true, 0, []MessageType{ForwarderResponse}, "10.1.1.1:2222", auth},

		// Both ends monitored: each server's view.
		{"both/recursive-to-auth-query", servers, recHigh, authSrv, false, 0, []MessageType{AuthQuery, ResolverQuery}, recHigh, authSrv},
		{"both/recursive-to-auth-response", servers, authSrv, recHigh, true, 0, []MessageType{AuthResponse, ResolverResponse}, recHigh, authSrv},
		{"both/forwarder-to-recursive", servers, "10.1.1.1:2222", rec, false, 0, []MessageType{ClientQuery, ForwarderQuery}, "10.1.1.1:2222", rec},
		{"both/update", servers, recHigh, authSrv, false, 5, []MessageType{UpdateQuery, UpdateQuery}, recHigh, authSrv},

		// Neither end configured.
		{"not-monitored", servers, client, auth, false, 0, nil, "", ""},
		{"not-monitored-response", servers, auth, client, true, 0, nil, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var cl classifier
			cl.init(&Config{Servers: c.servers, Forwarders: forwarders})
			m := message(t, msgSpec{Src: c.src, Dst: c.dst, Response: c.response, Opcode: c.opcode})
			var v views
			ok := cl.classify(m, &v)
			if c.want == nil {
				if ok {
					t.Fatalf("classified as %v, want not monitored", v.types[:v.n])
				}
				return
			}
			if !ok || v.n != len(c.want) {
				t.Fatalf("got %v (ok=%v), want %v", v.types[:v.n], ok, c.want)
			}
			for i := range c.want {
				if v.types[i] != c.want[i] {
					t.Fatalf("view %d = %v, want %v", i, v.types[i], c.want[i])
				}
			}
			if v.initiator != netip.MustParseAddrPort(c.initiator) || v.responder != netip.MustParseAddrPort(c.respd) {
				t.Fatalf("initiator %v responder %v, want %s %s", v.initiator, v.responder, c.initiator, c.respd)
			}
		})
	}
}
