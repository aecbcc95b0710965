package reassembly

// The TCP stream logic of one direction of a connection: placing segment
// data by sequence number, out-of-order pieces and holes, finding message
// boundaries (RFC 1035 §4.2.2 length prefixes) and delivering whole
// messages.

import "net/netip"

// tcpRange is a piece of out-of-order data held at buffer positions [s, e),
// with the capture time of the latest segment in it.
type tcpRange struct {
	s, e int32
	ts   int64
}

// Direction states.
const (
	dirNone    uint8 = iota // nothing seen: the first segment sets the sequence
	dirSynced               // buf[0] (or the next byte) starts a message, or d.skip bytes from it do
	dirHunting              // the boundary is unknown: search for a plausible length prefix
)

// tcpDir is one direction of a connection. Stream bytes are addressed by
// buffer position: buf[0:n] is contiguous data not yet consumed (a partial
// message, or data being searched for a boundary); the byte at position p
// has sequence number next+(p-n). Out-of-order pieces lie beyond n, sorted.
type tcpDir struct {
	// nr comes first: a segment without data reads it in both directions,
	// and in this order both fall in the flow's first two cache lines.
	nr        int32
	state     uint8
	synSeen   bool
	fin       bool
	n         int32
	skip      int32                   // bytes still to drop before the next boundary (a message too long to hold, or cut by a gap)
	next      uint32                  // sequence number of position n
	isn       uint32                  // SYN's sequence number, when synSeen
	holeSince int64                   // capture time the first out-of-order piece arrived
	buf       []byte                  // pooled, nil when nothing is held
	r         *[maxTCPRanges]tcpRange // the flow slot's entry in tcpReassembler.ranges; r[:nr] are in use
}

// seqAt is the sequence number of buffer position p.
func (d *tcpDir) seqAt(p int32) uint32 { return d.next + uint32(p-d.n) }

// data places one segment's payload, starting at sequence number seq, in
// direction d and delivers every message it completes.
func (r *tcpReassembler) data(d *tcpDir, seq uint32, p []byte, ts int64, src, dst netip.AddrPort) {
	if d.state == dirNone {
		// Picked up mid-stream: nothing says this segment starts a message.
		d.state = dirHunting
		d.next = seq
	}
	off := int64(int32(seq - d.next)) // RFC 9293 §3.4 serial arithmetic: wraps at 2^32
	if off < 0 {
		r.stats.TCP[TCPRetransmissions].Inc()
		k := min(-off, int64(len(p)))
		// Compare what is still held (the current partial message); what
		// was already delivered or dropped is gone.
		if j := -(int64(d.n) + off); j < k {
			j = max(j, 0)
			pos := int64(d.n) + off + j
			if string(d.buf[pos:pos+k-j]) != string(p[j:k]) {
				r.stats.TCP[TCPConflicts].Inc()
			}
		}
		p = p[k:]
		off = 0
		if len(p) == 0 {
			return
		}
	}
	for off > 0 {
		end := int64(d.n) + off + int64(len(p))
		if end-int64(d.n) <= int64(r.maxOOO) && end <= int64(r.maxStream) {
			r.outOfOrder(d, d.n+int32(off), p, ts)
			return
		}
		// Past the out-of-order bound: give up on the first hole.
		if d.nr > 0 {
			r.skipGap(d, int64(d.r[0].s), src, dst)
		} else {
			r.skipGap(d, int64(d.n)+off, src, dst)
		}
		off = int64(int32(seq - d.next))
		if off < 0 {
			// The skip moved past part of this segment (it overlapped the
			// piece now in use): that part is already held.
			k := min(-off, int64(len(p)))
			p = p[k:]
			off = 0
			if len(p) == 0 {
				return
			}
		}
	}

	// In order. Finish a pending partial message with just the bytes it
	// needs, so that what follows can be delivered from the segment.
	for len(p) > 0 && d.n > 0 && d.nr == 0 && d.state == dirSynced {
		want := int32(2)
		if d.n >= 2 {
			want = int32(d.buf[0])<<8 | int32(d.buf[1]) + 2
		}
		c := min(want-d.n, int32(len(p)))
		r.ensure(d, d.n+c)
		copy(d.buf[d.n:], p[:c])
		d.n += c
		d.next += uint32(c)
		p = p[c:]
		if d.n >= 2 {
			r.drain(d, ts, src, dst)
		}
	}
	if len(p) == 0 {
		return
	}
	if d.n == 0 && d.nr == 0 && d.state == dirSynced {
		used := r.consume(d, p, ts, src, dst)
		d.next += uint32(used)
		p = p[used:]
		if len(p) == 0 {
			return
		}
	}
	// The rest goes through the buffer: a partial message, data being
	// searched for a boundary, or data filling a hole.
	for len(p) > 0 {
		c := min(int32(len(p)), r.maxStream-d.n)
		if c <= 0 {
			// Cannot happen: drain leaves less than maxHold.
			r.stats.TCP[TCPBytesDiscarded].Add(uint64(d.n))
			r.compact(d, d.n)
			continue
		}
		r.write(d, d.n, p[:c], ts)
		p = p[c:]
		r.drain(d, ts, src, dst)
	}
}

