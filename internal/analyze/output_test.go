package analyze

import (
	"encoding/binary"
	"errors"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// blockingWriter blocks every Write until release is closed.
type blockingWriter struct {
	started chan struct{}
	release chan struct{}
	n       int
}

func (w *blockingWriter) Write(b []byte) (int, error) {
	if w.n == 0 {
		close(w.started)
	}
	w.n++
	<-w.release
	return len(b), nil
}

// TestAlertWriterNeverBlocks: with the sink stuck, alerts beyond the queue
// are dropped and counted, and the engine goes on.
func TestAlertWriterNeverBlocks(t *testing.T) {
	bw := &blockingWriter{started: make(chan struct{}), release: make(chan struct{})}
	// A 64 KiB bufio.Writer only writes through when full or flushed: the
	// first alert is flushed (the queue ran dry) and blocks the writer.
	aw := NewAlertWriter(bw, nil)
	sink := aw.Sink()
	a := &Alert{Rule: RuleSinkhole, Name: []byte("x.example")}
	sink(a)
	<-bw.started
	const extra = alertQueueLen + 100
	for range extra {
		sink(a)
	}
	if got := aw.Dropped(); got != 100 {
		t.Errorf("dropped %d, want 100 (queue of %d full behind a stuck write)", got, alertQueueLen)
	}
	close(bw.release)
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	if got := aw.Written(); got != 1+alertQueueLen {
		t.Errorf("written %d, want %d", got, 1+alertQueueLen)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

// TestECSOutputAccounting: frames written are delivered; after a write
// error they are dropped as write errors; a broken batch tail is one frame
// too large.
func TestECSOutputAccounting(t *testing.T) {
	frames := pcapFrames(t, "security_normal.pcap")
	var batch []byte
	for _, f := range frames[:10] {
		batch = binary.BigEndian.AppendUint32(batch, uint32(len(f)))
		batch = append(batch, f...)
	}
	var sb strings.Builder
	o := NewECSOutput(NewECSWriter(&sb), nil)
	if err := o.WriteBatch(append(batch, 0, 0, 0, 9, 1)); err != nil {
		t.Fatal(err)
	}
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	st := o.Stats()
	if st.Delivered() != 10 || st.DroppedBy(emit.DropTooLarge) != 1 || strings.Count(sb.String(), "\n") != 10 {
		t.Errorf("delivered %d, too large %d, lines %d; want 10, 1, 10", st.Delivered(), st.DroppedBy(emit.DropTooLarge), strings.Count(sb.String(), "\n"))
	}
	// A writer that fails: bufio holds 64 KiB, so write enough to spill.
	o = NewECSOutput(NewECSWriter(failWriter{}), nil)
	var err error
	handed := uint64(0)
	for range 200 {
		handed += 10
		if err = o.WriteBatch(batch); err != nil {
			break
		}
	}
	if err == nil {
		t.Fatal("no write error after 2000 events into a failing writer")
	}
	st = o.Stats()
	if st.DroppedBy(emit.DropWriteError) == 0 || st.Delivered()+st.DroppedBy(emit.DropWriteError) != handed || st.State() != emit.StateDown {
		t.Errorf("delivered %d + write errors %d, want %d in all; state %v", st.Delivered(), st.DroppedBy(emit.DropWriteError), handed, st.State())
	}
}
