package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/merge"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// serverDnstapSpec is --server-dnstap and its options, checked at flag time.
type serverDnstapSpec struct {
	endpoints []string // unix:PATH, tcp:HOST:PORT (live)
	files     []string // file:PATH (with -r)
	mode      merge.Mode
	window    time.Duration
	group     string
}

func (s *serverDnstapSpec) enabled() bool { return len(s.endpoints)+len(s.files) > 0 }

// parseServerDnstap checks --server-dnstap, --server-dnstap-mode,
// --server-dnstap-window and --server-dnstap-group.
func parseServerDnstap(o *options) error {
	s := &o.serverDnstap
	for _, ep := range o.serverDnstaps {
		if path, ok := strings.CutPrefix(ep, "file:"); ok && path != "" {
			s.files = append(s.files, path)
			continue
		}
		if _, _, err := merge.ParseEndpoint(ep); err != nil {
			return usagef("--server-dnstap %q: want unix:PATH, tcp:HOST:PORT or file:PATH", ep)
		}
		s.endpoints = append(s.endpoints, ep)
	}
	var err error
	if s.mode, err = merge.ParseMode(o.serverDnstapMode); err != nil {
		return usagef("--server-dnstap-mode %q: want merge or verify", o.serverDnstapMode)
	}
	s.window, s.group = o.serverDnstapWindow, o.serverDnstapGroup
	switch {
	case !s.enabled() && (o.serverDnstapMode != "" || s.window != 0 || s.group != ""):
		return usagef("--server-dnstap-mode, --server-dnstap-window and --server-dnstap-group need --server-dnstap")
	case s.window < 0 || (s.enabled() && s.window > 0 && s.window < 100*time.Millisecond):
		return usagef("--server-dnstap-window %v: want at least 100ms", s.window)
	case len(s.endpoints) > 0 && len(o.interfaces) == 0:
		// The server sends now; only a live capture shares its clock.
		return usagef("--server-dnstap unix: and tcp: take a server's live dnstap: they need -i (for a file, give file:PATH with -r)")
	case len(s.files) > 0 && len(o.readFiles) == 0:
		return usagef("--server-dnstap file:PATH merges a dnstap file with a capture file: it needs -r")
	}
	return nil
}

// serverDnstap is the run's merge of a server's own dnstap with the frames
// built from the wire. The pipeline's only output is the Merger, behind the
// run's one queue; the Merger writes to each real output through a bounded
// queue of its own (queuedOutput), so that a slow output drops, counted, in
// its own queue and never stalls the Merger, the Receiver or the capture.
type serverDnstap struct {
	spec  *serverDnstapSpec
	recv  *merge.Receiver // live
	files *serverFiles    // file input
	m     *merge.Merger
	mouts []*queuedOutput
}

// listenServerDnstap starts the Receiver on every endpoint (live) or opens
// the server's dnstap files (file input). Nothing is taken before start. On
// an error it closes the outputs.
func (s *outputSet) listenServerDnstap(spec *serverDnstapSpec, logf func(string, ...any)) error {
	if !spec.enabled() {
		return nil
	}
	sd := &serverDnstap{spec: spec}
	fail := func(err error) error {
		if sd.recv != nil {
			sd.recv.Close()
		}
		for _, o := range s.outs {
			o.Close()
		}
		return err
	}
	if len(spec.files) > 0 {
		f, err := openServerFiles(spec.files)
		if err != nil {
			return fail(err)
		}
		sd.files = f
	} else {
		sd.recv = merge.NewReceiver(merge.ReceiverConfig{SocketGroup: spec.group, Logf: logf})
		for _, ep := range spec.endpoints {
			if _, err := sd.recv.Listen(ep); err != nil {
				return fail(fmt.Errorf("--server-dnstap %s: %w", ep, err))
			}
		}
	}
	// The Merger writes to the real outputs through queues that start
	// with the run (startMerged).
	outs := make([]emit.Output, len(s.outs))
	for i := range s.outs {
		q := &queuedOutput{}
		q.stats.SetState(emit.StateUp)
		sd.mouts = append(sd.mouts, q)
		outs[i] = q
	}
	mcfg := merge.Config{Mode: spec.mode, Window: spec.window, Outputs: outs}
	if sd.files != nil {
		// Offline the clock is the capture's: the time of the wire frames
		// the Merger was last handed.
		mcfg.Now = sd.files.now
	}
	m, err := merge.New(mcfg)
	if err != nil {
		return fail(err)
	}
	sd.m = m
	if sd.files != nil {
		sd.files.m = m
	}
	s.server = sd
	return nil
}

