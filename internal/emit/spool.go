package emit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Spool errors, told apart with errors.Is.
var (
	// ErrSpoolFull: a batch did not fit in the spool even after every
	// older file was dropped (a batch larger than SpoolMax).
	ErrSpoolFull = errors.New("emit: spool full")
	// ErrNotSpool: a file named like a spool file is not a dnstap Frame
	// Streams file; it is left alone and not sent.
	ErrNotSpool = errors.New("emit: not a dnstap Frame Streams spool file")
	// ErrSpoolInUse: another output or another sensor holds the spool.
	ErrSpoolInUse = errors.New("emit: spool directory in use by another output or sensor")
)

// DefaultSpoolMax bounds the spool when SocketOutputConfig.SpoolMax is 0.
const DefaultSpoolMax = 1 << 30

const (
	spoolPrefix = "spool-"
	spoolSuffix = ".fstrm"
	// sentSuffix names the file holding how far the head file was sent,
	// written at Close so that a restarted sensor does not send it again.
	sentSuffix = ".sent"
	// spoolChunk is the most one read from the spool hands to a receiver:
	// as large as a Queue batch, so a receiver sees the same writes.
	spoolChunk = DefaultBatchSize
)

// spoolFile is one Frame Streams file of the spool. Its frames from off on
// are not yet sent.
type spoolFile struct {
	path   string
	seq    uint64
	size   int64
	off    int64
	frames uint64
}

// spool holds, in a directory, the batches that no receiver could take, as
// a sequence of Frame Streams files (START, data frames, STOP) named by a
// sequence number, oldest first. The newest file is open for appending;
// the oldest is read from for sending. Its total size is bounded by max:
// to make room, whole files are dropped oldest first and their frames
// counted as DropSpoolFull. It belongs to the SocketOutput's goroutine.
type spool struct {
	dir    string
	max    int64
	segMax int64
	files  []*spoolFile // oldest first; the last is open for appending when w != nil
	w      *os.File
	bytes  int64
	frames uint64
	seq    uint64
	rbuf   []byte
	stats  *OutputStats
	lock   *os.File
}

// openSpool opens dir (creating it), counts the frames of every spool file
// a previous run left there and adds them to stats as encoded and spooled.
// It returns the number of frames resumed.
func openSpool(dir string, limit int64, stats *OutputStats) (*spool, uint64, error) {
	if limit <= 0 {
		limit = DefaultSpoolMax
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, 0, fmt.Errorf("emit: open spool %s: %w", dir, err)
	}
	sp := &spool{
		dir: dir, max: limit, stats: stats,
		// Eight files or more: dropping the oldest frees an eighth at a
		// time, not the whole spool.
		segMax: min(max(limit/8, 1<<20), 64<<20),
		rbuf:   make([]byte, spoolChunk),
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, 0, fmt.Errorf("emit: open spool %s: %w", dir, err)
	}
	sp.lock = lock
	ents, err := os.ReadDir(dir)
	if err != nil {
		sp.closeFiles()
		return nil, 0, fmt.Errorf("emit: open spool %s: %w", dir, err)
	}
	for _, e := range ents {
		name := e.Name()
		if !e.Type().IsRegular() || !strings.HasPrefix(name, spoolPrefix) || !strings.HasSuffix(name, spoolSuffix) {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(name, spoolPrefix), spoolSuffix), 16, 64)
		if err != nil {
			continue
		}
		f := &spoolFile{path: filepath.Join(dir, name), seq: seq}
		if err := sp.scan(f); err != nil {
			sp.closeFiles()
			return nil, 0, fmt.Errorf("emit: open spool %s: %w", f.path, err)
		}
		sp.seq = max(sp.seq, seq+1)
		if f.frames == 0 {
			sp.remove(f)
			continue
		}
		sp.files = append(sp.files, f)
		sp.bytes += f.size
		sp.frames += f.frames
	}
	slices.SortFunc(sp.files, func(a, b *spoolFile) int {
		if a.seq < b.seq {
			return -1
		}
		return 1
	})
	stats.AddEncoded(sp.frames)
	stats.AddSpooled(sp.frames)
	return sp, sp.frames, nil
}

