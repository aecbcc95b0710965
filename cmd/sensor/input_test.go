package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestFIFOStopsOnSignal runs the sensor on a FIFO (-r /path/to/fifo) and
// stops it with SIGTERM while it waits: for a writer that has not opened the
// FIFO yet, for one that is idle before the capture header, and for one that
// is idle after the whole capture. Each must end at once: the first two with
// a clear error (nothing was read), the last cleanly with every message in a
// complete dnstap file.
func TestFIFOStopsOnSignal(t *testing.T) {
	raw, err := os.ReadFile(pcap("dnscap_dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		writer bool   // open the FIFO for writing
		data   []byte // written, then the writer idles
		code   int
		stderr string
	}{
		{name: "no writer", code: exitFailure, stderr: "stopped by a signal before the capture header arrived"},
		{name: "idle writer before the header", writer: true, code: exitFailure, stderr: "stopped by a signal before the capture header arrived"},
		{name: "idle writer after the capture", writer: true, data: raw, code: exitOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			fifo := filepath.Join(dir, "in.fifo")
			if err := syscall.Mkfifo(fifo, 0o600); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "out.dnstap")
			cmd := exec.Command(os.Args[0], "-r", fifo, "-w", out)
			cmd.Env = append(os.Environ(), "SENSOR_TEST_RUN_MAIN=1")
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			defer cmd.Process.Kill()
			waitOpened(t, cmd.Process.Pid, fifo)
			if tc.writer {
				// The sensor holds the FIFO open for reading, so this
				// open does not wait.
				w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer w.Close()
				if _, err := w.Write(tc.data); err != nil {
					t.Fatal(err)
				}
				waitDrained(t, w)
			}
			// Let the sensor block in its read (microseconds of work for
			// 133 packets). This wait is not a speed check: on a slower
			// machine the signal only finds the sensor busier.
			time.Sleep(300 * time.Millisecond)
			cmd.Process.Signal(syscall.SIGTERM)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the sensor did not stop on SIGTERM while waiting on the FIFO")
			}
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Fatalf("exit %d, want %d: %s", code, tc.code, errb.String())
			}
			if !strings.Contains(errb.String(), tc.stderr) {
				t.Errorf("stderr %q does not contain %q", errb.String(), tc.stderr)
			}
			if tc.code == exitOK {
				if n := countFrames(t, out); n != 82 {
					t.Errorf("%d frames, want 82", n)
				}
			}
		})
	}
}

// waitOpened waits until process pid has path open: the sensor has
// installed its signal handling by then.
func waitOpened(t *testing.T, pid int, path string) {
	t.Helper()
	fdDir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		fds, _ := os.ReadDir(fdDir)
		for _, fd := range fds {
			if target, _ := os.Readlink(filepath.Join(fdDir, fd.Name())); target == path {
				return
			}
		}
	}
	t.Fatalf("the sensor did not open %s", path)
}

// waitDrained waits until the reader has taken everything written to w.
func waitDrained(t *testing.T, w *os.File) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		n, err := unix.IoctlGetInt(int(w.Fd()), unix.TIOCINQ)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sensor did not read its input: %d bytes left", n)
		}
	}
}
