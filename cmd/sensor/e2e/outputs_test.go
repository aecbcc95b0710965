package e2e

import (
	"bytes"
	"fmt"
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

	dnstap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// TestE2ELiveOutputs replays traffic into a SPAN port watched by three
// sensors at once, each with several outputs:
//
//	A: -w rotated by size, and -u to fstrm_capture (a real receiver)
//	B: -w rotated by size with --rotate-keep 1MiB
//	C: -w without rotation; mid-replay the file is moved and SIGHUP sent
//	D: -w, and -u to a receiver that accepts and never answers (each
//	   handshake blocks D's socket writer for its 2 s timeout)
//
// Every file must be complete and read by dnstap-read. A's files together
// must equal what fstrm_capture received, frame for frame, and hold as many
// frames as a file run of the same capture; B's files stay within the keep
// bound; C's two files together hold the same frames as A's. D's stuck
// receiver slows neither capture nor D's file, which holds A's frames; its
// frames are dropped and counted (encoded = delivered + dropped, exactly),
// and D exits non-zero saying so.
func TestE2ELiveOutputs(t *testing.T) {
	bin := sensorBin(t)
	testenv.NeedTool(t, "tcpreplay", "tcpreplay")
	capture := testenv.NeedTool(t, "fstrm_capture", "fstrm-bin")
	testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	dir := t.TempDir()
	pcap := filepath.Join(dir, "udp.pcap")
	gen := exec.Command("go", "run", "./internal/synth/gencap", "-kind", "udp", "-n", "20000", "-o", pcap)
	gen.Dir = testenv.RepoRoot()
	if out, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("gencap: %v\n%s", err, out)
	}
	_, fileSummary := convert(t, pcap)
	want := summaryCount(t, fileSummary)

	m := lab.NewMirror(t)
	sock := filepath.Join(dir, "fstrm.sock")
	received := filepath.Join(dir, "fstrm_capture.dnstap")
	rcv := m.Monitor.Start(t, capture, "-t", emit.ContentType, "-u", sock, "-w", received)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("fstrm_capture did not listen:\n%s", rcv.Stderr())
		}
	}
	dirs := map[string]string{}
	stuck := filepath.Join(dir, "stuck.sock")
	sl, err := net.Listen("unix", stuck)
	if err != nil {
		t.Fatal(err)
	}
	defer sl.Close()
	go func() {
		var held []net.Conn // accepted, never read, never answered
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := sl.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	for _, s := range []string{"a", "b", "c", "d"} {
		dirs[s] = filepath.Join(dir, s)
		if err := os.Mkdir(dirs[s], 0o755); err != nil {
			t.Fatal(err)
		}
	}
	base := func(s string) string { return filepath.Join(dirs[s], "live.dnstap") }
	sensors := map[string]*lab.Process{
		"a": m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", base("a"), "--rotate-size", "64KiB", "-u", sock),
		"b": m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", base("b"), "--rotate-size", "64KiB", "--rotate-keep", "1MiB"),
		"c": m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", base("c")),
		"d": m.Monitor.Start(t, bin, "-i", m.SpanIf, "-w", base("d"), "-u", stuck),
	}
	for _, p := range sensors {
		p.WaitFor(t, "capture socket opened", sensorStartWait)
	}
	replay := func(limit int) {
		args := []string{"-K", "--pps=20000", "-i", m.MirrorIf}
		if limit > 0 {
			args = append(args, "--limit="+strconv.Itoa(limit))
		}
		m.Server.Run(t, "tcpreplay", append(args, pcap)...)
	}
	replay(0)
	time.Sleep(ringSettle)
	// logrotate on C between two replays: mv, then SIGHUP. The live
	// workers hand their partial batches over within the flush interval
	// (1 s), and the reopen happens at the queue's next flush.
	time.Sleep(1500 * time.Millisecond)
	if err := os.Rename(base("c"), base("c")+".1"); err != nil {
		t.Fatal(err)
	}
	for _, p := range sensors {
		syscall.Kill(p.Pid(), syscall.SIGHUP) // rotates A and B too: never fatal
	}
	time.Sleep(1500 * time.Millisecond)
	replay(0)
	time.Sleep(ringSettle)
	for name, p := range sensors {
		err := p.Stop(syscall.SIGTERM)
		t.Logf("sensor %s:\n%s", name, p.Stderr())
		if name == "d" {
			if err == nil {
				t.Errorf("sensor d lost frames to its stuck receiver and exited 0")
			}
			continue
		}
		if err != nil {
			t.Fatalf("sensor %s: %v", name, err)
		}
	}
	if err := rcv.Stop(syscall.SIGINT); err != nil {
		t.Logf("fstrm_capture: %v\n%s", err, rcv.Stderr())
	}

	framesOf := func(s string) [][]byte {
		var all [][]byte
		for _, f := range sortedFiles(t, dirs[s]) {
			all = append(all, completeFrames(t, f)...)
		}
		return all
	}
	a, b, c := framesOf("a"), framesOf("b"), framesOf("c")
	if len(a) != 2*want {
		t.Errorf("A's files hold %d frames, the file run of the replayed capture (twice) %d", len(a), 2*want)
	}
	if got := completeFrames(t, received); !equalFrames(got, a) {
		t.Errorf("fstrm_capture received %d frames, not those of A's %d-frame files", len(got), len(a))
	}
	if n := len(sortedFiles(t, dirs["a"])); n < 10 {
		t.Errorf("A wrote %d files: the rotation did not happen", n)
	}
	var bBytes int64
	for _, f := range sortedFiles(t, dirs["b"]) {
		fi, _ := os.Stat(f)
		bBytes += fi.Size()
	}
	// Each sensor stamps frames with its own socket's capture times: the
	// sensors are compared by message, not by bytes.
	if bBytes > 1<<20 || len(b) == 0 || !sameMultiset(messages(t, b), messages(t, a[len(a)-len(b):])) {
		t.Errorf("B keeps %d bytes (bound 1 MiB) and %d frames, which must be A's last ones", bBytes, len(b))
	}
	if files := sortedFiles(t, dirs["c"]); len(files) != 2 {
		t.Errorf("C: files %v, want the moved one and the new one", files)
	}
	if !sameMultiset(messages(t, c), messages(t, a)) {
		t.Errorf("C's two files hold %d frames, not A's %d", len(c), len(a))
	}
	if d := framesOf("d"); !sameMultiset(messages(t, d), messages(t, a)) {
		t.Errorf("D's file holds %d frames, not A's %d: the stuck receiver cost the file output", len(d), len(a))
	}
	dErr := sensors["d"].Stderr()
	num := func(re string) int {
		m := regexp.MustCompile(re).FindStringSubmatch(dErr)
		if m == nil {
			t.Fatalf("sensor d: no %q in its stderr", re)
		}
		n, _ := strconv.Atoi(m[1])
		return n
	}
	enc := num(`frames encoded\s+(\d+)`)
	sent := num(`frames delivered\s+(\d+)  -> unix:`)
	lost := num(`-> unix:.*\n\s+dropped\s+(\d+)`)
	if enc != len(a) || sent+lost != enc || lost == 0 || num(`kernel_drops (\d+)`) != 0 {
		t.Errorf("sensor d: encoded %d (want %d), socket delivered %d + dropped %d: want the sum exact, drops, no kernel drops", enc, len(a), sent, lost)
	}
	if !strings.Contains(dErr, "frames dropped (disconnected ") {
		t.Errorf("sensor d: no exit line counting the drops")
	}
}

