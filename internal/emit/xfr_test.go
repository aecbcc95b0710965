package emit

import (
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

// xfrStep is one message of a zone transfer test.
type xfrStep struct {
	src, dst string
	resp     bool
	id       uint16
	qtype    uint16 // of the question; 0: the message has none
	tr       reassembly.Transport
	ts       int64
	// wantQueryTime is the query_time a response must carry (0: none).
	wantQueryTime int64
}

// xfrMessage builds an AXFR/IXFR query or answer message: answers carry
// one RR, and a question only when qtype is not 0 (RFC 5936 §2.2.1: only
// the first message of an answer must repeat it).
func xfrMessage(t testing.TB, s xfrStep) *reassembly.Message {
	t.Helper()
	m := new(dns.Msg)
	m.Id = s.id
	m.Response = s.resp
	if s.qtype != 0 {
		m.Question = []dns.Question{{Name: "xfr.example.", Qtype: s.qtype, Qclass: dns.ClassINET}}
	}
	if s.resp {
		rr, err := dns.NewRR("host.xfr.example. 300 IN A 192.0.2.1")
		if err != nil {
			t.Fatal(err)
		}
		m.Answer = []dns.RR{rr}
	}
	b, err := m.Pack()
	if err != nil {
		t.Fatal(err)
	}
	tr := s.tr
	if tr == 0 {
		tr = reassembly.TransportTCP
	}
	msg := &reassembly.Message{
		Src: netip.MustParseAddrPort(s.src), Dst: netip.MustParseAddrPort(s.dst),
		Transport: tr, Timestamp: s.ts, Payload: b,
	}
	fillHeader(&msg.DNS, b)
	return msg
}

// TestPairingXFR: every message of a zone transfer answer carries the
// query's time, not only the first (lab_realworld_xfr.pcap: 25 of 26
// AXFR messages went out without query_time and counted as responses
// without query).
func TestPairingXFR(t *testing.T) {
	axfr, ixfr := dns.TypeAXFR, dns.TypeIXFR
	cases := []struct {
		name       string
		cfg        Config
		steps      []xfrStep
		wantCounts map[string]uint64
	}{
		{
			name: "axfr-later-messages-without-question",
			steps: []xfrStep{
				{src: cli, dst: srv, id: 7, qtype: axfr, ts: t0},
				{src: srv, dst: cli, resp: true, id: 7, qtype: axfr, ts: t0 + 10, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 7, ts: t0 + 20, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 7, ts: t0 + 30, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "xfr_messages_paired": 2, "responses_without_query": 0},
		},
		{
			// Some servers repeat the question in every message.
			name: "ixfr-every-message-with-question",
			steps: []xfrStep{
				{src: cli, dst: srv, id: 8, qtype: ixfr, ts: t0},
				{src: srv, dst: cli, resp: true, id: 8, qtype: ixfr, ts: t0 + 10, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 8, qtype: ixfr, ts: t0 + 20, wantQueryTime: t0},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "xfr_messages_paired": 1, "responses_without_query": 0},
		},
		{
			name: "other-id-or-connection-is-not-the-transfer",
			steps: []xfrStep{
				{src: cli, dst: srv, id: 7, qtype: axfr, ts: t0},
				{src: srv, dst: cli, resp: true, id: 7, qtype: axfr, ts: t0 + 10, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 6, ts: t0 + 20},
				{src: srv, dst: cli2, resp: true, id: 7, ts: t0 + 30},
				{src: srv, dst: cli, resp: true, id: 7, qtype: dns.TypeA, ts: t0 + 40},
				{src: srv, dst: cli, resp: true, id: 7, tr: reassembly.TransportUDP, ts: t0 + 50},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "xfr_messages_paired": 0, "responses_without_query": 4},
		},
		{
			name: "a-query-is-no-transfer",
			steps: []xfrStep{
				{src: cli, dst: srv, id: 7, qtype: dns.TypeA, ts: t0},
				{src: srv, dst: cli, resp: true, id: 7, qtype: dns.TypeA, ts: t0 + 10, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 7, ts: t0 + 20},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "xfr_messages_paired": 0, "responses_without_query": 1},
		},
		{
			name: "idle-longer-than-pair-timeout",
			cfg:  Config{PairTimeout: time.Second},
			steps: []xfrStep{
				{src: cli, dst: srv, id: 7, qtype: axfr, ts: t0},
				{src: srv, dst: cli, resp: true, id: 7, qtype: axfr, ts: t0 + 10, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 7, ts: t0 + 10 + sec/2, wantQueryTime: t0},
				{src: srv, dst: cli, resp: true, id: 7, ts: t0 + 10 + sec/2 + sec + 1},
			},
			wantCounts: map[string]uint64{"pairs_matched": 1, "xfr_messages_paired": 1, "responses_without_query": 1},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := &collect{}
			p := NewPipeline(c.cfg, out)
			for i, s := range c.steps {
				before := len(out.frames)
				p.HandleMessage(xfrMessage(t, s))
				if len(out.frames) != before+1 {
					t.Fatalf("step %d: %d frames, want 1", i, len(out.frames)-before)
				}
				if !s.resp {
					continue
				}
				d := decodeFrame(t, out.frames[before]).Message
				if s.wantQueryTime == 0 {
					if d.QueryTimeSec != nil {
						t.Errorf("step %d: carries query_time, want none", i)
					}
				} else if got := int64(d.GetQueryTimeSec())*sec + int64(d.GetQueryTimeNsec()); got != s.wantQueryTime {
					t.Errorf("step %d: query_time %d, want %d", i, got, s.wantQueryTime)
				}
			}
			p.Tick(c.steps[len(c.steps)-1].ts)
			for name, want := range c.wantCounts {
				if got := counter(p.Stats(), name); got != want {
					t.Errorf("%s = %d, want %d", name, got, want)
				}
			}
		})
	}
}

// TestPairingXFREviction: the table follows maxXFR transfers; one more
// pushes out the least recently active, counted.
func TestPairingXFREviction(t *testing.T) {
	p := NewPipeline(Config{}, &discard{})
	ts := t0
	client := func(i int) string { return fmt.Sprintf("192.0.2.10:%d", 10000+i) }
	for i := range maxXFR + 1 {
		ts++
		p.HandleMessage(xfrMessage(t, xfrStep{src: client(i), dst: srv, id: 1, qtype: dns.TypeAXFR, ts: ts}))
		ts++
		p.HandleMessage(xfrMessage(t, xfrStep{src: srv, dst: client(i), resp: true, id: 1, qtype: dns.TypeAXFR, ts: ts}))
	}
	for _, i := range []int{0, maxXFR} {
		ts++
		p.HandleMessage(xfrMessage(t, xfrStep{src: srv, dst: client(i), resp: true, id: 1, ts: ts}))
	}
	p.Tick(ts)
	for name, want := range map[string]uint64{"xfr_evicted": 1, "xfr_messages_paired": 1, "responses_without_query": 1} {
		if got := counter(p.Stats(), name); got != want {
			t.Errorf("%s = %d, want %d", name, got, want)
		}
	}
}

func TestPairingXFRZeroAlloc(t *testing.T) {
	p := NewPipeline(Config{}, &discard{})
	msgs := []*reassembly.Message{xfrMessage(t, xfrStep{src: cli, dst: srv, id: 7, qtype: dns.TypeAXFR})}
	msgs = append(msgs, xfrMessage(t, xfrStep{src: srv, dst: cli, resp: true, id: 7, qtype: dns.TypeAXFR}))
	for range 20 {
		msgs = append(msgs, xfrMessage(t, xfrStep{src: srv, dst: cli, resp: true, id: 7}))
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
		t.Fatalf("HandleMessage allocates %v per transfer, want 0", n)
	}
	p.Tick(ts)
	if got := counter(p.Stats(), "xfr_messages_paired"); got == 0 {
		t.Fatal("no transfer message paired")
	}
}
