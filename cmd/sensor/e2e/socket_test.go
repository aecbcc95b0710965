package e2e

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestInteropSocket sends the sensor's dnstap to fstrm_capture over a unix
// socket and over TCP (the bidirectional Frame Streams handshake: READY,
// ACCEPT, START ... STOP, FINISH) and checks that what fstrm_capture
// wrote holds exactly the messages of the sensor's own file output.
func TestInteropSocket(t *testing.T) {
	bin := sensorBin(t)
	capture := testenv.NeedTool(t, "fstrm_capture", "fstrm-bin")
	pcap := pcapPath("lab_bind_tcp.pcap")
	want, _ := convert(t, pcap)

	for _, tc := range []struct {
		name string
		// listen returns fstrm_capture's arguments and the sensor's.
		listen func(dir string) (captureArgs, sensorArgs []string, ready func() bool)
	}{
		{"unix", func(dir string) ([]string, []string, func() bool) {
			sock := filepath.Join(dir, "dnstap.sock")
			return []string{"-u", sock}, []string{"-u", sock}, func() bool {
				_, err := os.Stat(sock)
				return err == nil
			}
		}},
		{"tcp", func(dir string) ([]string, []string, func() bool) {
			port := freePort(t)
			addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
			return []string{"-a", "127.0.0.1", "-p", strconv.Itoa(port)}, []string{"--tcp", addr}, func() bool {
				c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
				if err == nil {
					c.Close()
				}
				return err == nil
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			got := filepath.Join(dir, "capture.dnstap")
			capArgs, sensorArgs, ready := tc.listen(dir)
			fc := exec.Command(capture, append([]string{"-t", "protobuf:dnstap.Dnstap", "-w", got}, capArgs...)...)
			var fcErr bytes.Buffer
			fc.Stderr = &fcErr
			if err := fc.Start(); err != nil {
				t.Fatal(err)
			}
			// exited is closed, not sent on: both the clean stop below and
			// the cleanup wait on it.
			exited := make(chan struct{})
			go func() { _ = fc.Wait(); close(exited) }()
			t.Cleanup(func() {
				_ = fc.Process.Kill()
				<-exited
			})
			for deadline := time.Now().Add(10 * time.Second); !ready(); time.Sleep(20 * time.Millisecond) {
				if time.Now().After(deadline) {
					t.Fatalf("fstrm_capture not listening:\n%s", fcErr.String())
				}
			}
			_, stderr, err := runCmd(t, bin, append([]string{"-r", pcap}, sensorArgs...)...)
			if err != nil {
				t.Fatalf("sensor -r %s %v: %v\n%s", pcap, sensorArgs, err, stderr)
			}
			// fstrm_capture writes its file when it exits; SIGINT is its
			// clean stop.
			_ = fc.Process.Signal(syscall.SIGINT)
			select {
			case <-exited:
			case <-time.After(10 * time.Second):
				t.Fatalf("fstrm_capture did not exit on SIGINT:\n%s", fcErr.String())
			}
			a, err := os.Open(want)
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			b, err := os.Open(got)
			if err != nil {
				t.Fatalf("fstrm_capture wrote nothing: %v\n%s", err, fcErr.String())
			}
			defer b.Close()
			rep, err := tapfile.Compare(a, b, tapfile.CompareOptions{NameA: "sensor -w", NameB: "sensor " + tc.name + " via fstrm_capture", StrictType: true})
			if err != nil {
				t.Fatal(err)
			}
			if rep.MessagesA == 0 || rep.Matched != rep.MessagesA || len(rep.OnlyB) > 0 {
				t.Errorf("socket output differs from file output:\n%s\nsensor:\n%s\nfstrm_capture:\n%s", rep, stderr, fcErr.String())
			}
		})
	}
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
