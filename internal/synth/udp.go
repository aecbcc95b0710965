package synth

import "math"

// event is something that happens later on the capture timeline: a UDP
// response (seg < 0) or the seg'th segment of a TCP connection.
type event struct {
	t    int64 // ns since start
	slot int32
	seg  int32
}

// less orders events by time, then by slot and segment, so segments of one
// connection scheduled at the same instant keep their order.
func (e *event) less(o *event) bool {
	if e.t != o.t {
		return e.t < o.t
	}
	if e.slot != o.slot {
		return e.slot < o.slot
	}
	return e.seg < o.seg
}

// eventHeap is a binary min-heap on t, written out because container/heap
// boxes every element in an interface.
type eventHeap []event

func (h *eventHeap) push(e event) {
	*h = append(*h, e)
	s := *h
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !s[i].less(&s[p]) {
			break
		}
		s[p], s[i] = s[i], s[p]
		i = p
	}
}

func (h *eventHeap) pop() event {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	i := 0
	for {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		m := l
		if r := l + 1; r < len(s) && s[r].less(&s[l]) {
			m = r
		}
		if !s[m].less(&s[i]) {
			break
		}
		s[i], s[m] = s[m], s[i]
		i = m
	}
	*h = s
	return top
}

// udpSlot is a transaction waiting for its response.
type udpSlot struct {
	txn
	client int32
	server int16
	v6     bool
	port   uint16
	rpk    int // packets the response takes
}

// latency returns how long a server takes to answer: most answers come
// from cache within a millisecond, the rest need recursion (2 ms to 400 ms,
// log-uniform). This spread is what puts hundreds of transactions in
// flight and answers out of order.
func (g *gen) latency() int64 {
	if g.r.IntN(100) < 65 {
		return logUniform(g.r.Float64(), 50e3, 1e6)
	}
	return logUniform(g.r.Float64(), 2e6, 400e6)
}

func logUniform(u, lo, hi float64) int64 {
	return int64(math.Exp(math.Log(lo) + u*(math.Log(hi)-math.Log(lo))))
}

// interarrival returns the gap before the next new transaction, from a
// Poisson process at o.Rate per second.
func (g *gen) interarrival() int64 {
	return int64(g.r.ExpFloat64()*1e9/float64(g.o.Rate)) + 1
}

func (g *gen) runUDP() {
	m := modeUDP
	unansweredPct := 3
	if g.o.Kind == KindFrag {
		m = modeFrag
		unansweredPct = 1
	}
	var (
		h       eventHeap
		slots   []udpSlot
		free    []int32
		pending int // packets the queued responses will take
		t       int64
		limit   = g.o.Packets
	)
	for g.sum.Packets+pending < limit {
		t += g.interarrival()
		for len(h) > 0 && h[0].t <= t {
			e := h.pop()
			s := &slots[e.slot]
			pending -= s.rpk
			g.writeUDPResponse(e.t, s)
			free = append(free, e.slot)
		}
		var si int32
		if n := len(free); n > 0 {
			si = free[n-1]
			free = free[:n-1]
		} else {
			slots = append(slots, udpSlot{})
			si = int32(len(slots) - 1)
		}
		s := &slots[si]
		g.buildTxn(&s.txn, m)
		s.v6 = g.v6()
		s.client = int32(g.r.IntN(len(g.clients)))
		s.server = int16(g.r.IntN(len(g.servers)))
		s.port = g.ephemeralPort()
		qpk := fragCount(8+len(s.q), s.v6)
		s.rpk = fragCount(8+len(s.r), s.v6)
		answered := g.r.IntN(100) >= unansweredPct
		room := limit - g.sum.Packets - pending - qpk
		if room < 0 {
			break // the capture is full: the slot is never used again
		}
		if s.rpk > room {
			answered = false // hit the packet count exactly
		}
		cl, sv := &g.clients[s.client], &g.servers[s.server]
		g.buildUDP(cl, sv, s.v6, s.port, 53, s.q)
		g.sendIP(t, cl, sv, s.v6, protoUDP, g.r.Uint32(), false)
		g.sum.Queries++
		if !answered {
			g.sum.Unanswered++
			free = append(free, si)
			continue
		}
		pending += s.rpk
		h.push(event{t: t + g.latency(), slot: si, seg: -1})
	}
	for len(h) > 0 {
		e := h.pop()
		g.writeUDPResponse(e.t, &slots[e.slot])
	}
}

func (g *gen) writeUDPResponse(t int64, s *udpSlot) {
	cl, sv := &g.clients[s.client], &g.servers[s.server]
	g.buildUDP(sv, cl, s.v6, 53, s.port, s.r)
	var id uint32
	if s.v6 {
		id = g.r.Uint32()
	} else {
		g.ip4ID[s.server]++
		id = uint32(g.ip4ID[s.server])
	}
	reverse := s.rpk > 1 && g.r.IntN(5) == 0
	g.sendIP(t, sv, cl, s.v6, protoUDP, id, reverse)
	g.sum.Responses++
	if s.nx {
		g.sum.NXDomain++
	}
	if s.tc {
		g.sum.Truncated++
	}
}