// startMerged starts one bounded queue in front of each real output and
// the run's queue in front of the Merger.
func (s *outputSet) startMerged(cfg emit.QueueConfig) {
	sd := s.server
	for i, o := range s.outs {
		sd.mouts[i].q = emit.NewQueue(o, cfg)
		sd.mouts[i].p = sd.mouts[i].q.Producer()
	}
	var front emit.Output = sd.m
	if sd.files != nil {
		front = sd.files
	} else {
		sd.m.Attach(sd.recv)
	}
	s.queues = append(s.queues, emit.NewQueue(front, cfg))
}

// closeMerged drains the run's queue into the Merger, which releases what
// it holds and closes the real outputs' queues; then every frame must be
// accounted for, at the Merger and at each output.
func (s *outputSet) closeMerged() error {
	sd := s.server
	var errs []error
	if err := s.queues[0].Close(); err != nil {
		errs = append(errs, fmt.Errorf("server dnstap merge: %w", err))
	}
	check := func(name string, st *emit.OutputStats) {
		if done := st.Delivered() + st.Dropped() + st.Spooled(); done != st.Encoded() {
			errs = append(errs, fmt.Errorf("output %s: internal error: %d frames encoded, %d accounted for (delivered, dropped, spooled)",
				name, st.Encoded(), done))
		}
	}
	check("merger", sd.m.Stats())
	for i, o := range s.outs {
		check(s.specs[i].name()+" (hand-over from the merger)", sd.mouts[i].Stats())
		check(s.specs[i].name(), o.Stats())
	}
	return errors.Join(errs...)
}

// mergerName is how the summary and the metrics call the Merger as an
// output of the pipeline.
const mergerName = "merger"

// mergerReport is the Merger as an output: the wire frames it took, and
// its counters and the Receiver's as the output's own.
func (sd *serverDnstap) mergerReport() outputReport {
	r := outputReport{name: mergerName, stats: sd.m.Stats(), extra: newTotals()}
	r.extra.addSet(mergeCounters{sd})
	return r
}

// mergeCounters lists the Merger's and the Receiver's counters by kind, so
// the summary and the metrics show them as any other counter set.
type mergeCounters struct{ sd *serverDnstap }

// mergeKinds classifies the Merger's counters (merge.Stats.Each) and the
// Receiver's (merge.ReceiverStats.Each, named here with "receiver_").
// A message only one side has is a drop of the other side.
var mergeKinds = map[string]stat.Kind{
	"server_frames": stat.Activity, "server_unparsed": stat.Activity, "wire_frames": stat.Activity,
	"wire_unparsed": stat.Error, "both": stat.Activity, "server_only": stat.Drop, "wire_only": stat.Drop,
	"filled": stat.Activity, "filled_too_large": stat.Drop, "released_early": stat.Drop, "clamped": stat.Error,
	"frames_out": stat.Activity, "output_errors": stat.Error, "lookups_capped": stat.Drop,
	"both_exact": stat.Activity, "both_bind_rd_type": stat.Activity, "both_no_source_address": stat.Activity,
	"both_no_source_port": stat.Activity, "both_omitted_fields": stat.Activity,
	"receiver_connections": stat.Activity, "receiver_reconnects": stat.Activity, "receiver_connections_refused": stat.Drop,
	"receiver_connections_clean": stat.Activity, "receiver_connections_cut": stat.Error,
	"receiver_content_type_wrong": stat.Error, "receiver_stream_garbage": stat.Error,
	"receiver_frames_in": stat.Activity, "receiver_frames_queued": stat.Activity,
	"receiver_frames_dropped_queue_full": stat.Drop, "receiver_frames_dropped_too_large": stat.Drop,
}

// EachKind calls fn for every counter of the Merger, then of the Receiver
// (live) or of the server's files (file input).
func (c mergeCounters) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	c.sd.m.Counters().Each(func(name string, v uint64) { fn(name, mergeKinds[name], v) })
	if c.sd.recv != nil {
		c.sd.recv.Stats().Each(func(name string, v uint64) {
			name = "receiver_" + name
			fn(name, mergeKinds[name], v)
		})
	}
	if f := c.sd.files; f != nil {
		fn("server_file_frames", stat.Activity, f.frames.Load())
		fn("server_file_errors", stat.Error, f.errors.Load())
	}
}

// serverSummary is what the summary and the stats line say of the merge.
type serverSummary struct {
	source      string
	mode        merge.Mode
	c           *merge.Stats
	rs          *merge.ReceiverStats // nil for file input
	skew        merge.Skew
	history     []merge.Interval
	inWindow    int64
	serverDrops uint64 // frames the Receiver could not take
}

