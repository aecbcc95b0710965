package capture

import (
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// DefaultMaxOpenFiles is how many capture files a MergedSource reads at once
// by default. Each open reader holds a 260 KiB buffer (and a gzip window), so
// 64 cost about 20 MB. Files that do not overlap in time (one capture point
// rotating with tcpdump -G or -C, an Arkime or Stenographer store) never need
// more than two open at once; 64 is for many capture points at once.
const DefaultMaxOpenFiles = 64

// ifaceStride separates the interface numbers of different files in
// Frame.Interface: a pcapng file has at most 65,536 interfaces (the reader
// refuses more), so file k's interface i is k*ifaceStride + i.
const ifaceStride = 1 << 16

// FileResult is what a MergedSource did with one input file.
type FileResult struct {
	Path    string
	Packets uint64 // frames read from it
	Bytes   uint64 // captured bytes of those frames
	Err     error  // why it was skipped or cut short; nil when read to its end
}

// mergeFile is one input of a MergedSource.
type mergeFile struct {
	index  int
	path   string
	first  int64 // capture time of its first frame, from the probe
	size   int64
	links  []packet.LinkType
	src    *FileSource
	cur    packet.Frame // the frame at the head of this file, not yet handed out
	result FileResult
}

// MergedSource reads several capture files as one stream in capture-time
// order: a k-way merge on the frames' timestamps, so that files which overlap
// in time (several capture points, several interfaces written apart)
// interleave as the packets crossed the wire, and TCP connections, IP
// fragments and queries waiting for their answer carry across file
// boundaries.
//
// Files are probed once at open (their first timestamp and link types) and
// then opened only when the merge reaches their first frame, and closed at
// their end, so at most MaxOpen are open at once whatever their number. When
// more than MaxOpen files overlap in time, the next one waits for a slot:
// its early frames then come after later ones of other files, which is
// counted (Delayed) and which reassembly tolerates as reordering.
//
// A file that cannot be opened or read, or whose link types the sensor does
// not decode, is skipped with its error in Results; a file that breaks in the
// middle keeps what was read before. Neither ends the merge.
//
// It is not safe for concurrent use.
type MergedSource struct {
	files   []*mergeFile // sorted by first timestamp
	next    int          // files[next:] are not opened yet
	heap    []*mergeFile // open files by the timestamp of their current frame
	last    *mergeFile   // the file whose frame Next returned last; it advances first at the next call
	maxOpen int
	delayed uint64
	size    int64
	done    int64 // bytes read from files already closed
	results []FileResult
	links   []packet.LinkType
}

// OpenMerged probes paths and returns a source merging them. maxOpen ≤ 0
// selects DefaultMaxOpenFiles. supported says which link types are decoded
// (a file with none of them is skipped). The error is non-nil only when no
// file at all could be read; per-file problems are in Results.
func OpenMerged(paths []string, maxOpen int, supported func(packet.LinkType) bool) (*MergedSource, error) {
	if maxOpen <= 0 {
		maxOpen = DefaultMaxOpenFiles
	}
	m := &MergedSource{maxOpen: maxOpen}
	for i, p := range paths {
		f := &mergeFile{index: i, path: p, result: FileResult{Path: p}}
		if err := f.probe(supported); err != nil {
			f.result.Err = err
			m.results = append(m.results, f.result)
			continue
		}
		m.size += f.size
		m.files = append(m.files, f)
		for _, lt := range f.links {
			if !slices.Contains(m.links, lt) {
				m.links = append(m.links, lt)
			}
		}
	}
	// Stable: files starting at the same instant keep the order given.
	slices.SortStableFunc(m.files, func(a, b *mergeFile) int {
		switch {
		case a.first < b.first:
			return -1
		case a.first > b.first:
			return 1
		}
		return 0
	})
	if len(m.files) == 0 {
		if len(m.results) > 0 {
			return m, fmt.Errorf("capture: no readable input (%d files skipped): %w", len(m.results), m.results[0].Err)
		}
		return m, errors.New("capture: no input files")
	}
	return m, nil
}

// probe reads the file's first frame for its timestamp and declared link
// types, then closes it again: thousands of inputs must not mean thousands
// of open files.
func (f *mergeFile) probe(supported func(packet.LinkType) bool) error {
	src, err := OpenFile(f.path)
	if err != nil {
		return err
	}
	defer src.Close()
	f.size = src.Size()
	var fr packet.Frame
	switch err := src.Next(&fr); {
	case err == io.EOF:
		f.first = 0 // an empty capture: it is read (to nothing) first
	case err != nil:
		return err
	default:
		f.first = fr.Timestamp
	}
	f.links = src.LinkTypes()
	if supported != nil {
		ok := false
		for _, lt := range f.links {
			ok = ok || supported(lt)
		}
		if !ok && len(f.links) > 0 {
			return fmt.Errorf("capture: %s: %w %d", f.path, ErrUnknownLinkType, f.links[0])
		}
	}
	return nil
}

// ErrUnknownLinkType: a file none of whose link types the sensor decodes.
var ErrUnknownLinkType = errors.New("unknown link type")

// Next fills f with the earliest frame among the files. f.Data aliases that
// file's buffer and is valid until the next call. It returns io.EOF when
// every file is done; errors of single files are not returned (see
// Results).
//
// Next does not allocate in steady state.
func (m *MergedSource) Next(f *packet.Frame) error {
	if l := m.last; l != nil {
		m.last = nil
		if m.advance(l) {
			m.down(0)
		} else {
			m.pop()
		}
	}
	// Open every file whose first frame is not later than the earliest
	// frame of the open ones, so nothing of it comes out of order.
	for m.next < len(m.files) && (len(m.heap) == 0 || m.files[m.next].first <= m.heap[0].cur.Timestamp) {
		if len(m.heap) >= m.maxOpen {
			if m.files[m.next].first < m.heap[0].cur.Timestamp {
				m.delayed++
			}
			break
		}
		nf := m.files[m.next]
		m.next++
		m.open(nf)
	}
	if len(m.heap) == 0 {
		return io.EOF
	}
	top := m.heap[0]
	*f = top.cur
	m.last = top
	return nil
}

// open starts reading nf and puts it in the heap if it has a frame.
func (m *MergedSource) open(nf *mergeFile) {
	src, err := OpenFile(nf.path)
	if err != nil {
		nf.result.Err = err
		m.results = append(m.results, nf.result)
		return
	}
	nf.src = src
	if m.advance(nf) {
		m.heap = append(m.heap, nf)
		m.up(len(m.heap) - 1)
	}
}

// advance reads the file's next frame into cur; at the end (or an error) it
// closes the file, records its result, and returns false.
func (m *MergedSource) advance(mf *mergeFile) bool {
	err := mf.src.Next(&mf.cur)
	if err == nil {
		mf.cur.Interface += mf.index * ifaceStride
		return true
	}
	if err != io.EOF {
		mf.result.Err = err
	}
	st := mf.src.Stats()
	mf.result.Packets, mf.result.Bytes = st.Packets, st.Bytes
	m.done += mf.src.BytesRead()
	mf.src.Close()
	mf.src = nil
	m.results = append(m.results, mf.result)
	return false
}

// pop removes the heap's top (its file has ended).
func (m *MergedSource) pop() {
	n := len(m.heap) - 1
	m.heap[0] = m.heap[n]
	m.heap[n] = nil
	m.heap = m.heap[:n]
	if n > 0 {
		m.down(0)
	}
}

func (m *MergedSource) less(i, j int) bool {
	a, b := m.heap[i], m.heap[j]
	if a.cur.Timestamp != b.cur.Timestamp {
		return a.cur.Timestamp < b.cur.Timestamp
	}
	return a.index < b.index // equal times: the order the files were given
}

func (m *MergedSource) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !m.less(i, p) {
			return
		}
		m.heap[i], m.heap[p] = m.heap[p], m.heap[i]
		i = p
	}
}

