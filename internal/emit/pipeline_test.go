package emit

import (
	"io"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"

	dnstap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

func decodeFrame(t testing.TB, b []byte) *dnstap.Dnstap {
	t.Helper()
	var d dnstap.Dnstap
	if err := proto.Unmarshal(b, &d); err != nil {
		t.Fatalf("frame does not decode: %v", err)
	}
	return &d
}

func counter(s *Stats, name string) uint64 {
	var v uint64
	found := false
	s.Each(func(n string, x uint64) {
		if n == name {
			v, found = x, true
		}
	})
	if !found {
		panic("no counter " + name)
	}
	return v
}

const (
	cli  = "192.0.2.10:40000"
	cli2 = "192.0.2.11:40000"
	srv  = "192.0.2.53:53"
	sec  = int64(time.Second)
	t0   = int64(1700000000) * sec
)

type step struct {
	src, dst string
	resp     bool
	id       uint16
	qname    string
	ts       int64
	tr       reassembly.Transport
	// wantQueryTime is the query_time a response frame must carry (0: none).
	wantQueryTime int64
}

func TestPairing(t *testing.T) {
	type tc struct {
		name       string
		cfg        Config
		steps      []step
		flush      bool
		wantCounts map[string]uint64
	}
	cases := []tc{
		{
			name: "match",
			steps: []step{
				{src: cli, dst: srv, id: 1, ts: t0},
				{src: srv, dst: cli, resp: true, id: 1, ts: t0 + 5e6, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "responses_without_query": 0},
		},
		{
			name: "timeout",
			cfg:  Config{PairTimeout: time.Second},
			steps: []step{
				{src: cli, dst: srv, id: 1, ts: t0},
				{src: srv, dst: cli, resp: true, id: 1, ts: t0 + sec + 1},
			},
			wantCounts: map[string]uint64{"pairs_matched": 0, "unanswered_expired": 1, "responses_without_query": 1},
		},
		{
			name: "eviction-oldest-first",
			cfg:  Config{MaxPending: 2},
			steps: []step{
				{src: cli, dst: srv, id: 1, ts: t0},
				{src: cli, dst: srv, id: 2, ts: t0 + 1},
				{src: cli, dst: srv, id: 3, ts: t0 + 2},
				{src: srv, dst: cli, resp: true, id: 1, ts: t0 + 3},
				{src: srv, dst: cli, resp: true, id: 3, ts: t0 + 4, wantQueryTime: t0 + 2},
				{src: srv, dst: cli, resp: true, id: 2, ts: t0 + 5, wantQueryTime: t0 + 1},
			},
			wantCounts: map[string]uint64{"pairs_matched": 2, "unanswered_evicted": 1, "responses_without_query": 1},
		},
		{
			name: "0x20-case-must-match",
			steps: []step{
				{src: cli, dst: srv, id: 9, qname: "ExAmPlE.CoM.", ts: t0},
				{src: srv, dst: cli, resp: true, id: 9, qname: "example.com.", ts: t0 + 1},
				{src: srv, dst: cli, resp: true, id: 9, qname: "ExAmPlE.CoM.", ts: t0 + 2, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "responses_without_query": 1},
		},
		{
			name: "long-names-differ-after-prefix",
			steps: []step{
				{src: cli, dst: srv, id: 9, qname: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.one.", ts: t0},
				{src: srv, dst: cli, resp: true, id: 9, qname: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.two.", ts: t0 + 1},
				{src: srv, dst: cli, resp: true, id: 9, qname: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.one.", ts: t0 + 2, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "responses_without_query": 1},
		},
		{
			name: "same-id-different-5-tuples",
			steps: []step{
				{src: cli, dst: srv, id: 5, ts: t0},
				{src: cli2, dst: srv, id: 5, ts: t0 + 10},
				{src: srv, dst: cli2, resp: true, id: 5, ts: t0 + 20, wantQueryTime: t0 + 10},
				{src: srv, dst: cli, resp: true, id: 5, ts: t0 + 30, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 2, "duplicate_queries": 0},
		},
		{
			name: "same-id-udp-and-tcp",
			steps: []step{
				{src: cli, dst: srv, id: 5, ts: t0},
				{src: cli, dst: srv, id: 5, ts: t0 + 10, tr: reassembly.TransportTCP},
				{src: srv, dst: cli, resp: true, id: 5, ts: t0 + 20, tr: reassembly.TransportTCP, wantQueryTime: t0 + 10},
				{src: srv, dst: cli, resp: true, id: 5, ts: t0 + 30, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 2},
		},
		{
			name: "response-without-query",
			steps: []step{
				{src: srv, dst: cli, resp: true, id: 1, ts: t0},
			},
			wantCounts: map[string]uint64{"responses_without_query": 1, "pairs_matched": 0},
		},
		{
			name: "duplicate-query-takes-newer-time",
			steps: []step{
				{src: cli, dst: srv, id: 1, ts: t0},
				{src: cli, dst: srv, id: 1, ts: t0 + 100},
				{src: srv, dst: cli, resp: true, id: 1, ts: t0 + 200, wantQueryTime: t0 + 100},
				{src: srv, dst: cli, resp: true, id: 1, ts: t0 + 300},
			},
			wantCounts: map[string]uint64{"duplicate_queries": 1, "pairs_matched": 1, "responses_without_query": 1},
		},
		{
			name: "unanswered-at-end",
			steps: []step{
				{src: cli, dst: srv, id: 1, ts: t0},
				{src: cli, dst: srv, id: 2, ts: t0},
			},
			flush:      true,
			wantCounts: map[string]uint64{"unanswered_at_end": 2},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := &collect{}
			p := NewPipeline(c.cfg, out)
			for i, s := range c.steps {
				m := message(t, msgSpec{Src: s.src, Dst: s.dst, Response: s.resp, ID: s.id, QName: s.qname, TS: s.ts, Transport: s.tr})
				before := len(out.frames)
				p.HandleMessage(m)
				if len(out.frames) != before+1 {
					t.Fatalf("step %d: %d frames, want 1", i, len(out.frames)-before)
				}
				d := decodeFrame(t, out.frames[before]).Message
				if !s.resp {
					if got := int64(d.GetQueryTimeSec())*sec + int64(d.GetQueryTimeNsec()); got != s.ts || d.QueryMessage == nil || d.ResponseTimeSec != nil {
						t.Fatalf("step %d: query frame time %d (want %d), message %v", i, got, s.ts, d.QueryMessage != nil)
					}
					continue
				}
				if got := int64(d.GetResponseTimeSec())*sec + int64(d.GetResponseTimeNsec()); got != s.ts || d.ResponseMessage == nil {
					t.Fatalf("step %d: response time %d, want %d", i, got, s.ts)
				}
				if s.wantQueryTime == 0 {
					if d.QueryTimeSec != nil || d.QueryTimeNsec != nil {
						t.Fatalf("step %d: unmatched response carries query_time", i)
					}
				} else if got := int64(d.GetQueryTimeSec())*sec + int64(d.GetQueryTimeNsec()); got != s.wantQueryTime {
					t.Fatalf("step %d: query_time %d, want %d", i, got, s.wantQueryTime)
				}
				if d.GetQueryPort() != uint32(netip.MustParseAddrPort(s.dst).Port()) {
					t.Fatalf("step %d: query_port %d is not the initiator's", i, d.GetQueryPort())
				}
			}
			if c.flush {
				p.Flush()
			} else {
				p.Tick(c.steps[len(c.steps)-1].ts) // publishes the counters
			}
			for name, want := range c.wantCounts {
				if got := counter(p.Stats(), name); got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
		})
	}
}

func TestPipelineCounters(t *testing.T) {
	servers := []ServerSpec{
		{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: RoleRecursive},
		{Prefix: netip.MustParsePrefix("203.0.113.0/24"), Role: RoleAuthoritative},
	}
	out := &collect{}
	p := NewPipeline(Config{Servers: servers, Identity: []byte("id"), Version: []byte("v")}, out)
	p.HandleMessage(message(t, msgSpec{Src: "192.0.2.53:3000", Dst: "203.0.113.53:53", ID: 1, TS: t0}))
	p.HandleMessage(message(t, msgSpec{Src: "203.0.113.53:53", Dst: "192.0.2.53:3000", ID: 1, TS: t0 + 1, Response: true}))
	p.HandleMessage(message(t, msgSpec{Src: "198.51.100.1:3000", Dst: "198.51.100.2:53", ID: 1, TS: t0 + 2}))
	if len(out.frames) != 4 {
		t.Fatalf("%d frames, want 4 (two views of a query and of its response)", len(out.frames))
	}
	want := []MessageType{AuthQuery, ResolverQuery, AuthResponse, ResolverResponse}
	for i, f := range out.frames {
		d := decodeFrame(t, f)
		if MessageType(d.Message.GetType()) != want[i] || string(d.Identity) != "id" || string(d.Version) != "v" {
			t.Fatalf("frame %d: %v %q %q", i, d.Message.GetType(), d.Identity, d.Version)
		}
	}
	p.Tick(t0 + 2)
	st := p.Stats()
	for name, v := range map[string]uint64{"dns_messages": 3, "not_monitored": 1, "both_servers": 2, "pairs_matched": 1, "frames_encoded": 4} {
		if got := counter(st, name); got != v {
			t.Errorf("%s = %d, want %d", name, got, v)
		}
	}
	for _, typ := range want {
		if st.Type(typ) != 1 {
			t.Errorf("type %v counted %d, want 1", typ, st.Type(typ))
		}
	}
	p.Tick(t0 + int64(DefaultPairTimeout) + 10)
	if st.Unanswered() != 0 {
		t.Fatalf("unanswered %d, want 0", st.Unanswered())
	}
}

// TestPairTableChurn checks the open-addressing table against a map under
// random inserts and removals, with a small table so that probe runs wrap
// and backward shifts happen.
func TestPairTableChurn(t *testing.T) {
	var pt pairTable
	const max = 64
	pt.init(max, int64(time.Hour))
	var st counts
	model := map[uint16]bool{}
	order := []uint16{}
	rng := rand.New(rand.NewPCG(1, 2))
	mk := func(id uint16) *pairKey {
		var k pairKey
		pt.makeKey(&k, netip.MustParseAddrPort(cli), netip.MustParseAddrPort(srv), 1, id, []byte("\x03www\x07example\x03com\x00\x00\x01\x00\x01"))
		return &k
	}
	for i := 0; i < 20000; i++ {
		id := uint16(rng.IntN(200))
		if rng.IntN(2) == 0 {
			if !model[id] && len(model) == max {
				oldest := order[0]
				order = order[1:]
				delete(model, oldest)
			}
			if model[id] {
				for j, o := range order {
					if o == id {
						order = append(order[:j], order[j+1:]...)
						break
					}
				}
			}
			model[id] = true
			order = append(order, id)
			pt.insert(mk(id), int64(i), &st)
		} else {
			_, ok := pt.take(mk(id))
			if ok != model[id] {
				t.Fatalf("op %d: take(%d) = %v, model %v", i, id, ok, model[id])
			}
			if ok {
				delete(model, id)
				for j, o := range order {
					if o == id {
						order = append(order[:j], order[j+1:]...)
						break
					}
				}
			}
		}
		if pt.len() != len(model) {
			t.Fatalf("op %d: table holds %d, model %d", i, pt.len(), len(model))
		}
	}
}

func TestPipelineZeroAlloc(t *testing.T) {
	p := NewPipeline(Config{Identity: []byte("sensor"), Version: []byte("0.1"), MaxPending: 256, PairTimeout: time.Millisecond}, &discard{})
	msgs := make([]*reassembly.Message, 0, 2000)
	for i := 0; i < 1000; i++ {
		// Churn: distinct client ports and IDs; half of the queries
		// never get an answer, so eviction and expiry run too.
		port := 1024 + i
		c := netip.AddrPortFrom(netip.MustParseAddr("192.0.2.10"), uint16(port)).String()
		msgs = append(msgs, message(t, msgSpec{Src: c, Dst: srv, ID: uint16(i)}))
		if i%2 == 0 {
			msgs = append(msgs, message(t, msgSpec{Src: srv, Dst: c, ID: uint16(i), Response: true}))
		}
	}
	ts := t0
	run := func() {
		for _, m := range msgs {
			ts += 1000
			m.Timestamp = ts
			p.HandleMessage(m)
		}
	}
	run()
	if n := testing.AllocsPerRun(20, run); n != 0 {
		t.Fatalf("HandleMessage allocates %v per %d messages, want 0", n, len(msgs))
	}
	p.Tick(ts)
	if p.Stats().Matched() == 0 || p.Stats().Unanswered() == 0 {
		t.Fatalf("churn did not exercise matching (%d) and eviction (%d)", p.Stats().Matched(), p.Stats().Unanswered())
	}
}

// BenchmarkPipeline is classification, pairing and encoding alone, to a
// writer that discards.
func BenchmarkPipeline(b *testing.B) { benchPipeline(b, &discard{}) }

func benchPipeline(b *testing.B, out FrameWriter) {
	p := NewPipeline(Config{Identity: []byte("sensor.example"), Version: []byte("dnstap-sensor 0.1")}, out)
	q := message(b, msgSpec{Src: cli, Dst: srv, ID: 1, QName: "www.example.com."})
	r := message(b, msgSpec{Src: srv, Dst: cli, ID: 1, QName: "www.example.com.", Response: true})
	b.ReportAllocs()
	ts := t0
	for i := 0; b.Loop(); i++ {
		id := uint16(i)
		q.DNS.ID, r.DNS.ID = id, id
		ts += 1000
		q.Timestamp, r.Timestamp = ts, ts+500
		p.HandleMessage(q)
		p.HandleMessage(r)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/msg")
	p.Flush()
	if p.Stats().Matched() == 0 {
		b.Fatal("nothing matched")
	}
}

// BenchmarkPipelineToFile adds the Frame Streams file writer (to io.Discard).
func BenchmarkPipelineToFile(b *testing.B) {
	fw := NewFileWriter(io.Discard)
	benchPipeline(b, fw)
	if err := fw.Close(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPipelineToQueue adds a live-capture Producer and the Queue's
// writer goroutine writing a file to io.Discard.
func BenchmarkPipelineToQueue(b *testing.B) {
	q := NewQueue(NewFileWriter(io.Discard), QueueConfig{})
	p := q.Producer()
	benchPipeline(b, p)
	p.Flush()
	if err := q.Close(); err != nil {
		b.Fatal(err)
	}
}

// TestEveryPipelineCounterHasAKind fails when a counter is added without a
// kind: the summary would not know where to list it.
func TestEveryPipelineCounterHasAKind(t *testing.T) {
	var s Stats
	var q QueueStats
	check := func(name string, k stat.Kind, _ uint64) {
		if name == "" || k == stat.Unclassified {
			t.Errorf("counter %q has kind %v", name, k)
		}
	}
	s.EachKind(check)
	q.EachKind(check)
}
