package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// readMerged reads m to its end, keeping copies of the frames.
func readMerged(t testing.TB, m *MergedSource) []rec {
	t.Helper()
	var out []rec
	var f packet.Frame
	for {
		err := m.Next(&f)
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("merged Next: %v", err)
		}
		out = append(out, rec{f.Timestamp, bytes.Clone(f.Data), f.WireLen, f.LinkType, f.Interface % ifaceStride})
	}
}

// splitCapture writes recs into n pcap files of consecutive runs and returns
// their paths.
func splitCapture(t *testing.T, dir, prefix string, recs []rec, n int) []string {
	t.Helper()
	var paths []string
	per := (len(recs) + n - 1) / n
	for i := 0; i < n; i++ {
		lo, hi := i*per, min((i+1)*per, len(recs))
		p := filepath.Join(dir, prefix+string(rune('a'+i))+".pcap")
		if err := os.WriteFile(p, pcapFile(binary.LittleEndian, true, uint32(packet.LinkTypeEthernet), recs[lo:hi]), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func frameSeq(n int, start, step int64, tag byte) []rec {
	out := make([]rec, n)
	for i := range out {
		d := []byte{tag, byte(i >> 8), byte(i)}
		out[i] = rec{TS: start + int64(i)*step, Data: d, Wire: len(d), Link: packet.LinkTypeEthernet}
	}
	return out
}

func TestMergedSourceSplitInAnyOrder(t *testing.T) {
	dir := t.TempDir()
	all := frameSeq(100, 1_700_000_000e9, 1e6, 'x')
	paths := splitCapture(t, dir, "part-", all, 7)
	slices.Reverse(paths) // given newest first: the merge orders by time, not by argument
	m, err := OpenMerged(paths, 0, packet.LinkType.Supported)
	if err != nil {
		t.Fatal(err)
	}
	got := readMerged(t, m)
	if !slices.EqualFunc(got, all, func(a, b rec) bool { return a.TS == b.TS && bytes.Equal(a.Data, b.Data) }) {
		t.Fatalf("merged %d frames out of order or changed; want the %d of the single capture in order", len(got), len(all))
	}
	if n := len(m.Results()); n != 7 {
		t.Fatalf("%d file results, want 7", n)
	}
	for _, r := range m.Results() {
		if r.Err != nil || r.Packets == 0 {
			t.Errorf("%s: %d packets, err %v", r.Path, r.Packets, r.Err)
		}
	}
}

func TestMergedSourceInterleavesOverlappingFiles(t *testing.T) {
	dir := t.TempDir()
	// Two capture points of the same period: a at even, b at odd milliseconds.
	a := frameSeq(50, 1_700_000_000e9, 2e6, 'a')
	b := frameSeq(50, 1_700_000_000e9+1e6, 2e6, 'b')
	pa := splitCapture(t, dir, "pointa-", a, 1)
	pb := splitCapture(t, dir, "pointb-", b, 1)
	m, err := OpenMerged(append(pb, pa...), 0, packet.LinkType.Supported)
	if err != nil {
		t.Fatal(err)
	}
	got := readMerged(t, m)
	if len(got) != 100 {
		t.Fatalf("%d frames, want 100", len(got))
	}
	for i, r := range got {
		want := byte('a')
		if i%2 == 1 {
			want = 'b'
		}
		if r.Data[0] != want || (i > 0 && r.TS <= got[i-1].TS) {
			t.Fatalf("frame %d: %s tag %c, want strictly increasing times alternating a/b", i, r, r.Data[0])
		}
	}
}

func TestMergedSourceBoundsOpenFiles(t *testing.T) {
	dir := t.TempDir()
	// 40 files that do not overlap: never more than one open at a time,
	// and none delayed even with a limit of 2.
	all := frameSeq(400, 1_700_000_000e9, 1e6, 'x')
	paths := splitCapture(t, dir, "seq-", all, 40)
	m, err := OpenMerged(paths, 2, packet.LinkType.Supported)
	if err != nil {
		t.Fatal(err)
	}
	var f packet.Frame
	maxOpen := 0
	for n := 0; ; n++ {
		if err := m.Next(&f); err == io.EOF {
			if n != 400 {
				t.Fatalf("%d frames, want 400", n)
			}
			break
		}
		maxOpen = max(maxOpen, len(m.heap))
	}
	if maxOpen > 2 || m.Delayed() != 0 {
		t.Fatalf("at most %d files open and %d delayed; want ≤ 2 and 0 for files that do not overlap", maxOpen, m.Delayed())
	}

	// Five files overlapping in time with a limit of 2: the limit holds,
	// and the files that had to wait are counted.
	var over []string
	for i := 0; i < 5; i++ {
		over = append(over, splitCapture(t, dir, "over"+string(rune('0'+i))+"-", frameSeq(20, 1_700_000_000e9+int64(i), 1e6, byte('0'+i)), 1)...)
	}
	m, err = OpenMerged(over, 2, packet.LinkType.Supported)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for ; m.Next(&f) == nil; n++ {
		if len(m.heap) > 2 {
			t.Fatalf("%d files open, limit 2", len(m.heap))
		}
	}
	if n != 100 || m.Delayed() == 0 {
		t.Fatalf("%d frames, %d delays; want 100 frames and the waiting files counted", n, m.Delayed())
	}
}

func TestMergedSourceSkipsBadFiles(t *testing.T) {
	dir := t.TempDir()
	good := splitCapture(t, dir, "good-", frameSeq(30, 1_700_000_000e9, 1e6, 'g'), 2)
	garbage := filepath.Join(dir, "garbage.pcap")
	os.WriteFile(garbage, []byte("this is not a capture at all"), 0o644)
	cut := filepath.Join(dir, "cut.pcap")
	whole := pcapFile(binary.LittleEndian, true, uint32(packet.LinkTypeEthernet), frameSeq(10, 1_700_000_000e9+5e5, 1e6, 'c'))
	os.WriteFile(cut, whole[:len(whole)-2], 0o644) // the last record cut short
	unknown := filepath.Join(dir, "unknown-link.pcap")
	os.WriteFile(unknown, pcapFile(binary.LittleEndian, true, 147, frameSeq(3, 1_700_000_000e9, 1e6, 'u')), 0o644)
	missing := filepath.Join(dir, "missing.pcap")

	m, err := OpenMerged([]string{good[0], garbage, cut, missing, unknown, good[1]}, 0, packet.LinkType.Supported)
	if err != nil {
		t.Fatal(err)
	}
	got := readMerged(t, m)
	if len(got) != 30+9 {
		t.Fatalf("%d frames, want the 30 good ones and the 9 whole records of the cut file", len(got))
	}
	errs := map[string]error{}
	for _, r := range m.Results() {
		errs[filepath.Base(r.Path)] = r.Err
	}
	for name, want := range map[string]error{"garbage.pcap": ErrNotCapture, "cut.pcap": ErrTruncated, "missing.pcap": os.ErrNotExist, "unknown-link.pcap": ErrUnknownLinkType} {
		if !errors.Is(errs[name], want) || !strings.Contains(errs[name].Error(), name) {
			t.Errorf("%s: error %v, want one naming the file and wrapping %v", name, errs[name], want)
		}
	}
	for _, g := range good {
		if e := errs[filepath.Base(g)]; e != nil {
			t.Errorf("%s: %v", g, e)
		}
	}
	if _, err := OpenMerged([]string{garbage, missing}, 0, packet.LinkType.Supported); err == nil || !strings.Contains(err.Error(), "no readable input") {
		t.Fatalf("only bad files: error %v, want 'no readable input'", err)
	}
}

func TestExpandInputs(t *testing.T) {
	dir := t.TempDir()
	sub := filepath.Join(dir, "day", "hour")
	os.MkdirAll(sub, 0o755)
	p1 := splitCapture(t, sub, "span-2026-12-01-", frameSeq(4, 1e18, 1e6, 'a'), 2)
	p2 := splitCapture(t, dir, "span-2026-12-02-", frameSeq(4, 2e18, 1e6, 'b'), 1)
	os.WriteFile(filepath.Join(sub, "notes.txt"), []byte("not a capture"), 0o644)

	paths, skipped, problems, err := ExpandInputs([]string{filepath.Join(dir, "day"), filepath.Join(dir, "span-*.pcap"), p2[0], filepath.Join(dir, "nothing-*.pcap")})
	if err != nil {
		t.Fatal(err)
	}
	want := append(slices.Clone(p1), p2...)
	if !slices.Equal(paths, want) || skipped != 1 {
		t.Fatalf("paths %v skipped %d; want %v (each once) and notes.txt skipped", paths, skipped, want)
	}
	if len(problems) != 1 || !errors.Is(problems[0], ErrNoMatch) {
		t.Fatalf("problems %v, want the pattern that matched nothing", problems)
	}
	if _, _, _, err := ExpandInputs([]string{"-", p2[0]}); err == nil {
		t.Fatal("stdin with another input accepted")
	}
}

func TestMergedSourceRealCaptures(t *testing.T) {
	// Every bundled capture merged with itself shifted by nothing: the
	// merge of one file is the file.
	for _, p := range testenv.Pcaps(t) {
		want := mustReadFile(t, p)
		m, err := OpenMerged([]string{p}, 0, nil)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		got := readMerged(t, m)
		if len(got) != len(want) {
			t.Fatalf("%s: merged %d frames, file %d", p, len(got), len(want))
		}
	}
}

func TestMergedSourceNextZeroAlloc(t *testing.T) {
	dir := t.TempDir()
	paths := splitCapture(t, dir, "z-", frameSeq(3000, 1_700_000_000e9, 1e3, 'z'), 3)
	m, err := OpenMerged(paths, 0, packet.LinkType.Supported)
	if err != nil {
		t.Fatal(err)
	}
	var f packet.Frame
	for i := 0; i < 1100; i++ { // past the first file boundary
		m.Next(&f)
	}
	if n := testing.AllocsPerRun(500, func() { m.Next(&f) }); n != 0 {
		t.Fatalf("Next allocates %v per frame, want 0", n)
	}
}
