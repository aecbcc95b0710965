package analyze

import (
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/miekg/dns"
)

// TestLiveAllocs: in steady state (names seen before) the alert engine and
// the ECS writer allocate nothing per frame.
func TestLiveAllocs(t *testing.T) {
	frames := pcapFrames(t, "security_normal.pcap")
	rules := DefaultRules()
	rules.Sinkholes, _ = ParseSinkholes(labSinkholes)
	rules.Baseline = baselineOf(t, frames)
	e := NewAlertEngine(rules, nil)
	ew := NewECSWriter(io.Discard)
	for _, f := range frames {
		_ = e.HandleFrame(f)
		_ = ew.WriteFrame(f)
	}
	i := 0
	if n := testing.AllocsPerRun(len(frames), func() { _ = e.HandleFrame(frames[i%len(frames)]); i++ }); n != 0 {
		t.Errorf("AlertEngine.HandleFrame allocates %v per frame, want 0", n)
	}
	if n := testing.AllocsPerRun(len(frames), func() { _ = ew.WriteFrame(frames[i%len(frames)]); i++ }); n != 0 {
		t.Errorf("ECSWriter.WriteFrame allocates %v per frame, want 0", n)
	}
}

func benchFrames(b *testing.B) [][]byte {
	b.Helper()
	return pcapFrames(b, "security_mixed.pcap")
}

func reportRate(b *testing.B, start time.Time) {
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}

// BenchmarkDecode: a dnstap frame to Msg (protobuf, DNS header, question,
// answers), over the frames of the mixed lab capture.
func BenchmarkDecode(b *testing.B) {
	frames := benchFrames(b)
	var m Msg
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_ = m.Decode(frames[i%len(frames)])
	}
	reportRate(b, start)
}

// BenchmarkAlertEngine: the cost per frame of --alerts-out (all rules on,
// sinkholes and a baseline given).
func BenchmarkAlertEngine(b *testing.B) {
	frames := benchFrames(b)
	rules := DefaultRules()
	rules.Sinkholes, _ = ParseSinkholes(labSinkholes)
	rules.Baseline = baselineOf(&testing.T{}, pcapFrames(b, "security_normal.pcap"))
	e := NewAlertEngine(rules, func(*Alert) {})
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_ = e.HandleFrame(frames[i%len(frames)])
	}
	reportRate(b, start)
}

// BenchmarkECS: the cost per frame of --ecs (decode, encode, buffered write
// to io.Discard).
func BenchmarkECS(b *testing.B) {
	frames := benchFrames(b)
	ew := NewECSWriter(io.Discard)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_ = ew.WriteFrame(frames[i%len(frames)])
	}
	reportRate(b, start)
}

// BenchmarkReport: the cost per frame of `sensor report`.
func BenchmarkReport(b *testing.B) {
	frames := benchFrames(b)
	sh, _ := ParseSinkholes(labSinkholes)
	r := NewReport(ReportOptions{Sinkholes: sh})
	var m Msg
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		_ = r.AddFrame(&m, frames[i%len(frames)])
	}
	reportRate(b, start)
}

// Documented memory bounds (README, "Security analytics"): heap held by a
// Report and by an AlertEngine with default rules, whatever the traffic.
const (
	reportHeapBound = 16 << 20
	alertsHeapBound = 32 << 20
)

// TestMemoryBound: a million distinct clients, each asking a distinct
// name (half tunnel-like, a third NXDOMAIN), through the report and the
// alert engine: the heap each holds stays under its documented bound.
func TestMemoryBound(t *testing.T) {
	if testing.Short() {
		t.Skip("a million frames")
	}
	const n = 1_000_000
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	q := new(dns.Msg)
	q.SetQuestion("x.example.com.", dns.TypeTXT)
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	nameOff := 12 // the question name starts after the header
	var frame, msgBuf []byte
	label := make([]byte, 0, 64)
	mk := func(i int) []byte {
		// A distinct name per client: a 16-character label of the
		// client's number (hex, so high entropy) under one of 64 domains.
		label = label[:0]
		for k := 0; k < 16; k++ {
			label = append(label, hexDigits[(uint64(i)*0x9e3779b97f4a7c15>>(4*k))&0xf])
		}
		msg := append(msgBuf[:0], wire[:nameOff]...)
		msg = append(msg, byte(len(label)))
		msg = append(msg, label...)
		msg = append(msg, 7)
		msg = append(msg, "example"...)
		msg = append(msg, 3, 'c', 'o', byte('a'+i%26), 0, 0, 16, 0, 1)
		typ, m := emit.ClientQuery, emit.Record{}
		if i%3 == 0 {
			typ = emit.ClientResponse
			msg[2], msg[3] = 0x81, 0x83 // QR, RD, RA, NXDOMAIN
			m.HasResponseTime, m.ResponseTime, m.ResponseMessage = true, tStart+int64(i)*1000+500, msg
		} else {
			m.QueryMessage = msg
		}
		m.Type, m.Protocol = typ, 1
		m.QueryAddr, m.ResponseAddr = clientN(i), tServer
		m.HasQueryTime, m.QueryTime = true, tStart+int64(i)*1000
		frame = emit.AppendDnstap(frame[:0], []byte("sensor1"), nil, &m)
		msgBuf = msg
		return frame
	}
	before := heap()
	sh, _ := ParseSinkholes(labSinkholes)
	r := NewReport(ReportOptions{Sinkholes: sh})
	var msg Msg
	for i := range n {
		if err := r.AddFrame(&msg, mk(i)); err != nil {
			t.Fatal(err)
		}
	}
	res := r.Result()
	reportHeap := heap() - before
	// Clients are counted by their queries: two frames in three.
	const asking = n - (n+2)/3
	if res.Frames != n || res.Distinct.Clients < asking*99/100 || res.Distinct.Clients > asking*101/100 {
		t.Errorf("frames %d, distinct clients ~%d, want %d and %d ± 1%%", res.Frames, res.Distinct.Clients, n, asking)
	}
	runtime.KeepAlive(r)
	r, res = nil, nil
	before = heap()
	rules := DefaultRules()
	rules.Sinkholes = sh
	e := NewAlertEngine(rules, func(*Alert) {})
	for i := range n {
		if err := e.HandleFrame(mk(i)); err != nil {
			t.Fatal(err)
		}
	}
	alertsHeap := heap() - before
	st := e.Stats()
	if st.Frames.Load() != n || st.ClientsEvicted.Load() != n-uint64(rules.MaxClients) {
		t.Errorf("engine frames %d, clients evicted %d, want %d and %d", st.Frames.Load(), st.ClientsEvicted.Load(), n, n-rules.MaxClients)
	}
	runtime.KeepAlive(e)
	t.Logf("heap held: report %.1f MiB, alert engine %.1f MiB", float64(reportHeap)/(1<<20), float64(alertsHeap)/(1<<20))
	if reportHeap > reportHeapBound || alertsHeap > alertsHeapBound {
		t.Errorf("heap report %d, alerts %d; bounds %d and %d", reportHeap, alertsHeap, reportHeapBound, alertsHeapBound)
	}
}
