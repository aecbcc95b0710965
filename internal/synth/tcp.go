package synth

import (
	"encoding/binary"
	"slices"
)

// tcpSeg is one packet of a TCP connection, scheduled before it is written.
type tcpSeg struct {
	t        int64
	fromSrv  bool
	flags    uint8
	off, n   int32 // payload range in the sender's stream
	seq, ack uint32
}

// tcpConn is a DNS-over-TCP connection: both byte streams (two-byte length
// prefix and message, RFC 1035 §4.2.2, RFC 7766 §8) and the segments that
// carry them. Buffers are reused across connections.
type tcpConn struct {
	client   int32
	server   int16
	v6       bool
	port     uint16
	cISN     uint32
	sISN     uint32
	cTS, sTS uint32 // timestamp option bases
	ipID     uint16
	cs, ss   []byte
	segs     []tcpSeg
	left     int // segments not yet written
	resp     []tcpResp
	t        txn
	segMax   int32
	qStart   []int32 // offsets of the length prefixes in cs, then len(cs)
	rStart   []int32 // the same for ss
	qTimes   []int64
}

// tcpResp is a response waiting to be laid out in the server stream.
type tcpResp struct {
	t      int64
	q      int32 // index of the query it answers
	off, n int32 // the message in rbuf
}

const (
	mss4 = 1448 // 1500 - 20 (IPv4) - 32 (TCP with timestamps)
	mss6 = 1428 // 1500 - 40 (IPv6) - 32
)

func (g *gen) runTCP() {
	var (
		h       eventHeap
		conns   []*tcpConn
		free    []int32
		pending int
		t       int64
		rbuf    []byte
	)
	for g.sum.Packets+pending < g.o.Packets {
		t += g.interarrival()
		for len(h) > 0 && h[0].t <= t {
			e := h.pop()
			pending--
			if g.writeSeg(conns[e.slot], int(e.seg)) {
				free = append(free, e.slot)
			}
		}
		var si int32
		if n := len(free); n > 0 {
			si = free[n-1]
			free = free[:n-1]
		} else {
			conns = append(conns, &tcpConn{})
			si = int32(len(conns) - 1)
		}
		c := conns[si]
		rbuf = g.buildConn(c, t, rbuf[:0])
		pending += len(c.segs)
		for i := range c.segs {
			h.push(event{t: c.segs[i].t, slot: si, seg: int32(i)})
		}
		g.sum.TCPConns++
	}
	for len(h) > 0 {
		e := h.pop()
		g.writeSeg(conns[e.slot], int(e.seg))
	}
}