// scan checks that f begins with START and counts its whole data frames
// from where the last run stopped sending it. A tail cut by a crash is not
// counted and never sent.
func (sp *spool) scan(f *spoolFile) error {
	fd, err := os.Open(f.path)
	if err != nil {
		return err
	}
	defer fd.Close()
	st, err := fd.Stat()
	if err != nil {
		return err
	}
	f.size = st.Size()
	if f.size < int64(len(StartFrame)) {
		return nil // created, cut before START was whole: nothing to send
	}
	var hdr [len(ContentType) + 20]byte
	if _, err := io.ReadFull(fd, hdr[:]); err != nil || !bytes.Equal(hdr[:], StartFrame) {
		return ErrNotSpool
	}
	f.off = int64(len(StartFrame))
	if b, err := os.ReadFile(f.path + sentSuffix); err == nil {
		if off, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && off >= f.off && off <= f.size {
			f.off = off
		}
	}
	for off := f.off; ; {
		_, n, next, err := sp.readAt(fd, f.size, off)
		if err != nil {
			return err
		}
		if next == off {
			return nil
		}
		f.frames += n
		off = next
	}
}

// readAt reads the data frames of fd from off into sp.rbuf, as many whole
// ones as fit, skipping control frames. It returns them, their count, and
// the offset after them; next == off at the end of the file (or of its whole
// frames).
func (sp *spool) readAt(fd *os.File, size, off int64) (chunk []byte, frames uint64, next int64, err error) {
	for {
		if off >= size {
			return nil, 0, off, nil
		}
		n, err := fd.ReadAt(sp.rbuf[:min(int64(len(sp.rbuf)), size-off)], off)
		if err != nil && err != io.EOF {
			return nil, 0, off, err
		}
		b := sp.rbuf[:n]
		end := 0
		for len(b)-end >= 4 {
			l := int(binary.BigEndian.Uint32(b[end:]))
			if l == 0 {
				break
			}
			if l > len(b)-end-4 {
				break
			}
			end += 4 + l
			frames++
		}
		if end > 0 {
			return b[:end], frames, off + int64(end), nil
		}
		// A control frame (STOP) or a cut tail: skip a whole control
		// frame, or stop at the cut.
		if len(b) >= 8 && binary.BigEndian.Uint32(b) == 0 {
			cl := int64(binary.BigEndian.Uint32(b[4:]))
			if cl <= maxControlLen && off+8+cl <= size {
				off += 8 + cl
				continue
			}
		}
		return nil, 0, off, nil
	}
}

// append writes a batch of frames at the end of the spool, making room by
// dropping the oldest files.
func (sp *spool) append(b []byte, frames uint64) error {
	need := int64(len(b))
	if need+int64(len(StartFrame)+len(StopFrame)) > sp.max {
		sp.stats.AddDropped(DropSpoolFull, frames)
		return ErrSpoolFull
	}
	for sp.bytes+need+int64(len(StopFrame)) > sp.max && len(sp.files) > 0 {
		f := sp.files[0]
		if sp.w != nil && len(sp.files) == 1 {
			sp.seal()
		}
		sp.files = sp.files[1:]
		sp.bytes -= f.size
		sp.frames -= f.frames
		sp.stats.Unspool(f.frames, DropSpoolFull)
		sp.remove(f)
	}
	if sp.w != nil && sp.files[len(sp.files)-1].size+need > sp.segMax {
		sp.seal()
	}
	if sp.w == nil {
		if err := sp.create(); err != nil {
			sp.stats.AddDropped(DropWriteError, frames)
			return err
		}
	}
	f := sp.files[len(sp.files)-1]
	if n, err := sp.w.Write(b); err != nil {
		// Disk full: cut the partial batch off so the file stays whole;
		// if even that fails, close the file where it is (its cut tail
		// is never sent) and start another next time.
		sp.stats.AddDropped(DropWriteError, frames)
		if n > 0 && sp.w.Truncate(f.size) != nil {
			sp.seal()
		}
		return fmt.Errorf("emit: write spool %s: %w", f.path, err)
	}
	f.size += need
	f.frames += frames
	sp.bytes += need
	sp.frames += frames
	sp.stats.AddSpooled(frames)
	return nil
}