// outOfOrder holds p at buffer position pos, beyond a hole.
func (r *tcpReassembler) outOfOrder(d *tcpDir, pos int32, p []byte, ts int64) {
	end := pos + int32(len(p))
	// Find the pieces p touches; a new separate piece needs a free slot.
	touch := false
	for k := int32(0); k < d.nr; k++ {
		if d.r[k].s <= end && d.r[k].e >= pos {
			touch = true
			break
		}
	}
	if !touch && d.nr == maxTCPRanges {
		r.stats.TCP[TCPOutOfOrderDropped].Inc()
		return
	}
	if d.nr == 0 {
		d.holeSince = ts
	}
	r.write(d, pos, p, ts)
}

// write copies p to buffer position pos (at or beyond n), keeping bytes
// already held (first copy wins), and records the range. Data at n extends
// the contiguous part, swallowing the pieces it reaches.
func (r *tcpReassembler) write(d *tcpDir, pos int32, p []byte, ts int64) {
	end := pos + int32(len(p))
	r.ensure(d, end)
	cur := pos
	dup, conflict := false, false
	for k := int32(0); k < d.nr && cur < end; k++ {
		g := d.r[k]
		if g.e <= cur {
			continue
		}
		if g.s >= end {
			break
		}
		if g.s > cur {
			copy(d.buf[cur:g.s], p[cur-pos:])
			cur = g.s
		}
		hi := min(g.e, end)
		dup = true
		if string(d.buf[cur:hi]) != string(p[cur-pos:hi-pos]) {
			conflict = true
		}
		cur = hi
	}
	if cur < end {
		copy(d.buf[cur:end], p[cur-pos:])
	}
	if dup {
		r.stats.TCP[TCPRetransmissions].Inc()
		if conflict {
			r.stats.TCP[TCPConflicts].Inc()
		}
	}

	if pos == d.n {
		n := end
		k := int32(0)
		for k < d.nr && d.r[k].s <= n {
			n = max(n, d.r[k].e)
			k++
		}
		d.dropRanges(k)
		d.next += uint32(n - d.n)
		d.n = n
		return
	}
	// Insert [pos, end) and merge whatever it touches.
	k := int32(0)
	for k < d.nr && d.r[k].e < pos {
		k++
	}
	j := k
	nr := tcpRange{s: pos, e: end, ts: ts}
	for j < d.nr && d.r[j].s <= end {
		nr.s = min(nr.s, d.r[j].s)
		nr.e = max(nr.e, d.r[j].e)
		nr.ts = max(nr.ts, d.r[j].ts)
		j++
	}
	// Replace d.r[k:j] by nr.
	if j == k {
		copy(d.r[k+1:d.nr+1], d.r[k:d.nr])
		d.nr++
	} else if j > k+1 {
		copy(d.r[k+1:], d.r[j:d.nr])
		d.nr -= j - k - 1
	}
	d.r[k] = nr
}

