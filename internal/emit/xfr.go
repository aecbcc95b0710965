package emit

import "net/netip"

// A zone transfer answer is one or more DNS messages on one TCP connection,
// all with the query's ID; only the first need repeat the question
// (RFC 5936 §2.2, RFC 1995 §2 for IXFR). The pending-query table pairs the
// first and forgets the query, so without this table every later message
// of a transfer (25 of the 26 of a 2007-RR AXFR in 4 KB messages,
// testdata/pcaps/lab_realworld_xfr.pcap) would go out without query_time
// and count as a response without query.

// maxXFR is how many transfers in progress the table follows at once. A
// server answers few transfers at a time (BIND's transfers-out defaults
// to 10), so 64 leaves room for several monitored servers.
const maxXFR = 64

// DNS QTYPEs of the transfers (RFC 1995 §2, RFC 5936 §2).
const (
	qtypeIXFR = 251
	qtypeAXFR = 252
)

type xfrEntry struct {
	init, resp netip.AddrPort
	id         uint16
	used       bool
	queryTime  int64
	lastSeen   int64 // capture time of the last message of the answer
}

// xfrTable is the transfers whose first answer message was paired. It is
// bounded (maxXFR, the least recently active entry evicted and counted),
// and an entry idle for longer than the pair timeout (capture time) is
// free again.
type xfrTable struct {
	e       [maxXFR]xfrEntry
	timeout int64
}

// isXFR reports whether the wire question q (QNAME, QTYPE, QCLASS) asks
// for AXFR or IXFR.
func isXFR(q []byte) bool {
	if len(q) < 5 {
		return false
	}
	t := uint16(q[len(q)-4])<<8 | uint16(q[len(q)-3])
	return t == qtypeAXFR || t == qtypeIXFR
}

// add remembers a transfer whose first answer message was just paired.
func (x *xfrTable) add(init, resp netip.AddrPort, id uint16, queryTime, now int64, st *counts) {
	victim := 0
	for i := range x.e {
		e := &x.e[i]
		if !e.used || now-e.lastSeen > x.timeout {
			victim = i
			break
		}
		if e.lastSeen < x.e[victim].lastSeen {
			victim = i
		}
	}
	if e := &x.e[victim]; e.used && now-e.lastSeen <= x.timeout {
		st[cntXFREvicted]++
	}
	x.e[victim] = xfrEntry{init: init, resp: resp, id: id, used: true, queryTime: queryTime, lastSeen: now}
}

// find returns the query time of the transfer a later answer message
// belongs to.
func (x *xfrTable) find(init, resp netip.AddrPort, id uint16, now int64) (int64, bool) {
	for i := range x.e {
		e := &x.e[i]
		if e.used && e.id == id && e.init == init && e.resp == resp && now-e.lastSeen <= x.timeout {
			e.lastSeen = now
			return e.queryTime, true
		}
	}
	return 0, false
}
