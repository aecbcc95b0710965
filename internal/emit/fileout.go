package emit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// FileConfig configures a FileOutput. Zero values switch a feature off.
type FileConfig struct {
	// Path is the -w path. Without rotation the output writes it under
	// that name; with rotation it names the files (see FileOutput).
	Path string
	// RotateSize starts a new file before one would grow past this many
	// bytes (at a frame boundary; a single larger batch still fits whole).
	RotateSize int64
	// RotateInterval starts a new file at each multiple of it in UTC
	// (1h: on the hour), checked at least every Queue flush interval.
	RotateInterval time.Duration
	// KeepBytes and KeepFiles bound the finished, timestamped files next to
	// Path: after a file is finished, the oldest are deleted until both
	// bounds hold. The file being written is not counted.
	KeepBytes int64
	KeepFiles int
	// RetryInterval is how often a failing output tries a new file
	// (default 1 s): after a disk-full, writing resumes by itself.
	RetryInterval time.Duration
	// Logf reports each condition once (a write failure, its recovery, a
	// file it could not finish). Nil: silent.
	Logf func(format string, args ...any)
}

// Rotating reports whether files are rotated (by size or interval).
func (c *FileConfig) Rotating() bool { return c.RotateSize > 0 || c.RotateInterval > 0 }

// FileOutput writes one-way Frame Streams files (START, frames, STOP) and is
// an Output. After every batch the file on disk ends with STOP: the next
// batch overwrites it. So every file is complete whenever it is read, a
// crash leaves a readable file, and a write that fails half way (disk full)
// is undone by rewriting STOP over bytes that are already allocated, which
// needs no free space. Frames of a failed batch are dropped as write_error;
// the output then retries in a new file every RetryInterval, so writing
// resumes by itself when space returns and every file stays well-formed.
//
// Names: without rotation the file is Path itself. With rotation the file
// being written is STEM.20060102T150405Z[_001].EXT.part (STEM.EXT is Path's base
// name, the time UTC of its first frame's file), renamed without .part
// when finished; .part files a killed run left are complete (STOP follows
// every batch) and are renamed when a rotating output starts. A file already at Path when the output (re)opens it is
// never truncated or appended to: it is moved aside under the same
// timestamped pattern, stamped with its modification time. Reopen (SIGHUP)
// finishes the current file and opens a new one at the next batch or flush:
// after `mv` of Path by logrotate, the moved file is complete and a new one
// appears at Path.
//
// A FileOutput belongs to its Queue's goroutine; Reopen and Stats may be
// called from any goroutine.
type FileOutput struct {
	cfg   FileConfig
	dir   string
	stem  string
	ext   string
	now   func() time.Time
	match *regexp.Regexp

	f         *os.File
	name      string // the open file's name (with .part when rotating)
	final     string // its name once finished
	size      int64  // bytes up to the last frame: STOP sits at size
	frames    uint64 // frames in the open file
	rotateAt  time.Time
	down      bool // the last write failed: frames dropped until a new file takes them
	retryAt   time.Time
	lost      uint64 // frames dropped since the condition began
	stopBuf   []byte
	lastStamp string // the last timestamp and number given to a file
	lastSeq   int

	reopen atomic.Bool
	stats  OutputStats
	c      [numFileCounters]atomic.Uint64
}

const (
	fcFilesFinished = iota
	fcFilesDeleted
	fcMovedAside
	fcWriteFailures
	numFileCounters
)

var fileCounterNames = [numFileCounters]string{"files_finished", "files_deleted_keep", "files_moved_aside", "write_failures"}
var fileCounterKinds = [numFileCounters]stat.Kind{stat.Activity, stat.Activity, stat.Activity, stat.Error}

// timeNow is the clock of new FileOutputs; tests set it.
var timeNow = time.Now

