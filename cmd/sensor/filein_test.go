package main

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// convert runs the sensor on args plus "-w OUT --identity t" and returns
// the dnstap file's bytes, the exit code and stderr.
func convert(t *testing.T, args ...string) ([]byte, int, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.dnstap")
	var stdout, stderr bytes.Buffer
	code := run(append(args, "-w", out, "--identity", "t", "--no-progress"), &stdout, &stderr)
	b, err := os.ReadFile(out)
	if err != nil && code == exitOK {
		t.Fatalf("no output: %v\n%s", err, stderr.String())
	}
	return b, code, stderr.String()
}

// splitWithEditcap cuts a capture into files of n packets each (editcap
// -c) and returns them in time order.
func splitWithEditcap(t *testing.T, src string, n int) []string {
	t.Helper()
	editcap := testenv.NeedTool(t, "editcap", "wireshark-common")
	dir := t.TempDir()
	if out, err := exec.Command(editcap, "-F", "pcap", "-c", fmt.Sprint(n), src, filepath.Join(dir, "part.pcap")).CombinedOutput(); err != nil {
		t.Fatalf("editcap: %v\n%s", err, out)
	}
	parts, _ := filepath.Glob(filepath.Join(dir, "part_*.pcap"))
	if len(parts) < 3 {
		t.Fatalf("editcap made %d parts of %s, want at least 3", len(parts), src)
	}
	slices.Sort(parts) // editcap numbers them in order
	return parts
}

// TestSplitCaptureEqualsWhole: a capture cut into pieces, given in reverse
// order, as a directory, as a quoted pattern and as the shell would expand
// one, converts to the very bytes of the whole capture: responses pair with
// queries in another file and TCP connections that span files are
// reassembled.
func TestSplitCaptureEqualsWhole(t *testing.T) {
	for _, c := range []struct {
		name string
		n    int // packets per piece
	}{
		{"dnscap_dns.pcap", 7},   // UDP: queries and answers in different files
		{"lab_bind_tcp.pcap", 5}, // TCP connections across files
		{"lab_realworld_dnsperf_tcp.pcap", 150},
		{"lab_bind_frag.pcap", 3}, // fragments of one datagram in different files
	} {
		t.Run(c.name, func(t *testing.T) {
			whole, code, stderr := convert(t, "-r", pcap(c.name))
			if code != exitOK {
				t.Fatalf("whole capture: exit %d\n%s", code, stderr)
			}
			parts := splitWithEditcap(t, pcap(c.name), c.n)
			reversed := slices.Clone(parts)
			slices.Reverse(reversed)
			dir := filepath.Dir(parts[0])
			var onePerFile []string
			for _, p := range reversed {
				onePerFile = append(onePerFile, "-r", p)
			}
			variants := map[string][]string{
				"one -r per file, newest first": onePerFile,
				"directory":                     {"-r", dir},
				"quoted pattern":                {"-r", filepath.Join(dir, "part_*.pcap")},
				"shell-expanded, newest first":  append([]string{"-r"}, reversed...),
			}
			for name, args := range variants {
				got, code, stderr := convert(t, args...)
				if code != exitOK {
					t.Fatalf("%s: exit %d\n%s", name, code, stderr)
				}
				if !bytes.Equal(got, whole) {
					t.Errorf("%s: %d bytes of dnstap, the whole capture gives %d (or other bytes)", name, len(got), len(whole))
				}
				if !regexp.MustCompile(fmt.Sprintf(`input files +%d +\(%d read in full, 0 failed`, len(parts), len(parts))).MatchString(stderr) {
					t.Errorf("%s: summary does not count %d input files:\n%s", name, len(parts), stderr)
				}
			}
		})
	}
}

