package emit

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// readComplete returns the frames of a Frame Streams file and fails unless
// it is complete (START … STOP) and dnstap-read reads every frame of it.
func readComplete(t *testing.T, path string) [][]byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fr := NewFrameReader(bytes.NewReader(data))
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
	if !fr.Stopped() || !bytes.HasSuffix(data, StopFrame) {
		t.Fatalf("%s does not end with STOP", path)
	}
	tool := testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	out, err := exec.Command(tool, path).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read %s: %v\n%s", path, err, out)
	}
	if n := strings.Count(string(out), "\n"); n != len(frames) {
		t.Fatalf("dnstap-read %s printed %d lines, the file holds %d frames", path, n, len(frames))
	}
	return frames
}

// finished lists the directory's files sorted by name, failing on a .part.
func finished(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".part") {
			t.Errorf("%s left behind", e.Name())
		}
		names = append(names, filepath.Join(dir, e.Name()))
	}
	sort.Strings(names)
	return names
}

type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) count(sub string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, s := range l.lines {
		if strings.Contains(s, sub) {
			n++
		}
	}
	return n
}

func TestFileOutputRotatesAndKeeps(t *testing.T) {
	frames := sampleFrames(t)
	for _, tc := range []struct {
		name      string
		keepFiles int
		keepBytes int64
	}{
		{name: "all"},
		{name: "keep 3 files", keepFiles: 3},
		{name: "keep 2000 bytes", keepBytes: 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			o, err := NewFileOutput(FileConfig{Path: filepath.Join(dir, "sensor.dnstap"), RotateSize: 700, KeepFiles: tc.keepFiles, KeepBytes: tc.keepBytes})
			if err != nil {
				t.Fatal(err)
			}
			var all [][]byte
			for i := 0; i < 40; i++ {
				f := frames[i%len(frames)]
				if err := o.WriteBatch(batchOf([][]byte{f})); err != nil {
					t.Fatal(err)
				}
				all = append(all, f)
			}
			if err := o.Close(); err != nil {
				t.Fatal(err)
			}
			names := finished(t, dir)
			var got [][]byte
			var total int64
			for _, n := range names {
				if !strings.HasPrefix(filepath.Base(n), "sensor.") || !strings.HasSuffix(n, ".dnstap") {
					t.Errorf("file %s is not named from the -w path", n)
				}
				fi, _ := os.Stat(n)
				total += fi.Size()
				if fi.Size() > 700 {
					t.Errorf("%s: %d bytes, over the rotate size", n, fi.Size())
				}
				got = append(got, readComplete(t, n)...)
			}
			deleted := o.c[fcFilesDeleted].Load()
			switch {
			case tc.keepFiles > 0 && len(names) != tc.keepFiles:
				t.Errorf("%d files kept, want %d", len(names), tc.keepFiles)
			case tc.keepBytes > 0 && (total > tc.keepBytes || total+700 <= tc.keepBytes):
				t.Errorf("%d bytes kept, want at most %d and more than %d", total, tc.keepBytes, tc.keepBytes-700)
			case tc.keepFiles == 0 && tc.keepBytes == 0 && deleted != 0:
				t.Errorf("%d files deleted without a keep bound", deleted)
			}
			if deleted+uint64(len(names)) != o.c[fcFilesFinished].Load() {
				t.Errorf("finished %d, deleted %d, left %d", o.c[fcFilesFinished].Load(), deleted, len(names))
			}
			// What is left are the newest frames, in order, each once.
			want := all[len(all)-len(got):]
			for i := range got {
				if !bytes.Equal(got[i], want[i]) {
					t.Fatalf("frame %d of %d differs; files %v", i, len(got), names)
				}
			}
			if tc.keepFiles == 0 && tc.keepBytes == 0 && len(got) != len(all) {
				t.Fatalf("%d frames in the files, want %d", len(got), len(all))
			}
			st := o.Stats()
			if st.Delivered() != uint64(len(all)) || st.Dropped() != 0 {
				t.Errorf("delivered %d dropped %d", st.Delivered(), st.Dropped())
			}
		})
	}
}

