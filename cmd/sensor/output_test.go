package main

import (
	"bytes"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

func TestOutputFlags(t *testing.T) {
	in := pcap("dnscap_dns.pcap")
	tests := []struct {
		name   string
		args   []string
		err    string // substring of the usage error; "" for success
		want   []string
		rotate emit.FileConfig
	}{
		{name: "default", args: nil, want: []string{"stdout (quiet)"}},
		{name: "file", args: []string{"-w", "a.dnstap"}, want: []string{"a.dnstap"}},
		{name: "text into -w", args: []string{"-w", "a.json", "-j"}, want: []string{"a.json"}},
		{name: "three at once", args: []string{"-w", "a.dnstap", "-u", "/run/x.sock", "-j", "-"}, want: []string{"a.dnstap", "stdout (json)", "unix:/run/x.sock"}},
		{name: "text beside socket", args: []string{"--tcp", "c:6000", "-y"}, want: []string{"stdout (yaml)", "tcp:c:6000"}},
		{name: "receivers", args: []string{"--tcp", "a:6000", "--tcp", "b:6000", "--balance", "round-robin"}, want: []string{"tcp:a:6000,tcp:b:6000"}},
		{name: "tls", args: []string{"--tcp", "a:6000", "--tls-ca", "ca.pem"}, want: []string{"tls:a:6000"}},
		{name: "rotation", args: []string{"-w", "a.dnstap", "--rotate-size", "256MiB", "--rotate-interval", "1h", "--rotate-keep", "20GiB"}, want: []string{"a.dnstap"},
			rotate: emit.FileConfig{Path: "a.dnstap", RotateSize: 256 << 20, RotateInterval: time.Hour, KeepBytes: 20 << 30}},
		{name: "keep count", args: []string{"-w", "a.dnstap", "--rotate-size", "1G", "--rotate-keep", "50"}, want: []string{"a.dnstap"},
			rotate: emit.FileConfig{Path: "a.dnstap", RotateSize: 1 << 30, KeepFiles: 50}},
		{name: "two stdouts", args: []string{"-w", "-", "-j", "-"}, err: "both write to stdout"},
		{name: "rotate without -w", args: []string{"-u", "x", "--rotate-size", "1M"}, err: "give -w FILE"},
		{name: "rotate text", args: []string{"-w", "a.txt", "-q", "--rotate-interval", "1h"}, err: "give -w FILE"},
		{name: "keep alone", args: []string{"-w", "a", "--rotate-keep", "3"}, err: "--rotate-keep needs"},
		{name: "tiny rotate", args: []string{"-w", "a", "--rotate-size", "1000"}, err: "at least 64KiB"},
		{name: "bad size", args: []string{"-w", "a", "--rotate-size", "12XB"}, err: "unknown unit"},
		{name: "bad balance", args: []string{"-u", "x", "--balance", "random"}, err: "--balance"},
		{name: "tls without tcp", args: []string{"-u", "x", "--tls-ca", "ca.pem"}, err: "need --tcp"},
		{name: "cert without key", args: []string{"--tcp", "a:1", "--tls-cert", "c.pem"}, err: "go together"},
		{name: "spool without socket", args: []string{"-w", "a", "--spool", "/tmp"}, err: "need -u or --tcp"},
		{name: "bad tcp", args: []string{"--tcp", "nohost"}, err: "want host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOptions(append([]string{"-r", in}, tc.args...), io.Discard)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for i := range o.outputs {
				names = append(names, o.outputs[i].name())
			}
			if strings.Join(names, " ") != strings.Join(tc.want, " ") {
				t.Errorf("outputs %q, want %q", names, tc.want)
			}
			got := o.outputs[0].file
			if tc.rotate.Path != "" && (got.Path != tc.rotate.Path || got.RotateSize != tc.rotate.RotateSize ||
				got.RotateInterval != tc.rotate.RotateInterval || got.KeepBytes != tc.rotate.KeepBytes || got.KeepFiles != tc.rotate.KeepFiles) {
				t.Errorf("file config %+v, want %+v", o.outputs[0].file, tc.rotate)
			}
		})
	}
}

