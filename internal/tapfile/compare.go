package tapfile

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"sort"
	"strings"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// This file compares two dnstap files offline (`sensor compare`, e2e tests).
// It is not on the per-message path: it decodes with golang-dnstap and
// protobuf reflection and keeps every message in memory.

// compareMaxFrame is the largest data frame Compare accepts. Writers stop
// at 96 KiB; a DNS message is at most 64 KiB, so 256 KiB leaves room for a
// dnstap envelope around a full-size query and response.
const compareMaxFrame = 256 << 10

// Reasons Compare gives. A reason that starts with "type differs: " and
// is listed in excusedTypeReasons counts as a match.
const (
	// ReasonBINDRD: BIND (ns_client) chooses CLIENT_QUERY/CLIENT_RESPONSE
	// whenever the query has RD=1, even for a zone it serves
	// authoritatively, where a sensor told the server is authoritative says
	// AUTH_QUERY/AUTH_RESPONSE.
	ReasonBINDRD = "type differs: BIND labels RD=1 answers CLIENT_*"
	// ReasonTypeDiffers: the same message with another type and no known
	// cause; it does not count as a match.
	ReasonTypeDiffers = "type differs: no known reason"
	// ReasonNoSource: A logged the message without a query address (0.0.0.0
	// or ::), as Unbound does for the queries it sends upstream; B has it
	// with everything else equal (the query port too where A has the real
	// one: Unbound logs port 53 for IPv6).
	ReasonNoSource = "query address unspecified in A (Unbound logs none for its upstream queries)"
	// ReasonNoSourcePort: A logged the message with its query address but
	// not its port, as Unbound 1.17 does for upstream queries sent from a
	// configured outgoing-interface: port 0 over TCP (tcp-upstream), 53
	// over UDP on IPv6; B has it with everything else equal, the address
	// too.
	ReasonNoSourcePort = "query port 0 or [IPv6]:53 in A (Unbound logs no real port for upstream queries from an outgoing-interface)"
	// ReasonNoFlow: the other file has no message at all between these two
	// endpoints over this protocol (lost by capture, or never sent there).
	ReasonNoFlow = "no message between these endpoints in the other file"
	// ReasonOtherBytes: the other file has messages between these endpoints,
	// but none with these bytes (reassembly or truncation differs).
	ReasonOtherBytes = "the other file has messages between these endpoints, none with these bytes"
)

// reasonSameBytesPrefix starts the reason of an unmatched message whose
// exact bytes the other file has with other metadata; the fields that
// differ follow.
const reasonSameBytesPrefix = "same bytes, different "

// CompareOptions changes how Compare matches.
type CompareOptions struct {
	// StrictType refuses every type difference, BIND's RD=1 labelling too.
	StrictType bool
	// MaxListed is how many unmatched messages per side WriteText lists;
	// 0 means 20, negative means all.
	MaxListed int
	// NameA and NameB label the two files in the text report ("A" and "B"
	// when empty).
	NameA, NameB string
}

// CompareEntry is one dnstap message of a compared file.
type CompareEntry struct {
	// Index is the message's position among the file's MESSAGE frames,
	// from 0.
	Index int
	// Type is the dnstap message type.
	Type dnstap.Message_Type
	// Protocol is the dnstap socket protocol.
	Protocol dnstap.SocketProtocol
	// Query and Response are the initiator's and responder's address and
	// port (query_* and response_* in dnstap); zero when absent.
	Query, Response netip.AddrPort
	// Wire is query_message for a query, response_message for a response.
	// It belongs to the report.
	Wire []byte
	// Reason says why an unmatched entry found no partner, where known.
	Reason string
}

// IsResponse reports whether the entry is a response type (even dnstap
// type numbers are responses).
func (e *CompareEntry) IsResponse() bool { return e.Type%2 == 0 }

