package synth

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"time"
)

// Kind selects the traffic a capture holds.
type Kind uint8

// Kinds of capture.
const (
	// KindUDP is DNS over UDP: interleaved transactions, out-of-order
	// responses, unanswered queries, NXDOMAIN, answers that fit the
	// client's EDNS buffer (TC=1 when they do not).
	KindUDP Kind = iota
	// KindTCP is DNS over TCP: handshakes, pipelined length-prefixed
	// queries, responses out of order, messages split across segments,
	// segments carrying two messages, multi-segment answers, FIN or RST.
	KindTCP
	// KindFrag is DNS over UDP in which most answers are large EDNS answers
	// that are IP-fragmented (IPv4 and IPv6 fragment header), some sent
	// last fragment first.
	KindFrag
	// KindSYNFlood is one SYN per packet toward port 53 of a server, every
	// one from a distinct source address and port. No DNS messages.
	KindSYNFlood
	// KindFragFlood is fragment sets toward port 53 that never complete:
	// the last fragment never arrives. No DNS messages.
	KindFragFlood
	// KindQueryFlood is UDP queries from one client address to one
	// server, random source ports and IDs, the same question, none
	// answered: the baseline for KindCollideFlood. IPv4 only.
	KindQueryFlood
	// KindCollideFlood is KindQueryFlood with (source port, ID) pairs
	// chosen offline to share a few probe runs of the old, unseeded
	// pending-query hash (UnseededPairHash, PairCollisions). IPv4 only.
	KindCollideFlood
	numKinds
)

var kindNames = [numKinds]string{"udp", "tcp", "frag", "synflood", "fragflood", "queryflood", "collideflood"}

