package synth

import "encoding/binary"

// DNS constants (RFC 1035, RFC 3596, RFC 6891, RFC 9460).
const (
	typeA     = 1
	typeNS    = 2
	typeCNAME = 5
	typeSOA   = 6
	typePTR   = 12
	typeMX    = 15
	typeTXT   = 16
	typeAAAA  = 28
	typeOPT   = 41
	typeHTTPS = 65

	rcodeServFail = 2
	rcodeNXDomain = 3

	flagQR = 0x8000
	flagAA = 0x0400
	flagTC = 0x0200
	flagRD = 0x0100
	flagRA = 0x0080
	flagAD = 0x0020

	headerLen = 12
)

// qtypes and their weights: roughly what a recursive resolver serving
// browsers and phones sees.
var qtypeTable = [...]struct {
	t      uint16
	weight int
}{
	{typeA, 52}, {typeAAAA, 25}, {typeHTTPS, 9}, {typePTR, 5}, {typeTXT, 3}, {typeMX, 3}, {typeNS, 3},
}

// mode is the transport a transaction is built for.
type mode uint8

const (
	modeUDP  mode = iota
	modeTCP       // no size limit, larger answers more likely
	modeFrag      // EDNS 4096 and mostly answers too large for one packet
)

// txn is one DNS transaction as built: its query and response messages.
// The buffers are reused from one transaction to the next.
type txn struct {
	q, r []byte
	nx   bool
	tc   bool
}

// msgState tracks the offsets in the response that later records compress
// against.
type msgState struct {
	apex  int // offset of the registered domain (or reverse zone) in the question
	owner int // offset of the name the answers belong to (question, or CNAME target)
}

func (g *gen) pickQtype() uint16 {
	w := g.r.IntN(100)
	for _, q := range qtypeTable {
		if w < q.weight {
			return q.t
		}
		w -= q.weight
	}
	return typeA
}

