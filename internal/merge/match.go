package merge

import "bytes"

// How a server frame was matched with a wire message. The facts are those
// `sensor compare` (internal/emit/compare.go) excuses, checked there
// against the lab's BIND and Unbound captures; Merger and Compare must agree
// on them, which TestVerifyAgreesWithCompare checks on real captures.
type matchKind uint8

const (
	// matchExact: type, protocol, both addresses and ports equal.
	matchExact matchKind = iota
	// matchBINDRD: the type differs as BIND labels it (tapfile.ReasonBINDRD):
	// CLIENT_* where a sensor told the server is authoritative says AUTH_*,
	// for a query with RD=1.
	matchBINDRD
	// matchNoSource: the server logged no query address (0.0.0.0 or ::), as
	// Unbound does for its upstream queries; any query port then, since it
	// logs [::]:53 over IPv6 and, on a TCP retry after TC=1, the port of the
	// UDP attempt (tapfile.ReasonNoSource).
	matchNoSource
	// matchNoSourcePort: the server logged its query address but port 0
	// (Unbound over TCP from an outgoing-interface) or 53 on IPv6
	// (tapfile.ReasonNoSourcePort).
	matchNoSourcePort
	// matchOmitted: the server left an address, a port or the protocol out
	// of its frame altogether (dnstap makes them all optional); what is
	// absent is not compared.
	matchOmitted
	numMatchKinds
	noMatch = numMatchKinds
)

var matchKindNames = [numMatchKinds]string{"exact", "bind_rd_type", "no_source_address", "no_source_port", "omitted_fields"}

// dnstap Message.Type numbers (dnstap.proto) that the BIND excuse pairs.
const (
	typeAuthQuery      = 1
	typeAuthResponse   = 2
	typeClientQuery    = 5
	typeClientResponse = 6
)

// classify says how server message s matches wire message w, or noMatch.
// It is called only for a pair whose class (query or response) and DNS
// bytes hash alike; it checks the bytes itself.
func classify(s, w *Message) matchKind {
	if s.IsResponse() != w.IsResponse() || !bytes.Equal(s.Wire, w.Wire) {
		return noMatch
	}
	kind := matchExact
	if s.Type != w.Type {
		if !bindRD(s.Type, w.Type, w.Wire) {
			return noMatch
		}
		kind = matchBINDRD
	}
	omitted := false
	if s.Protocol != w.Protocol {
		if s.Protocol != 0 {
			return noMatch
		}
		omitted = true
	}
	if s.Response != w.Response {
		switch {
		case !s.Response.Addr().IsValid():
			omitted = true // neither address nor port to compare
		case s.Response.Addr() == w.Response.Addr() && s.Response.Port() == 0:
			omitted = true
		default:
			return noMatch
		}
	}
	if s.Query != w.Query {
		qa := s.Query.Addr()
		switch {
		case !qa.IsValid():
			omitted = true
		case qa.IsUnspecified():
			if kind == matchExact {
				kind = matchNoSource
			}
		case qa == w.Query.Addr() && noSourcePort(s):
			if kind == matchExact {
				kind = matchNoSourcePort
			}
		default:
			return noMatch
		}
	}
	if omitted && kind == matchExact {
		kind = matchOmitted
	}
	return kind
}

// bindRD reports BIND's CLIENT_*/AUTH_* labelling of an RD=1 message.
func bindRD(a, b uint8, wire []byte) bool {
	rd := len(wire) >= 3 && wire[2]&0x01 != 0 // RFC 1035 §4.1.1: RD is the low bit of byte 2
	if !rd {
		return false
	}
	pair := func(x, y uint8) bool { return (a == x && b == y) || (a == y && b == x) }
	return pair(typeClientQuery, typeAuthQuery) || pair(typeClientResponse, typeAuthResponse)
}

// noSourcePort: a query address but, as Unbound logs it from an
// outgoing-interface, no real port: 0, or 53 on IPv6.
func noSourcePort(m *Message) bool {
	a, p := m.Query.Addr(), m.Query.Port()
	return p == 0 || (p == 53 && a.Is6() && !a.Is4In6())
}
