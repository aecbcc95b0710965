package main

import (
	"fmt"
	"io"
	"runtime/metrics"
	"sort"
	"strings"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// kindSet is anything that lists its counters by stable name and kind:
// reassembly.Stats, emit.Stats, emit.FileOutput.
type kindSet interface {
	EachKind(fn func(name string, k stat.Kind, v uint64))
}

// totals sums counters of the same name across workers, keeping each one's
// kind.
type totals struct {
	order []string
	v     map[string]uint64
	kind  map[string]stat.Kind
}

func newTotals() *totals { return &totals{v: map[string]uint64{}, kind: map[string]stat.Kind{}} }

func (t *totals) add(name string, k stat.Kind, v uint64) {
	if _, ok := t.v[name]; !ok {
		t.order = append(t.order, name)
		t.kind[name] = k
	}
	t.v[name] += v
}

func (t *totals) addSet(s kindSet) { s.EachKind(t.add) }

// outputReport is one output in the summary and the metrics.
type outputReport struct {
	name  string
	stats *emit.OutputStats
	extra *totals // the output's own counters (files finished, …)
}

// summary is what the sensor prints to stderr at the end of a run.
type summary struct {
	source     string // file name or interfaces
	elapsed    time.Duration
	packets    uint64
	bytes      uint64
	filtered   uint64 // frames the filter expression rejected (file input)
	kernel     *totals
	decode     *totals // reassembly counters
	pipe       *totals // emit pipeline counters
	types      *totals // frames by dnstap type
	outputs    []outputReport
	heapAllocs uint64 // heap objects allocated by the process so far

	files        []capture.FileResult // several inputs: what each gave
	skippedFiles int                  // files in input directories that are no captures

	server *serverSummary // --server-dnstap (serverdnstap.go)
}

// maxFileLines bounds the per-file lines of the summary: a day of
// one-minute captures would otherwise bury the totals. Files that failed are
// always listed.
const maxFileLines = 50

func newSummary(source string) *summary {
	return &summary{source: source, kernel: newTotals(), decode: newTotals(), pipe: newTotals(), types: newTotals()}
}

// heapAllocs reads the process's total heap allocations, so the summary
// shows what the per-message path costs in allocations (start-up included).
func heapAllocs() uint64 {
	sample := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}}
	metrics.Read(sample)
	if sample[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return sample[0].Value.Uint64()
}

// headline counters have lines of their own; the rest, when not zero, are
// listed by kind.
var headline = map[string]bool{
	"frames": true, "messages_udp": true, "messages_tcp": true, "dns_messages": true,
	"pairs_matched": true, "frames_encoded": true, "unanswered_expired": true, "unanswered_evicted": true,
	"unanswered_at_end": true, "responses_without_query": true,
}