// buildTxn fills t with a fresh query and its response.
func (g *gen) buildTxn(t *txn, m mode) {
	r := g.r
	qtype := g.pickQtype()
	big := false
	if m == modeFrag && r.IntN(100) < 70 {
		big = true
		qtype = typeTXT
		if r.IntN(2) == 0 {
			qtype = typeA
		}
	}
	id := uint16(r.Uint32())
	flags := uint16(flagRD)
	if r.IntN(10) < 3 {
		flags |= flagAD // dig and systemd-resolved set AD on queries (RFC 6840 §5.7)
	}
	edns := r.IntN(100) < 85 || m != modeUDP
	bufsize := uint16(1232)
	switch k := r.IntN(20); {
	case m == modeFrag:
		bufsize = 4096
	case k < 4:
		bufsize = 4096
	case k < 5:
		bufsize = 512
	case k < 6:
		bufsize = 1400
	}
	do := r.IntN(5) == 0
	cookie := r.IntN(10) < 3

	q := t.q[:0]
	q = appendHeader(q, id, flags, 1, 0, 0, b2u(edns))
	var st msgState
	nx := false
	if qtype == typePTR {
		q, st.apex = g.appendReverse(q)
		nx = r.IntN(100) < 30
	} else {
		d := g.names.pick()
		if !big && r.IntN(100) < 15 {
			// A unique first label: tracking, DGA-like or mistyped names,
			// which are what make up most NXDOMAINs.
			start := len(q)
			q = append(q, 0)
			for j := 8 + r.IntN(13); j > 0; j-- {
				q = append(q, alnum[r.IntN(len(alnum))])
			}
			q[start] = byte(len(q) - start - 1)
			nx = r.IntN(2) == 0
		} else {
			nx = r.IntN(1000) < 15
		}
		st.apex = len(q) + int(d.apex)
		q = append(q, g.names.wire(d)...)
	}
	q = binary.BigEndian.AppendUint16(q, qtype)
	q = binary.BigEndian.AppendUint16(q, 1)
	qEnd := len(q)
	if edns {
		q = appendOPT(q, bufsize, do, cookie, false, r)
	}
	t.q = q

	// Response: the query's header and question, then records.
	rs := append(t.r[:0], q[:qEnd]...)
	rflags := flags | flagQR | flagRA
	if qtype == typeNS || r.IntN(20) == 0 {
		rflags |= flagAA
	}
	if !do {
		rflags &^= flagAD
	}
	st.owner = headerLen
	var an, ns uint16
	switch {
	case r.IntN(200) == 0:
		rflags |= rcodeServFail
	case nx:
		rflags |= rcodeNXDomain
		rs, ns = g.appendSOA(rs, &st), 1
	default:
		var nodata bool
		switch qtype {
		case typeAAAA:
			nodata = r.IntN(100) < 15
		case typeHTTPS:
			nodata = r.IntN(100) < 45
		case typeMX, typeTXT:
			nodata = !big && r.IntN(100) < 8
		}
		if nodata {
			rs, ns = g.appendSOA(rs, &st), 1
		} else {
			rs, an = g.appendAnswers(rs, &st, qtype, m, big)
		}
	}
	var ar uint16
	if edns {
		rs = appendOPT(rs, 1232, do, false, cookie, r)
		ar = 1
	}
	t.tc = false
	limit := 512
	if edns {
		limit = int(bufsize)
	}
	if m != modeTCP && len(rs) > limit {
		// RFC 2181 §9: what does not fit is dropped and TC set; resolvers
		// send the question alone.
		rs = rs[:qEnd]
		rflags |= flagTC
		an, ns, ar = 0, 0, 0
		if edns {
			rs = appendOPT(rs, 1232, do, false, cookie, r)
			ar = 1
		}
		t.tc = true
	}
	binary.BigEndian.PutUint16(rs[2:], rflags)
	binary.BigEndian.PutUint16(rs[6:], an)
	binary.BigEndian.PutUint16(rs[8:], ns)
	binary.BigEndian.PutUint16(rs[10:], ar)
	t.r = rs
	t.nx = rflags&0xf == rcodeNXDomain
}

const alnum = "abcdefghijklmnopqrstuvwxyz0123456789"
const b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

func b2u(b bool) uint16 {
	if b {
		return 1
	}
	return 0
}

func appendHeader(b []byte, id, flags, qd, an, ns, ar uint16) []byte {
	b = binary.BigEndian.AppendUint16(b, id)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, qd)
	b = binary.BigEndian.AppendUint16(b, an)
	b = binary.BigEndian.AppendUint16(b, ns)
	return binary.BigEndian.AppendUint16(b, ar)
}

// appendOPT appends an EDNS0 OPT pseudo-record (RFC 6891 §6.1.2), with a
// client cookie on queries and client plus server cookie on responses
// (RFC 7873 §4).
func appendOPT(b []byte, bufsize uint16, do, clientCookie, serverCookie bool, r interface{ Uint64() uint64 }) []byte {
	b = append(b, 0) // root owner
	b = binary.BigEndian.AppendUint16(b, typeOPT)
	b = binary.BigEndian.AppendUint16(b, bufsize)
	ttl := uint32(0)
	if do {
		ttl = 0x8000
	}
	b = binary.BigEndian.AppendUint32(b, ttl)
	switch {
	case clientCookie:
		b = binary.BigEndian.AppendUint16(b, 12)
		b = binary.BigEndian.AppendUint16(b, 10)
		b = binary.BigEndian.AppendUint16(b, 8)
		b = binary.BigEndian.AppendUint64(b, r.Uint64())
	case serverCookie:
		b = binary.BigEndian.AppendUint16(b, 28)
		b = binary.BigEndian.AppendUint16(b, 10)
		b = binary.BigEndian.AppendUint16(b, 24)
		b = binary.BigEndian.AppendUint64(b, r.Uint64())
		b = binary.BigEndian.AppendUint64(b, r.Uint64())
		b = binary.BigEndian.AppendUint64(b, r.Uint64())
	default:
		b = binary.BigEndian.AppendUint16(b, 0)
	}
	return b
}

