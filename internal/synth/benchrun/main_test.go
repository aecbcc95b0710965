package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

func TestOutputArg(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"none", []string{"-y"}, ""},
		{"separate", []string{"--server", "192.0.2.53", "-w", "/tmp/o.dnstap"}, "/tmp/o.dnstap"},
		{"double dash", []string{"--w", "o.dnstap"}, "o.dnstap"},
		{"equals", []string{"-w=o.dnstap"}, "o.dnstap"},
		{"stdout", []string{"-w", "-"}, ""},
		{"dangling", []string{"-w"}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := outputArg(tc.args); got != tc.want {
				t.Fatalf("outputArg(%q) = %q, want %q", tc.args, got, tc.want)
			}
		})
	}
}

func TestAllocScanner(t *testing.T) {
	tests := []struct {
		name   string
		stderr string
		want   int64
	}{
		{"absent", "sensor: 10 packets\n", -1},
		{"summary line", "  DNS messages 10\n  heap allocs          1234\n", 1234},
		{"colon, last wins", "heap_allocs: 5\nheap allocs: 7\n", 7},
		{"no final newline", "heap allocs 9", 9},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var sink countWriter
			a := &allocScanner{w: &sink, allocs: -1}
			// Byte by byte: lines split across writes must still match.
			for i := 0; i < len(tc.stderr); i++ {
				if _, err := a.Write([]byte{tc.stderr[i]}); err != nil {
					t.Fatal(err)
				}
			}
			a.flush()
			if a.allocs != tc.want || sink.n != int64(len(tc.stderr)) {
				t.Fatalf("allocs %d (want %d), passed %d bytes", a.allocs, tc.want, sink.n)
			}
		})
	}
}

// TestOnce runs real commands: cat's stdout is counted as the output, cp's
// file after -w-like naming is sized, and a failing command is an error.
func TestOnce(t *testing.T) {
	cat := testenv.NeedTool(t, "cat", "coreutils")
	cp := testenv.NeedTool(t, "cp", "coreutils")
	dir := t.TempDir()
	in := filepath.Join(dir, "in.pcap")
	if err := os.WriteFile(in, make([]byte, 123456), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(in+".json", []byte(`{"Messages": 42, "Packets": 84}`), 0o644); err != nil {
		t.Fatal(err)
	}
	sc, err := readSidecar(in)
	if err != nil || sc.Messages != 42 || sc.Packets != 84 {
		t.Fatalf("readSidecar = %+v, %v", sc, err)
	}
	out := filepath.Join(dir, "out")
	tests := []struct {
		name    string
		bin     string
		args    []string
		out     string
		want    int64
		wantErr bool
	}{
		{"stdout counted", cat, []string{in}, "", 123456, false},
		{"file sized", cp, []string{in, out}, out, 123456, false},
		{"failure", cat, []string{filepath.Join(dir, "missing")}, "", 0, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := once(tc.bin, tc.args, tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.wantErr {
				return
			}
			if r.OutBytes != tc.want {
				t.Errorf("OutBytes = %d, want %d", r.OutBytes, tc.want)
			}
			if r.Wall <= 0 || r.MaxRSS <= 0 {
				t.Errorf("no measurement: %+v", r)
			}
		})
	}
}