func (s *summary) print(w io.Writer) {
	var b strings.Builder
	rate := ""
	if s.elapsed > 0 && s.packets > 0 {
		rate = fmt.Sprintf(", %.0f packets/s", float64(s.packets)/s.elapsed.Seconds())
	}
	fmt.Fprintf(&b, "sensor: %s: %d packets, %d bytes in %v%s\n", s.source, s.packets, s.bytes, s.elapsed.Round(time.Millisecond), rate)
	s.printFiles(&b)
	if s.filtered > 0 {
		fmt.Fprintf(&b, "  filtered out by expression %12d\n", s.filtered)
	}
	if len(s.kernel.order) > 0 {
		fmt.Fprintf(&b, "  kernel                     ")
		for _, n := range s.kernel.order {
			fmt.Fprintf(&b, " %s %d", n, s.kernel.v[n])
		}
		b.WriteByte('\n')
	}
	d, p := s.decode.v, s.pipe.v
	fmt.Fprintf(&b, "  DNS messages               %12d  (UDP %d, TCP %d)\n", d["messages_udp"]+d["messages_tcp"], d["messages_udp"], d["messages_tcp"])
	fmt.Fprintf(&b, "  by dnstap type             ")
	any := false
	for _, n := range s.types.order {
		if v := s.types.v[n]; v > 0 {
			fmt.Fprintf(&b, " %s %d", n, v)
			any = true
		}
	}
	if !any {
		b.WriteString(" none")
	}
	b.WriteByte('\n')
	fmt.Fprintf(&b, "  pairs matched              %12d\n", p["pairs_matched"])
	fmt.Fprintf(&b, "  unanswered queries         %12d\n", p["unanswered_expired"]+p["unanswered_evicted"]+p["unanswered_at_end"])
	fmt.Fprintf(&b, "  responses without query    %12d\n", p["responses_without_query"])
	fmt.Fprintf(&b, "  frames encoded             %12d\n", p["frames_encoded"])
	for _, o := range s.outputs {
		o.print(&b)
	}
	if s.server != nil {
		s.server.print(&b)
	}
	// The count includes start-up (a few hundred to a thousand objects);
	// per message it only means something over a long run.
	if msgs := d["messages_udp"] + d["messages_tcp"]; s.heapAllocs > 0 && msgs >= 10000 {
		fmt.Fprintf(&b, "  heap allocs                %12d  (%.4f per DNS message, start-up included)\n", s.heapAllocs, float64(s.heapAllocs)/float64(msgs))
	} else if s.heapAllocs > 0 {
		fmt.Fprintf(&b, "  heap allocs                %12d  (start-up included)\n", s.heapAllocs)
	}
	var activity, problems []string
	for _, set := range []*totals{s.decode, s.pipe} {
		for _, n := range set.order {
			v := set.v[n]
			if v == 0 || headline[n] {
				continue
			}
			if set.kind[n].Problem() {
				problems = append(problems, fmt.Sprintf("%s %d", n, v))
			} else {
				activity = append(activity, fmt.Sprintf("%s %d", n, v))
			}
		}
	}
	sort.Strings(problems)
	writeList(&b, "activity", activity)
	writeList(&b, "skipped, dropped, evicted, errors", problems)
	io.WriteString(w, b.String())
}

// print writes the output's lines: delivered, and whatever else is not zero.
func (o *outputReport) print(b *strings.Builder) {
	st := o.stats
	fmt.Fprintf(b, "  frames delivered           %12d  -> %s (%s)\n", st.Delivered(), o.name, st.State())
	if st.Dropped() > 0 {
		fmt.Fprintf(b, "    dropped                  %12d  (%s)\n", st.Dropped(), dropReasons(st))
	}
	var more []string
	if n := st.Spooled(); n > 0 {
		more = append(more, fmt.Sprintf("spooled %d", n))
	}
	if n := st.Queued(); n > 0 {
		more = append(more, fmt.Sprintf("queued %d", n))
	}
	if n := st.Reconnects(); n > 0 {
		more = append(more, fmt.Sprintf("reconnects %d", n))
	}
	for _, n := range o.extra.order {
		if v := o.extra.v[n]; v > 0 {
			more = append(more, fmt.Sprintf("%s %d", n, v))
		}
	}
	if len(more) > 0 {
		fmt.Fprintf(b, "    %s\n", strings.Join(more, ", "))
	}
	if e, at := st.LastError(); e != "" {
		fmt.Fprintf(b, "    last error at %s: %s\n", at.UTC().Format(time.RFC3339), e)
	}
}

func writeList(b *strings.Builder, title string, items []string) {
	if len(items) == 0 {
		fmt.Fprintf(b, "  %-26s none\n", title)
		return
	}
	fmt.Fprintf(b, "  %s:\n", title)
	for i := 0; i < len(items); i += 4 {
		fmt.Fprintf(b, "    %s\n", strings.Join(items[i:min(i+4, len(items))], ", "))
	}
}

// printFiles lists each input of a merged run: packets read, or why it was
// skipped or cut short.
func (s *summary) printFiles(b *strings.Builder) {
	if len(s.files) == 0 {
		return
	}
	failed := 0
	for _, f := range s.files {
		if f.Err != nil {
			failed++
		}
	}
	fmt.Fprintf(b, "  input files                %12d  (%d read in full, %d failed", len(s.files), len(s.files)-failed, failed)
	if s.skippedFiles > 0 {
		fmt.Fprintf(b, ", %d non-capture files skipped", s.skippedFiles)
	}
	b.WriteString(")\n")
	for _, f := range s.files {
		if f.Err == nil && len(s.files) > maxFileLines {
			continue
		}
		if f.Err != nil {
			fmt.Fprintf(b, "    %s: %d packets, then: %v\n", f.Path, f.Packets, f.Err)
		} else {
			fmt.Fprintf(b, "    %s: %d packets\n", f.Path, f.Packets)
		}
	}
}