func (sp *spool) create() error {
	f := &spoolFile{path: filepath.Join(sp.dir, fmt.Sprintf("%s%016x%s", spoolPrefix, sp.seq, spoolSuffix)), seq: sp.seq}
	w, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("emit: create spool file %s: %w", f.path, err)
	}
	if _, err := w.Write(StartFrame); err != nil {
		w.Close()
		os.Remove(f.path)
		return fmt.Errorf("emit: write spool %s: %w", f.path, err)
	}
	sp.seq++
	sp.w = w
	f.size = int64(len(StartFrame))
	f.off = f.size
	sp.files = append(sp.files, f)
	sp.bytes += f.size
	return nil
}

// seal ends the open file with STOP and closes it: from then on it is a
// complete dnstap file and may be sent.
func (sp *spool) seal() {
	if sp.w == nil {
		return
	}
	f := sp.files[len(sp.files)-1]
	if _, err := sp.w.Write(StopFrame); err == nil {
		f.size += int64(len(StopFrame))
		sp.bytes += int64(len(StopFrame))
	}
	sp.w.Close()
	sp.w = nil
}

// next returns the oldest unsent frames (whole ones, at most spoolChunk
// bytes, owned by the spool until the next call). Call sent with how many
// of their bytes a receiver took. An unreadable file is dropped, its frames
// counted as DropWriteError, and the error returned.
func (sp *spool) next() ([]byte, error) {
	for len(sp.files) > 0 {
		f := sp.files[0]
		if sp.w != nil && len(sp.files) == 1 {
			sp.seal()
		}
		fd, err := os.Open(f.path)
		if err == nil {
			var chunk []byte
			var next int64
			chunk, _, next, err = sp.readAt(fd, f.size, f.off)
			fd.Close()
			if err == nil && next > f.off {
				return chunk, nil
			}
		}
		// End of the file: whatever frames are still counted in it
		// were cut or unreadable.
		sp.files = sp.files[1:]
		sp.bytes -= f.size
		sp.frames -= f.frames
		if f.frames > 0 {
			sp.stats.Unspool(f.frames, DropWriteError)
		}
		sp.remove(f)
		if err != nil {
			return nil, fmt.Errorf("emit: read spool %s: %w", f.path, err)
		}
	}
	return nil, nil
}

// sent records that the first n bytes (frames whole frames) of what next
// returned were written to a receiver.
func (sp *spool) sent(n int, frames uint64) {
	f := sp.files[0]
	f.off += int64(n)
	f.frames -= frames
	sp.frames -= frames
	sp.stats.Unspool(frames, NumDropReasons)
	if f.frames == 0 {
		sp.files = sp.files[1:]
		sp.bytes -= f.size
		sp.remove(f)
	}
}

func (sp *spool) remove(f *spoolFile) {
	os.Remove(f.path)
	os.Remove(f.path + sentSuffix)
}

// close seals the open file, records how far the oldest was sent and
// lets the directory go.
func (sp *spool) close() error {
	sp.seal()
	defer sp.closeFiles()
	if len(sp.files) == 0 {
		return nil
	}
	f := sp.files[0]
	if f.off == int64(len(StartFrame)) {
		return nil
	}
	if err := os.WriteFile(f.path+sentSuffix, strconv.AppendInt(nil, f.off, 10), 0o600); err != nil {
		return fmt.Errorf("emit: close spool %s: %w", sp.dir, err)
	}
	return nil
}

func (sp *spool) closeFiles() {
	if sp.w != nil {
		sp.w.Close()
		sp.w = nil
	}
	if sp.lock != nil {
		sp.lock.Close()
		sp.lock = nil
	}
}