// NewFileOutput opens the first file, so a bad path fails before capture
// starts.
func NewFileOutput(cfg FileConfig) (*FileOutput, error) {
	if cfg.RetryInterval <= 0 {
		cfg.RetryInterval = time.Second
	}
	dir, base := filepath.Split(cfg.Path)
	if dir == "" {
		dir = "."
	}
	ext := filepath.Ext(base)
	stem := base[:len(base)-len(ext)]
	o := &FileOutput{
		cfg: cfg, dir: dir, stem: stem, ext: ext, now: timeNow,
		match:   regexp.MustCompile(`^` + regexp.QuoteMeta(stem) + `\.(\d{8}T\d{6}Z)(?:_(\d+))?` + regexp.QuoteMeta(ext) + `$`),
		stopBuf: append([]byte(nil), StopFrame...),
	}
	if cfg.Rotating() {
		o.finishLeftovers()
	}
	if err := o.open(); err != nil {
		return nil, err
	}
	o.stats.SetState(StateUp)
	return o, nil
}

// stampedName returns a free name STEM.TIME[-N].EXT for a finished file.
func (o *FileOutput) stampedName(t time.Time) string {
	ts := t.UTC().Format("20060102T150405Z")
	n := 0
	if ts == o.lastStamp {
		// Never reuse a number within a second, even one freed by the
		// keep bound: names must sort in the order files were written.
		n = o.lastSeq + 1
	}
	for ; ; n++ {
		name := o.stem + "." + ts
		if n > 0 {
			// '_' sorts after '.', so `ls` lists files in order.
			name += fmt.Sprintf("_%03d", n)
		}
		p := filepath.Join(o.dir, name+o.ext)
		if _, err := os.Lstat(p); errors.Is(err, fs.ErrNotExist) {
			if _, err := os.Lstat(p + ".part"); errors.Is(err, fs.ErrNotExist) {
				o.lastStamp, o.lastSeq = ts, n
				return p
			}
		}
	}
}

// finishLeftovers renames the .part files a previous run left (killed, or
// the machine lost power) to their finished names: they end with STOP
// after their last whole batch, so they are complete files.
func (o *FileOutput) finishLeftovers() {
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".part")
		if !ok || !o.match.MatchString(name) || !e.Type().IsRegular() {
			continue
		}
		from, to := filepath.Join(o.dir, e.Name()), filepath.Join(o.dir, name)
		if _, err := os.Lstat(to); err == nil {
			continue
		}
		if err := os.Rename(from, to); err == nil {
			o.logf("output %s: %s left by an earlier run finished as %s", o.cfg.Path, e.Name(), name)
		}
	}
}

// open creates the next file with START and STOP in it.
func (o *FileOutput) open() error {
	now := o.now()
	if o.cfg.Rotating() {
		o.final = o.stampedName(now)
		o.name = o.final + ".part"
	} else {
		o.name, o.final = o.cfg.Path, o.cfg.Path
		if fi, err := os.Stat(o.name); err == nil && fi.Mode().IsRegular() && fi.Size() > 0 {
			aside := o.stampedName(fi.ModTime())
			if err := os.Rename(o.name, aside); err != nil {
				return fmt.Errorf("emit: move aside %s: %w", o.name, err)
			}
			o.c[fcMovedAside].Add(1)
			o.logf("output %s: existing file moved aside to %s", o.cfg.Path, aside)
		}
	}
	f, err := os.OpenFile(o.name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("emit: create %s: %w", o.name, err)
	}
	hdr := make([]byte, 0, len(StartFrame)+len(StopFrame))
	hdr = append(append(hdr, StartFrame...), StopFrame...)
	if _, err := f.WriteAt(hdr, 0); err != nil {
		f.Close()
		os.Remove(o.name)
		return fmt.Errorf("emit: write %s: %w", o.name, err)
	}
	o.f, o.size, o.frames = f, int64(len(StartFrame)), 0
	if o.cfg.RotateInterval > 0 {
		o.rotateAt = now.Truncate(o.cfg.RotateInterval).Add(o.cfg.RotateInterval)
	}
	return nil
}

