package main

import (
	"fmt"
	"io"
	"runtime/metrics"
	"sort"
	"strings"
	"time"
)

// counterSet is anything that can list its counters by stable name:
// reassembly.Stats, emit.Stats, capture statistics.
type counterSet interface {
	Each(fn func(name string, v uint64))
}

// totals sums counters of the same name across workers.
type totals struct {
	order []string
	v     map[string]uint64
}

func newTotals() *totals { return &totals{v: map[string]uint64{}} }

func (t *totals) add(name string, v uint64) {
	if _, ok := t.v[name]; !ok {
		t.order = append(t.order, name)
	}
	t.v[name] += v
}

func (t *totals) addSet(s counterSet) { s.Each(t.add) }

// summary is what the sensor prints to stderr at the end of a run.
type summary struct {
	source       string // file name or interfaces
	elapsed      time.Duration
	packets      uint64
	bytes        uint64
	filtered     uint64 // frames the filter expression rejected (file input)
	kernel       *totals
	decode       *totals // reassembly counters
	pipe         *totals // emit pipeline counters
	types        *totals // frames by dnstap type
	output       *totals // output writer counters
	outputName   string
	reopenEvents uint64
	heapAllocs   uint64 // heap objects allocated by the process so far
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

// interesting counters are printed in their own lines; the rest, when not
// zero, are listed under "skipped, dropped and errors".
var headline = map[string]bool{
	"frames": true, "messages_udp": true, "messages_tcp": true, "dns_messages": true,
	"pairs_matched": true, "frames_written": true,
}

func (s *summary) print(w io.Writer) {
	var b strings.Builder
	rate := ""
	if s.elapsed > 0 && s.packets > 0 {
		rate = fmt.Sprintf(", %.0f packets/s", float64(s.packets)/s.elapsed.Seconds())
	}
	fmt.Fprintf(&b, "sensor: %s: %d packets, %d bytes in %v%s\n", s.source, s.packets, s.bytes, s.elapsed.Round(time.Millisecond), rate)
	if s.filtered > 0 {
		fmt.Fprintf(&b, "  filtered out by expression %12d\n", s.filtered)
	}
	if s.kernel != nil && len(s.kernel.order) > 0 {
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
	fmt.Fprintf(&b, "  frames written             %12d  -> %s\n", p["frames_written"], s.outputName)
	// The count includes start-up (a few hundred to a thousand objects);
	// per message it only means something over a long run.
	if msgs := d["messages_udp"] + d["messages_tcp"]; s.heapAllocs > 0 && msgs >= 10000 {
		fmt.Fprintf(&b, "  heap allocs                %12d  (%.4f per DNS message, start-up included)\n", s.heapAllocs, float64(s.heapAllocs)/float64(msgs))
	} else if s.heapAllocs > 0 {
		fmt.Fprintf(&b, "  heap allocs                %12d  (start-up included)\n", s.heapAllocs)
	}
	var activity, problems []string
	for _, set := range []*totals{s.decode, s.pipe, s.output} {
		if set == nil {
			continue
		}
		for _, n := range set.order {
			v := set.v[n]
			if v == 0 || headline[n] || strings.HasPrefix(n, "unanswered") || n == "responses_without_query" {
				continue
			}
			if isProblem(n) {
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

// problemWords mark counters of traffic the sensor did not turn into frames
// (or turned into frames with a caveat); everything else is activity.
var problemWords = []string{"drop", "evict", "error", "fail", "timeout", "expired", "bad", "truncat",
	"overflow", "malformed", "not_", "non_", "unknown", "skip", "gap", "depth", "limit", "overlap",
	"too_", "conflict", "partial", "duplicate", "discard", "resync", "unsupported", "jumbo", "esp", "nested", "tiny", "lost"}

func isProblem(name string) bool {
	for _, w := range problemWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
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
