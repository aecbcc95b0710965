package main

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestMain lets tests run the real main in a child process (the test binary
// re-executed), to check exit codes, signals and what reaches the disk.
func TestMain(m *testing.M) {
	if os.Getenv("SENSOR_TEST_RUN_MAIN") == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func pcap(name string) string {
	return filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name)
}

// countFrames reads a dnstap file with the emit reader and returns the
// number of data frames; it fails the test if the file is not a complete
// Frame Streams file (START … STOP).
func countFrames(t *testing.T, path string) int {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	r := emit.NewFrameReader(bytes.NewReader(data))
	n := 0
	for {
		_, err := r.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, n+1, err)
		}
		n++
	}
	stop := []byte{0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 3}
	if !bytes.HasSuffix(data, stop) {
		t.Fatalf("%s does not end with the STOP control frame", path)
	}
	return n
}

func TestCommandLine(t *testing.T) {
	dir := t.TempDir()
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("this is not a capture file at all, not even close"), 0o644)
	badConfig := filepath.Join(dir, "bad.conf")
	os.WriteFile(badConfig, []byte("# comment\nrole authoritative\nno-such-option 3\n"), 0o644)
	goodConfig := filepath.Join(dir, "good.conf")
	os.WriteFile(goodConfig, []byte("role = authoritative\nserver 8.8.8.8\n"), 0o644)
	unknownLink := filepath.Join(dir, "link147.pcap")
	os.WriteFile(unknownLink, pcapHeader(147), 0o644)

	tests := []struct {
		name     string
		args     []string
		code     int
		stderr   string // substring of the one error line
		stdout   string
		noOutput bool
	}{
		{name: "no input", args: []string{"-w", filepath.Join(dir, "x")}, code: exitUsage, stderr: "nothing to read"},
		{name: "bad flag", args: []string{"--no-such-flag"}, code: exitUsage, stderr: "flag provided but not defined"},
		{name: "bad role", args: []string{"-r", pcap("dnscap_dns.pcap"), "--role", "cache"}, code: exitUsage, stderr: `--role "cache"`},
		{name: "bad server", args: []string{"-r", pcap("dnscap_dns.pcap"), "--server", "10.0.0.300"}, code: exitUsage, stderr: `--server "10.0.0.300"`},
		{name: "bad limit", args: []string{"-r", pcap("dnscap_dns.pcap"), "--max-flows", "0"}, code: exitUsage, stderr: "--max-flows 0"},
		{name: "r and i", args: []string{"-r", "x", "-i", "eth0"}, code: exitUsage, stderr: "cannot be used together"},
		{name: "i any", args: []string{"-i", "eth0", "-i", "any"}, code: exitUsage, stderr: "-i any is not supported"},
		{name: "missing file", args: []string{"-r", filepath.Join(dir, "nope.pcap"), "-w", filepath.Join(dir, "o1")}, code: exitFailure, stderr: "no such file"},
		{name: "garbage file", args: []string{"-r", garbage, "-w", filepath.Join(dir, "o2")}, code: exitFailure, stderr: "garbage.pcap"},
		{name: "unknown link type", args: []string{"-r", unknownLink, "-w", filepath.Join(dir, "o3")}, code: exitFailure, stderr: "unknown link type 147"},
		{name: "unwritable output", args: []string{"-r", pcap("dnscap_dns.pcap"), "-w", filepath.Join(dir, "no", "such", "dir")}, code: exitFailure, stderr: "output:"},
		{name: "config error names line", args: []string{"--config", badConfig, "-r", pcap("dnscap_dns.pcap")}, code: exitUsage, stderr: "bad.conf:3: unknown option \"no-such-option\""},
		{name: "config applies", args: []string{"--config", goodConfig, "-r", pcap("dnscap_dns.pcap"), "-q"}, code: exitOK, stdout: "AR 172.17.0.10:"},
		{name: "flag after filter", args: []string{"-r", pcap("dnscap_dns.pcap"), "port 53", "-w", "x"}, code: exitUsage, stderr: "put flags first"},
		{name: "read missing", args: []string{"read"}, code: exitUsage, stderr: "which file"},
		{name: "compare one file", args: []string{"compare", "a"}, code: exitUsage, stderr: "want two dnstap files"},
		{name: "version", args: []string{"version"}, code: exitOK, stdout: "dnstap-sensor " + version},
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
			if strings.Contains(errb.String(), "goroutine ") || strings.Contains(errb.String(), "panic") {
				t.Errorf("stack trace on stderr:\n%s", errb.String())
			}
		})
	}
}