// finish ends the open file: STOP at size (rewritten over bytes already
// allocated, so it fits on a full disk), nothing after it, then the final
// name. A file of a failed retry with no frame is removed.
func (o *FileOutput) finish(removeEmpty bool) error {
	if o.f == nil {
		return nil
	}
	f := o.f
	o.f = nil
	_, err := f.WriteAt(o.stopBuf, o.size)
	if terr := f.Truncate(o.size + int64(len(o.stopBuf))); err == nil {
		err = terr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if removeEmpty && o.frames == 0 {
		os.Remove(o.name)
		return err
	}
	if o.name != o.final {
		if rerr := os.Rename(o.name, o.final); err == nil {
			err = rerr
		}
	}
	o.c[fcFilesFinished].Add(1)
	if err != nil {
		err = fmt.Errorf("emit: finish %s: %w", o.final, err)
		o.logf("output %s: %v", o.cfg.Path, err)
		o.stats.SetError(err, o.now())
	}
	o.enforceKeep()
	return err
}

// enforceKeep deletes the oldest finished files until KeepBytes and
// KeepFiles hold.
func (o *FileOutput) enforceKeep() {
	if o.cfg.KeepBytes <= 0 && o.cfg.KeepFiles <= 0 {
		return
	}
	entries, err := os.ReadDir(o.dir)
	if err != nil {
		return
	}
	type old struct {
		key, path string
		size      int64
	}
	var files []old
	var total int64
	for _, e := range entries {
		m := o.match.FindStringSubmatch(e.Name())
		if m == nil || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		seq, _ := strconv.Atoi(m[2])
		files = append(files, old{key: fmt.Sprintf("%s-%09d", m[1], seq), path: filepath.Join(o.dir, e.Name()), size: fi.Size()})
		total += fi.Size()
	}
	sort.Slice(files, func(i, j int) bool { return files[i].key < files[j].key })
	for len(files) > 0 && ((o.cfg.KeepFiles > 0 && len(files) > o.cfg.KeepFiles) || (o.cfg.KeepBytes > 0 && total > o.cfg.KeepBytes)) {
		if err := os.Remove(files[0].path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			o.logf("output %s: --rotate-keep: %v", o.cfg.Path, err)
			return
		}
		o.c[fcFilesDeleted].Add(1)
		total -= files[0].size
		files = files[1:]
	}
}

func (o *FileOutput) logf(format string, args ...any) {
	if o.cfg.Logf != nil {
		o.cfg.Logf(format, args...)
	}
}

// Reopen asks the output to finish its file and start a new one at the next
// batch or flush (SIGHUP). Safe from any goroutine.
func (o *FileOutput) Reopen() { o.reopen.Store(true) }

// turn finishes and replaces the file when a reopen was asked for or a
// rotation is due before adding n bytes.
func (o *FileOutput) turn(n int) {
	if o.down || o.f == nil {
		return
	}
	due := o.reopen.Swap(false)
	if o.frames > 0 {
		due = due || (o.cfg.RotateSize > 0 && o.size+int64(n)+int64(len(StopFrame)) > o.cfg.RotateSize)
		due = due || (o.cfg.RotateInterval > 0 && !o.now().Before(o.rotateAt))
	} else if o.cfg.RotateInterval > 0 && !o.now().Before(o.rotateAt) {
		// An empty file past its interval just moves on to the next one.
		o.rotateAt = o.now().Truncate(o.cfg.RotateInterval).Add(o.cfg.RotateInterval)
	}
	if !due {
		return
	}
	o.finish(false)
	if err := o.open(); err != nil {
		o.fail(err)
	}
}

// fail enters the down state once, with one log line.
func (o *FileOutput) fail(err error) {
	o.c[fcWriteFailures].Add(1)
	o.stats.SetError(err, o.now())
	o.retryAt = o.now().Add(o.cfg.RetryInterval)
	if o.down {
		return
	}
	o.down, o.lost = true, 0
	o.stats.SetState(StateDown)
	o.logf("output %s: %v; frames are dropped (write_error) until a new file can be written", o.cfg.Path, err)
}

// WriteBatch writes b and STOP after it, at the end of the open file. With
// RotateSize, b is split at frame boundaries so that no file grows past it
// (a single frame larger than the rest of a file starts a new one).
func (o *FileOutput) WriteBatch(b []byte) error {
	if o.cfg.RotateSize <= 0 {
		return o.write(b)
	}
	for len(b) > 0 {
		k := fitting(b, o.cfg.RotateSize-o.size-int64(len(StopFrame)))
		if err := o.write(b[:k]); err != nil {
			rest := CountFrames(b[k:])
			o.lost += rest
			o.stats.AddDropped(DropWriteError, rest)
			return err
		}
		b = b[k:]
	}
	return nil
}

// fitting returns the length of the longest run of whole frames at the
// start of b that fits in room bytes, and at least the first frame.
func fitting(b []byte, room int64) int {
	k := 0
	for k+4 <= len(b) {
		end := k + 4 + int(binary.BigEndian.Uint32(b[k:]))
		if end > len(b) || (k > 0 && int64(end) > room) {
			break
		}
		k = end
	}
	if k == 0 {
		return len(b) // not a frame: let write count and refuse it whole
	}
	return k
}

// boundary returns the end of the last whole frame of b that ends at or
// before limit (0 if none does).
func boundary(b []byte, limit int) int {
	k := 0
	for k+4 <= len(b) {
		end := k + 4 + int(binary.BigEndian.Uint32(b[k:]))
		if end > limit || end > len(b) {
			break
		}
		k = end
	}
	return k
}

// write writes b (whole frames) to the open file, or drops it while down.
func (o *FileOutput) write(b []byte) error {
	n := CountFrames(b)
	if o.down {
		if o.now().Before(o.retryAt) {
			o.lost += n
			o.stats.AddDropped(DropWriteError, n)
			return nil
		}
		if err := o.open(); err != nil {
			o.fail(err)
			o.lost += n
			o.stats.AddDropped(DropWriteError, n)
			return nil
		}
	}
	o.turn(len(b))
	if o.f == nil {
		o.stats.AddDropped(DropWriteError, n)
		return nil
	}
	if w, err := pwrite(o.f, b, o.size); err != nil {
		// Keep the whole frames that reached the disk with room for
		// STOP after them inside what was written (allocated), so
		// finishing needs no new space.
		k := boundary(b, w-len(StopFrame))
		kept := CountFrames(b[:k])
		o.size += int64(k)
		o.frames += kept
		o.stats.AddDelivered(kept)
		o.writeFailed(err, n-kept)
		return err
	}
	if _, err := pwrite(o.f, o.stopBuf, o.size+int64(len(b))); err != nil {
		// The batch is there but not STOP after it: STOP goes back
		// where it was, over allocated bytes, and the batch is lost.
		o.writeFailed(err, n)
		return err
	}
	o.size += int64(len(b))
	o.frames += n
	o.stats.AddDelivered(n)
	if o.down {
		o.down = false
		o.stats.SetState(StateUp)
		o.logf("output %s: writing again, to %s (%d frames dropped while it failed)", o.cfg.Path, o.name, o.lost)
	}
	return nil
}

// writeFailed drops the batch and finishes the file without it.
func (o *FileOutput) writeFailed(err error, n uint64) {
	o.stats.AddDropped(DropWriteError, n)
	o.finish(true)
	o.fail(fmt.Errorf("emit: write %s: %w", o.name, err))
	o.lost += n
}

// Flush applies a pending reopen or interval rotation (the Queue calls it
// every flush interval, so an idle output still turns its files). Data is
// written by WriteBatch itself.
func (o *FileOutput) Flush() error {
	o.turn(0)
	return nil
}

// Close finishes the open file.
func (o *FileOutput) Close() error {
	err := o.finish(false)
	o.stats.SetState(StateClosed)
	return err
}

// Stats returns the output's frame accounting.
func (o *FileOutput) Stats() *OutputStats { return &o.stats }

// EachKind calls fn for the file counters (files finished, deleted by the
// keep bound, moved aside, write failures).
func (o *FileOutput) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	for i := range o.c {
		fn(fileCounterNames[i], fileCounterKinds[i], o.c[i].Load())
	}
}

// pwrite writes all of b at off and returns how much reached the file even
// when it fails: os.File.WriteAt reports 0 after a short write followed by
// ENOSPC (measured on tmpfs: 98,262 of 250,000 bytes written, 0 reported),
// and a full disk needs the real count to keep the frames that fit.
func pwrite(f *os.File, b []byte, off int64) (int, error) {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0, err
	}
	n := 0
	var werr error
	if err := rc.Write(func(fd uintptr) bool {
		for n < len(b) {
			m, e := syscall.Pwrite(int(fd), b[n:], off+int64(n))
			if e == syscall.EINTR {
				continue
			}
			if e != nil {
				werr = e
				break
			}
			if m == 0 {
				werr = io.ErrShortWrite
				break
			}
			n += m
		}
		return true
	}); err != nil {
		return n, err
	}
	if werr != nil {
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: werr}
	}
	return n, nil
}