// dropRanges removes the first k out-of-order pieces.
func (d *tcpDir) dropRanges(k int32) {
	if k == 0 {
		return
	}
	copy(d.r[:], d.r[k:d.nr])
	d.nr -= k
}

// skipGap gives up on the hole at [n, resume): the bytes in it were never
// captured. The stream stays in step when the hole ends inside the message
// it interrupted (its length prefix says where the next one starts);
// otherwise the next boundary is searched for. Data held after the hole is
// then delivered.
func (r *tcpReassembler) skipGap(d *tcpDir, resume int64, src, dst netip.AddrPort) {
	hole := resume - int64(d.n)
	r.stats.TCP[TCPGapsSkipped].Inc()
	if hole > 0 {
		// Never negative in a real stream; two connections forced onto one
		// 4-tuple at once made it so, and it must not count as 16 EiB.
		r.stats.TCP[TCPGapBytes].Add(uint64(hole))
	}
	if d.state == dirSynced {
		var msgEnd int64 = -1 // position of the next boundary, if known
		switch {
		case d.skip > 0:
			msgEnd = int64(d.skip) // n is 0 while skipping
			d.skip = 0
		case d.n >= 2:
			msgEnd = int64(d.buf[0])<<8 | int64(d.buf[1]) + 2
		}
		if d.n > 0 {
			r.stats.TCP[TCPPartialMessages].Inc()
		}
		if msgEnd >= resume {
			d.skip = int32(msgEnd - resume)
		} else {
			d.state = dirHunting
		}
	}
	r.stats.TCP[TCPBytesDiscarded].Add(uint64(d.n))
	ts := int64(0)
	if d.nr > 0 && int64(d.r[0].s) == resume {
		// The first piece becomes the contiguous part.
		g := d.r[0]
		ts = g.ts
		d.next = d.seqAt(g.e)
		copy(d.buf, d.buf[g.s:d.end()])
		d.dropRanges(1)
		for k := int32(0); k < d.nr; k++ {
			d.r[k].s -= g.s
			d.r[k].e -= g.s
		}
		d.n = g.e - g.s
	} else {
		d.next += uint32(resume - int64(d.n))
		d.n = 0
		d.nr = 0
	}
	if d.nr > 0 {
		d.holeSince = d.r[0].ts
	}
	if d.n == 0 && d.nr == 0 {
		r.putBuf(d)
		return
	}
	r.drain(d, ts, src, dst)
}

// end is the buffer position after the last byte held.
func (d *tcpDir) end() int32 {
	if d.nr > 0 {
		return d.r[d.nr-1].e
	}
	return d.n
}

// drain delivers the whole messages at the front of the buffer, searching
// for a boundary first when the stream is not in step, and keeps the rest.
func (r *tcpReassembler) drain(d *tcpDir, ts int64, src, dst netip.AddrPort) {
	for d.n > 0 {
		if d.state == dirHunting {
			i, found := r.hunt(d.buf[:d.n])
			if i > 0 {
				r.stats.TCP[TCPBytesDiscarded].Add(uint64(i))
				r.compact(d, i)
			}
			if !found {
				return
			}
			r.stats.TCP[TCPResyncs].Inc()
			d.state = dirSynced
		}
		used := r.consume(d, d.buf[:d.n], ts, src, dst)
		r.compact(d, used)
		if d.state == dirSynced {
			return
		}
	}
}

// compact drops the first k bytes of the buffer.
func (r *tcpReassembler) compact(d *tcpDir, k int32) {
	if k == 0 {
		return
	}
	e := d.end()
	copy(d.buf, d.buf[k:e])
	d.n -= k
	for j := int32(0); j < d.nr; j++ {
		d.r[j].s -= k
		d.r[j].e -= k
	}
	if d.n == 0 && d.nr == 0 {
		r.putBuf(d)
	}
}