// pcapHeader returns a pcap global header with the given link type.
func pcapHeader(linkType uint32) []byte {
	b := make([]byte, 24)
	binary.LittleEndian.PutUint32(b[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(b[4:], 2)
	binary.LittleEndian.PutUint16(b[6:], 4)
	binary.LittleEndian.PutUint32(b[16:], 262144)
	binary.LittleEndian.PutUint32(b[20:], linkType)
	return b
}

func TestFileRunWritesEveryMessage(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out.dnstap")
	var errb bytes.Buffer
	if code := run([]string{"-r", pcap("dnscap_dns.pcap"), "-w", out}, io.Discard, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	// dnscap_dns.pcap holds 41 queries and their 41 responses over UDP.
	if n := countFrames(t, out); n != 82 {
		t.Errorf("%d frames, want 82", n)
	}
	for _, want := range []string{"DNS messages", "82  (UDP 82, TCP 0)", "CLIENT_QUERY 41 CLIENT_RESPONSE 41", "pairs matched                        41", "frames encoded                       82", "frames delivered                     82  -> "} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, errb.String())
		}
	}
}

func TestGzipStdin(t *testing.T) {
	raw, err := os.ReadFile(pcap("dnscap_dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	out := filepath.Join(t.TempDir(), "out.dnstap")
	cmd := exec.Command(os.Args[0], "-r", "-", "-w", out)
	cmd.Env = append(os.Environ(), "SENSOR_TEST_RUN_MAIN=1")
	cmd.Stdin = &gz
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if n := countFrames(t, out); n != 82 {
		t.Errorf("%d frames, want 82", n)
	}
}

// TestTruncatedCaptureKeepsOutput cuts a capture in the middle of a record:
// the run fails with a clear error, and every message before the cut is in a
// complete dnstap file.
func TestTruncatedCaptureKeepsOutput(t *testing.T) {
	raw, err := os.ReadFile(pcap("dnscap_dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cut := filepath.Join(dir, "cut.pcap")
	os.WriteFile(cut, raw[:len(raw)/2+7], 0o644)
	out := filepath.Join(dir, "out.dnstap")
	var errb bytes.Buffer
	code := run([]string{"-r", cut, "-w", out}, io.Discard, &errb)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, errb.String())
	}
	if !strings.Contains(errb.String(), "cut.pcap") {
		t.Errorf("error does not name the file: %s", errb.String())
	}
	if n := countFrames(t, out); n == 0 || n >= 82 {
		t.Errorf("%d frames before the cut, want some but not all of 82", n)
	}
}

// TestSIGTERMFlushes stops a run that waits on stdin with SIGTERM: the
// output must be a complete dnstap file with what was read.
func TestSIGTERMFlushes(t *testing.T) {
	raw, err := os.ReadFile(pcap("dnscap_dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.dnstap")
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-r", "-", "-w", out)
	cmd.Env = append(os.Environ(), "SENSOR_TEST_RUN_MAIN=1")
	cmd.Stdin = pr
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pr.Close()
	defer cmd.Process.Kill()
	defer pw.Close()
	if _, err := pw.Write(raw); err != nil { // the whole capture; the pipe stays open
		t.Fatal(err)
	}
	// Wait until the sensor has read everything: the pipe is empty.
	for deadline := time.Now().Add(10 * time.Second); ; {
		n, err := unix.IoctlGetInt(int(pw.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sensor did not read its input: %d bytes left", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Reading is done; give the loop time to process 133 packets (it takes
	// microseconds) and block in the next read. This wait is not a speed
	// check: a slower machine only makes the test fail safe (fewer frames).
	time.Sleep(500 * time.Millisecond)
	// Only the signal can end the run now: the writer never closes.
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("the sensor did not stop on SIGTERM while waiting on stdin")
	}
	if err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	if n := countFrames(t, out); n != 82 {
		t.Errorf("%d frames, want 82", n)
	}
}