func (sd *serverDnstap) summary() *serverSummary {
	src := strings.Join(sd.spec.endpoints, ", ")
	if sd.files != nil {
		src = "file " + strings.Join(sd.spec.files, ", ")
	}
	s := &serverSummary{source: src, mode: sd.spec.mode, c: sd.m.Counters(), skew: sd.m.Skew(),
		history: sd.m.History(), inWindow: sd.m.Counters().InWindow()}
	if sd.recv != nil {
		s.rs = sd.recv.Stats()
		s.serverDrops = s.rs.Get(merge.FramesQueueFull) + s.rs.Get(merge.FramesTooLarge)
	}
	return s
}

// serverSummary returns the merge's summary, or nil when there is none.
func (s *outputSet) serverSummary() *serverSummary {
	if s.server == nil {
		return nil
	}
	return s.server.summary()
}

// dropRate is the share of the wire's messages the server's dnstap lacks.
func (s *serverSummary) dropRate() float64 {
	both, wo := s.c.Get(merge.Both), s.c.Get(merge.WireOnly)
	if both+wo == 0 {
		return 0
	}
	return float64(wo) / float64(both+wo)
}

func (s *serverSummary) print(b *strings.Builder) {
	c := s.c
	fmt.Fprintf(b, "  server dnstap (%s)        %s", s.mode, s.source)
	if s.rs != nil {
		fmt.Fprintf(b, ": %d connections (%d open), %d frames in", s.rs.Get(merge.Connections), s.rs.Active(), s.rs.Get(merge.FramesIn))
	}
	b.WriteByte('\n')
	fmt.Fprintf(b, "    seen by both             %12d\n", c.Get(merge.Both))
	fmt.Fprintf(b, "    server only              %12d  (the capture missed them)\n", c.Get(merge.ServerOnly))
	fmt.Fprintf(b, "    wire only                %12d  (the server's dnstap lacks them: %.2f%% of the wire's)\n", c.Get(merge.WireOnly), 100*s.dropRate())
	if s.mode == merge.ModeMerge {
		fmt.Fprintf(b, "    filled                   %12d  (sensor frames marked %q)\n", c.Get(merge.Filled), merge.FilledMark)
	}
	if s.skew.Pairs > 0 {
		fmt.Fprintf(b, "    clock skew                server - capture: median %v, max %v (%d pairs)\n",
			s.skew.Median, s.skew.MaxAbs, s.skew.Pairs)
	}
	var worst merge.Interval
	for _, iv := range s.history {
		if iv.ServerDropRate() > worst.ServerDropRate() {
			worst = iv
		}
	}
	if worst.WireOnly > 0 {
		fmt.Fprintf(b, "    server drop rate, worst 10 s: %.2f%% from %s\n", 100*worst.ServerDropRate(), worst.Start.UTC().Format(time.RFC3339))
	}
	if s.serverDrops > 0 {
		fmt.Fprintf(b, "    server frames dropped    %12d  (the merger fell behind)\n", s.serverDrops)
	}
}

// logLine is the merge's part of the --stats-interval line.
func (s *serverSummary) logLine() string {
	c := s.c
	line := fmt.Sprintf("; server dnstap: both %d, server only %d, wire only %d (%.2f%%), in window %d",
		c.Get(merge.Both), c.Get(merge.ServerOnly), c.Get(merge.WireOnly), 100*s.dropRate(), s.inWindow)
	if s.rs != nil {
		line += fmt.Sprintf(", %d connected", s.rs.Active())
	}
	if s.skew.Pairs > 0 {
		line += fmt.Sprintf(", skew %v", s.skew.Median)
	}
	return line
}

// queuedOutput is a real output as the Merger sees it: WriteBatch copies
// the frames into the output's own bounded Queue and returns at once. Its
// Stats are the hand-over (encoded by the Merger, delivered here, when in
// the queue); the real output's accounting is its Queue's, as without a
// merge. The Merger calls it under its lock only, so the one Producer is
// never used by two goroutines at once.
type queuedOutput struct {
	q     *emit.Queue
	p     *emit.Producer
	stats emit.OutputStats
}

// WriteBatch hands every frame of b to the queue; what the queue cannot
// take is counted by the real output (queue_full).
func (o *queuedOutput) WriteBatch(b []byte) error {
	var n uint64
	for len(b) >= 4 {
		l := int(binary.BigEndian.Uint32(b))
		if l > len(b)-4 {
			break
		}
		_ = o.p.WriteFrame(b[4 : 4+l])
		b = b[4+l:]
		n++
	}
	o.stats.AddDelivered(n)
	return nil
}

