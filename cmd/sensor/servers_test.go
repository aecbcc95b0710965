package main

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestParseServers: --server ADDR[=ROLE][@IDENTITY], comma-separated, on
// the command line and in a config file alike.
func TestParseServers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []serverSpec
		err  string
	}{
		{in: "10.0.0.53", want: []serverSpec{{prefix: netip.MustParsePrefix("10.0.0.53/32")}}},
		{in: "10.0.0.53=authoritative", want: []serverSpec{{prefix: netip.MustParsePrefix("10.0.0.53/32"), role: "authoritative"}}},
		{in: "10.0.0.53=recursive@dc1", want: []serverSpec{{prefix: netip.MustParsePrefix("10.0.0.53/32"), role: "recursive", identity: "dc1"}}},
		{in: "10.0.0.53@dc1, 2001:db8::/64=forwarder@fw.dc2", want: []serverSpec{
			{prefix: netip.MustParsePrefix("10.0.0.53/32"), identity: "dc1"},
			{prefix: netip.MustParsePrefix("2001:db8::/64"), role: "forwarder", identity: "fw.dc2"}}},
		{in: "10.0.0.53=recursive@", err: `--server "10.0.0.53=recursive@": empty identity after @`},
		{in: "10.0.0.53=cache@dc1", err: `--server "10.0.0.53=cache@dc1": role "cache": want recursive, authoritative or forwarder`},
		{in: "10.0.0.300@dc1", err: `--server "10.0.0.300@dc1": not an address or CIDR`},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseServers(tc.in)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err || !errors.Is(err, errUsage) {
					t.Fatalf("error %v, want usage error %q", err, tc.err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tc.want) {
				t.Fatalf("got %+v, %v; want %+v", got, err, tc.want)
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
	if len(ecfg.Servers) != 2 || string(ecfg.Servers[0].Identity) != "dc1" || string(ecfg.Servers[1].Identity) != "dc2" {
		t.Fatalf("config file servers %+v, want identities dc1 and dc2", ecfg.Servers)
	}
}
