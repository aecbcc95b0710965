package emit

import (
	"encoding/binary"
	"net/netip"
	"unsafe"

	"github.com/dnstap-sensor/dnstap-sensor/internal/bounded"
)

// questionPrefix is how many bytes of the first question a pending query
// keeps. Together with the question's length and a 64-bit hash of all of it,
// that tells questions apart exactly in practice, at a fixed 48 bytes per
// slot instead of 260 (a 255-byte name plus type and class). The bytes are
// compared as they are: DNS 0x20 mixed case is echoed by the server, so the
// case must match.
const questionPrefix = 48

// pairKey identifies a transaction: both ends, the transport, the DNS ID and
// the first question. It holds no pointers and no padding, so that the
// table hashes its memory: addresses are in their 16-byte form, with their
// families in meta (an IPv4 address and its IPv4-mapped IPv6 form stay
// apart). Zones are not kept; addresses decoded from frames have none.
type pairKey struct {
	ih, il, rh, rl uint64 // initiator and responder addresses
	ports          uint64 // initiator port<<48 | responder port<<32 | DNS ID<<16
	meta           uint64 // question length<<16 | transport<<8 | responder family<<4 | initiator family
	qhash          uint64 // seeded hash of the whole question
	qpre           [questionPrefix]byte
}

// addrWords returns a in its 16-byte form as two words, and its family: 0
// for the zero Addr, 1 for IPv4, 2 for IPv6.
func addrWords(a netip.Addr) (hi, lo, family uint64) {
	v := a.As16()
	hi, lo = binary.BigEndian.Uint64(v[:8]), binary.BigEndian.Uint64(v[8:])
	switch {
	case a.Is4():
		return hi, lo, 1
	case a.Is6():
		return hi, lo, 2
	}
	return hi, lo, 0
}

// pairTable holds queries waiting for their response, oldest first: a
// bounded.Table, so its size limit, its seeded hash and its probing are
// those of every other table keyed by traffic. Nothing allocates after
// init.
type pairTable struct {
	t bounded.Table[pairKey, struct{}]
}

func (t *pairTable) init(max int, timeout int64) {
	t.t.Init(max, timeout)
	// qhash, a seeded hash of the whole question, stands for qpre in the
	// index hash: hashing 56 bytes instead of 104 per lookup.
	t.t.HashPrefix(unsafe.Offsetof(pairKey{}.qpre))
}

// makeKey sets k to the key of a message. The question is hashed with the
// table's seed: a fixed hash would let chosen questions that differ after
// the prefix compare equal.
func (t *pairTable) makeKey(k *pairKey, init, resp netip.AddrPort, transport uint8, id uint16, q []byte) {
	var fi, fr uint64
	k.ih, k.il, fi = addrWords(init.Addr())
	k.rh, k.rl, fr = addrWords(resp.Addr())
	k.ports = uint64(init.Port())<<48 | uint64(resp.Port())<<32 | uint64(id)<<16
	k.meta = uint64(uint16(len(q)))<<16 | uint64(transport)<<8 | fr<<4 | fi
	k.qhash = t.t.HashBytes(q)
	k.qpre = [questionPrefix]byte{}
	copy(k.qpre[:], q)
}

// len is the number of queries pending.
func (t *pairTable) len() int { return t.t.Len() }

// insert adds a query at time now. A full table evicts its oldest query
// first. An equal key already pending (a retransmission or a reused ID) is
// counted and takes the newer time.
func (t *pairTable) insert(k *pairKey, now int64, c *counts) {
	h := t.t.Hash(k)
	if e := t.t.Find(k, h); e != bounded.None {
		c[cntDuplicateQuery]++
		t.t.At(e).Time = now
		t.t.Touch(e)
		return
	}
	if t.t.Full() {
		t.t.Remove(t.t.Oldest())
		c[cntUnansweredEvicted]++
	}
	t.t.Insert(k, h, now)
}

// take removes the query matching k and returns its time.
func (t *pairTable) take(k *pairKey) (int64, bool) {
	i := t.t.Find(k, t.t.Hash(k))
	if i == bounded.None {
		return 0, false
	}
	qt := t.t.At(i).Time
	t.t.Remove(i)
	return qt, true
}

// expire counts and drops queries older than the timeout at capture time
// now.
func (t *pairTable) expire(now int64, c *counts) {
	for i := t.t.Expired(now); i != bounded.None; i = t.t.Expired(now) {
		t.t.Remove(i)
		c[cntUnansweredExpired]++
	}
}

func (t *pairTable) flush(c *counts) {
	for i := t.t.Oldest(); i != bounded.None; i = t.t.Oldest() {
		t.t.Remove(i)
		c[cntUnansweredFlush]++
	}
}