// Flush hands the partial batch to the queue.
func (o *queuedOutput) Flush() error { o.p.Flush(); return nil }

// Close writes what is queued and closes the real output.
func (o *queuedOutput) Close() error {
	o.p.Flush()
	o.stats.SetState(emit.StateClosed)
	return o.q.Close()
}

// Stats is the hand-over from the Merger.
func (o *queuedOutput) Stats() *emit.OutputStats { return &o.stats }

// serverFiles merges a server's dnstap files with a capture file. It sits
// in front of the Merger: before each batch of wire frames it hands the
// Merger the server's frames up to the batch's time, and the Merger's clock
// is the time of the wire frames, so both sides meet within the window as
// they would live, at any reading speed.
type serverFiles struct {
	m      *merge.Merger
	paths  []string
	files  []*os.File
	fr     *emit.FrameReader
	cur    int
	next   []byte // the server's next frame, not yet handed over
	nextT  int64
	done   bool
	batch  []byte
	msg    merge.Message
	clock  atomic.Int64
	frames atomic.Uint64
	errors atomic.Uint64
	err    error // why a file stopped early
}

var _ emit.Output = (*serverFiles)(nil)

func openServerFiles(paths []string) (*serverFiles, error) {
	s := &serverFiles{paths: paths}
	for _, p := range paths {
		f, err := os.Open(p)
		if err != nil {
			for _, f := range s.files {
				f.Close()
			}
			return nil, fmt.Errorf("--server-dnstap file:%s: %w", p, err)
		}
		s.files = append(s.files, f)
	}
	s.fr = emit.NewFrameReader(s.files[0])
	return s, nil
}

func (s *serverFiles) now() int64 { return s.clock.Load() }

// advance reads the server's next frame into s.next, moving to the next
// file at the end of one. A file that stops early (a bad frame) is counted
// and the next one read.
func (s *serverFiles) advance() {
	for !s.done {
		f, err := s.fr.ReadFrame()
		if err == nil {
			s.frames.Add(1)
			s.next = append(s.next[:0], f...)
			s.nextT = 0
			if s.msg.Parse(f) == nil && s.msg.HasTime {
				s.nextT = s.msg.Time
			}
			return
		}
		if !errors.Is(err, io.EOF) {
			s.errors.Add(1)
			if s.err == nil {
				s.err = fmt.Errorf("--server-dnstap file:%s: %w", s.paths[s.cur], err)
			}
		}
		s.cur++
		if s.cur == len(s.files) {
			s.done, s.next = true, nil
			return
		}
		s.fr = emit.NewFrameReader(s.files[s.cur])
	}
}

// feed hands the Merger every server frame up to time t (all when t < 0).
func (s *serverFiles) feed(t int64) {
	if s.next == nil && !s.done {
		s.advance()
	}
	for s.next != nil && (t < 0 || s.nextT <= t) {
		if len(s.batch)+4+len(s.next) > emit.DefaultBatchSize {
			_ = s.m.ServerBatch(s.batch)
			s.batch = s.batch[:0]
		}
		s.batch = binary.BigEndian.AppendUint32(s.batch, uint32(len(s.next)))
		s.batch = append(s.batch, s.next...)
		s.advance()
	}
	if len(s.batch) > 0 {
		_ = s.m.ServerBatch(s.batch)
		s.batch = s.batch[:0]
	}
}

// WriteBatch moves the clock to the time of the batch's last frame, hands
// over the server's frames up to it, then the wire's.
func (s *serverFiles) WriteBatch(b []byte) error {
	var last []byte
	for p := b; len(p) >= 4; {
		l := int(binary.BigEndian.Uint32(p))
		if l > len(p)-4 {
			break
		}
		last, p = p[4:4+l], p[4+l:]
	}
	if last != nil && s.msg.Parse(last) == nil && s.msg.HasTime && s.msg.Time > s.clock.Load() {
		s.clock.Store(s.msg.Time)
	}
	s.feed(s.clock.Load())
	return s.m.WriteBatch(b)
}

// Flush flushes the Merger.
func (s *serverFiles) Flush() error { return s.m.Flush() }

// Close hands over the server's remaining frames and closes the Merger.
func (s *serverFiles) Close() error {
	s.feed(-1)
	err := s.m.Close()
	for _, f := range s.files {
		f.Close()
	}
	return errors.Join(err, s.err)
}

// Stats are the Merger's.
func (s *serverFiles) Stats() *emit.OutputStats { return s.m.Stats() }