// String returns the name ParseKind accepts.
func (k Kind) String() string {
	if k < numKinds {
		return kindNames[k]
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// ParseKind returns the Kind named s ("udp", "tcp", "frag", "synflood",
// "fragflood", "queryflood", "collideflood").
func ParseKind(s string) (Kind, error) {
	for i, n := range kindNames {
		if n == s {
			return Kind(i), nil
		}
	}
	return 0, fmt.Errorf("synth: unknown kind %q (want udp, tcp, frag, synflood, fragflood, queryflood or collideflood)", s)
}

// Options says what to generate. The zero value of every field takes the
// default given in its comment.
type Options struct {
	Kind    Kind
	Packets int    // packets to write, default 1,000,000 (UDP, frag and floods hit it exactly; TCP may exceed it by one connection)
	Seed    uint64 // PRNG seed, default 1
	// IPv6Percent is the share of transactions (or flood packets) on IPv6,
	// default 10. Set NoIPv6 for none.
	IPv6Percent int
	NoIPv6      bool
	Clients     int       // distinct clients, default 5000
	Servers     int       // distinct servers (each with an IPv4 and an IPv6 address), default 3, at most 16
	Rate        int       // new transactions (TCP: connections; floods: packets) per second, default 50,000 (TCP 5,000; floods 500,000)
	Start       time.Time // capture time of the first packet, default 2026-01-01T00:00:00Z
	// Nanosecond writes the nanosecond pcap variant (magic 0xa1b23c4d)
	// instead of microseconds.
	Nanosecond bool
	// Names is the size of the pool of popular names, drawn Zipf-like,
	// default 20,000.
	Names int
}

// Summary counts what Generate wrote, so tests and benchmarks can assert
// exact numbers.
type Summary struct {
	Packets   int   // pcap records
	Bytes     int64 // bytes written, pcap headers included
	Queries   int   // DNS queries (QR=0) written
	Responses int   // DNS responses (QR=1) written
	// Unanswered counts queries whose response is not in the capture.
	Unanswered int
	NXDomain   int // responses with RCODE 3
	Truncated  int // UDP responses with TC=1
	IPv6       int // packets on IPv6
	// TCPConns counts TCP connections (KindTCP) or SYNs (KindSYNFlood).
	TCPConns int
	// Fragments counts IP fragment packets; FragmentedMessages the DNS
	// messages they carry (for KindFragFlood: fragment sets never
	// completed).
	Fragments          int
	FragmentedMessages int
	// SplitMessages counts TCP messages that span more than one segment;
	// SharedSegments counts TCP segments carrying more than one message
	// start.
	SplitMessages  int
	SharedSegments int
	First, Last    time.Time // capture times of the first and last packets
}

// Messages returns the number of DNS messages written.
func (s Summary) Messages() int { return s.Queries + s.Responses }

// ErrBadOptions is returned for options that cannot be generated.
var ErrBadOptions = errors.New("synth: bad options")

func (o *Options) fill() error {
	if o.Kind >= numKinds {
		return fmt.Errorf("%w: kind %d", ErrBadOptions, o.Kind)
	}
	if o.Packets == 0 {
		o.Packets = 1_000_000
	}
	if o.Packets < 0 {
		return fmt.Errorf("%w: packets %d", ErrBadOptions, o.Packets)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	if o.NoIPv6 {
		o.IPv6Percent = 0
	} else if o.IPv6Percent == 0 {
		o.IPv6Percent = 10
	}
	if o.IPv6Percent < 0 || o.IPv6Percent > 100 {
		return fmt.Errorf("%w: IPv6 percent %d", ErrBadOptions, o.IPv6Percent)
	}
	if o.Clients == 0 {
		o.Clients = 5000
	}
	if o.Clients < 1 || o.Clients > 1<<20 {
		return fmt.Errorf("%w: clients %d", ErrBadOptions, o.Clients)
	}
	if o.Servers == 0 {
		o.Servers = 3
	}
	if o.Servers < 1 || o.Servers > 16 {
		return fmt.Errorf("%w: servers %d", ErrBadOptions, o.Servers)
	}
	if o.Rate == 0 {
		switch o.Kind {
		case KindTCP:
			o.Rate = 5_000
		case KindSYNFlood, KindFragFlood, KindQueryFlood, KindCollideFlood:
			o.Rate = 500_000
		default:
			o.Rate = 50_000
		}
	}
	if o.Rate < 1 {
		return fmt.Errorf("%w: rate %d", ErrBadOptions, o.Rate)
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.Names == 0 {
		o.Names = 20_000
	}
	if o.Names < 10 {
		return fmt.Errorf("%w: names %d", ErrBadOptions, o.Names)
	}
	return nil
}

// Generate writes a pcap capture (Ethernet link type) of the traffic opts
// describes to w and returns what it wrote. The same opts always yield the
// same bytes.
func Generate(w io.Writer, opts Options) (Summary, error) {
	if err := opts.fill(); err != nil {
		return Summary{}, err
	}
	g := newGen(w, &opts)
	if err := g.pw.writeHeader(); err != nil {
		return Summary{}, fmt.Errorf("synth: write pcap header: %w", err)
	}
	switch opts.Kind {
	case KindUDP, KindFrag:
		g.runUDP()
	case KindTCP:
		g.runTCP()
	case KindSYNFlood:
		g.runSYNFlood()
	case KindFragFlood:
		g.runFragFlood()
	case KindQueryFlood, KindCollideFlood:
		g.runQueryFlood()
	}
	if err := g.pw.flush(); err != nil {
		return g.sum, fmt.Errorf("synth: write capture: %w", err)
	}
	g.sum.Bytes = g.pw.bytes
	if g.sum.Packets > 0 {
		g.sum.First = opts.Start.Add(time.Duration(g.pw.first))
		g.sum.Last = opts.Start.Add(time.Duration(g.pw.last))
	}
	return g.sum, nil
}

// gen holds all generation state; one per Generate call.
type gen struct {
	o   *Options
	r   *rand.Rand
	pw  pcapWriter
	sum Summary

	names   *namePool
	clients []host
	servers []host

	pkt   [maxFrame]byte // the frame being built
	l4    []byte         // transport header and payload of the datagram being built
	ip4ID [16]uint16     // per-server IPv4 identification counters
}

func newGen(w io.Writer, o *Options) *gen {
	r := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	g := &gen{
		o:  o,
		r:  r,
		pw: pcapWriter{w: bufio.NewWriterSize(w, 1<<20), nano: o.Nanosecond, start: o.Start},
		l4: make([]byte, 0, 1<<17),
	}
	g.names = newNamePool(r, o.Names)
	g.clients = make([]host, o.Clients)
	for i := range g.clients {
		g.clients[i] = clientHost(i)
	}
	g.servers = make([]host, o.Servers)
	for i := range g.servers {
		g.servers[i] = serverHost(i)
		g.ip4ID[i] = uint16(r.Uint32())
	}
	return g
}

// v6 decides whether the next transaction runs over IPv6.
func (g *gen) v6() bool { return g.r.IntN(100) < g.o.IPv6Percent }

// ephemeralPort returns a client port from the Linux default range.
func (g *gen) ephemeralPort() uint16 { return uint16(32768 + g.r.IntN(60999-32768+1)) }
