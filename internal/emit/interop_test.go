package emit

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestToolsReadFile has every Debian dnstap reader read the sensor's file
// and checks that each sees every message.
func TestToolsReadFile(t *testing.T) {
	frames := sampleFrames(t)
	path := tempFile(t, writeFile(t, frames))
	for _, tc := range []struct {
		name, tool, pkg string
		args            []string // FILE stands for the file's path
		count           func(out string) int
		want            int
	}{
		{"dnstap-read-y", "dnstap-read", "bind9-dnsutils", []string{"-y", "FILE"}, func(s string) int { return strings.Count(s, "type: MESSAGE") }, len(frames)},
		{"dnstap-read-p", "dnstap-read", "bind9-dnsutils", []string{"-p", "FILE"}, func(s string) int { return strings.Count(s, ";; ->>HEADER<<-") }, len(frames)},
		{"kdig", "kdig", "knot-dnsutils", []string{"-G", "FILE", "+qr"}, func(s string) int { return strings.Count(s, ";; ->>HEADER<<-") }, len(frames)},
		// dnstap-ldns prints "[unhandled Dnstap.Message.Type]" for
		// UPDATE_QUERY/RESPONSE, which it does not know; it still reads
		// the frames.
		{"dnstap-ldns", "dnstap-ldns", "dnstap-ldns", []string{"-r", "FILE"}, func(s string) int { return strings.Count(s, "\n") }, len(frames)},
		{"go-dnstap-y", "dnstap", "golang-github-dnstap-golang-dnstap-cli", []string{"-y", "-r", "FILE"}, func(s string) int { return strings.Count(s, "type: MESSAGE") }, len(frames)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tool := testenv.NeedTool(t, tc.tool, tc.pkg)
			args := append([]string(nil), tc.args...)
			for i := range args {
				if args[i] == "FILE" {
					args[i] = path
				}
			}
			cmd := exec.Command(tool, args...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Run(); err != nil {
				t.Fatalf("%s %v: %v\n%s", tc.tool, args, err, stderr.String())
			}
			if got := tc.count(stdout.String()); got != tc.want {
				t.Fatalf("%s saw %d messages, want %d:\n%s", tc.tool, got, tc.want, stdout.String())
			}
		})
	}
}

// TestFstrmCaptureReceivesSocket has fstrm_capture (the reference Frame
// Streams receiver, in C) accept the SocketOutput's stream on a unix socket.
func TestFstrmCaptureReceivesSocket(t *testing.T) {
	tool := testenv.NeedTool(t, "fstrm_capture", "fstrm-bin")
	dir := t.TempDir()
	sock, file := filepath.Join(dir, "s"), filepath.Join(dir, "out.fstrm")
	cmd := exec.Command(tool, "-t", ContentType, "-u", sock, "-w", file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
		}
	}()
	// fstrm_capture gives no readiness signal but the socket file.
	for i := 0; ; i++ {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if i == 500 {
			t.Fatalf("fstrm_capture did not create its socket: %s", stderr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	frames := sampleFrames(t)
	sw, err := NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{{Network: "unix", Addr: sock}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := sw.WriteBatch(batchOf(frames)); err != nil {
		t.Fatal(err)
	}
	if err := sw.Close(); err != nil {
		t.Fatalf("Close (STOP/FINISH with fstrm_capture): %v", err)
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	<-exited
	f, err := os.Open(file)
	if err != nil {
		t.Fatalf("%v: %s", err, stderr.String())
	}
	defer f.Close()
	fr := NewFrameReader(f)
	n := 0
	for {
		b, err := fr.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b, frames[n]) {
			t.Fatalf("frame %d differs", n)
		}
		n++
	}
	if n != len(frames) {
		t.Fatalf("fstrm_capture wrote %d frames, want %d", n, len(frames))
	}
}