// consume delivers the whole framed messages at the start of b, which is at
// a boundary (after d.skip bytes), and returns how many bytes it used; the
// rest is a partial message, or the stream fell out of step (d.state).
func (r *tcpReassembler) consume(d *tcpDir, b []byte, ts int64, src, dst netip.AddrPort) int32 {
	i := int32(0)
	n := int32(len(b))
	for {
		if d.skip > 0 {
			k := min(d.skip, n-i)
			r.stats.TCP[TCPBytesDiscarded].Add(uint64(k))
			d.skip -= k
			i += k
			if d.skip > 0 {
				return i
			}
		}
		if n-i < 2 {
			return i
		}
		l := int32(b[i])<<8 | int32(b[i+1])
		if l < dnsHeaderLen {
			r.stats.TCP[TCPBadLength].Inc()
			d.state = dirHunting
			return i
		}
		if n-i-2 >= l {
			r.stats.TCP[TCPMessages].Inc()
			r.deliver(src, dst, b[i+2:i+2+l:i+2+l], ts)
			i += 2 + l
			continue
		}
		if l+2 > r.maxHold {
			r.stats.TCP[TCPTooLong].Inc()
			r.stats.TCP[TCPPartialMessages].Inc()
			d.skip = l + 2
			continue
		}
		return i
	}
}

// hunt searches b for a message boundary: a length prefix followed by a
// plausible DNS message (and, when present, by another sane prefix). It
// returns the boundary and true, or how many leading bytes can be dropped
// because no boundary can start there, and false while it waits for more.
func (r *tcpReassembler) hunt(b []byte) (int32, bool) {
	n := int32(len(b))
	for i := int32(0); i+2 <= n; i++ {
		l := int32(b[i])<<8 | int32(b[i+1])
		if l < dnsHeaderLen {
			continue
		}
		avail := n - i - 2
		if avail < dnsHeaderLen {
			return i, false
		}
		if !plausibleHeader(b[i+2:i+2+dnsHeaderLen], l) {
			continue
		}
		if l+2 > r.maxHold {
			return i, true // cannot hold it to check more: consume skips it
		}
		if avail < l {
			return i, false // keep it until it is whole
		}
		if !plausibleDNS(b[i+2 : i+2+l]) {
			continue
		}
		if rest := avail - l; rest >= 2 {
			j := i + 2 + l
			l2 := int32(b[j])<<8 | int32(b[j+1])
			if l2 < dnsHeaderLen || rest-2 >= dnsHeaderLen && !plausibleHeader(b[j+2:j+2+dnsHeaderLen], l2) {
				continue
			}
		}
		return i, true
	}
	return max(n-1, 0), false
}

// plausibleHeader is a cheap first test of a DNS header h for a message of
// l bytes, before the whole message is there for plausibleDNS: the same
// wire facts (RFC 1035 §4.1.1: Z is zero, an assigned opcode and RCODE,
// one question at most in practice, counts that fit in the length).
func plausibleHeader(h []byte, l int32) bool {
	flags := int32(h[2])<<8 | int32(h[3])
	qd := int32(h[4])<<8 | int32(h[5])
	rrs := int32(h[6])<<8 | int32(h[7]) + int32(h[8])<<8 | int32(h[9]) + int32(h[10])<<8 | int32(h[11])
	if flags&dnsFlagZ != 0 || qd > 1 || flags&0xf > 11 {
		return false
	}
	switch (flags >> 11) & 0xf {
	case 0, 2, 4, 5, 6:
	default:
		return false
	}
	return qd*dnsMinQuestionLen+rrs*dnsMinRRLen <= l-dnsHeaderLen
}

// finish ends direction d of a flow that is going away: holes are skipped
// so that whole messages after them are still delivered, and what remains
// is a partial message.
func (r *tcpReassembler) finish(d *tcpDir, src, dst netip.AddrPort) {
	for d.nr > 0 {
		r.skipGap(d, int64(d.r[0].s), src, dst)
	}
	if d.n > 0 {
		if d.state == dirSynced {
			r.stats.TCP[TCPPartialMessages].Inc()
		}
		r.stats.TCP[TCPBytesDiscarded].Add(uint64(d.n))
	}
	r.putBuf(d)
	*d = tcpDir{r: d.r}
}