// String is one line: index, type, protocol, endpoints, DNS ID and question.
func (e *CompareEntry) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "#%d %s %s %s -> %s", e.Index, e.Type, protoName(e.Protocol), e.Query, e.Response)
	if len(e.Wire) >= 12 {
		fmt.Fprintf(&b, " id=%d", uint16(e.Wire[0])<<8|uint16(e.Wire[1]))
	}
	var m dns.Msg
	if err := m.Unpack(e.Wire); err == nil && len(m.Question) > 0 {
		q := m.Question[0]
		fmt.Fprintf(&b, " %s %s %s", q.Name, dns.TypeToString[q.Qtype], dns.RcodeToString[m.Rcode])
	} else if err != nil {
		fmt.Fprintf(&b, " (%d bytes, unparsable)", len(e.Wire))
	}
	fmt.Fprintf(&b, " len=%d", len(e.Wire))
	return b.String()
}

func protoName(p dnstap.SocketProtocol) string {
	if p == 0 {
		return "proto?"
	}
	return p.String()
}

// ComparePair is a message found in both files whose types differ.
type ComparePair struct {
	A, B   CompareEntry
	Reason string
}

// CompareReport is the outcome of Compare.
type CompareReport struct {
	// NameA and NameB label the files.
	NameA, NameB string
	// MessagesA and MessagesB count the MESSAGE frames read from each file.
	MessagesA, MessagesB int
	// Matched counts messages identical in every compared field, type too.
	Matched int
	// Excused counts messages matched in everything but a type difference
	// with a known cause, by reason.
	Excused map[string]int
	// TypeMismatch lists messages matched in everything but a type
	// difference without a known cause (or any, with StrictType).
	TypeMismatch []ComparePair
	// OnlyA and OnlyB list messages without a partner, in file order.
	OnlyA, OnlyB []CompareEntry

	maxListed int
}

// Covers reports whether every message of A is in B: matched exactly or
// with an excused type difference.
func (r *CompareReport) Covers() bool { return len(r.OnlyA) == 0 && len(r.TypeMismatch) == 0 }

// ExcusedTotal is the sum of Excused.
func (r *CompareReport) ExcusedTotal() int {
	n := 0
	for _, v := range r.Excused {
		n += v
	}
	return n
}