func (m *MergedSource) down(i int) {
	n := len(m.heap)
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && m.less(r, l) {
			c = r
		}
		if !m.less(c, i) {
			return
		}
		m.heap[i], m.heap[c] = m.heap[c], m.heap[i]
		i = c
	}
}

// Results lists, in the order files finished, what happened to each input
// that has ended or was skipped. The slice belongs to the source; it is
// complete after Next has returned io.EOF or after Close.
func (m *MergedSource) Results() []FileResult { return m.results }

// Delayed is the number of times a file had to wait for a free slot although
// its first frame was due (more than MaxOpen files overlapping in time).
func (m *MergedSource) Delayed() uint64 { return m.delayed }

// Files is the number of inputs that passed the probe.
func (m *MergedSource) Files() int { return len(m.files) }

// LinkTypes lists the link types the probed files declare.
func (m *MergedSource) LinkTypes() []packet.LinkType { return slices.Clone(m.links) }

// Size is the total size of the input files in bytes (compressed size for
// gzipped ones), for progress.
func (m *MergedSource) Size() int64 { return m.size }

// BytesRead is how far the merge is through Size. Call it from the
// goroutine that calls Next.
func (m *MergedSource) BytesRead() int64 {
	n := m.done
	for _, f := range m.heap {
		if s := f.src; s != nil {
			n += s.BytesRead()
		}
	}
	return n
}

// Close closes every file still open; those files' results record that they
// were not read to the end.
func (m *MergedSource) Close() error {
	for _, f := range m.heap {
		if f.src != nil {
			st := f.src.Stats()
			f.result.Packets, f.result.Bytes = st.Packets, st.Bytes
			f.src.Close()
			f.src = nil
			m.results = append(m.results, f.result)
		}
	}
	m.heap = m.heap[:0]
	m.last = nil
	return nil
}
