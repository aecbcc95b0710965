package emit

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// spoolFrames reads every spool file in dir, oldest first, each as a
// complete Frame Streams file.
func spoolFrames(t *testing.T, dir string) [][]byte {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, spoolPrefix+"*"+spoolSuffix))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	var out [][]byte
	for _, n := range names {
		out = append(out, readFrames(t, n)...)
	}
	return out
}

// spoolFileCount counts the spool's files and their .sent companions (the
// lock file stays).
func spoolFileCount(t *testing.T, dir string) int {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, spoolPrefix+"*"))
	if err != nil {
		t.Fatal(err)
	}
	return len(names)
}

// TestSpoolResume: frames spooled while no receiver is up stay on disk
// across a restart (a new SocketOutput on the same directory counts them
// at open), and are sent in order, before newer frames, when a receiver
// is back, also when the previous run had sent part of a file.
func TestSpoolResume(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	ep := Endpoint{"unix", filepath.Join(dir, "rx.sock")}
	clock := &fakeClock{time.Unix(1000, 0)}
	cfg := SocketOutputConfig{Endpoints: []Endpoint{ep}, SpoolDir: spoolDir, SpoolMax: 64 << 20, Now: clock.now}
	frames := seqFrames(0, 12000)

	// Run 1: no receiver; everything goes to the spool.
	s, err := NewSocketOutput(cfg)
	if err != nil {
		t.Fatal(err)
	}
	writeBatches(t, s, frames[:4000], 500)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Spooled() != 4000 || st.Delivered() != 0 || st.Dropped() != 0 {
		t.Fatalf("run 1: spooled %d delivered %d dropped %d", st.Spooled(), st.Delivered(), st.Dropped())
	}
	if got := seqOf(t, spoolFrames(t, spoolDir)); !slices.Equal(got, seqOf(t, frames[:4000])) {
		t.Fatalf("run 1: the spool files hold %d frames, want 0..3999 in order", len(got))
	}

	// Run 2 resumes the spool; a receiver that reads a little and then
	// stops reading lets part of the oldest file out.
	s, err = NewSocketOutput(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Spooled() != 4000 || st.Encoded() != 4000 || soCounter(s, "spool_resumed_frames") != 4000 {
		t.Fatalf("run 2 at open: spooled %d encoded %d", st.Spooled(), st.Encoded())
	}
	writeBatches(t, s, frames[4000:8000], 500)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Move the head file's sent offset past its first 300 frames, as a
	// run that sent them and stopped would have left it.
	names, _ := filepath.Glob(filepath.Join(spoolDir, spoolPrefix+"*"+spoolSuffix))
	slices.Sort(names)
	off := int64(len(StartFrame))
	for _, f := range frames[:300] {
		off += 4 + int64(len(f))
	}
	if err := os.WriteFile(names[0]+sentSuffix, strconv.AppendInt(nil, off, 10), 0o600); err != nil {
		t.Fatal(err)
	}

	// Run 3: the receiver is up. The spool goes first, then live frames;
	// a batch that waits behind the spool (2 MB, more than one call
	// drains) is no outage: state up, nothing logged but the resumption.
	rx := startCapture(t, ep, filepath.Join(dir, "rx.fstrm"))
	var log logLines
	cfg.Logf = log.logf
	s, err = NewSocketOutput(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Spooled() != 7700 {
		t.Fatalf("run 3 at open: spooled %d, want 7700 (8000 less the 300 sent)", st.Spooled())
	}
	writeBatches(t, s, frames[8000:8500], 500)
	if st := s.Stats(); st.State() != StateUp || st.Spooled() == 0 {
		t.Fatalf("catching up: state %v, spooled %d", st.State(), st.Spooled())
	}
	writeBatches(t, s, frames[8500:], 500)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if len(log.lines) != 1 || !strings.Contains(log.lines[0], "resuming 7700 frames") {
		t.Fatalf("run 3 logged %q, want only the resumption", log.lines)
	}
	got := seqOf(t, rx.stop())
	if want := seqOf(t, frames[300:]); !slices.Equal(got, want) {
		t.Fatalf("receiver got %d frames, want 300..11999 in order", len(got))
	}
	st := s.Stats()
	checkIdentity(t, st)
	if st.Delivered() != 11700 || st.Spooled() != 0 || st.Dropped() != 0 {
		t.Fatalf("run 3: delivered %d spooled %d dropped %d", st.Delivered(), st.Spooled(), st.Dropped())
	}
	if n := spoolFileCount(t, spoolDir); n != 0 {
		t.Fatalf("%d files left in the spool", n)
	}
}

// TestSpoolFull: a spool bounded to 3 MiB holding 10 MiB of frames keeps
// the newest ones, drops whole files oldest first, counts them as
// spool_full, and stays within its bound.
func TestSpoolFull(t *testing.T) {
	dir := t.TempDir()
	spoolDir := filepath.Join(dir, "spool")
	const max = 3 << 20
	s, err := NewSocketOutput(SocketOutputConfig{
		Endpoints: []Endpoint{{"unix", filepath.Join(dir, "nobody.sock")}},
		SpoolDir:  spoolDir, SpoolMax: max, Now: (&fakeClock{time.Unix(1000, 0)}).now,
	})
	if err != nil {
		t.Fatal(err)
	}
	frames := seqFrames(0, 40000) // ~10 MiB
	writeBatches(t, s, frames, 1000)
	st := s.Stats()
	checkIdentity(t, st)
	if st.DroppedBy(DropSpoolFull) == 0 || st.Dropped() != st.DroppedBy(DropSpoolFull) {
		t.Fatalf("dropped %d, spool_full %d", st.Dropped(), st.DroppedBy(DropSpoolFull))
	}
	if b := soCounter(s, "spool_bytes"); b > max {
		t.Fatalf("spool holds %d bytes, over its %d bound", b, max)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var size int64
	ents, _ := filepath.Glob(filepath.Join(spoolDir, spoolPrefix+"*"))
	for _, e := range ents {
		fi, _ := os.Stat(e)
		size += fi.Size()
	}
	got := seqOf(t, spoolFrames(t, spoolDir))
	if size > max || uint64(len(got)) != st.Spooled() {
		t.Fatalf("spool dir: %d bytes, %d frames; Spooled %d", size, len(got), st.Spooled())
	}
	if want := seqOf(t, frames[40000-len(got):]); !slices.Equal(got, want) {
		t.Fatalf("the spool keeps %d frames that are not the newest ones in order", len(got))
	}
	t.Logf("kept %d frames in %d files (%d bytes), dropped %d", len(got), len(ents), size, st.DroppedBy(DropSpoolFull))
}

// TestSpoolInUse: a second output on the same spool directory is refused
// while the first holds it, and accepted once it closed.
func TestSpoolInUse(t *testing.T) {
	dir := t.TempDir()
	cfg := SocketOutputConfig{Endpoints: []Endpoint{{"unix", filepath.Join(dir, "nobody.sock")}}, SpoolDir: filepath.Join(dir, "spool")}
	a, err := NewSocketOutput(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewSocketOutput(cfg); !errors.Is(err, ErrSpoolInUse) {
		t.Fatalf("second output on the spool: %v, want ErrSpoolInUse", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := NewSocketOutput(cfg)
	if err != nil {
		t.Fatalf("after the first closed: %v", err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}