// WriteText writes the report for people.
func (r *CompareReport) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "A: %s: %d messages\nB: %s: %d messages\n", r.NameA, r.MessagesA, r.NameB, r.MessagesB)
	fmt.Fprintf(&b, "matched: %d (%d exact, %d with a known reason)\n", r.Matched+r.ExcusedTotal(), r.Matched, r.ExcusedTotal())
	reasons := make([]string, 0, len(r.Excused))
	for k := range r.Excused {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	for _, k := range reasons {
		fmt.Fprintf(&b, "  %d  %s\n", r.Excused[k], k)
	}
	if len(r.TypeMismatch) > 0 {
		fmt.Fprintf(&b, "type differs without a known reason: %d\n", len(r.TypeMismatch))
		for i, p := range r.TypeMismatch {
			if r.maxListed >= 0 && i >= r.maxListed {
				fmt.Fprintf(&b, "  ... %d more\n", len(r.TypeMismatch)-i)
				break
			}
			fmt.Fprintf(&b, "  A %s\n  B %s\n", p.A.String(), p.B.String())
		}
	}
	for _, side := range []struct {
		name string
		list []CompareEntry
	}{{"A (" + r.NameA + ")", r.OnlyA}, {"B (" + r.NameB + ")", r.OnlyB}} {
		fmt.Fprintf(&b, "only in %s: %d\n", side.name, len(side.list))
		for i := range side.list {
			if r.maxListed >= 0 && i >= r.maxListed {
				fmt.Fprintf(&b, "  ... %d more\n", len(side.list)-i)
				break
			}
			fmt.Fprintf(&b, "  %s: %s\n", side.list[i].String(), side.list[i].Reason)
		}
	}
	if r.Covers() {
		b.WriteString("B covers A: yes\n")
	} else {
		b.WriteString("B covers A: no\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// String returns WriteText's output.
func (r *CompareReport) String() string {
	var b strings.Builder
	_ = r.WriteText(&b)
	return b.String()
}

// compareKey is everything Compare matches on except the type; the class
// (query or response) is part of it.
type compareKey struct {
	response bool
	protocol dnstap.SocketProtocol
	query    netip.AddrPort
	resp     netip.AddrPort
	wire     string
}

// flowKey ignores the bytes, to tell "nothing on this flow" from "other
// bytes on this flow".
type flowKey struct {
	protocol    dnstap.SocketProtocol
	query, resp netip.AddrPort
}

// wireKey ignores the metadata, to find the same message with other
// addresses, ports or protocol.
type wireKey struct {
	response bool
	wire     string
}

func (e *CompareEntry) key() compareKey {
	return compareKey{e.IsResponse(), e.Protocol, e.Query, e.Response, string(e.Wire)}
}

// Compare reads two dnstap Frame Streams files and matches their messages
// by wire bytes, class (query or response), socket protocol and both
// addresses and ports. Type differences are reported separately.
func Compare(a, b io.Reader, opts CompareOptions) (*CompareReport, error) {
	r := &CompareReport{NameA: opts.NameA, NameB: opts.NameB, Excused: map[string]int{}, maxListed: opts.MaxListed}
	if r.NameA == "" {
		r.NameA = "A"
	}
	if r.NameB == "" {
		r.NameB = "B"
	}
	if r.maxListed == 0 {
		r.maxListed = 20
	}
	ea, err := ReadCompareEntries(a)
	if err != nil {
		return nil, fmt.Errorf("compare: read %s: %w", r.NameA, err)
	}
	eb, err := ReadCompareEntries(b)
	if err != nil {
		return nil, fmt.Errorf("compare: read %s: %w", r.NameB, err)
	}
	r.MessagesA, r.MessagesB = len(ea), len(eb)

	byKey := make(map[compareKey][]int, len(eb))
	for i := range eb {
		k := eb[i].key()
		byKey[k] = append(byKey[k], i)
	}
	usedB := make([]bool, len(eb))
	var onlyA []int
	// First pass: exact matches, type included, so a duplicate with another
	// type cannot steal an exact partner.
	pending := make([]int, 0, len(ea))
	for i := range ea {
		k := ea[i].key()
		if _, ok := takeB(byKey, k, eb, usedB, func(e *CompareEntry) bool { return e.Type == ea[i].Type }); ok {
			r.Matched++
			continue
		}
		pending = append(pending, i)
	}
	for _, i := range pending {
		j, ok := takeB(byKey, ea[i].key(), eb, usedB, func(*CompareEntry) bool { return true })
		if !ok {
			onlyA = append(onlyA, i)
			continue
		}
		reason := typeReason(&ea[i], &eb[j], opts.StrictType)
		if reason == ReasonTypeDiffers {
			r.TypeMismatch = append(r.TypeMismatch, ComparePair{A: ea[i], B: eb[j], Reason: reason})
		} else {
			r.Excused[reason]++
		}
	}
	onlyA = matchNoSource(r, ea, onlyA, eb, usedB, opts.StrictType)
	var onlyB []int
	for j := range eb {
		if !usedB[j] {
			onlyB = append(onlyB, j)
		}
	}
	r.OnlyA = explain(ea, onlyA, eb, onlyB)
	r.OnlyB = explain(eb, onlyB, ea, onlyA)
	return r, nil
}

// matchNoSource gives the A messages that carry no query address a second
// chance. Unbound (1.17) logs 0.0.0.0 and the real source port for the
// IPv4 queries it sends upstream, and [::]:53 for IPv6 ones: it does not
// know which local address (and, over IPv6, port) the kernel chose. Such a
// message matches the same message with any query address, preferring the
// same query port. It returns the A indexes still unmatched.
func matchNoSource(r *CompareReport, ea []CompareEntry, onlyA []int, eb []CompareEntry, usedB []bool, strict bool) []int {
	any := false
	for _, i := range onlyA {
		if ea[i].Query.Addr().IsUnspecified() || noSourcePort(&ea[i]) {
			any = true
			break
		}
	}
	if !any {
		return onlyA
	}
	// Three indexes: query address cleared, query address and port cleared,
	// and query port alone cleared.
	withPort, noPort, addrOnly := map[compareKey][]int{}, map[compareKey][]int{}, map[compareKey][]int{}
	clearPort := func(k compareKey) compareKey {
		k.query = netip.AddrPortFrom(k.query.Addr(), 0)
		return k
	}
	clear := func(k compareKey, port bool) compareKey {
		if port {
			k.query = netip.AddrPortFrom(netip.Addr{}, k.query.Port())
		} else {
			k.query = netip.AddrPort{}
		}
		return k
	}
	for j := range eb {
		if !usedB[j] {
			k := eb[j].key()
			withPort[clear(k, true)] = append(withPort[clear(k, true)], j)
			noPort[clear(k, false)] = append(noPort[clear(k, false)], j)
			addrOnly[clearPort(k)] = append(addrOnly[clearPort(k)], j)
		}
	}
	// pair records A's i found as B's j: excused for why, unless their
	// types differ for no known reason.
	pair := func(i, j int, why string) {
		if ea[i].Type != eb[j].Type {
			if reason := typeReason(&ea[i], &eb[j], strict); reason == ReasonTypeDiffers {
				r.TypeMismatch = append(r.TypeMismatch, ComparePair{A: ea[i], B: eb[j], Reason: reason})
				return
			}
		}
		r.Excused[why]++
	}
	var still []int
	for _, i := range onlyA {
		if noSourcePort(&ea[i]) {
			k := clearPort(ea[i].key())
			j, ok := takeB(addrOnly, k, eb, usedB, func(e *CompareEntry) bool { return e.Type == ea[i].Type })
			if !ok {
				j, ok = takeB(addrOnly, k, eb, usedB, func(*CompareEntry) bool { return true })
			}
			if !ok {
				still = append(still, i)
				continue
			}
			pair(i, j, ReasonNoSourcePort)
			continue
		}
		if !ea[i].Query.Addr().IsUnspecified() {
			still = append(still, i)
			continue
		}
		k := ea[i].key()
		sameType := func(e *CompareEntry) bool { return e.Type == ea[i].Type }
		anyType := func(*CompareEntry) bool { return true }
		j, ok := takeB(withPort, clear(k, true), eb, usedB, sameType)
		if !ok {
			j, ok = takeB(noPort, clear(k, false), eb, usedB, sameType)
		}
		if !ok {
			j, ok = takeB(withPort, clear(k, true), eb, usedB, anyType)
		}
		if !ok {
			j, ok = takeB(noPort, clear(k, false), eb, usedB, anyType)
		}
		if !ok {
			still = append(still, i)
			continue
		}
		pair(i, j, ReasonNoSource)
	}
	return still
}

// noSourcePort reports whether e has a query address but, as Unbound
// logs it, no real query port: 0, or 53 on IPv6. It is asked only of
// messages the first pass left unmatched, so a client that really used
// port 53 has already found its partner.
func noSourcePort(e *CompareEntry) bool {
	a, p := e.Query.Addr(), e.Query.Port()
	return a.IsValid() && !a.IsUnspecified() && (p == 0 || (p == 53 && a.Is6() && !a.Is4In6()))
}

// takeB marks and returns the first unused B entry with key k that ok accepts.
func takeB(byKey map[compareKey][]int, k compareKey, eb []CompareEntry, used []bool, ok func(*CompareEntry) bool) (int, bool) {
	for _, j := range byKey[k] {
		if !used[j] && ok(&eb[j]) {
			used[j] = true
			return j, true
		}
	}
	return 0, false
}

// typeReason explains a type difference between two otherwise equal messages.
func typeReason(a, b *CompareEntry, strict bool) string {
	if strict {
		return ReasonTypeDiffers
	}
	pair := func(x, y dnstap.Message_Type) bool {
		return (a.Type == x && b.Type == y) || (a.Type == y && b.Type == x)
	}
	rd := len(a.Wire) >= 3 && a.Wire[2]&0x01 != 0 // RFC 1035 §4.1.1: RD is the low bit of byte 2
	if rd && (pair(dnstap.Message_CLIENT_QUERY, dnstap.Message_AUTH_QUERY) ||
		pair(dnstap.Message_CLIENT_RESPONSE, dnstap.Message_AUTH_RESPONSE)) {
		return ReasonBINDRD
	}
	return ReasonTypeDiffers
}

// explain copies the unmatched entries of one side and gives each a reason
// from what the other side holds.
func explain(side []CompareEntry, idx []int, other []CompareEntry, otherUnmatched []int) []CompareEntry {
	if len(idx) == 0 {
		return nil
	}
	flows := make(map[flowKey]bool, len(other))
	for i := range other {
		flows[flowKey{other[i].Protocol, other[i].Query, other[i].Response}] = true
	}
	wires := make(map[wireKey][]int, len(otherUnmatched))
	for _, j := range otherUnmatched {
		k := wireKey{other[j].IsResponse(), string(other[j].Wire)}
		wires[k] = append(wires[k], j)
	}
	out := make([]CompareEntry, 0, len(idx))
	for _, i := range idx {
		e := side[i]
		switch {
		case len(wires[wireKey{e.IsResponse(), string(e.Wire)}]) > 0:
			o := &other[wires[wireKey{e.IsResponse(), string(e.Wire)}][0]]
			var diff []string
			if o.Protocol != e.Protocol {
				diff = append(diff, "protocol "+protoName(o.Protocol))
			}
			if o.Query.Addr() != e.Query.Addr() {
				diff = append(diff, "query address "+o.Query.Addr().String())
			}
			if o.Query.Port() != e.Query.Port() {
				diff = append(diff, fmt.Sprintf("query port %d", o.Query.Port()))
			}
			if o.Response.Addr() != e.Response.Addr() {
				diff = append(diff, "response address "+o.Response.Addr().String())
			}
			if o.Response.Port() != e.Response.Port() {
				diff = append(diff, fmt.Sprintf("response port %d", o.Response.Port()))
			}
			e.Reason = reasonSameBytesPrefix + strings.Join(diff, ", ") + fmt.Sprintf(" (other file #%d)", o.Index)
		case flows[flowKey{e.Protocol, e.Query, e.Response}]:
			e.Reason = ReasonOtherBytes
		default:
			e.Reason = ReasonNoFlow
		}
		out = append(out, e)
	}
	return out
}

// ReadCompareEntries reads every MESSAGE frame of a dnstap Frame Streams
// file. Frames of other dnstap types are skipped.
func ReadCompareEntries(rd io.Reader) ([]CompareEntry, error) {
	fr, err := dnstap.NewReader(rd, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, compareMaxFrame)
	var out []CompareEntry
	for frame := 0; ; frame++ {
		n, err := fr.ReadFrame(buf)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, fmt.Errorf("frame %d: %w", frame, err)
		}
		var d dnstap.Dnstap
		if err := proto.Unmarshal(buf[:n], &d); err != nil {
			return out, fmt.Errorf("frame %d: %w", frame, err)
		}
		m := d.GetMessage()
		if d.GetType() != dnstap.Dnstap_MESSAGE || m == nil {
			continue
		}
		e := CompareEntry{
			Index:    len(out),
			Type:     m.GetType(),
			Protocol: m.GetSocketProtocol(),
			Query:    addrPort(m.GetQueryAddress(), m.GetQueryPort()),
			Response: addrPort(m.GetResponseAddress(), m.GetResponsePort()),
		}
		if e.IsResponse() {
			e.Wire = m.GetResponseMessage()
		} else {
			e.Wire = m.GetQueryMessage()
		}
		out = append(out, e)
	}
}

func addrPort(a []byte, port uint32) netip.AddrPort {
	addr, ok := netip.AddrFromSlice(a)
	if !ok {
		return netip.AddrPort{}
	}
	return netip.AddrPortFrom(addr.Unmap(), uint16(port))
}
