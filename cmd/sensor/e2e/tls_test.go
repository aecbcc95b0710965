package e2e

import (
	"bytes"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
)

// TestE2ETLSOutput runs the sensor binary with --tcp and the --tls-* flags
// against a real TLS server (stunnel, verifyChain) in front of a real
// receiver (fstrm_capture): with the right CA and a client certificate every
// frame arrives exactly once, in the order of the -w file beside it; a
// receiver whose certificate comes from another CA, and one that wants a
// client certificate we do not give, are refused: the run exits 1 and says
// why, naming the receiver, and the -w file still holds every frame.
func TestE2ETLSOutput(t *testing.T) {
	bin := sensorBin(t)
	dir := t.TempDir()
	ca := lab.NewPKI(t, dir, "ca")
	other := lab.NewPKI(t, dir, "other")
	srvCert, srvKey := ca.Issue(t, "receiver", "receiver.test")
	cliCert, cliKey := ca.Issue(t, "sensor", "")
	capture := pcapPath("dnscap_dns.pcap")

	for _, tc := range []struct {
		name      string
		tlsFlags  []string
		wantCode  int
		wantInErr string // in stderr when refused
	}{
		{"mutual TLS", []string{"--tls-ca", ca.CAFile, "--tls-cert", cliCert, "--tls-key", cliKey, "--tls-server-name", "receiver.test"}, 0, ""},
		{"server from another CA", []string{"--tls-ca", other.CAFile, "--tls-cert", cliCert, "--tls-key", cliKey, "--tls-server-name", "receiver.test"}, 1, "certificate signed by unknown authority"},
		{"no client certificate", []string{"--tls-ca", ca.CAFile, "--tls-server-name", "receiver.test"}, 1, emit.ErrClientCertRequired.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmp := t.TempDir()
			backend := net.JoinHostPort("127.0.0.1", strconv.Itoa(lab.FreePort(t)))
			rx := lab.StartFstrmCapture(t, "tcp", backend, emit.ContentType, filepath.Join(tmp, "rx.fstrm"))
			tlsAddr := lab.StartStunnel(t, dir, srvCert, srvKey, ca.CAFile, backend)
			file := filepath.Join(tmp, "out.dnstap")
			args := append([]string{"-r", capture, "-w", file, "--tcp", tlsAddr, "--no-progress"}, tc.tlsFlags...)
			cmd := exec.Command(bin, args...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d:\n%s", code, tc.wantCode, stderr.String())
			}
			rx.Stop()
			written := completeFrames(t, file)
			received := completeFrames(t, rx.File)
			if len(written) != 82 {
				t.Fatalf("-w holds %d frames, want the capture's 82", len(written))
			}
			if tc.wantCode == 0 {
				if !equalFrames(received, written) {
					t.Fatalf("the receiver got %d frames, -w holds %d: want the same frames, once each, in order", len(received), len(written))
				}
				return
			}
			if len(received) != 0 {
				t.Fatalf("refused, yet the receiver got %d frames", len(received))
			}
			for _, want := range []string{tc.wantInErr, tlsAddr, "82 frames dropped (disconnected 82)"} {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
				}
			}
		})
	}
}

// TestE2ESpoolAcrossRuns: a file run whose receiver is down keeps its frames
// in the --spool directory (exit 0: nothing was lost); the next run, with
// the receiver up, sends them first and then its own, so the receiver's
// file equals the two runs' -w files one after the other, and the spool is
// empty again.
func TestE2ESpoolAcrossRuns(t *testing.T) {
	bin := sensorBin(t)
	tmp := t.TempDir()
	spool := filepath.Join(tmp, "spool")
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(lab.FreePort(t)))
	run := func(name string) (file, stderr string) {
		t.Helper()
		file = filepath.Join(tmp, name+".dnstap")
		cmd := exec.Command(bin, "-r", pcapPath("dnscap_dns.pcap"), "-w", file, "--tcp", addr, "--spool", spool, "--no-progress")
		var errb bytes.Buffer
		cmd.Stderr = &errb
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, errb.String())
		}
		return file, errb.String()
	}
	first, stderr := run("down")
	if !strings.Contains(stderr, "spooled") {
		t.Fatalf("receiver down: the summary does not say the frames were spooled:\n%s", stderr)
	}
	rx := lab.StartFstrmCapture(t, "tcp", addr, emit.ContentType, filepath.Join(tmp, "rx.fstrm"))
	second, stderr := run("up")
	rx.Stop()
	want := append(completeFrames(t, first), completeFrames(t, second)...)
	got := completeFrames(t, rx.File)
	if !equalFrames(got, want) {
		t.Fatalf("the receiver got %d frames; want the %d of both runs, the spooled ones first\n%s", len(got), len(want), stderr)
	}
	left, _ := filepath.Glob(filepath.Join(spool, "*.fstrm"))
	if len(left) != 0 {
		t.Fatalf("spool files left after they were sent: %v", left)
	}
}