func appendPtr(b []byte, off int) []byte { return append(b, 0xc0|byte(off>>8), byte(off)) }

// appendRR appends an owner pointer, type, class IN, TTL and a zero RDLENGTH,
// returning the offset of RDLENGTH for endRR.
func appendRR(b []byte, owner int, typ uint16, ttl uint32) ([]byte, int) {
	b = appendPtr(b, owner)
	b = binary.BigEndian.AppendUint16(b, typ)
	b = binary.BigEndian.AppendUint16(b, 1)
	b = binary.BigEndian.AppendUint32(b, ttl)
	at := len(b)
	return append(b, 0, 0), at
}

func endRR(b []byte, at int) []byte {
	binary.BigEndian.PutUint16(b[at:], uint16(len(b)-at-2))
	return b
}

// ttl returns a TTL as a cache hands it out: a common zone TTL, counted down.
func (g *gen) ttl() uint32 {
	base := [...]uint32{20, 60, 60, 300, 300, 300, 600, 3600, 3600, 86400}[g.r.IntN(10)]
	return base - uint32(g.r.IntN(int(base)))
}

func (g *gen) appendLabelWord(b []byte, s string, num int) []byte {
	start := len(b)
	b = append(b, 0)
	b = append(b, s...)
	if num >= 0 {
		b = appendUint(b, uint64(num))
	}
	b[start] = byte(len(b) - start - 1)
	return b
}

// appendReverse appends an in-addr.arpa or ip6.arpa question name and
// returns the offset of its reverse zone (the /24 or /48 parent).
func (g *gen) appendReverse(b []byte) ([]byte, int) {
	r := g.r
	if r.IntN(5) == 0 {
		// ip6.arpa: 32 nibble labels, RFC 3596 §2.5.
		var a [16]byte
		a[0], a[1] = 0x2a, 0x00
		for i := 2; i < 16; i++ {
			a[i] = byte(r.Uint32())
		}
		zone := 0
		for i := 15; i >= 0; i-- {
			if i == 5 {
				zone = len(b)
			}
			b = append(b, 1, hexDigit[a[i]&0xf], 1, hexDigit[a[i]>>4])
		}
		b = append(b, 3, 'i', 'p', '6', 4, 'a', 'r', 'p', 'a', 0)
		return b, zone
	}
	a := [4]byte{byte(1 + r.IntN(223)), byte(r.Uint32()), byte(r.Uint32()), byte(r.Uint32())}
	zone := 0
	for i := 3; i >= 0; i-- {
		if i == 2 {
			zone = len(b)
		}
		start := len(b)
		b = append(b, 0)
		b = appendUint(b, uint64(a[i]))
		b[start] = byte(len(b) - start - 1)
	}
	b = append(b, 7, 'i', 'n', '-', 'a', 'd', 'd', 'r', 4, 'a', 'r', 'p', 'a', 0)
	return b, zone
}

const hexDigit = "0123456789abcdef"

// appendSOA appends the SOA a negative answer carries in its authority
// section (RFC 2308 §3). For a name under a registered domain that does not
// exist the SOA is the domain's; random names sit under it as well.
func (g *gen) appendSOA(b []byte, st *msgState) []byte {
	b, at := appendRR(b, st.apex, typeSOA, 900)
	b = append(b, 3, 'n', 's', '1')
	b = appendPtr(b, st.apex)
	b = append(b, 10, 'h', 'o', 's', 't', 'm', 'a', 's', 't', 'e', 'r')
	b = appendPtr(b, st.apex)
	b = binary.BigEndian.AppendUint32(b, 2026010100+uint32(g.r.IntN(99)))
	b = binary.BigEndian.AppendUint32(b, 7200)
	b = binary.BigEndian.AppendUint32(b, 3600)
	b = binary.BigEndian.AppendUint32(b, 1209600)
	b = binary.BigEndian.AppendUint32(b, 300)
	return endRR(b, at)
}

