package reassembly

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

// dnsMsg builds a message from a header and hex body parts.
func dnsMsg(t *testing.T, hdr string, body ...string) []byte {
	t.Helper()
	return mustHex(t, hdr+strings.Join(body, ""))
}

// pointerChain returns a response whose answer's owner name is reached
// through hops compression pointers, each pointing at the one before it.
func pointerChain(hops int) []byte {
	b := []byte{0x12, 0x34, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0}
	b = append(b, 1, 'a', 0, 0, 1, 0, 1) // question "a." at 12
	// Padding RR (type 0xff00, private use) whose RDATA holds the chain.
	b = append(b, 0, 0xff, 0, 0, 1, 0, 0, 0, 0)
	rdlen := 2 * (hops - 1)
	b = append(b, byte(rdlen>>8), byte(rdlen))
	prev := 12
	for i := 0; i < hops-1; i++ {
		p := len(b)
		b = append(b, 0xc0|byte(prev>>8), byte(prev))
		prev = p
	}
	// The answer: owner is a pointer to the last link.
	b = append(b, 0xc0|byte(prev>>8), byte(prev), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1)
	b[7] = 2 // ANCOUNT: the padding RR and the answer
	return b
}

func TestParseDNS(t *testing.T) {
	const (
		qHdr = "1234 0100 0001 0000 0000 0000" // ID 0x1234, RD, QD=1
		qEx  = "07 6578616d706c65 03 636f6d 00 0001 0001"
	)
	label63 := "3f" + strings.Repeat("61", 63)
	cases := []struct {
		name      string
		msg       []byte
		dns       bool
		malformed bool
		question  string // hex; "" means nil
		id, flags uint16
	}{
		{name: "eleven octets", msg: mustHex(t, "1234 0100 0001 0000 0000 00"), dns: false},
		{name: "empty", msg: nil, dns: false},
		{name: "query", msg: testQuery, dns: true, question: qEx, id: 0x1234, flags: 0x0100},
		{name: "response with pointer", msg: testResponse, dns: true, question: qEx, id: 0x1234, flags: 0x8180},
		{name: "header only", msg: mustHex(t, "abcd 8000 0000 0000 0000 0000"), dns: true, id: 0xabcd, flags: 0x8000},
		{name: "counts no message can hold", msg: dnsMsg(t, "1234 0100 ffff ffff 0000 0000", qEx), dns: false},
		{name: "qdcount 13104 is the most a 64 KiB message could hold", msg: dnsMsg(t, "1234 0100 3330 0000 0000 0000", qEx), dns: true, malformed: true, question: qEx, id: 0x1234, flags: 0x0100},
		{name: "qdcount 13105 is not DNS", msg: dnsMsg(t, "1234 0100 3331 0000 0000 0000", qEx), dns: false},
		{name: "question cut short", msg: dnsMsg(t, qHdr, "0361"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "question without type and class", msg: dnsMsg(t, qHdr, "01 61 00 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "label 0x40 type", msg: dnsMsg(t, qHdr, "41 61 00 0001 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "label 0x80 type", msg: dnsMsg(t, qHdr, "80 61 00 0001 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "pointer to itself", msg: dnsMsg(t, qHdr, "c00c 0001 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "forward pointer", msg: dnsMsg(t, qHdr, "c00e 01 61 00 0001 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "pointer into its own name loops", msg: dnsMsg(t, qHdr, "01 61 c00c 0001 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "pointer cut", msg: dnsMsg(t, qHdr, "c0"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "name of 255 octets", msg: dnsMsg(t, qHdr, label63, label63, label63, "3d"+strings.Repeat("62", 61), "00 0001 0001"), dns: true,
			question: label63 + label63 + label63 + "3d" + strings.Repeat("62", 61) + "00 0001 0001", id: 0x1234, flags: 0x0100},
		{name: "name of 257 octets", msg: dnsMsg(t, qHdr, label63, label63, label63, "3f"+strings.Repeat("62", 63), "00 0001 0001"), dns: true, malformed: true, id: 0x1234, flags: 0x0100},
		{name: "128 pointer hops", msg: pointerChain(128), dns: true, question: "01 61 00 0001 0001", id: 0x1234, flags: 0x8180},
		{name: "129 pointer hops", msg: pointerChain(129), dns: true, malformed: true, question: "01 61 00 0001 0001", id: 0x1234, flags: 0x8180},
		{name: "rdlength past the end", msg: bytes.Clone(testResponse[:len(testResponse)-1]), dns: true, malformed: true, question: qEx, id: 0x1234, flags: 0x8180},
		{name: "record header cut", msg: testResponse[:len(testResponse)-8], dns: true, malformed: true, question: qEx, id: 0x1234, flags: 0x8180},
		{name: "trailing octet", msg: append(bytes.Clone(testResponse), 0), dns: true, malformed: true, question: qEx, id: 0x1234, flags: 0x8180},
		{name: "two questions", msg: dnsMsg(t, "0001 0000 0002 0000 0000 0000", qEx, "c00c 001c 0001"), dns: true, question: qEx, id: 1},
		{name: "second question bad", msg: dnsMsg(t, "0001 0000 0002 0000 0000 0000", qEx, "c0ff 001c 0001"), dns: true, malformed: true, question: qEx, id: 1},
		{name: "dso keepalive", msg: mustHex(t, "0000 3000 0000 0000 0000 0000 0001 0008 00000000 00000000"), dns: true, flags: 0x3000},
		{name: "dso tlv past the end", msg: mustHex(t, "0000 3000 0000 0000 0000 0000 0001 0009 00000000 00000000"), dns: true, malformed: true, flags: 0x3000},
		{name: "dso with a question", msg: dnsMsg(t, "0000 3000 0001 0000 0000 0000", qEx), dns: true, malformed: true, flags: 0x3000},
		{name: "opt record", msg: dnsMsg(t, "0001 0000 0001 0000 0000 0001", qEx, "00 0029 1000 00000000 0000"), dns: true, question: qEx, id: 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var h Header
			h.Question = []byte("stale")
			h.Malformed = true
			if got := parseDNS(tc.msg, &h); got != tc.dns {
				t.Fatalf("parseDNS = %v, want %v", got, tc.dns)
			}
			if !tc.dns {
				return
			}
			if h.Malformed != tc.malformed {
				t.Errorf("Malformed = %v, want %v", h.Malformed, tc.malformed)
			}
			if h.ID != tc.id || h.Flags != tc.flags {
				t.Errorf("ID %#x Flags %#x, want %#x %#x", h.ID, h.Flags, tc.id, tc.flags)
			}
			var want []byte
			if tc.question != "" {
				want = mustHex(t, tc.question)
			}
			if !bytes.Equal(h.Question, want) || (want == nil) != (h.Question == nil) {
				t.Errorf("Question %x, want %x", h.Question, want)
			}
			if h.Question != nil && &h.Question[0] != &tc.msg[12] {
				t.Errorf("Question does not alias the message")
			}
		})
	}
}

func TestPlausibleDNS(t *testing.T) {
	const qEx = "07 6578616d706c65 03 636f6d 00 0001 0001"
	cases := []struct {
		name string
		msg  []byte
		want bool
	}{
		{"query", testQuery, true},
		{"response", testResponse, true},
		{"notify", mustHex(t, "0001 2400 0001 0000 0000 0000"+qEx), true},
		{"update", mustHex(t, "0001 2800 0001 0000 0000 0000"+qEx), true},
		{"dso keepalive without question", mustHex(t, "0000 3000 0000 0000 0000 0000 0001 0008 00000000 00000000"), true},
		{"short", testQuery[:11], false},
		{"iquery (retired)", mustHex(t, "0001 0800 0001 0000 0000 0000"+qEx), false},
		{"opcode 3", mustHex(t, "0001 1800 0001 0000 0000 0000"+qEx), false},
		{"opcode 15", mustHex(t, "0001 7800 0001 0000 0000 0000"+qEx), false},
		{"z bit", mustHex(t, "0001 0140 0001 0000 0000 0000"+qEx), false},
		{"rcode 12", mustHex(t, "0001 810c 0001 0000 0000 0000"+qEx), false},
		{"two questions", mustHex(t, "0001 0100 0002 0000 0000 0000"+qEx+qEx), false},
		{"counts beyond the message", mustHex(t, "0001 0100 0001 0001 0000 0000"+qEx), false},
		{"bad question", mustHex(t, "0001 0100 0001 0000 0000 0000 c00c 0001 0001"), false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := plausibleDNS(tc.msg); got != tc.want {
				t.Errorf("plausibleDNS = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestDNSRandomBytes measures how often random payloads pass: parseDNS's
// bound predicts about 6 in a million, plausibleDNS far fewer.
func TestDNSRandomBytes(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	buf := make([]byte, 512)
	const n = 200_000
	dnsOK, plausible := 0, 0
	for i := 0; i < n; i++ {
		m := buf[:12+r.IntN(500)]
		for j := range m {
			m[j] = byte(r.Uint32())
		}
		var h Header
		if parseDNS(m, &h) {
			dnsOK++
		}
		if plausibleDNS(m) {
			plausible++
		}
	}
	t.Logf("of %d random payloads: parseDNS accepts %d, plausibleDNS %d", n, dnsOK, plausible)
	if dnsOK > 20 || plausible > 0 {
		t.Errorf("random payloads accepted: parseDNS %d, plausibleDNS %d of %d", dnsOK, plausible, n)
	}
}

// TestPlausibleDNSCaptures checks that every well-formed DNS message in
// testdata/pcaps is plausible, so that resynchronisation never skips a real
// message.
func TestPlausibleDNSCaptures(t *testing.T) {
	for name, frames := range allCaptures(t) {
		_, s := runFrames(frames)
		for i, m := range s.msgs {
			if !m.DNS.Malformed && !plausibleDNS(m.Payload) {
				t.Errorf("%s message %d: well-formed but not plausible: %x", name, i, m.Payload)
			}
		}
	}
}

func TestParseDNSAllocs(t *testing.T) {
	var h Header
	msg := testResponse
	if n := testing.AllocsPerRun(100, func() { parseDNS(msg, &h); plausibleDNS(msg) }); n != 0 {
		t.Fatalf("parseDNS allocates %v per message, want 0", n)
	}
}
