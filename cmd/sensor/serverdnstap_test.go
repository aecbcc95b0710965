package main

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/merge"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
)

// TestServerDnstapFlags: every misuse of the --server-dnstap flags is one
// clear line and exit 2, before anything is opened.
func TestServerDnstapFlags(t *testing.T) {
	dns := pcap("dnscap_dns.pcap")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"bad endpoint", []string{"-r", dns, "--server-dnstap", "udp:1.2.3.4:53"}, `--server-dnstap "udp:1.2.3.4:53": want unix:PATH, tcp:HOST:PORT or file:PATH`},
		{"tcp without port", []string{"-i", "lo", "--server-dnstap", "tcp:127.0.0.1"}, `--server-dnstap "tcp:127.0.0.1": want`},
		{"empty file", []string{"-r", dns, "--server-dnstap", "file:"}, `--server-dnstap "file:": want`},
		{"socket with -r", []string{"-r", dns, "--server-dnstap", "unix:/tmp/x.sock"}, "they need -i"},
		{"file with -i", []string{"-i", "lo", "--server-dnstap", "file:/tmp/x.dnstap"}, "it needs -r"},
		{"bad mode", []string{"-r", dns, "--server-dnstap", "file:x", "--server-dnstap-mode", "fill"}, `--server-dnstap-mode "fill": want merge or verify`},
		{"mode alone", []string{"-r", dns, "--server-dnstap-mode", "verify"}, "need --server-dnstap"},
		{"window alone", []string{"-r", dns, "--server-dnstap-window", "5s"}, "need --server-dnstap"},
		{"tiny window", []string{"-r", dns, "--server-dnstap", "file:x", "--server-dnstap-window", "1ms"}, "--server-dnstap-window 1ms: want at least 100ms"},
		{"missing file", []string{"-r", dns, "--server-dnstap", "file:/nonexistent.dnstap", "-q"}, "--server-dnstap file:/nonexistent.dnstap: open"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tc.args, &out, &errb)
			want := exitUsage
			if tc.name == "missing file" {
				want = exitFailure
			}
			if code != want || !strings.Contains(errb.String(), tc.stderr) || strings.Count(errb.String(), "\n") != 1 {
				t.Fatalf("exit %d (want %d), stderr:\n%s\nwant one line with %q", code, want, errb.String(), tc.stderr)
			}
		})
	}
}

// TestMergeKindsClassified: every counter the Merger and the Receiver
// list has a kind in the summary and the metrics.
func TestMergeKindsClassified(t *testing.T) {
	m, err := merge.New(merge.Config{})
	if err != nil {
		t.Fatal(err)
	}
	r := merge.NewReceiver(merge.ReceiverConfig{})
	defer r.Close()
	n := 0
	mergeCounters{&serverDnstap{m: m, recv: r}}.EachKind(func(name string, k stat.Kind, _ uint64) {
		n++
		if k == stat.Unclassified {
			t.Errorf("counter %s has no kind", name)
		}
	})
	if n != len(mergeKinds) {
		t.Fatalf("%d counters listed, %d classified: a stale entry in mergeKinds", n, len(mergeKinds))
	}
}