// appendCNAME appends a CNAME from the owner to a name at a CDN provider
// and moves st.owner to its target, as resolvers return the chain.
func (g *gen) appendCNAME(b []byte, st *msgState) []byte {
	b, at := appendRR(b, st.owner, typeCNAME, g.ttl())
	target := len(b)
	b = g.appendLabelWord(b, "e", g.r.IntN(100000))
	b = append(b, g.names.wire(g.names.providers[g.r.IntN(8)])...)
	st.owner = target
	return endRR(b, at)
}

func (g *gen) appendA(b []byte, owner int, ttl uint32) []byte {
	b, at := appendRR(b, owner, typeA, ttl)
	b = append(b, publicV4[g.r.IntN(len(publicV4))], byte(g.r.Uint32()), byte(g.r.Uint32()), byte(1+g.r.IntN(254)))
	return endRR(b, at)
}

func (g *gen) appendAAAA(b []byte, owner int, ttl uint32) []byte {
	b, at := appendRR(b, owner, typeAAAA, ttl)
	b = append(b, 0x26, 0x06, byte(g.r.Uint32()), byte(g.r.Uint32()))
	b = binary.BigEndian.AppendUint32(b, g.r.Uint32())
	b = append(b, 0, 0, 0, 0)
	b = binary.BigEndian.AppendUint32(b, g.r.Uint32()&0xffff)
	return endRR(b, at)
}

var publicV4 = [...]byte{23, 34, 35, 52, 54, 104, 142, 151, 157, 172, 185, 199, 203, 216}

// rrCount returns how many records an RRset holds: mostly one, sometimes a
// handful, rarely eight.
func (g *gen) rrCount() int {
	switch k := g.r.IntN(100); {
	case k < 60:
		return 1
	case k < 95:
		return 2 + g.r.IntN(3)
	}
	return 8
}

