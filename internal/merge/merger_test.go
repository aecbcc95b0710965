package merge

import (
	"bytes"
	"errors"
	"net/netip"
	"testing"
	"time"

	dnstap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// dnsMsg is a DNS message: header with id, RD and QR, one question
// a.example. A IN (RFC 1035 §4.1).
func dnsMsg(id uint16, rd, response bool) []byte {
	b := []byte{byte(id >> 8), byte(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	if response {
		b[2] |= 0x80
	}
	if rd {
		b[2] |= 0x01
	}
	b = append(b, 1, 'a', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1)
	return b
}

const t0 = int64(1_700_000_000_000_000_000)

var (
	cli  = netip.MustParseAddrPort("192.0.2.2:40000")
	srv  = netip.MustParseAddrPort("192.0.2.53:53")
	cli6 = netip.MustParseAddrPort("[fd00:53::3]:40001")
	srv6 = netip.MustParseAddrPort("[fd00:53::53]:53")
)

// rec is one message as either side logs it.
type rec struct {
	typ     emit.MessageType
	proto   uint8
	q, r    netip.AddrPort
	at      int64
	wire    []byte
	noAddrs bool // the server leaves addresses, ports and protocol out
}

// sensorFrame encodes r as the sensor's pipeline does.
func sensorFrame(r rec) []byte {
	x := emit.Record{Type: r.typ, Protocol: r.proto, QueryAddr: r.q, ResponseAddr: r.r}
	if r.typ%2 == 0 {
		x.HasResponseTime, x.ResponseTime, x.ResponseMessage = true, r.at, r.wire
	} else {
		x.HasQueryTime, x.QueryTime, x.QueryMessage = true, r.at, r.wire
	}
	return emit.AppendDnstap(nil, []byte("sensor"), []byte("v"), &x)
}

// serverFrame encodes r as a server does, with golang-dnstap (another
// encoder, another identity).
func serverFrame(t testing.TB, r rec) []byte {
	t.Helper()
	mt := dnstap.Message_Type(r.typ)
	m := &dnstap.Message{Type: &mt}
	if !r.noAddrs {
		p := dnstap.SocketProtocol(r.proto)
		fam := dnstap.SocketFamily_INET
		if r.q.Addr().Is6() {
			fam = dnstap.SocketFamily_INET6
		}
		qa, ra := r.q.Addr().AsSlice(), r.r.Addr().AsSlice()
		qp, rp := uint32(r.q.Port()), uint32(r.r.Port())
		m.SocketProtocol, m.SocketFamily = &p, &fam
		m.QueryAddress, m.ResponseAddress, m.QueryPort, m.ResponsePort = qa, ra, &qp, &rp
	}
	sec, ns := uint64(r.at/1e9), uint32(r.at%1e9)
	if r.typ%2 == 0 {
		m.ResponseTimeSec, m.ResponseTimeNsec, m.ResponseMessage = &sec, &ns, r.wire
	} else {
		m.QueryTimeSec, m.QueryTimeNsec, m.QueryMessage = &sec, &ns, r.wire
	}
	dt := dnstap.Dnstap_MESSAGE
	b, err := proto.Marshal(&dnstap.Dnstap{Identity: []byte("srv"), Type: &dt, Message: m})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMatch is every known difference between a server's dnstap and the
// wire (and ones that must not match), one server frame against one wire
// frame, in both modes.
func TestMatch(t *testing.T) {
	q := dnsMsg(1, true, false)
	r := dnsMsg(1, true, true)
	qNoRD := dnsMsg(2, false, false)
	rNoRD := dnsMsg(2, false, true)
	base := rec{emit.ClientQuery, 1, cli, srv, t0, q, false}
	with := func(f func(*rec)) rec { x := base; f(&x); return x }
	tests := []struct {
		name         string
		server, wire rec
		kind         matchKind // when matched
		match        bool
	}{
		{"exact query", base, base, matchExact, true},
		{"exact response", with(func(x *rec) { x.typ, x.wire = emit.ClientResponse, r }),
			with(func(x *rec) { x.typ, x.wire = emit.ClientResponse, r }), matchExact, true},
		{"exact IPv6 TCP", with(func(x *rec) { x.proto, x.q, x.r = 2, cli6, srv6 }),
			with(func(x *rec) { x.proto, x.q, x.r = 2, cli6, srv6 }), matchExact, true},
		{"BIND CLIENT_RESPONSE for RD=1, sensor AUTH_RESPONSE",
			with(func(x *rec) { x.typ, x.wire = emit.ClientResponse, r }),
			with(func(x *rec) { x.typ, x.wire = emit.AuthResponse, r }), matchBINDRD, true},
		{"BIND CLIENT_QUERY for RD=1, sensor AUTH_QUERY",
			base, with(func(x *rec) { x.typ = emit.AuthQuery }), matchBINDRD, true},
		{"type differs with RD=0: no match",
			with(func(x *rec) { x.typ, x.wire = emit.ClientResponse, rNoRD }),
			with(func(x *rec) { x.typ, x.wire = emit.AuthResponse, rNoRD }), 0, false},
		{"query and response with the same bytes: no match",
			with(func(x *rec) { x.typ, x.wire = emit.ClientQuery, qNoRD }),
			with(func(x *rec) { x.typ, x.wire = emit.ClientResponse, qNoRD }), 0, false},
		{"Unbound 0.0.0.0 upstream source, real port",
			with(func(x *rec) { x.typ, x.q = emit.ForwarderQuery, netip.MustParseAddrPort("0.0.0.0:40000") }),
			with(func(x *rec) { x.typ = emit.ForwarderQuery }), matchNoSource, true},
		{"Unbound [::]:53 upstream source",
			with(func(x *rec) { x.typ, x.q, x.r = emit.ForwarderQuery, netip.MustParseAddrPort("[::]:53"), srv6 }),
			with(func(x *rec) { x.typ, x.q, x.r = emit.ForwarderQuery, cli6, srv6 }), matchNoSource, true},
		{"Unbound 0.0.0.0 with the UDP port on a TCP retry",
			with(func(x *rec) {
				x.typ, x.proto, x.q = emit.ForwarderQuery, 2, netip.MustParseAddrPort("0.0.0.0:40000")
			}),
			with(func(x *rec) { x.typ, x.proto, x.q = emit.ForwarderQuery, 2, netip.MustParseAddrPort("192.0.2.2:51234") }),
			matchNoSource, true},
		{"Unbound outgoing-interface: port 0 over TCP",
			with(func(x *rec) { x.typ, x.proto, x.q = emit.ForwarderQuery, 2, netip.MustParseAddrPort("192.0.2.2:0") }),
			with(func(x *rec) { x.typ, x.proto = emit.ForwarderQuery, 2 }), matchNoSourcePort, true},
		{"Unbound outgoing-interface: IPv6 port 53",
			with(func(x *rec) { x.typ, x.q, x.r = emit.ForwarderQuery, netip.MustParseAddrPort("[fd00:53::3]:53"), srv6 }),
			with(func(x *rec) { x.typ, x.q, x.r = emit.ForwarderQuery, cli6, srv6 }), matchNoSourcePort, true},
		{"server omits addresses, ports and protocol",
			with(func(x *rec) { x.noAddrs = true }), base, matchOmitted, true},
		{"other query address: no match",
			with(func(x *rec) { x.q = netip.MustParseAddrPort("192.0.2.9:40000") }), base, 0, false},
		{"other query port: no match",
			with(func(x *rec) { x.q = netip.MustParseAddrPort("192.0.2.2:40001") }), base, 0, false},
		{"other response address: no match",
			with(func(x *rec) { x.r = netip.MustParseAddrPort("192.0.2.54:53") }), base, 0, false},
		{"other protocol: no match", with(func(x *rec) { x.proto = 2 }), base, 0, false},
		{"other bytes: no match", with(func(x *rec) { x.wire = dnsMsg(9, true, false) }), base, 0, false},
	}
	for _, tc := range tests {
		for _, mode := range []Mode{ModeMerge, ModeVerify} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				out := &memOutput{}
				m, err := New(Config{Mode: mode, Outputs: []emit.Output{out}, Now: frozen(t0)})
				if err != nil {
					t.Fatal(err)
				}
				sf, wf := serverFrame(t, tc.server), sensorFrame(tc.wire)
				if err := m.ServerBatch(batch(sf)); err != nil {
					t.Fatal(err)
				}
				if err := m.WriteBatch(batch(wf)); err != nil {
					t.Fatal(err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				c := m.Counters()
				got := [3]uint64{c.Get(Both), c.Get(ServerOnly), c.Get(WireOnly)}
				want := [3]uint64{1, 0, 0}
				if !tc.match {
					want = [3]uint64{0, 1, 1}
				}
				if got != want {
					t.Fatalf("both, server only, wire only = %v, want %v", got, want)
				}
				if tc.match && c.byKind[tc.kind].Load() != 1 {
					var kinds []uint64
					for i := range c.byKind {
						kinds = append(kinds, c.byKind[i].Load())
					}
					t.Fatalf("matched as %v (by kind), want %s", kinds, matchKindNames[tc.kind])
				}
				frames := out.all()
				wantN := 1
				if !tc.match && mode == ModeMerge {
					wantN = 2
				}
				if len(frames) != wantN {
					t.Fatalf("%d frames out, want %d", len(frames), wantN)
				}
				if !bytes.Equal(frames[0], sf) && !bytes.Equal(frames[len(frames)-1], sf) {
					t.Fatalf("the server's frame is not in the output byte for byte")
				}
				if wantN == 2 {
					checkFilled(t, frames, sf, wf)
				}
				if !out.closed {
					t.Fatal("downstream output not closed")
				}
			})
		}
	}
}

// checkFilled finds the filled frame among frames (the one that is not the
// server's) and checks it: the sensor's frame, its identity, the mark.
func checkFilled(t *testing.T, frames [][]byte, sf, wf []byte) {
	t.Helper()
	var filled []byte
	for _, f := range frames {
		if !bytes.Equal(f, sf) {
			filled = f
		}
	}
	if !bytes.HasPrefix(filled, wf) {
		t.Fatalf("the filled frame does not start with the sensor's frame")
	}
	var d dnstap.Dnstap
	if err := proto.Unmarshal(filled, &d); err != nil {
		t.Fatalf("filled frame: %v", err)
	}
	if string(d.GetExtra()) != FilledMark || string(d.GetIdentity()) != "sensor" {
		t.Fatalf("filled frame: extra %q identity %q, want %q and the sensor's", d.GetExtra(), d.GetIdentity(), FilledMark)
	}
	var w dnstap.Dnstap
	if err := proto.Unmarshal(wf, &w); err != nil {
		t.Fatal(err)
	}
	w.Extra = []byte(FilledMark)
	if !proto.Equal(&w, &d) {
		t.Fatalf("filled frame differs from the sensor's beyond the mark:\n%v\n%v", &w, &d)
	}
}

// TestWindow drives the clock: a frame waits exactly the window for its
// partner, the output is in message-time order, and a partner that comes
// after the window counts on its own side.
func TestWindow(t *testing.T) {
	now := t0
	out := &memOutput{}
	m, err := New(Config{Window: time.Second, Outputs: []emit.Output{out}, Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	mk := func(id uint16, at int64) rec {
		return rec{emit.ClientQuery, 1, cli, srv, at, dnsMsg(id, true, false), false}
	}
	// Server frames at t0+300ms and t0+100ms (out of order), a wire-only
	// message at t0+200ms; the wire copy of id 1 comes 900 ms later.
	s1, s2 := serverFrame(t, mk(1, t0+300e6)), serverFrame(t, mk(2, t0+100e6))
	w3 := sensorFrame(mk(3, t0+200e6))
	must(t, m.ServerBatch(batch(s1, s2)))
	must(t, m.WriteBatch(batch(w3)))
	now = t0 + 1000e6
	must(t, m.WriteBatch(batch(sensorFrame(mk(1, t0+300e6)))))
	if got := len(out.all()); got != 0 {
		t.Fatalf("%d frames out before any window ended", got)
	}
	now = t0 + 1100e6 // id 2's window ends
	must(t, m.Tick())
	if got := out.all(); len(got) != 1 || !bytes.Equal(got[0], s2) {
		t.Fatalf("at +1.1 s: %d frames out, want id 2's server frame", len(got))
	}
	now = t0 + 1300e6 // ids 3 and 1
	must(t, m.Tick())
	got := out.all()
	if len(got) != 3 || !isFilled(t, got[1]) || !bytes.Equal(got[2], s1) {
		t.Fatalf("at +1.3 s: %d frames out, want server 2, filled 3, server 1 in that order", len(got))
	}
	// The wire copy of id 2 comes after its partner was released: wire only.
	must(t, m.WriteBatch(batch(sensorFrame(mk(2, t0+100e6)))))
	must(t, m.Close())
	c := m.Counters()
	if g := [4]uint64{c.Get(Both), c.Get(ServerOnly), c.Get(WireOnly), c.Get(Clamped)}; g != [4]uint64{1, 1, 2, 2} {
		t.Fatalf("both, server only, wire only, clamped = %v, want [1 1 2 2]", g)
	}
	if sk := m.Skew(); sk.Pairs != 1 || sk.Median != 0 {
		t.Fatalf("skew %+v, want one pair, 0", sk)
	}
}

// TestTableFull: a full table releases its oldest frame early, counted,
// and loses nothing.
func TestTableFull(t *testing.T) {
	out := &memOutput{}
	m, err := New(Config{MaxEntries: 2, Outputs: []emit.Output{out}, Now: frozen(t0)})
	if err != nil {
		t.Fatal(err)
	}
	var frames [][]byte
	for i := range 5 {
		frames = append(frames, serverFrame(t, rec{emit.ClientQuery, 1, cli, srv, t0 + int64(i), dnsMsg(uint16(i), true, false), false}))
	}
	must(t, m.ServerBatch(batch(frames...)))
	must(t, m.Close())
	if got := m.Counters().Get(ReleasedEarly); got != 3 {
		t.Fatalf("released early %d, want 3", got)
	}
	got := out.all()
	if len(got) != 5 {
		t.Fatalf("%d frames out, want 5", len(got))
	}
	for i := range got {
		if !bytes.Equal(got[i], frames[i]) {
			t.Fatalf("frame %d out of order or changed", i)
		}
	}
}

// TestServerUnparsed: a server frame that is not a dnstap MESSAGE passes
// through as it came, counted.
func TestServerUnparsed(t *testing.T) {
	out := &memOutput{}
	m, err := New(Config{Outputs: []emit.Output{out}, Now: frozen(t0)})
	if err != nil {
		t.Fatal(err)
	}
	garbage := []byte{0xff, 0xff, 0xff}
	must(t, m.ServerBatch(batch(garbage)))
	must(t, m.Close())
	if got := out.all(); len(got) != 1 || !bytes.Equal(got[0], garbage) {
		t.Fatalf("got %q, want the frame as it came", got)
	}
	if m.Counters().Get(ServerUnparsed) != 1 {
		t.Fatal("not counted")
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestMatchZeroAlloc: matching a message allocates nothing in steady state.
func TestMatchZeroAlloc(t *testing.T) {
	now := t0
	m, err := New(Config{Outputs: []emit.Output{&discard{}}, Window: time.Millisecond, MaxEntries: 1024, Now: func() int64 { return now }})
	if err != nil {
		t.Fatal(err)
	}
	sb, wb := pairBatches(t, 64)
	// The clock moves a second per batch: each batch releases the one
	// before, as in a steady stream.
	run := func() {
		now += 1e9
		_ = m.ServerBatch(sb)
		_ = m.WriteBatch(wb)
	}
	run()
	run()
	if n := testing.AllocsPerRun(100, run); n != 0 {
		t.Fatalf("%v allocations per batch of 64 pairs, want 0", n)
	}
}

// pairBatches returns n server frames and the n matching wire frames.
func pairBatches(t testing.TB, n int) (server, wire []byte) {
	for i := range n {
		r := rec{emit.ClientResponse, 1, cli, srv, t0, dnsMsg(uint16(i), true, true), false}
		server = append(server, batch(serverFrame(t, r))...)
		r.typ = emit.AuthResponse
		wire = append(wire, batch(sensorFrame(r))...)
	}
	return server, wire
}

type discard struct{ stats emit.OutputStats }

func (d *discard) WriteBatch([]byte) error  { return nil }
func (d *discard) Flush() error             { return nil }
func (d *discard) Close() error             { return nil }
func (d *discard) Stats() *emit.OutputStats { return &d.stats }

// failing is a downstream output whose writes fail (a full disk).
type failing struct{ discard }

var errDiskFull = errors.New("disk full")

func (f *failing) WriteBatch([]byte) error { return errDiskFull }

// TestDownstreamError: a failing downstream output does not fail the
// sensor's batches (the output counts its own frames); it is counted and
// Close returns it. Writes after Close fail and are counted dropped.
func TestDownstreamError(t *testing.T) {
	out := &failing{}
	m, err := New(Config{Outputs: []emit.Output{out}, Now: frozen(t0)})
	if err != nil {
		t.Fatal(err)
	}
	w := sensorFrame(rec{emit.ClientQuery, 1, cli, srv, t0, dnsMsg(1, true, false), false})
	must(t, m.WriteBatch(batch(w)))
	if err := m.Close(); !errors.Is(err, errDiskFull) {
		t.Fatalf("Close: %v, want %v", err, errDiskFull)
	}
	if got := m.Counters().Get(OutputErrors); got != 1 {
		t.Fatalf("output errors %d, want 1", got)
	}
	if got := out.Stats().Encoded(); got != 1 {
		t.Fatalf("downstream encoded %d, want 1", got)
	}
	if err := m.WriteBatch(batch(w)); !errors.Is(err, emit.ErrClosed) {
		t.Fatalf("WriteBatch after Close: %v", err)
	}
	if st := m.Stats(); st.Delivered() != 1 || st.DroppedBy(emit.DropShutdown) != 1 {
		t.Fatalf("delivered %d, dropped at shutdown %d; want 1 and 1", st.Delivered(), st.DroppedBy(emit.DropShutdown))
	}
}

// TestOneMessageFlood: 5,000 copies of one query on the wire from as many
// client ports (the same DNS bytes, so one hash) and then the server's
// frames of the same bytes from yet other ports. Each lookup compares at
// most maxCandidates entries of the other side (counted), the wire copies
// never slow each other (a side's lookup never walks its own side's chain),
// and every frame is still accounted for.
func TestOneMessageFlood(t *testing.T) {
	out := &memOutput{}
	m, err := New(Config{Outputs: []emit.Output{out}, Now: frozen(t0)})
	if err != nil {
		t.Fatal(err)
	}
	const n = 5000
	q := dnsMsg(7, true, false)
	var wire [][]byte
	for i := range n {
		c := netip.AddrPortFrom(cli.Addr(), uint16(10000+i))
		wire = append(wire, sensorFrame(rec{emit.ClientQuery, 1, c, srv, t0, q, false}))
	}
	must(t, m.WriteBatch(batch(wire...)))
	if got := m.Counters().Get(LookupsCapped); got != 0 {
		t.Fatalf("%d wire lookups capped: a wire frame walked the wire chain", got)
	}
	var server [][]byte
	for i := range 10 {
		c := netip.AddrPortFrom(cli.Addr(), uint16(60000+i)) // no wire copy has this port
		server = append(server, serverFrame(t, rec{emit.ClientQuery, 1, c, srv, t0, q, false}))
	}
	must(t, m.ServerBatch(batch(server...)))
	must(t, m.Close())
	c := m.Counters()
	if got := c.Get(LookupsCapped); got != 10 {
		t.Fatalf("%d server lookups capped, want all 10 (each met more than %d same-bytes wire entries)", got, maxCandidates)
	}
	if c.Get(Both)+c.Get(ServerOnly) != 10 || c.Get(Both)+c.Get(WireOnly) != n {
		t.Fatalf("both %d, server-only %d, wire-only %d: want every frame of each side accounted for", c.Get(Both), c.Get(ServerOnly), c.Get(WireOnly))
	}
}