// TestFileOutputReopenAfterMove is logrotate: mv the file, then SIGHUP
// (Reopen). Both files are complete and hold every frame once.
func TestFileOutputReopenAfterMove(t *testing.T) {
	frames := sampleFrames(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sensor.dnstap")
	o, err := NewFileOutput(FileConfig{Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if err := o.WriteBatch(batchOf(frames[:3])); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	o.Reopen()
	if err := o.WriteBatch(batchOf(frames[3:])); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	if got := readComplete(t, path+".1"); len(got) != 3 || !bytes.Equal(got[0], frames[0]) {
		t.Errorf("moved file holds %d frames, want the first 3", len(got))
	}
	if got := readComplete(t, path); len(got) != len(frames)-3 || !bytes.Equal(got[0], frames[3]) {
		t.Errorf("new file holds %d frames, want the last %d", len(got), len(frames)-3)
	}
	if names := finished(t, dir); len(names) != 2 {
		t.Errorf("files %v, want 2", names)
	}
}

// TestFileOutputNeverTruncates restarts on an existing -w file: it is moved
// aside, complete, under a timestamped name.
func TestFileOutputNeverTruncates(t *testing.T) {
	frames := sampleFrames(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "sensor.dnstap")
	for run := 0; run < 2; run++ {
		o, err := NewFileOutput(FileConfig{Path: path})
		if err != nil {
			t.Fatal(err)
		}
		if err := o.WriteBatch(batchOf(frames[run : run+1])); err != nil {
			t.Fatal(err)
		}
		if err := o.Close(); err != nil {
			t.Fatal(err)
		}
	}
	names := finished(t, dir)
	if len(names) != 2 || names[1] != path || !strings.HasPrefix(filepath.Base(names[0]), "sensor.20") {
		t.Fatalf("files %v, want a timestamped one and %s", names, path)
	}
	if got := readComplete(t, names[0]); len(got) != 1 || !bytes.Equal(got[0], frames[0]) {
		t.Errorf("the first run's file was not kept whole")
	}
	if got := readComplete(t, path); len(got) != 1 || !bytes.Equal(got[0], frames[1]) {
		t.Errorf("the second run's file is wrong")
	}
}

// TestFileOutputDiskFull fills a small tmpfs while writing: frames are
// dropped and counted, one line says so, every file stays complete, and
// writing resumes in a new file once space is freed.
func TestFileOutputDiskFull(t *testing.T) {
	testenv.NeedRoot(t)
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=1m"); err != nil {
		t.Fatalf("mount tmpfs: %v", err)
	}
	t.Cleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	ballast := filepath.Join(dir, "ballast")
	if err := os.WriteFile(ballast, make([]byte, 512<<10), 0o644); err != nil {
		t.Fatal(err)
	}
	var log logLines
	o, err := NewFileOutput(FileConfig{Path: filepath.Join(dir, "sensor.dnstap"), RetryInterval: 1, Logf: log.logf})
	if err != nil {
		t.Fatal(err)
	}
	frame := sampleFrames(t)[1]
	batch := batchOf([][]byte{frame, frame, frame, frame, frame, frame, frame, frame})
	var handed uint64
	write := func() {
		o.stats.AddEncoded(8) // as the Queue does
		handed += 8
		o.WriteBatch(batch)
	}
	for i := 0; i < 5000 && o.Stats().Dropped() == 0; i++ { // up to 6 MB into 512 KiB of space
		write()
	}
	if o.Stats().DroppedBy(DropWriteError) == 0 {
		t.Fatal("the disk never filled")
	}
	for i := 0; i < 20; i++ { // still full: dropped, no new log line
		write()
	}
	if n := log.count("write_error"); n != 1 {
		t.Errorf("%d log lines about the failure, want 1: %q", n, log.lines)
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	delivered := o.Stats().Delivered()
	for i := 0; i < 10; i++ {
		write()
	}
	if o.Stats().Delivered() != delivered+80 {
		t.Errorf("after space was freed, %d frames delivered, want 80", o.Stats().Delivered()-delivered)
	}
	if n := log.count("writing again"); n != 1 {
		t.Errorf("%d log lines about the recovery, want 1: %q", n, log.lines)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	var inFiles int
	names := finished(t, dir)
	if len(names) != 2 {
		t.Errorf("files %v, want the one that filled and the one after", names)
	}
	for _, n := range names {
		inFiles += len(readComplete(t, n))
	}
	st := o.Stats()
	if uint64(inFiles) != st.Delivered() || st.Encoded() != handed || st.Delivered()+st.Dropped() != handed {
		t.Errorf("files hold %d frames; encoded %d delivered %d dropped %d, handed %d", inFiles, st.Encoded(), st.Delivered(), st.Dropped(), handed)
	}
}

// TestFileOutputInterval rotates on UTC multiples of the interval, also
// when idle (the Queue's flush), names files by their start and finishes
// a .part left by a killed run.
func TestFileOutputInterval(t *testing.T) {
	frames := sampleFrames(t)
	dir := t.TempDir()
	leftover := filepath.Join(dir, "s.20261207T000000Z.dnstap")
	if err := os.WriteFile(leftover+".part", append(append([]byte(nil), StartFrame...), StopFrame...), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 7, 10, 59, 58, 0, time.UTC)
	o := &FileOutput{}
	var err error
	func() {
		// The clock must be set before the first file is opened.
		saved := timeNow
		timeNow = func() time.Time { return now }
		defer func() { timeNow = saved }()
		o, err = NewFileOutput(FileConfig{Path: filepath.Join(dir, "s.dnstap"), RotateInterval: time.Hour})
	}()
	if err != nil {
		t.Fatal(err)
	}
	o.now = func() time.Time { return now }
	step := func(d time.Duration, f []byte) {
		now = now.Add(d)
		if f != nil {
			if err := o.WriteBatch(batchOf([][]byte{f})); err != nil {
				t.Fatal(err)
			}
		} else {
			o.Flush()
		}
	}
	step(0, frames[0])              // 10:59:58, first file
	step(time.Second, frames[1])    // 10:59:59, same file
	step(time.Second, nil)          // 11:00:00, idle: the flush rotates
	step(30*time.Minute, frames[2]) // 11:30, second file
	step(3*time.Hour, nil)          // 14:30: rotates; the empty file moves on
	step(0, frames[3])              // third file, started at 14:30
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	names := finished(t, dir)
	var base []string
	for _, n := range names {
		base = append(base, filepath.Base(n))
	}
	want := []string{"s.20261207T000000Z.dnstap", "s.20261207T105958Z.dnstap", "s.20261207T110000Z.dnstap", "s.20261207T143000Z.dnstap"}
	if strings.Join(base, " ") != strings.Join(want, " ") {
		t.Fatalf("files %v, want %v", base, want)
	}
	for i, n := range []int{0, 2, 1, 1} {
		if got := len(readComplete(t, names[i])); got != n {
			t.Errorf("%s: %d frames, want %d", base[i], got, n)
		}
	}
}