// sortedFiles lists a directory's files in name order (the rotation's
// names sort in time order), failing on a file still marked .part.
func sortedFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("%s: left behind", e.Name())
		}
		out = append(out, filepath.Join(dir, e.Name()))
	}
	sort.Strings(out)
	return out
}

// completeFrames reads a Frame Streams file that must be complete (START
// … STOP) and read whole by dnstap-read.
func completeFrames(t *testing.T, path string) [][]byte {
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
		t.Fatalf("%s: no STOP", path)
	}
	out, err := exec.Command("dnstap-read", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read %s: %v\n%.500s", path, err, out)
	}
	if n := strings.Count(string(out), "\n"); n != len(frames) {
		t.Fatalf("dnstap-read printed %d messages of %s, which holds %d frames", n, path, len(frames))
	}
	return frames
}

func equalFrames(a, b [][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !bytes.Equal(a[i], b[i]) {
			return false
		}
	}
	return true
}

// messages returns each frame without its times: type, addresses, ports
// and the DNS message.
func messages(t *testing.T, frames [][]byte) []string {
	t.Helper()
	out := make([]string, len(frames))
	var d dnstap.Dnstap
	for i, f := range frames {
		if err := proto.Unmarshal(f, &d); err != nil {
			t.Fatal(err)
		}
		m := d.GetMessage()
		out[i] = fmt.Sprintf("%v %x:%d %x:%d %x %x", m.GetType(), m.GetQueryAddress(), m.GetQueryPort(),
			m.GetResponseAddress(), m.GetResponsePort(), m.GetQueryMessage(), m.GetResponseMessage())
	}
	return out
}

func sameMultiset(a, b []string) bool {
	count := map[string]int{}
	for _, f := range a {
		count[f]++
	}
	for _, f := range b {
		count[f]--
	}
	for _, n := range count {
		if n != 0 {
			return false
		}
	}
	return true
}
