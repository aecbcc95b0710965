package tapfile

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"
)

// cmsg is one crafted dnstap message for compare tests.
type cmsg struct {
	typ   dnstap.Message_Type
	proto dnstap.SocketProtocol
	q, r  string // "addr:port" / "[addr]:port"
	wire  []byte
}

// wireMsg is a DNS header plus a question for www.lab.example A, with the
// given ID, QR and RD bits (RFC 1035 §4.1.1).
func wireMsg(id uint16, qr, rd bool) []byte {
	b := []byte{byte(id >> 8), byte(id), 0, 0, 0, 1, 0, 0, 0, 0, 0, 0}
	if qr {
		b[2] |= 0x80
	}
	if rd {
		b[2] |= 0x01
	}
	b = append(b, 3, 'w', 'w', 'w', 3, 'l', 'a', 'b', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 0, 0, 1, 0, 1)
	return b
}

// dnstapFile encodes msgs as a Frame Streams file, with one non-MESSAGE
// frame in front that Compare must skip.
func dnstapFile(t *testing.T, msgs ...cmsg) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	w, err := dnstap.NewWriter(&buf, nil)
	if err != nil {
		t.Fatal(err)
	}
	other := &dnstap.Dnstap{Type: dnstap.Dnstap_Type(2).Enum(), Identity: []byte("x")}
	frames := []*dnstap.Dnstap{other}
	for _, m := range msgs {
		q := netip.MustParseAddrPort(m.q)
		r := netip.MustParseAddrPort(m.r)
		fam := dnstap.SocketFamily_INET
		if q.Addr().Is6() {
			fam = dnstap.SocketFamily_INET6
		}
		dm := &dnstap.Message{
			Type:            m.typ.Enum(),
			SocketFamily:    fam.Enum(),
			SocketProtocol:  m.proto.Enum(),
			QueryAddress:    q.Addr().AsSlice(),
			QueryPort:       proto.Uint32(uint32(q.Port())),
			ResponseAddress: r.Addr().AsSlice(),
			ResponsePort:    proto.Uint32(uint32(r.Port())),
		}
		if m.typ%2 == 0 {
			dm.ResponseMessage = m.wire
		} else {
			dm.QueryMessage = m.wire
		}
		frames = append(frames, &dnstap.Dnstap{Type: dnstap.Dnstap_MESSAGE.Enum(), Message: dm})
	}
	for _, f := range frames {
		b, err := proto.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.WriteFrame(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

const (
	cli4 = "192.0.2.2:40000"
	srv4 = "192.0.2.53:53"
	cli6 = "[fd00:53::2]:40001"
	srv6 = "[fd00:53::53]:53"
)

var (
	udp = dnstap.SocketProtocol_UDP
	tcp = dnstap.SocketProtocol_TCP
	cq  = dnstap.Message_CLIENT_QUERY
	cr  = dnstap.Message_CLIENT_RESPONSE
	aq  = dnstap.Message_AUTH_QUERY
	ar  = dnstap.Message_AUTH_RESPONSE
)

func TestCompare(t *testing.T) {
	q1 := wireMsg(1, false, true)
	r1 := wireMsg(1, true, true)
	q2 := wireMsg(2, false, false)
	r2 := wireMsg(2, true, false)
	cases := []struct {
		name         string
		a, b         []cmsg
		opts         CompareOptions
		matched      int
		excused      map[string]int
		typeMismatch int
		onlyA, onlyB []string // reasons, in order
		covers       bool
	}{
		{
			name:    "identical",
			a:       []cmsg{{aq, udp, cli4, srv4, q2}, {ar, udp, cli4, srv4, r2}, {aq, tcp, cli6, srv6, q2}},
			b:       []cmsg{{aq, tcp, cli6, srv6, q2}, {aq, udp, cli4, srv4, q2}, {ar, udp, cli4, srv4, r2}},
			matched: 3, covers: true,
		},
		{
			name:    "BIND CQ/CR vs sensor AQ/AR on RD=1",
			a:       []cmsg{{cq, udp, cli4, srv4, q1}, {cr, udp, cli4, srv4, r1}},
			b:       []cmsg{{aq, udp, cli4, srv4, q1}, {ar, udp, cli4, srv4, r1}},
			excused: map[string]int{ReasonBINDRD: 2}, covers: true,
		},
		{
			name:         "strict type refuses BIND labelling",
			a:            []cmsg{{cq, udp, cli4, srv4, q1}},
			b:            []cmsg{{aq, udp, cli4, srv4, q1}},
			opts:         CompareOptions{StrictType: true},
			typeMismatch: 1,
		},
		{
			name:         "CQ vs AQ with RD=0 has no known reason",
			a:            []cmsg{{cq, udp, cli4, srv4, q2}},
			b:            []cmsg{{aq, udp, cli4, srv4, q2}},
			typeMismatch: 1,
		},
		{
			name:  "missing in B, nothing on that flow",
			a:     []cmsg{{aq, udp, cli4, srv4, q2}, {aq, udp, cli6, srv6, q2}},
			b:     []cmsg{{aq, udp, cli4, srv4, q2}},
			onlyA: []string{ReasonNoFlow}, matched: 1,
		},
		{
			name:  "missing in B, other bytes on that flow",
			a:     []cmsg{{aq, udp, cli4, srv4, q2}, {ar, udp, cli4, srv4, r2}},
			b:     []cmsg{{aq, udp, cli4, srv4, q2}, {ar, udp, cli4, srv4, r2[:len(r2)-1]}},
			onlyA: []string{ReasonOtherBytes}, onlyB: []string{ReasonOtherBytes}, matched: 1,
		},
		{
			name:    "extra in B still covers",
			a:       []cmsg{{aq, udp, cli4, srv4, q2}},
			b:       []cmsg{{aq, udp, cli4, srv4, q2}, {ar, udp, cli4, srv4, r2}},
			matched: 1, onlyB: []string{ReasonOtherBytes}, covers: true,
		},
		{
			name:  "query port differs",
			a:     []cmsg{{aq, udp, cli4, srv4, q2}},
			b:     []cmsg{{aq, udp, "192.0.2.2:40002", srv4, q2}},
			onlyA: []string{"same bytes, different query port 40002 (other file #0)"},
			onlyB: []string{"same bytes, different query port 40000 (other file #0)"},
		},
		{
			name:  "protocol differs",
			a:     []cmsg{{aq, udp, cli4, srv4, q2}},
			b:     []cmsg{{aq, tcp, cli4, srv4, q2}},
			onlyA: []string{"same bytes, different protocol TCP (other file #0)"},
			onlyB: []string{"same bytes, different protocol UDP (other file #0)"},
		},
		{
			name:  "query and response with the same bytes are different classes",
			a:     []cmsg{{aq, udp, cli4, srv4, q2}},
			b:     []cmsg{{ar, udp, cli4, srv4, q2}},
			onlyA: []string{ReasonOtherBytes}, onlyB: []string{ReasonOtherBytes},
		},
		{
			name:    "duplicate in A matches once",
			a:       []cmsg{{aq, udp, cli4, srv4, q2}, {aq, udp, cli4, srv4, q2}},
			b:       []cmsg{{aq, udp, cli4, srv4, q2}},
			matched: 1, onlyA: []string{ReasonOtherBytes},
		},
		{
			name:    "exact partner preferred over a differently typed duplicate",
			a:       []cmsg{{cq, udp, cli4, srv4, q1}, {aq, udp, cli4, srv4, q1}},
			b:       []cmsg{{aq, udp, cli4, srv4, q1}, {cq, udp, cli4, srv4, q1}},
			matched: 2, covers: true,
		},
		{
			name: "Unbound logs 0.0.0.0 for its upstream queries",
			a: []cmsg{
				{dnstap.Message_FORWARDER_QUERY, udp, "0.0.0.0:30764", srv4, q1},
				{dnstap.Message_FORWARDER_RESPONSE, udp, "0.0.0.0:30764", srv4, r1},
				{dnstap.Message_FORWARDER_QUERY, udp, "[::]:30765", srv6, q1},
			},
			b: []cmsg{
				{aq, udp, "192.0.2.54:30764", srv4, q1},
				{dnstap.Message_FORWARDER_QUERY, udp, "192.0.2.54:30764", srv4, q1},
				{dnstap.Message_FORWARDER_RESPONSE, udp, "192.0.2.54:30764", srv4, r1},
				{dnstap.Message_FORWARDER_QUERY, udp, "[fd00:53::54]:30765", srv6, q1},
			},
			excused: map[string]int{ReasonNoSource: 3},
			onlyB:   []string{ReasonNoFlow}, // the AUTH_QUERY view of the same message

			covers: true,
		},
		{
			name: "unspecified query address prefers the same port",
			a: []cmsg{
				{dnstap.Message_FORWARDER_QUERY, udp, "0.0.0.0:30764", srv4, q1},
				{dnstap.Message_FORWARDER_QUERY, udp, "[::]:53", srv6, q2}, // Unbound's IPv6 upstream queries
			},
			b: []cmsg{
				{dnstap.Message_FORWARDER_QUERY, udp, "192.0.2.54:30766", srv4, q1},
				{dnstap.Message_FORWARDER_QUERY, udp, "192.0.2.54:30764", srv4, q1},
				{dnstap.Message_FORWARDER_QUERY, udp, "[fd00:53::54]:4000", srv6, q2},
			},
			excused: map[string]int{ReasonNoSource: 2},
			onlyB:   []string{ReasonNoFlow}, // the port-30766 one: A's went to port 30764
			covers:  true,
		},
		{
			// Unbound 1.17 with tcp-upstream and an outgoing-interface logs
			// 192.0.2.3:0 (lab_realworld_unbound_sll2 holds such messages).
			name: "Unbound logs query port 0 for TCP upstream from an outgoing-interface",
			a: []cmsg{
				{dnstap.Message_FORWARDER_QUERY, tcp, "192.0.2.3:0", srv4, q1},
				{dnstap.Message_FORWARDER_RESPONSE, tcp, "192.0.2.3:0", srv4, r1},
				{dnstap.Message_FORWARDER_QUERY, tcp, "[fd00:53::3]:0", srv6, q2},
			},
			b: []cmsg{
				{aq, tcp, "192.0.2.3:45838", srv4, q1},
				{dnstap.Message_FORWARDER_QUERY, tcp, "192.0.2.3:45838", srv4, q1},
				{dnstap.Message_FORWARDER_RESPONSE, tcp, "192.0.2.3:45838", srv4, r1},
				{dnstap.Message_FORWARDER_QUERY, tcp, "[fd00:53::3]:60540", srv6, q2},
			},
			excused: map[string]int{ReasonNoSourcePort: 3},
			onlyB:   []string{ReasonNoFlow}, // the AUTH_QUERY view of the same message
			covers:  true,
		},
		{
			// The same Unbound over UDP on IPv6 logs [fd00:53::3]:53
			// (lab_realworld_unbound_udp holds such messages).
			name: "Unbound logs query port 53 for IPv6 UDP upstream from an outgoing-interface",
			a: []cmsg{
				{dnstap.Message_FORWARDER_QUERY, udp, "[fd00:53::3]:53", srv6, q1},
				{dnstap.Message_FORWARDER_RESPONSE, udp, "[fd00:53::3]:53", srv6, r1},
			},
			b: []cmsg{
				{dnstap.Message_FORWARDER_QUERY, udp, "[fd00:53::3]:7818", srv6, q1},
				{dnstap.Message_FORWARDER_RESPONSE, udp, "[fd00:53::3]:7818", srv6, r1},
			},
			excused: map[string]int{ReasonNoSourcePort: 2},
			covers:  true,
		},
		{
			// IPv4 port 53 is a real port: Unbound logs the real one there.
			name:  "IPv4 query port 53 is not excused",
			a:     []cmsg{{dnstap.Message_FORWARDER_QUERY, udp, "192.0.2.3:53", srv4, q1}},
			b:     []cmsg{{dnstap.Message_FORWARDER_QUERY, udp, "192.0.2.3:7818", srv4, q1}},
			onlyA: []string{"same bytes, different query port 7818 (other file #0)"},
			onlyB: []string{"same bytes, different query port 53 (other file #0)"},
		},
		{
			name:  "query port 0 still needs the same query address",
			a:     []cmsg{{dnstap.Message_FORWARDER_QUERY, tcp, "192.0.2.3:0", srv4, q1}},
			b:     []cmsg{{dnstap.Message_FORWARDER_QUERY, tcp, "192.0.2.4:45838", srv4, q1}},
			onlyA: []string{"same bytes, different query address 192.0.2.4, query port 45838 (other file #0)"},
			onlyB: []string{"same bytes, different query address 192.0.2.3, query port 0 (other file #0)"},
		},
		{
			name:  "unspecified query address still needs the same bytes and responder",
			a:     []cmsg{{dnstap.Message_FORWARDER_QUERY, udp, "0.0.0.0:30764", srv4, q1}},
			b:     []cmsg{{dnstap.Message_FORWARDER_QUERY, udp, "192.0.2.54:30764", "192.0.2.54:53", q1}},
			onlyA: []string{"same bytes, different query address 192.0.2.54, response address 192.0.2.54 (other file #0)"},
			onlyB: []string{"same bytes, different query address 0.0.0.0, response address 192.0.2.53 (other file #0)"},
		},
		{
			name:   "both empty",
			covers: true,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rep, err := Compare(dnstapFile(t, tc.a...), dnstapFile(t, tc.b...), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if rep.MessagesA != len(tc.a) || rep.MessagesB != len(tc.b) {
				t.Errorf("messages = %d/%d, want %d/%d", rep.MessagesA, rep.MessagesB, len(tc.a), len(tc.b))
			}
			if rep.Matched != tc.matched {
				t.Errorf("Matched = %d, want %d", rep.Matched, tc.matched)
			}
			if len(rep.Excused) != len(tc.excused) {
				t.Errorf("Excused = %v, want %v", rep.Excused, tc.excused)
			}
			for k, v := range tc.excused {
				if rep.Excused[k] != v {
					t.Errorf("Excused[%q] = %d, want %d", k, rep.Excused[k], v)
				}
			}
			if len(rep.TypeMismatch) != tc.typeMismatch {
				t.Errorf("TypeMismatch = %v, want %d", rep.TypeMismatch, tc.typeMismatch)
			}
			checkReasons(t, "OnlyA", rep.OnlyA, tc.onlyA)
			checkReasons(t, "OnlyB", rep.OnlyB, tc.onlyB)
			if rep.Covers() != tc.covers {
				t.Errorf("Covers() = %v, want %v", rep.Covers(), tc.covers)
			}
			if t.Failed() {
				t.Logf("report:\n%s", rep)
			}
		})
	}
}

func checkReasons(t *testing.T, what string, got []CompareEntry, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d entries, want %d: %v", what, len(got), len(want), got)
		return
	}
	for i := range got {
		if got[i].Reason != want[i] {
			t.Errorf("%s[%d].Reason = %q, want %q", what, i, got[i].Reason, want[i])
		}
	}
}

func TestCompareText(t *testing.T) {
	q1 := wireMsg(0x1234, false, true)
	a := dnstapFile(t, cmsg{cq, udp, cli4, srv4, q1}, cmsg{aq, udp, cli6, srv6, wireMsg(7, false, false)})
	b := dnstapFile(t, cmsg{aq, udp, cli4, srv4, q1})
	rep, err := Compare(a, b, CompareOptions{NameA: "bind.dnstap", NameB: "sensor.dnstap"})
	if err != nil {
		t.Fatal(err)
	}
	want := `A: bind.dnstap: 2 messages
B: sensor.dnstap: 1 messages
matched: 1 (0 exact, 1 with a known reason)
  1  type differs: BIND labels RD=1 answers CLIENT_*
only in A (bind.dnstap): 1
  #1 AUTH_QUERY UDP [fd00:53::2]:40001 -> [fd00:53::53]:53 id=7 www.lab.example. A NOERROR len=33: no message between these endpoints in the other file
only in B (sensor.dnstap): 0
B covers A: no
`
	if got := rep.String(); got != want {
		t.Errorf("report:\n%s\nwant:\n%s", got, want)
	}
}

func TestCompareMaxListed(t *testing.T) {
	var a []cmsg
	for i := range 5 {
		a = append(a, cmsg{aq, udp, cli4, srv4, wireMsg(uint16(i), false, false)})
	}
	rep, err := Compare(dnstapFile(t, a...), dnstapFile(t), CompareOptions{MaxListed: 2})
	if err != nil {
		t.Fatal(err)
	}
	txt := rep.String()
	if n := strings.Count(txt, ": no message between"); n != 2 {
		t.Errorf("listed %d entries, want 2:\n%s", n, txt)
	}
	if !strings.Contains(txt, "  ... 3 more\n") {
		t.Errorf("no elision line:\n%s", txt)
	}
}

func TestCompareBadInput(t *testing.T) {
	good := dnstapFile(t, cmsg{aq, udp, cli4, srv4, wireMsg(1, false, false)})
	var otherType bytes.Buffer
	fsw, err := dnstap.NewWriter(&otherType, nil)
	if err != nil {
		t.Fatal(err)
	}
	fsw.Close()
	// Same layout, but the content type in START is not protobuf:dnstap.Dnstap.
	wrongCT := bytes.Replace(otherType.Bytes(), []byte("protobuf:dnstap.Dnstap"), []byte("protobuf:dnstap.Dnstaq"), 1)
	notProto := append([]byte(nil), good.Bytes()...)
	// Corrupt the first byte of the first data frame's protobuf body (after
	// the 42-byte START frame and a 4-byte length): 0xff is an invalid tag.
	notProto[42+4] = 0xff
	cases := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"not frame streams", []byte("hello, this is not a dnstap file at all")},
		{"wrong content type", wrongCT},
		{"truncated", good.Bytes()[:good.Len()-20]},
		{"bad protobuf", notProto},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Compare(bytes.NewReader(tc.in), dnstapFile(t), CompareOptions{}); err == nil {
				t.Errorf("Compare(%s) succeeded", tc.name)
			}
			if _, err := Compare(dnstapFile(t), bytes.NewReader(tc.in), CompareOptions{}); err == nil {
				t.Errorf("Compare(_, %s) succeeded", tc.name)
			}
		})
	}
}
