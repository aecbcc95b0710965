package merge

import (
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// BenchmarkMatch is the matching cost per message: one server frame and
// the sensor's frame of the same message (BIND's CLIENT_RESPONSE against
// the sensor's AUTH_RESPONSE, as in the lab), parsed, hashed, paired, held
// and released to an output, in batches of 256 pairs with a clock that
// moves so each batch releases the previous one. ns/op is per message
// (one server frame and one wire frame).
func BenchmarkMatch(b *testing.B) {
	const pairs = 256
	now := t0
	m, err := New(Config{Outputs: []emit.Output{&discard{}}, Window: time.Millisecond, MaxEntries: 4096, Now: func() int64 { return now }})
	if err != nil {
		b.Fatal(err)
	}
	sb, wb := pairBatches(b, pairs)
	b.ReportAllocs()
	b.SetBytes(int64(len(sb)+len(wb)) / pairs)
	b.ResetTimer()
	for i := 0; i < b.N; i += pairs {
		now += 1e9
		_ = m.ServerBatch(sb)
		_ = m.WriteBatch(wb)
	}
	b.StopTimer()
	if m.Counters().Get(Both) == 0 {
		b.Fatal("nothing matched")
	}
}

// BenchmarkParse is the zero-allocation dnstap reader alone.
func BenchmarkParse(b *testing.B) {
	f := serverFrame(b, rec{emit.ClientResponse, 1, cli, srv, t0, dnsMsg(1, true, true), false})
	var msg Message
	b.ReportAllocs()
	for b.Loop() {
		if err := msg.Parse(f); err != nil {
			b.Fatal(err)
		}
	}
}
