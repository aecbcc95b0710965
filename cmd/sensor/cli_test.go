package main

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// TestCommandLineVocabulary checks the words the CLI shares with the
// packages it wires: roles are emit's (aliases too), link types are packet's,
// and read and compare answer -h like the capture command does.
func TestCommandLineVocabulary(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "other.pcap")
	os.WriteFile(other, pcapHeader(1), 0o644)
	unknownLink := filepath.Join(dir, "link147.pcap")
	os.WriteFile(unknownLink, pcapHeader(147), 0o644)
	readConfig := filepath.Join(dir, "read.conf")
	os.WriteFile(readConfig, []byte("r "+other+"\n"), 0o644)
	cutHeader := filepath.Join(dir, "cut13.pcap")
	os.WriteFile(cutHeader, pcapHeader(1)[:13], 0o644)
	twoReads := filepath.Join(dir, "two.conf")
	os.WriteFile(twoReads, []byte("r "+other+"\nr "+unknownLink+"\n"), 0o644)
	dns := pcap("dnscap_dns.pcap")

	tests := []struct {
		name   string
		args   []string
		code   int
		stderr string // substring of stderr
		stdout string // substring of stdout
	}{
		// dnscap_dns.pcap: 8.8.8.8 answers 172.17.0.10.
		{name: "role alias auth", args: []string{"-r", dns, "-q", "--role", "auth", "--server", "8.8.8.8"}, code: exitOK, stdout: "AR 172.17.0.10:"},
		{name: "role alias resolver", args: []string{"-r", dns, "-q", "--role", "resolver", "--server", "8.8.8.8"}, code: exitOK, stdout: "CR 172.17.0.10:"},
		{name: "server role alias", args: []string{"-r", dns, "-q", "--server", "8.8.8.8=auth"}, code: exitOK, stdout: "AR 172.17.0.10:"},
		{name: "server role overrides --role", args: []string{"-r", dns, "-q", "--role", "auth", "--server", "8.8.8.8=forwarder"}, code: exitOK, stdout: "CR 172.17.0.10:"},
		{name: "bad server role", args: []string{"-r", dns, "--server", "8.8.8.8=cache"}, code: exitUsage, stderr: `--server "8.8.8.8=cache": role "cache"`},
		{name: "r twice merges", args: []string{"-r", dns, "-r", other, "-q"}, code: exitOK, stdout: "CQ 172.17.0.10:", stderr: "sensor: 2 inputs: "},
		{name: "r on the command line wins over the config", args: []string{"--config", readConfig, "-r", dns, "-q"}, code: exitOK, stdout: "CQ 172.17.0.10:"},
		{name: "r twice in the config, one unreadable", args: []string{"--config", twoReads, "-q"}, code: exitFailure, stderr: unknownLink + ": unknown link type 147"},
		{name: "unknown link type lists the table", args: []string{"-r", unknownLink, "-q"}, code: exitFailure, stderr: "unknown link type 147 (supported: ETHERNET 1, RAW 101,"},
		{name: "13-byte pcap", args: []string{"-r", cutHeader, "-q"}, code: exitFailure, stderr: "sensor: capture: " + cutHeader + ": truncated file header\n"},
		{name: "read -h", args: []string{"read", "-h"}, code: exitOK, stderr: "usage: sensor read FILE"},
		{name: "read --help", args: []string{"read", "x.dnstap", "--help"}, code: exitOK, stderr: "usage: sensor read FILE"},
		{name: "compare -h", args: []string{"compare", "-h"}, code: exitOK, stderr: "usage: sensor compare"},
		{name: "compare --help", args: []string{"compare", "--help"}, code: exitOK, stderr: "-strict-type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, errb.String())
			}
			if tc.stderr != "" && !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tc.stderr)
			}
			if tc.stdout != "" && !strings.Contains(out.String(), tc.stdout) {
				t.Errorf("stdout does not contain %q:\n%.500s", tc.stdout, out.String())
			}
			if code == exitOK && strings.Contains(errb.String(), "sensor -h for help") {
				t.Errorf("help printed as an error:\n%s", errb.String())
			}
		})
	}
}

// TestOptionsParsedOnce checks that parseOptions leaves emit's types behind,
// so that nothing after it parses a role or an address again.
func TestOptionsParsedOnce(t *testing.T) {
	var errb bytes.Buffer
	o, err := parseOptions([]string{"-r", "x.pcap", "--role", "auth",
		"--server", "192.0.2.53,2001:db8::/64=resolver,198.51.100.7=forwarder",
		"--forwarder", "203.0.113.0/24"}, &errb)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := emitConfig(o)
	if err != nil {
		t.Fatal(err)
	}
	want := []emit.ServerSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: emit.RoleAuthoritative},
		{Prefix: netip.MustParsePrefix("2001:db8::/64"), Role: emit.RoleRecursive},
		{Prefix: netip.MustParsePrefix("198.51.100.7/32"), Role: emit.RoleForwarder},
	}
	if !slices.Equal(cfg.Servers, want) {
		t.Errorf("servers %v, want %v", cfg.Servers, want)
	}
	if fw := []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}; !slices.Equal(cfg.Forwarders, fw) {
		t.Errorf("forwarders %v, want %v", cfg.Forwarders, fw)
	}
	if o.defaultRole != emit.RoleAuthoritative {
		t.Errorf("default role %v, want authoritative", o.defaultRole)
	}
}
