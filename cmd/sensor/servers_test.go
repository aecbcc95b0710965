package main

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// TestParseServers: --server ADDR[=ROLE][@IDENTITY], comma-separated, on
// the command line and in a config file alike.
func TestParseServers(t *testing.T) {
	type spec struct {
		prefix   string
		role     emit.Role
		identity string
	}
	for _, tc := range []struct {
		in   string
		want []spec
		err  string
	}{
		{in: "10.0.0.53", want: []spec{{"10.0.0.53/32", emit.RoleAuthoritative, ""}}},
		{in: "10.0.0.53=recursive", want: []spec{{"10.0.0.53/32", emit.RoleRecursive, ""}}},
		{in: "10.0.0.53=recursive@dc1", want: []spec{{"10.0.0.53/32", emit.RoleRecursive, "dc1"}}},
		{in: "10.0.0.53@dc1, 2001:db8::/64=forwarder@fw.dc2", want: []spec{
			{"10.0.0.53/32", emit.RoleAuthoritative, "dc1"}, {"2001:db8::/64", emit.RoleForwarder, "fw.dc2"}}},
		{in: "10.0.0.53=recursive@", err: `--server "10.0.0.53=recursive@": empty identity after @`},
		{in: "10.0.0.300@dc1", err: `--server "10.0.0.300@dc1": not an address or CIDR`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			// Entries without =role take the default role (here authoritative).
			got, err := parseServers(tc.in, emit.RoleAuthoritative)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, errUsage) {
					t.Fatalf("error %v, want usage error %q", err, tc.err)
				}
				return
			}
			if err != nil || len(got) != len(tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
			}
			for i, w := range tc.want {
				g := got[i]
				if g.Prefix != netip.MustParsePrefix(w.prefix) || g.Role != w.role || g.Identity != w.identity {
					t.Errorf("entry %d: %v %v %q; want %+v", i, g.Prefix, g.Role, g.Identity, w)
				}
			}
		})
	}
	conf := filepath.Join(t.TempDir(), "s.conf")
	if err := os.WriteFile(conf, []byte("server 10.0.0.53=recursive@dc1,10.0.0.54@dc2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseOptions([]string{"--config", conf, "-r", "x.pcap"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ecfg, err := emitConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	if len(ecfg.Servers) != 2 || ecfg.Servers[0].Identity != "dc1" || ecfg.Servers[1].Identity != "dc2" {
		t.Fatalf("config file servers %+v, want identities dc1 and dc2", ecfg.Servers)
	}
}