// readFrames returns the data frames of a complete Frame Streams file.
func readFrames(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fr := emit.NewFrameReader(bytes.NewReader(data))
	var frames [][]byte
	for {
		f, err := fr.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(frames)+1, err)
		}
		frames = append(frames, append([]byte(nil), f...))
	}
	if !fr.Stopped() {
		t.Fatalf("%s does not end with STOP", path)
	}
	return frames
}

// dnstapRead checks that BIND's dnstap-read reads the whole file and
// returns the number of messages it printed.
func dnstapRead(t *testing.T, path string) int {
	t.Helper()
	tool := testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	out, err := exec.Command(tool, path).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read %s: %v\n%s", path, err, out)
	}
	return strings.Count(string(out), "\n")
}

func sameFrames(t *testing.T, what string, got, want [][]byte) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d frames, want %d", what, len(got), len(want))
	}
	for i := range got {
		if !bytes.Equal(got[i], want[i]) {
			t.Fatalf("%s: frame %d differs", what, i)
		}
	}
}

const singleName = "single.dnstap"

// singleRun converts pcap with one -w output and returns its frames.
func singleRun(t *testing.T, in string) [][]byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), singleName)
	var errb bytes.Buffer
	if code := run([]string{"-r", in, "-w", out}, io.Discard, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	return readFrames(t, out)
}

// receiver accepts Frame Streams connections on a unix socket and collects
// every frame, until the listener is closed.
func receiver(t *testing.T, path string) (frames func() [][]byte) {
	t.Helper()
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan [][]byte, 1)
	go func() {
		var all [][]byte
		defer func() { got <- all }()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			fr, err := emit.NewBidiFrameReader(c)
			if err != nil {
				c.Close()
				continue
			}
			for {
				f, err := fr.ReadFrame()
				if err != nil {
					break
				}
				all = append(all, append([]byte(nil), f...))
			}
			c.Close()
			l.Close() // one connection is all a file run makes
		}
	}()
	return func() [][]byte { return <-got }
}

// TestSeveralOutputs writes a file, a socket and JSON on stdout at once:
// each holds exactly what a single-output run writes.
func TestSeveralOutputs(t *testing.T) {
	in := pcap("lab_realworld_big.pcap")
	want := singleRun(t, in)
	dir := t.TempDir()
	sock := filepath.Join(dir, "r.sock")
	frames := receiver(t, sock)
	file := filepath.Join(dir, "local.dnstap")
	var out, errb bytes.Buffer
	if code := run([]string{"-r", in, "-w", file, "-u", sock, "-j", "-"}, &out, &errb); code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	sameFrames(t, "file", readFrames(t, file), want)
	sameFrames(t, "socket", frames(), want)
	if n := strings.Count(out.String(), "\n"); n != len(want) {
		t.Errorf("%d JSON lines, want %d", n, len(want))
	}
	for _, name := range []string{file, "unix:" + sock, "stdout (json)"} {
		line := regexp.MustCompile(`frames delivered\s+(\d+)\s+-> ` + regexp.QuoteMeta(name) + ` \(closed\)`).FindStringSubmatch(errb.String())
		if line == nil || line[1] != strconv.Itoa(len(want)) {
			t.Errorf("summary line of %s: %v, want %d delivered:\n%s", name, line, len(want), errb.String())
		}
	}
}

// TestDeadOutputCounted sends to a receiver that is not there beside a
// file: the file gets everything, the socket's frames are dropped and
// counted exactly, and the run fails saying how many and why.
func TestDeadOutputCounted(t *testing.T) {
	in := pcap("dnscap_dns.pcap")
	dir := t.TempDir()
	file := filepath.Join(dir, "local.dnstap")
	sock := filepath.Join(dir, "nobody.sock")
	var errb bytes.Buffer
	code := run([]string{"-r", in, "-w", file, "-u", sock}, io.Discard, &errb)
	if code != exitFailure {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFailure, errb.String())
	}
	if n := len(readFrames(t, file)); n != 82 {
		t.Errorf("file holds %d frames, want 82", n)
	}
	for _, want := range []string{
		"frames encoded                       82\n",
		"frames delivered                     82  -> " + file + " (closed)\n",
		"frames delivered                      0  -> unix:" + sock + " (closed)\n",
		"dropped                            82  (disconnected 82)\n",
		"output unix:" + sock + ": 82 frames dropped (disconnected 82)",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if n := strings.Count(errb.String(), "until the receiver is back"); n != 1 {
		t.Errorf("%d log lines about the receiver, want 1:\n%s", n, errb.String())
	}
}