// appendAnswers appends the answer section for qtype and returns it with the
// number of records.
func (g *gen) appendAnswers(b []byte, st *msgState, qtype uint16, m mode, big bool) ([]byte, uint16) {
	r := g.r
	var an uint16
	ttl := g.ttl()
	switch qtype {
	case typeA, typeAAAA:
		if r.IntN(100) < 20 {
			b = g.appendCNAME(b, st)
			an++
		}
		n := g.rrCount()
		if big {
			n = 100 + r.IntN(130) // a round-robin pool as large as some CDNs return
		}
		for i := 0; i < n; i++ {
			if qtype == typeA {
				b = g.appendA(b, st.owner, ttl)
			} else {
				b = g.appendAAAA(b, st.owner, ttl)
			}
		}
		an += uint16(n)
	case typeHTTPS:
		b, at := appendRR(b, st.owner, typeHTTPS, ttl)
		b = binary.BigEndian.AppendUint16(b, 1) // SvcPriority 1: ServiceMode
		b = append(b, 0)                        // TargetName ".", uncompressed (RFC 9460 §2.2)
		b = append(b, 0, 1, 0, 6, 2, 'h', '3', 2, 'h', '2')
		b = append(b, 0, 4, 0, 8)
		b = append(b, publicV4[r.IntN(len(publicV4))], byte(r.Uint32()), byte(r.Uint32()), 1)
		b = append(b, publicV4[r.IntN(len(publicV4))], byte(r.Uint32()), byte(r.Uint32()), 2)
		b = append(b, 0, 6, 0, 16, 0x26, 0x06, byte(r.Uint32()), byte(r.Uint32()), 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
		return endRR(b, at), 1
	case typeMX:
		n := 1 + r.IntN(3)
		prov := -1
		for i := 0; i < n; i++ {
			var at int
			b, at = appendRR(b, st.owner, typeMX, ttl)
			b = binary.BigEndian.AppendUint16(b, uint16(10*(i+1)))
			b = g.appendLabelWord(b, "mx", i+1)
			switch {
			case r.IntN(3) == 0:
				b = appendPtr(b, st.apex)
			case prov < 0:
				prov = len(b)
				b = append(b, g.names.wire(g.names.providers[8+r.IntN(8)])...)
			default:
				b = appendPtr(b, prov)
			}
			b = endRR(b, at)
		}
		an = uint16(n)
	case typeNS:
		n := 2 + r.IntN(3)
		prov := -1
		for i := 0; i < n; i++ {
			var at int
			b, at = appendRR(b, st.owner, typeNS, 86400)
			b = g.appendLabelWord(b, "ns", i+1)
			if prov < 0 {
				prov = len(b)
				b = append(b, g.names.wire(g.names.providers[16+r.IntN(8)])...)
			} else {
				b = appendPtr(b, prov)
			}
			b = endRR(b, at)
		}
		an = uint16(n)
	case typePTR:
		b, at := appendRR(b, st.owner, typePTR, ttl)
		b = g.appendLabelWord(b, "host-", r.IntN(1<<24))
		b = append(b, g.names.wire(g.names.providers[24+r.IntN(8)])...)
		return endRR(b, at), 1
	case typeTXT:
		n := 1 + r.IntN(3)
		if big {
			n = 8 + r.IntN(7)
		} else if m == modeTCP && r.IntN(3) == 0 {
			n = 4 + r.IntN(30) // the large TXT sets (SPF, DKIM, verification) that end up on TCP
		}
		for i := 0; i < n; i++ {
			var at int
			b, at = appendRR(b, st.owner, typeTXT, ttl)
			strs := 0 // short
			if big {
				strs = 1
			} else if n > 3 {
				strs = 1 + r.IntN(2)
			}
			b = g.appendTXT(b, strs)
			b = endRR(b, at)
		}
		an = uint16(n)
	}
	return b, an
}

// appendTXT appends one TXT RDATA: a verification token, an SPF policy or
// a DKIM-style key in longStrings strings of up to 255 bytes (RFC 1035 §3.3.14).
func (g *gen) appendTXT(b []byte, longStrings int) []byte {
	r := g.r
	if longStrings > 0 {
		for s := longStrings; s > 0; s-- {
			start := len(b)
			b = append(b, 0)
			b = append(b, "v=DKIM1; k=rsa; p="...)
			for j := 120 + r.IntN(118); j > 0; {
				// Ten base64 digits from each 64-bit draw.
				for v, k := r.Uint64(), 0; k < 10 && j > 0; k, j = k+1, j-1 {
					b = append(b, b64[v&63])
					v >>= 6
				}
			}
			b[start] = byte(len(b) - start - 1)
		}
		return b
	}
	start := len(b)
	b = append(b, 0)
	switch r.IntN(4) {
	case 0:
		b = append(b, "v=spf1 ip4:"...)
		b = appendUint(b, uint64(publicV4[r.IntN(len(publicV4))]))
		b = append(b, '.')
		b = appendUint(b, uint64(r.IntN(256)))
		b = append(b, ".0.0/16 include:_spf.mail"...)
		b = appendUint(b, uint64(r.IntN(10)))
		b = append(b, ".example ~all"...)
	case 1:
		b = append(b, "site-verification="...)
		for j := 43; j > 0; j-- {
			b = append(b, b64[r.IntN(62)])
		}
	case 2:
		b = append(b, "MS=ms"...)
		b = appendUint(b, uint64(10000000+r.IntN(90000000)))
	default:
		b = append(b, "v=DMARC1; p=none; rua=mailto:dmarc@report.example"...)
	}
	b[start] = byte(len(b) - start - 1)
	return b
}