// writePcap writes frames as a nanosecond pcap of one link type.
func writePcap(t *testing.T, path string, link packet.LinkType, frames []packet.Frame) {
	t.Helper()
	b := binary.LittleEndian.AppendUint32(nil, 0xa1b23c4d)
	b = binary.LittleEndian.AppendUint16(b, 2)
	b = binary.LittleEndian.AppendUint16(b, 4)
	b = append(b, make([]byte, 8)...)
	b = binary.LittleEndian.AppendUint32(b, 262144)
	b = binary.LittleEndian.AppendUint32(b, uint32(link))
	for _, f := range frames {
		b = binary.LittleEndian.AppendUint32(b, uint32(f.Timestamp/1e9))
		b = binary.LittleEndian.AppendUint32(b, uint32(f.Timestamp%1e9))
		b = binary.LittleEndian.AppendUint32(b, uint32(len(f.Data)))
		b = binary.LittleEndian.AppendUint32(b, uint32(f.WireLen))
		b = append(b, f.Data...)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readCaptureFrames(t *testing.T, path string) []packet.Frame {
	t.Helper()
	src, err := capture.OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var out []packet.Frame
	var f packet.Frame
	for {
		if err := src.Next(&f); err == io.EOF {
			return out
		} else if err != nil {
			t.Fatal(err)
		}
		g := f
		g.Data = bytes.Clone(f.Data)
		out = append(out, g)
	}
}

// TestOverlappingCapturePoints: two captures of the same period (every
// other packet seen at each of two points) interleave by capture time, so
// the merge converts to the whole capture's bytes whatever the order given.
func TestOverlappingCapturePoints(t *testing.T) {
	frames := readCaptureFrames(t, pcap("dnscap_dns.pcap"))
	var a, b []packet.Frame
	for i, f := range frames {
		if i%2 == 0 {
			a = append(a, f)
		} else {
			b = append(b, f)
		}
	}
	dir := t.TempDir()
	pa, pb := filepath.Join(dir, "point-a.pcap"), filepath.Join(dir, "point-b.pcap")
	writePcap(t, pa, packet.LinkTypeEthernet, a)
	writePcap(t, pb, packet.LinkTypeEthernet, b)
	whole, _, _ := convert(t, "-r", pcap("dnscap_dns.pcap"))
	for _, args := range [][]string{{"-r", pa, "-r", pb}, {"-r", pb, "-r", pa}} {
		got, code, stderr := convert(t, args...)
		if code != exitOK || !bytes.Equal(got, whole) {
			t.Fatalf("%v: exit %d, %d bytes; want the whole capture's %d bytes\n%s", args, code, len(got), len(whole), stderr)
		}
	}
}

// TestCorruptFileAmongGood: a corrupt file and a missing one are named, the
// good files are converted, and the exit code says that something is
// missing.
func TestCorruptFileAmongGood(t *testing.T) {
	parts := splitWithEditcap(t, pcap("dnscap_dns.pcap"), 20)
	dir := filepath.Dir(parts[0])
	bad := filepath.Join(dir, "part_99999_corrupt.pcap")
	whole, _ := os.ReadFile(parts[0])
	os.WriteFile(bad, append(whole[:24:24], 0xff, 0xff, 0xff, 0xff, 1, 2, 3), 0o644) // a header, then a cut record
	missing := filepath.Join(dir, "never-written.pcap")

	all, _, _ := convert(t, "-r", parts[0], "-r", parts[1])
	got, code, stderr := convert(t, "-r", parts[0], "-r", bad, "-r", missing, "-r", parts[1])
	if code != exitFailure {
		t.Fatalf("exit %d, want %d\n%s", code, exitFailure, stderr)
	}
	for _, want := range []string{bad, missing, "2 of the inputs could not be read in full"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr does not name %q:\n%s", want, stderr)
		}
	}
	if !bytes.Equal(got, all) {
		t.Errorf("the good files gave %d bytes, %d without the bad ones", len(got), len(all))
	}
}

// TestWorkersGiveTheSameFrames: --workers 1 and --workers 4 write the same
// bytes for every bundled capture.
func TestWorkersGiveTheSameFrames(t *testing.T) {
	for _, p := range testenv.Pcaps(t) {
		one, code1, _ := convert(t, "-r", p)
		four, code4, stderr := convert(t, "-r", p, "--workers", "4")
		if code1 != code4 || !bytes.Equal(one, four) {
			t.Errorf("%s: --workers 4 gave exit %d and %d bytes, --workers 1 exit %d and %d bytes\n%s",
				filepath.Base(p), code4, len(four), code1, len(one), stderr)
		}
	}
}
