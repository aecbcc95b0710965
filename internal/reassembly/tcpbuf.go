package reassembly

// The TCP stream buffers: a pool per size class, bounded in all by
// MaxTCPBufferBytes, the least recently active connections evicted to stay
// under it.

import "github.com/dnstap-sensor/dnstap-sensor/internal/bounded"

// minTCPBufClass is the smallest pooled stream buffer: a typical DNS
// message and its prefix fit.
const minTCPBufClass = 512

// heldBytes is the capacity of the stream buffers in use.
func (r *tcpReassembler) heldBytes() int { return r.held }

// ensure makes d.buf hold at least need bytes, moving what it holds to a
// larger pooled buffer. need never exceeds maxStream.
func (r *tcpReassembler) ensure(d *tcpDir, need int32) {
	if int32(cap(d.buf)) >= need {
		return
	}
	c := 0
	for r.classes[c] < need {
		c++
	}
	if len(r.pool[c]) == 0 {
		r.makeRoom(int(r.classes[c]))
	}
	var b []byte
	if l := len(r.pool[c]); l > 0 {
		b = r.pool[c][l-1]
		r.pool[c][l-1] = nil
		r.pool[c] = r.pool[c][:l-1]
	} else {
		b = make([]byte, r.classes[c])
		r.allocated += len(b)
	}
	r.held += len(b)
	if d.buf != nil {
		copy(b, d.buf[:d.end()])
		r.putBuf(d)
	}
	d.buf = b
}

// makeRoom keeps allocated+size within maxBuf before a new buffer is made:
// first by letting pooled buffers go, largest first, then by evicting the
// least recently active connections (their buffers return to the pool and
// are let go in turn). The connection of the segment being handled (r.last)
// is never evicted; maxBuf is at least what it can hold.
func (r *tcpReassembler) makeRoom(size int) {
	for r.allocated+size > r.maxBuf {
		if r.dropPooled() {
			continue
		}
		o := r.flows.Oldest()
		if o == bounded.None || o == r.last {
			return
		}
		r.stats.TCP[TCPFlowsEvictedMemory].Inc()
		r.endFlow(o)
	}
}

// dropPooled lets one pooled buffer go (to the garbage collector), the
// largest first; false when the pool is empty.
func (r *tcpReassembler) dropPooled() bool {
	for c := len(r.pool) - 1; c >= 0; c-- {
		if l := len(r.pool[c]); l > 0 {
			r.allocated -= len(r.pool[c][l-1])
			r.pool[c][l-1] = nil
			r.pool[c] = r.pool[c][:l-1]
			return true
		}
	}
	return false
}

// allocatedBytes is the capacity of every stream buffer alive, in use or
// pooled; never above MaxTCPBufferBytes but for the current connection.
func (r *tcpReassembler) allocatedBytes() int { return r.allocated }

// putBuf returns d's buffer to the pool.
func (r *tcpReassembler) putBuf(d *tcpDir) {
	if d.buf == nil {
		return
	}
	b := d.buf[:cap(d.buf)]
	d.buf = nil
	r.held -= len(b)
	for c := range r.classes {
		if int(r.classes[c]) == len(b) {
			r.pool[c] = append(r.pool[c], b)
			return
		}
	}
}