// TestServerDnstapFile merges lab captures with BIND's own dnstap of the
// same traffic, offline (--server-dnstap file:), into two outputs at once
// (and again with every third of BIND's frames removed, as a server's
// dnstap that drops),
// and checks the run against tapfile.Compare of BIND's file and a
// wire-only run: each BIND frame byte for byte, a filled frame for each
// wire message BIND's lacks, the summary's counts; verify mode writes
// BIND's frames alone and counts the same.
func TestServerDnstapFile(t *testing.T) {
	server := lab.ServerV4.String() + "," + lab.ServerV6.String()
	for _, name := range []string{"lab_bind_udp", "lab_bind_tcp", "lab_bind_frag", "lab_realworld_dnsperf_tcp", "lab_realworld_big",
		"lab_realworld_dnsperf_tcp thinned", "lab_bind_udp thinned"} {
		t.Run(name, func(t *testing.T) {
			base, thinned := strings.CutSuffix(name, " thinned")
			in, bind := pcap(base+".pcap"), pcap(base+".bind.dnstap")
			if thinned {
				var keep [][]byte
				for i, f := range readFrames(t, bind) {
					if i%3 != 1 {
						keep = append(keep, f)
					}
				}
				bind = filepath.Join(t.TempDir(), "thinned.dnstap")
				writeDnstap(t, bind, keep)
			}
			flags := []string{"-r", in, "--server", server, "--role", "authoritative"}
			wire, code, stderr := convert(t, flags...)
			if code != exitOK {
				t.Fatalf("wire-only run: exit %d\n%s", code, stderr)
			}
			bindData, err := os.ReadFile(bind)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := tapfile.Compare(bytes.NewReader(bindData), bytes.NewReader(wire), tapfile.CompareOptions{})
			if err != nil {
				t.Fatal(err)
			}
			both := uint64(rep.Matched + rep.ExcusedTotal())
			// A message whose dnstap type differs without a known reason
			// is no pair for the Merger: one of each side.
			serverOnly := uint64(len(rep.OnlyA) + len(rep.TypeMismatch))
			wireOnly := uint64(len(rep.OnlyB) + len(rep.TypeMismatch))
			bindFrames := readFrames(t, bind)

			for _, mode := range []string{"merge", "verify"} {
				dir := t.TempDir()
				out := filepath.Join(dir, "merged.dnstap")
				var stdout, errb bytes.Buffer
				code := run(append(flags, "--server-dnstap", "file:"+bind, "--server-dnstap-mode", mode,
					"-w", out, "-j", "-", "--identity", "t", "--no-progress"), &stdout, &errb)
				if code != exitOK {
					t.Fatalf("%s: exit %d\n%s", mode, code, errb.String())
				}
				summary := errb.String()
				got := [4]uint64{counter(t, summary, "seen by both"), counter(t, summary, "server only"), counter(t, summary, "wire only"), extra(summary, "filled")}
				want := [4]uint64{both, serverOnly, wireOnly, wireOnly}
				if mode == "verify" {
					want[3] = 0
				}
				if got != want {
					t.Fatalf("%s: both, server only, wire only, filled = %v; compare of BIND's file and the wire says %v\n%s\n%s", mode, got, want, summary, rep)
				}
				merged := readFrames(t, out)
				var fromServer [][]byte
				filled := uint64(0)
				for _, f := range merged {
					if bytes.HasSuffix(f, []byte(merge.FilledMark)) {
						filled++
					} else {
						fromServer = append(fromServer, f)
					}
				}
				sameFrames(t, mode+": BIND's frames in the merged file", sortedFrames(fromServer), sortedFrames(bindFrames))
				if filled != want[3] {
					t.Fatalf("%s: %d filled frames, want %d", mode, filled, want[3])
				}
				// The second output got the same frames.
				if n := uint64(strings.Count(stdout.String(), "\n")); n != uint64(len(merged)) {
					t.Fatalf("%s: -j - wrote %d messages, -w %d", mode, n, len(merged))
				}
				t.Logf("%s: wire %d, BIND %d: both %d, server only %d, wire only %d, filled %d",
					mode, rep.MessagesB, rep.MessagesA, got[0], got[1], got[2], filled)
			}
			if thinned && wireOnly < uint64(len(bindFrames))/3 {
				t.Fatalf("thinned: wire only %d of BIND's %d frames: the removed third is not missing", wireOnly, len(bindFrames))
			}
		})
	}
}

func counter(t *testing.T, summary, name string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + `\s+(\d+)`).FindStringSubmatch(summary)
	if m == nil {
		t.Fatalf("no %q in the summary:\n%s", name, summary)
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

// extra reads "name N" from an output's counters (listed when not zero).
func extra(summary, name string) uint64 {
	m := regexp.MustCompile(`\b` + regexp.QuoteMeta(name) + ` (\d+)`).FindStringSubmatch(summary)
	if m == nil {
		return 0
	}
	n, _ := strconv.ParseUint(m[1], 10, 64)
	return n
}

func sortedFrames(f [][]byte) [][]byte {
	s := append([][]byte(nil), f...)
	slices.SortFunc(s, bytes.Compare)
	return s
}

func writeDnstap(t *testing.T, path string, frames [][]byte) {
	t.Helper()
	var buf bytes.Buffer
	fw := emit.NewFileWriter(&buf)
	for _, f := range frames {
		if err := fw.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQueuedOutputNoAllocs: the Merger's hand-over to a real output's queue
// allocates nothing per frame.
func TestQueuedOutputNoAllocs(t *testing.T) {
	o := &queuedOutput{q: emit.NewQueue(emit.Counted(discardWriter{}), emit.QueueConfig{})}
	o.p = o.q.Producer()
	frame := bytes.Repeat([]byte{0x0a}, 200)
	var b []byte
	for range 64 {
		b = binary.BigEndian.AppendUint32(b, uint32(len(frame)))
		b = append(b, frame...)
	}
	if n := testing.AllocsPerRun(1000, func() { _ = o.WriteBatch(b) }); n != 0 {
		t.Fatalf("%v allocations per batch", n)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if st := o.Stats(); st.Delivered() != 1001*64 {
		t.Fatalf("%d frames handed over, want %d", st.Delivered(), 1001*64)
	}
}

type discardWriter struct{}

func (discardWriter) WriteBatch([]byte) error { return nil }
func (discardWriter) Flush() error            { return nil }
func (discardWriter) Close() error            { return nil }