// buildConn lays out a whole connection starting at t0. rbuf is scratch
// for the responses before they are ordered; it is returned for reuse.
func (g *gen) buildConn(c *tcpConn, t0 int64, rbuf []byte) []byte {
	r := g.r
	c.v6 = g.v6()
	c.client = int32(r.IntN(len(g.clients)))
	c.server = int16(r.IntN(len(g.servers)))
	c.port = g.ephemeralPort()
	c.cISN, c.sISN = r.Uint32(), r.Uint32()
	if r.IntN(100) < 3 {
		// Sequence numbers that wrap within the connection.
		c.cISN = 0xffffffff - uint32(r.IntN(200))
		c.sISN = 0xffffffff - uint32(r.IntN(3000))
	}
	c.cTS, c.sTS = r.Uint32(), r.Uint32()
	c.ipID = uint16(r.Uint32())
	c.cs, c.ss, c.segs, c.resp = c.cs[:0], c.ss[:0], c.segs[:0], c.resp[:0]
	c.qStart, c.rStart = c.qStart[:0], c.rStart[:0]
	c.segMax = mss4
	if c.v6 {
		c.segMax = mss6
	}
	rtt := logUniform(r.Float64(), 200e3, 40e6)
	c.segs = append(c.segs,
		tcpSeg{t: t0, flags: tcpSYN},
		tcpSeg{t: t0 + 30e3, fromSrv: true, flags: tcpSYN | tcpACK},
		tcpSeg{t: t0 + rtt, flags: tcpACK})

	// The client pipelines k queries (RFC 7766 §6.2.1.1) without waiting
	// for answers; the server answers each when it has it, so answers come
	// back out of order.
	var k int
	switch x := r.IntN(100); {
	case x < 40:
		k = 1
	case x < 70:
		k = 2 + r.IntN(2)
	default:
		k = 4 + r.IntN(7)
	}
	tq := t0 + rtt + 20e3
	c.qTimes = c.qTimes[:0]
	for j := 0; j < k; j++ {
		g.buildTxn(&c.t, modeTCP)
		g.sum.Queries++
		c.qStart = append(c.qStart, int32(len(c.cs)))
		c.qTimes = append(c.qTimes, tq)
		c.cs = binary.BigEndian.AppendUint16(c.cs, uint16(len(c.t.q)))
		c.cs = append(c.cs, c.t.q...)
		if r.IntN(100) >= 1 {
			c.resp = append(c.resp, tcpResp{q: int32(j), off: int32(len(rbuf)), n: int32(len(c.t.r))})
			rbuf = append(rbuf, c.t.r...)
			g.sum.Responses++
			if c.t.nx {
				g.sum.NXDomain++
			}
		} else {
			g.sum.Unanswered++
		}
		tq += 20e3 + int64(r.IntN(300e3))
	}
	c.qStart = append(c.qStart, int32(len(c.cs)))

	// Client writes: a query alone, two queries in one segment, or the
	// length prefix and the message in separate segments.
	var lastT int64
	for j := 0; j < k; {
		x := r.IntN(100)
		switch {
		case x < 15 && j+1 < k:
			lastT = c.write(false, c.qTimes[j+1], c.qStart[j], c.qStart[j+2], lastT, rtt)
			c.qTimes[j], c.qTimes[j+1] = lastT, lastT
			j += 2
		case x < 30:
			lastT = c.write(false, c.qTimes[j], c.qStart[j], c.qStart[j]+2, lastT, rtt)
			lastT = c.write(false, c.qTimes[j]+10e3, c.qStart[j]+2, c.qStart[j+1], lastT, rtt)
			c.qTimes[j] = lastT
			j++
		default:
			lastT = c.write(false, c.qTimes[j], c.qStart[j], c.qStart[j+1], lastT, rtt)
			c.qTimes[j] = lastT
			j++
		}
	}
	// qTimes now says when each query's last byte left: the server answers
	// after that, never before.
	for i := range c.resp {
		c.resp[i].t = c.qTimes[c.resp[i].q] + 10e3 + g.latency()/4
	}

	// Server writes, in the order the answers became ready.
	slices.SortStableFunc(c.resp, func(a, b tcpResp) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
	for _, rp := range c.resp {
		c.rStart = append(c.rStart, int32(len(c.ss)))
		c.ss = binary.BigEndian.AppendUint16(c.ss, uint16(rp.n))
		c.ss = append(c.ss, rbuf[rp.off:rp.off+rp.n]...)
	}
	c.rStart = append(c.rStart, int32(len(c.ss)))
	lastT = 0
	for i := 0; i < len(c.resp); {
		x := r.IntN(100)
		switch {
		case x < 50 && i+1 < len(c.resp) && c.resp[i+1].t-c.resp[i].t < 200e3:
			lastT = c.write(true, c.resp[i+1].t, c.rStart[i], c.rStart[i+2], lastT, rtt)
			i += 2
		case x < 60:
			lastT = c.write(true, c.resp[i].t, c.rStart[i], c.rStart[i]+2, lastT, rtt)
			lastT = c.write(true, c.resp[i].t+10e3, c.rStart[i]+2, c.rStart[i+1], lastT, rtt)
			i++
		default:
			lastT = c.write(true, c.resp[i].t, c.rStart[i], c.rStart[i+1], lastT, rtt)
			i++
		}
	}

	// Close: mostly the client, sometimes the server on idle, sometimes a
	// client reset.
	var tEnd int64
	for i := range c.segs {
		tEnd = max(tEnd, c.segs[i].t)
	}
	switch x := r.IntN(100); {
	case x < 80:
		tf := tEnd + logUniform(r.Float64(), 1e6, 100e6)
		c.segs = append(c.segs,
			tcpSeg{t: tf, flags: tcpFIN | tcpACK},
			tcpSeg{t: tf + 30e3, fromSrv: true, flags: tcpFIN | tcpACK},
			tcpSeg{t: tf + 30e3 + rtt, flags: tcpACK})
	case x < 92:
		tf := tEnd + logUniform(r.Float64(), 10e6, 500e6)
		c.segs = append(c.segs,
			tcpSeg{t: tf, fromSrv: true, flags: tcpFIN | tcpACK},
			tcpSeg{t: tf + rtt, flags: tcpFIN | tcpACK},
			tcpSeg{t: tf + rtt + 30e3, fromSrv: true, flags: tcpACK})
	default:
		c.segs = append(c.segs, tcpSeg{t: tEnd + logUniform(r.Float64(), 1e6, 50e6), flags: tcpRST | tcpACK})
	}

	slices.SortStableFunc(c.segs, func(a, b tcpSeg) int {
		switch {
		case a.t < b.t:
			return -1
		case a.t > b.t:
			return 1
		}
		return 0
	})
	// Sequence and acknowledgment numbers in capture order: each side
	// acknowledges what the other had sent by then.
	// A pure ACK that acknowledges nothing new is dropped: a real stack
	// would not send it, and Wireshark would flag it as a duplicate ACK.
	var cSent, sSent uint32 // SYN, data and FIN consumed so far
	var cAcked, sAcked uint32
	kept := c.segs[:0]
	for i := range c.segs {
		s := c.segs[i]
		if s.fromSrv {
			s.seq = c.sISN + sSent
			s.ack = c.cISN + cSent
		} else {
			s.seq = c.cISN + cSent
			s.ack = c.sISN + sSent
		}
		pure := s.flags == tcpACK && s.n == 0
		if s.fromSrv {
			if pure && s.ack == sAcked {
				continue
			}
			sAcked = s.ack
		} else {
			if pure && s.ack == cAcked {
				continue
			}
			cAcked = s.ack
		}
		kept = append(kept, s)
		adv := uint32(s.n)
		if s.flags&(tcpSYN|tcpFIN) != 0 {
			adv++
		}
		if s.fromSrv {
			sSent += adv
		} else {
			cSent += adv
		}
	}
	c.segs = kept
	g.countSplits(c.qStart, c.segs, false)
	g.countSplits(c.rStart, c.segs, true)
	c.left = len(c.segs)
	return rbuf
}

// write schedules the stream bytes [from, to) of one side as one
// application write at t: MSS-sized segments 12 µs apart, never earlier
// than that side's previous segment (so each side's bytes leave in stream
// order). The other side acknowledges it (the client one RTT later, the
// server after its delayed-ACK time, and not always). It returns the time
// of the last segment.
func (c *tcpConn) write(fromSrv bool, t int64, from, to int32, lastT, rtt int64) int64 {
	if t <= lastT {
		t = lastT + 1e3
	}
	for off := from; off < to; off += c.segMax {
		n := min(c.segMax, to-off)
		c.segs = append(c.segs, tcpSeg{t: t, fromSrv: fromSrv, flags: tcpPSH | tcpACK, off: off, n: n})
		t += 12e3
	}
	t -= 12e3
	if fromSrv {
		c.segs = append(c.segs, tcpSeg{t: t + rtt, flags: tcpACK})
	} else if (from+to)&1 == 0 {
		c.segs = append(c.segs, tcpSeg{t: t + 40e3, fromSrv: true, flags: tcpACK})
	}
	return t
}

// countSplits adds to the summary the messages of one stream that span
// more than one segment and the segments holding more than one message
// start. starts ends with the stream length; segs of one side are in
// stream order.
func (g *gen) countSplits(starts []int32, segs []tcpSeg, fromSrv bool) {
	m := 0 // index of the message holding the segment start
	lastSplit := -1
	for i := range segs {
		s := &segs[i]
		if s.fromSrv != fromSrv || s.n == 0 {
			continue
		}
		for m+1 < len(starts) && starts[m+1] <= s.off {
			m++
		}
		if starts[m] != s.off && m != lastSplit {
			g.sum.SplitMessages++ // the segment starts inside message m
			lastSplit = m
		}
		// Message starts inside the segment.
		cnt := 0
		for j := m; j < len(starts)-1 && starts[j] < s.off+s.n; j++ {
			if starts[j] >= s.off {
				cnt++
			}
		}
		if cnt >= 2 {
			g.sum.SharedSegments++
		}
	}
}

// writeSeg writes segment i of c and reports whether it was the last.
func (g *gen) writeSeg(c *tcpConn, i int) bool {
	s := &c.segs[i]
	cl, sv := &g.clients[c.client], &g.servers[c.server]
	src, dst := cl, sv
	sport, dport := c.port, uint16(53)
	payload := c.cs
	tsval, tsecr := c.cTS+uint32(s.t/1e6), c.sTS+uint32(s.t/1e6)
	if s.fromSrv {
		src, dst = sv, cl
		sport, dport = 53, c.port
		payload = c.ss
		tsval, tsecr = tsecr, tsval
	}
	if s.flags == tcpSYN {
		tsecr = 0
	}
	ack := s.ack
	if s.flags&tcpACK == 0 {
		ack = 0
	}
	g.buildTCP(src, dst, c.v6, sport, dport, s.seq, ack, s.flags, tsval, tsecr, payload[s.off:s.off+s.n])
	c.ipID++
	g.sendIP(s.t, src, dst, c.v6, protoTCP, uint32(c.ipID), false)
	c.left--
	return c.left == 0
}