// TestRotationFromFile rotates a file run by size: every file is complete
// and read by dnstap-read, and together they hold every frame once, in
// order; --rotate-keep bounds what is left.
func TestRotationFromFile(t *testing.T) {
	in := pcap("lab_realworld_big.pcap")
	wantFile := filepath.Join(t.TempDir(), "single.dnstap")
	if code := run([]string{"-r", in, "-w", wantFile}, io.Discard, io.Discard); code != exitOK {
		t.Fatalf("exit %d", code)
	}
	want := readFrames(t, wantFile)
	for _, keep := range []int{0, 2} {
		dir := t.TempDir()
		args := []string{"-r", in, "-w", filepath.Join(dir, "sensor.dnstap"), "--rotate-size", "64KiB"}
		if keep > 0 {
			args = append(args, "--rotate-keep", strconv.Itoa(keep))
		}
		var errb bytes.Buffer
		if code := run(args, io.Discard, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		entries, _ := os.ReadDir(dir)
		var names []string
		for _, e := range entries {
			names = append(names, filepath.Join(dir, e.Name()))
		}
		sort.Strings(names)
		var got [][]byte
		printed := 0
		for _, n := range names {
			if !regexp.MustCompile(`/sensor\.\d{8}T\d{6}Z(_\d{3})?\.dnstap$`).MatchString(n) {
				t.Errorf("unexpected file %s", n)
			}
			fi, _ := os.Stat(n)
			if fi.Size() > 64<<10 {
				t.Errorf("%s: %d bytes, over --rotate-size", n, fi.Size())
			}
			got = append(got, readFrames(t, n)...)
			printed += dnstapRead(t, n)
		}
		switch {
		case keep == 0 && len(names) < 3:
			t.Fatalf("%d files: the test needs several", len(names))
		case keep == 0:
			sameFrames(t, "rotated files", got, want)
			// dnstap-read skips one 28 KB TCP answer of this capture
			// (it prints nothing for it, in the single file too):
			// the files together must print what the single file does.
			if single := dnstapRead(t, wantFile); printed != single {
				t.Errorf("dnstap-read prints %d messages of the files, %d of the single file", printed, single)
			}
		case len(names) != keep:
			t.Errorf("%d files left, want %d", len(names), keep)
		default:
			sameFrames(t, "kept files", got, want[len(want)-len(got):])
		}
	}
}

// TestSIGHUPAfterMove is logrotate on a file run fed through a pipe: the
// file is moved, SIGHUP arrives, and the run goes on into a new file. Both
// files are complete, and together they hold every frame once. SIGHUP does
// not stop the sensor.
func TestSIGHUPAfterMove(t *testing.T) {
	raw, err := os.ReadFile(pcap("dnscap_dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	// The first part holds more than one 256 KiB batch of frames, so the
	// queue writes a full batch to the first file while the rest waits in
	// the reading goroutine's partial batch (it is handed over with the
	// next frame, after the SIGHUP, into the second file).
	first := append([]byte(nil), raw[:24]...)
	for i := 0; i < 40; i++ {
		first = append(first, raw[24:]...)
	}
	whole := append(append([]byte(nil), first...), raw[24:]...)
	in := filepath.Join(t.TempDir(), "in.pcap")
	if err := os.WriteFile(in, whole, 0o644); err != nil {
		t.Fatal(err)
	}
	want := singleRun(t, in)
	half := len(first)
	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.dnstap")
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
	drained := func() {
		for deadline := time.Now().Add(10 * time.Second); ; {
			n, err := unix.IoctlGetInt(int(pw.Fd()), unix.TIOCINQ)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("the sensor did not read its input: %d bytes left", n)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if _, err := pw.Write(whole[:half]); err != nil {
		t.Fatal(err)
	}
	drained()
	// Give the queue's writer time to write the full batch. Not a speed
	// check: a slower machine only moves frames between the two files,
	// and the test checks their sum.
	time.Sleep(500 * time.Millisecond)
	if err := os.Rename(out, out+".1"); err != nil {
		t.Fatal(err)
	}
	cmd.Process.Signal(syscall.SIGHUP)
	time.Sleep(1500 * time.Millisecond) // the reopen happens at the next flush
	if _, err := pw.Write(whole[half:]); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("%v: %s", err, errb.String())
	}
	before, after := readFrames(t, out+".1"), readFrames(t, out)
	if len(before) == 0 || len(after) == 0 {
		t.Errorf("frames %d before and %d after the SIGHUP: want both files used", len(before), len(after))
	}
	sameFrames(t, "both files", append(before, after...), want)
	for _, f := range []string{out + ".1", out} {
		if c, n := dnstapRead(t, f), len(readFrames(t, f)); c != n {
			t.Errorf("dnstap-read reads %d messages of %s, which holds %d", c, f, n)
		}
	}
	if strings.Contains(errb.String(), "moved aside") {
		t.Errorf("the file was moved away before the SIGHUP: nothing to move aside:\n%s", errb.String())
	}
}

// TestRestartKeepsExistingFile runs twice on the same -w path: the first
// run's file is moved aside whole, never truncated.
func TestRestartKeepsExistingFile(t *testing.T) {
	in := pcap("dnscap_dns.pcap")
	dir := t.TempDir()
	out := filepath.Join(dir, "sensor.dnstap")
	for i := 0; i < 2; i++ {
		var errb bytes.Buffer
		if code := run([]string{"-r", in, "-w", out}, io.Discard, &errb); code != exitOK {
			t.Fatalf("exit %d: %s", code, errb.String())
		}
		if i == 1 && !strings.Contains(errb.String(), "existing file moved aside to ") {
			t.Errorf("no line about the moved file:\n%s", errb.String())
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("%d files, want 2", len(entries))
	}
	for _, e := range entries {
		if n := len(readFrames(t, filepath.Join(dir, e.Name()))); n != 82 {
			t.Errorf("%s holds %d frames, want 82", e.Name(), n)
		}
	}
}

// TestDiskFullFileRun writes a file run onto a tmpfs too small for it: no
// crash, one clear line, the lost frames counted as write_error, the file
// complete with what fit, encoded = delivered + dropped, and a non-zero exit.
func TestDiskFullFileRun(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=96k"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	in := pcap("lab_realworld_big.pcap") // about 250 KB of frames
	out := filepath.Join(dir, "sensor.dnstap")
	var errb bytes.Buffer
	code := run([]string{"-r", in, "-w", out}, io.Discard, &errb)
	stderr := errb.String()
	if code != exitFailure || strings.Contains(stderr, "panic") {
		t.Fatalf("exit %d, want %d:\n%s", code, exitFailure, stderr)
	}
	num := func(re string) int {
		m := regexp.MustCompile(re).FindStringSubmatch(stderr)
		if m == nil {
			t.Fatalf("no %q in:\n%s", re, stderr)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	encoded := num(`frames encoded\s+(\d+)`)
	delivered := num(`frames delivered\s+(\d+)  -> ` + regexp.QuoteMeta(out))
	droppedN := num(`dropped\s+(\d+)  \(write_error \d+\)`)
	if encoded == 0 || droppedN == 0 || delivered+droppedN != encoded {
		t.Errorf("encoded %d, delivered %d, dropped %d: want drops and encoded = delivered + dropped", encoded, delivered, droppedN)
	}
	if n := strings.Count(stderr, "no space left on device; frames are dropped (write_error)"); n != 1 {
		t.Errorf("%d lines about the full disk, want 1:\n%s", n, stderr)
	}
	if !strings.Contains(stderr, "output "+out+": "+strconv.Itoa(droppedN)+" frames dropped (write_error ") {
		t.Errorf("the exit error does not count the drops:\n%s", stderr)
	}
	var inFiles int
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		inFiles += len(readFrames(t, filepath.Join(dir, e.Name())))
	}
	if inFiles != delivered {
		t.Errorf("the files hold %d frames, the summary says %d delivered", inFiles, delivered)
	}
}
