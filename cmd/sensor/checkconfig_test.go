package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCheckConfig: each bad config gets every problem on its own line,
// with its line number, and exit 1; warnings alone exit 0.
func TestCheckConfig(t *testing.T) {
	dir := t.TempDir()
	pcapFile := pcap("dnscap_dns.pcap")
	pemFile := filepath.Join(dir, "not-pem.txt")
	if err := os.WriteFile(pemFile, []byte("not a certificate\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		conf string
		code int
		want []string // output lines after the file name, the summary last
	}{
		{"good file run", "r " + pcapFile + "\nw " + dir + "/out.dnstap\n", exitOK,
			[]string{"0 error(s), 0 warning(s)"}},
		{"unknown option", "i lo\nno-such-option 1\n", exitFailure,
			[]string{`:2: error: unknown option "no-such-option"`, "1 error(s), 0 warning(s)"}},
		{"config inside config", "i lo\nconfig /etc/x\n", exitFailure,
			[]string{`:2: error: unknown option "config"`, "1 error(s), 0 warning(s)"}},
		{"bad values", "i lo\nworkers many\nflow-timeout 5 minutes\nno-promisc maybe\n", exitFailure,
			[]string{`:2: error: workers "many": parse error`, `:3: error: flow-timeout "5 minutes": parse error`,
				`:4: error: no-promisc "maybe": parse error`, "3 error(s), 0 warning(s)"}},
		{"out of range", "i lo\n# a comment\nworkers 65\nring-blocks 2\n", exitFailure,
			[]string{":3: error: --workers 65: want 1 to 64",
				":4: error: --ring-blocks 2: want at least 8 (fewer blocks drop packets at rates tcpdump survives)",
				"2 error(s), 0 warning(s)"}},
		{"conflicting outputs", "i lo\nw -\ny -\n", exitFailure,
			[]string{":3: error: -w - and -y - both write to stdout: give one", "1 error(s), 0 warning(s)"}},
		{"tls without tcp", "i lo\nw " + dir + "/a.dnstap\ntls-ca " + pemFile + "\n", exitFailure,
			[]string{":3: error: --tls-ca, --tls-cert, --tls-key and --tls-server-name need --tcp", "1 error(s), 0 warning(s)"}},
		{"unreadable certificate", "i lo\ntcp 127.0.0.1:6000\ntls-cert " + dir + "/none.pem\ntls-key " + pemFile + "\n", exitFailure,
			[]string{":3: error: tls-cert: open " + dir + "/none.pem: no such file or directory", "1 error(s), 0 warning(s)"}},
		{"certificate that does not load", "i lo\ntcp 127.0.0.1:6000\ntls-cert " + pemFile + "\ntls-key " + pemFile + "\n", exitFailure,
			[]string{":3: error: emit: load TLS client certificate " + pemFile + " and key " + pemFile + ": tls: failed to find any PEM data in certificate input",
				"1 error(s), 0 warning(s)"}},
		{"CA without a certificate", "i lo\ntcp 127.0.0.1:6000\ntls-ca " + pemFile + "\n", exitFailure,
			[]string{":3: error: emit: read TLS CA file " + pemFile + ": no PEM certificate in it", "1 error(s), 0 warning(s)"}},
		{"file and interface", "r " + pcapFile + "\ni lo\n", exitFailure,
			[]string{":2: error: -r and -i cannot be used together", "1 error(s), 0 warning(s)"}},
		{"nothing to read", "workers 2\n", exitFailure,
			[]string{": error: nothing to read: give -r FILE or -i INTERFACE", "1 error(s), 0 warning(s)"}},
		{"servers and roles", "i lo\nrole cache\nserver 10.0.0.53=recursive@dc1, 10.0.0.300\n", exitFailure,
			[]string{`:2: error: --role "cache": emit: unknown role (want recursive, authoritative or forwarder)`,
				`:3: error: --server "10.0.0.300": not an address or CIDR`, "2 error(s), 0 warning(s)"}},
		{"missing files", "r " + dir + "/none.pcap\nw " + dir + "/no/such/out.dnstap\n", exitFailure,
			[]string{":1: error: r: no file or directory matches " + dir + "/none.pcap",
				":2: error: w: directory " + dir + "/no/such does not exist", "2 error(s), 0 warning(s)"}},
		{"user and metrics", "i lo\nuser no-such-user-h8\nmetrics localhost\n", exitFailure,
			[]string{`:2: error: --user "no-such-user-h8": user: unknown user no-such-user-h8`,
				":3: error: metrics: address localhost: missing port in address", "2 error(s), 0 warning(s)"}},
		{"warnings only", "i no-such-if0\ni lo\nworkers 2\nworkers 3\n", exitOK,
			[]string{`:1: warning: interface "no-such-if0" does not exist here (the sensor waits for it)`,
				":4: warning: workers is also set on line 3; this line wins", "0 error(s), 2 warning(s)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "_")+".conf")
			if err := os.WriteFile(path, []byte(tc.conf), 0o644); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"check-config", path}, &out, &errb)
			var want []string
			for _, w := range tc.want {
				if strings.HasPrefix(w, ":") {
					want = append(want, path+w)
				} else {
					want = append(want, path+": "+w)
				}
			}
			got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
			if code != tc.code || strings.Join(got, "\n") != strings.Join(want, "\n") || errb.Len() != 0 {
				t.Fatalf("exit %d, output:\n%s\nstderr %q\nwant exit %d, output:\n%s", code, out.String(), errb.String(), tc.code, strings.Join(want, "\n"))
			}
		})
	}
}

// exampleOptionRE matches an option line of packaging/sensor.conf: "name
// value" in use, or "#name value" (no space after #) left off.
var exampleOptionRE = regexp.MustCompile(`^#?([a-z][a-z0-9-]*)(?:\s+(.*))?$`)

// TestExampleConfigCoversEveryFlag: the packaged, documented config names
// every option of the flag set and nothing else, each with a valid value,
// and checks clean (but for the interface, which may not exist here), so
// the reference cannot drift from the flags.
func TestExampleConfigCoversEveryFlag(t *testing.T) {
	path := filepath.Join("..", "..", "packaging", "sensor.conf")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fs := newFlagSet(&options{}, &bytes.Buffer{})
	documented := map[string]bool{}
	for n, line := range strings.Split(string(data), "\n") {
		m := exampleOptionRE.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		name, value := m[1], strings.TrimSpace(m[2])
		f := fs.Lookup(name)
		if f == nil {
			t.Errorf("%s:%d: %q is no option of the sensor", path, n+1, name)
			continue
		}
		if isBool(f) && value == "" {
			value = "true"
		}
		if err := fs.Set(name, value); err != nil {
			t.Errorf("%s:%d: %s %q: %v", path, n+1, name, value, err)
		}
		documented[name] = true
	}
	fs.VisitAll(func(f *flag.Flag) {
		if !documented[f.Name] {
			t.Errorf("option %q (%s) is missing from %s", f.Name, f.Usage, path)
		}
	})

	// As installed: the log directory exists (the package creates it).
	logDir := t.TempDir()
	conf := filepath.Join(t.TempDir(), "sensor.conf")
	if err := os.WriteFile(conf, bytes.ReplaceAll(data, []byte("/var/log/dnstap-sensor"), []byte(logDir)), 0o644); err != nil {
		t.Fatal(err)
	}
	problems, err := checkConfig(conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if !p.warning || !strings.HasPrefix(p.msg, "interface ") {
			t.Errorf("%s:%d: %s", path, p.line, p.msg)
		}
	}
}
