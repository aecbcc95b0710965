package reassembly

import (
	"math"
	"net/netip"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// DecodeCounter indexes Stats.Decode.
type DecodeCounter int

// Decode counters. Every frame that does not end as a DNS message is counted
// under exactly one of them (fragments held for reassembly, TCP segments
// handed to the stream reassembler and copies removed by the dedup stage are
// counted by Stats.Frag, Stats.TCP and Stats.Dedup).
const (
	DecodeFrames            DecodeCounter = iota // frames handed in
	DecodeMessagesUDP                            // DNS messages over UDP handed to the Sink
	DecodeMessagesTCP                            // DNS messages over TCP handed to the Sink
	DecodeNotDNS                                 // port 53 payload whose header no DNS speaker sends (parseDNS false)
	DecodeDNSMalformed                           // DNS messages emitted whose body does not parse (Header.Malformed); also counted as messages
	DecodeUnknownLinkType                        // link type the decoder does not know
	DecodeTruncated                              // a header or payload runs past the captured bytes of a snaplen-cut frame
	DecodeLinkBadHeader                          // link header too short or inconsistent in a whole frame
	DecodeNotIP                                  // link or tunnel payload is neither IPv4 nor IPv6 (ARP, LLDP, 802.3 LLC …)
	DecodeVLANDepth                              // more stacked 802.1Q/802.1ad tags than maxVLANTags
	DecodeMPLSDepth                              // more MPLS labels than maxMPLSLabels
	DecodeIPBadHeader                            // IPv4 IHL < 5, bad version, IPv6 extension header running past its packet, …
	DecodeIPBadLength                            // IP length larger than the bytes present in a whole (not snaplen-cut) frame
	DecodeIPv6Jumbo                              // IPv6 payload length 0 (jumbogram, RFC 2675, or a TSO capture): not decoded
	DecodeIPv6ExtLimit                           // more IPv6 extension headers than maxIPv6ExtHeaders
	DecodeESP                                    // IPsec ESP: encrypted, nothing to decode
	DecodeNotUDPTCP                              // other transport protocols (ICMP, SCTP, IPv6 no-next-header …)
	DecodeNonDNSPort                             // UDP or TCP with neither port 53 (and not a tunnel port)
	DecodeUDPBadHeader                           // UDP length below 8 or above the IP payload of a whole frame
	DecodeTCPBadHeader                           // TCP data offset below 5 or past the segment
	DecodeTunnelDepth                            // encapsulations nested deeper than maxEncapDepth
	DecodeTunnelBadHeader                        // GRE/ERSPAN/VXLAN/GENEVE/GTP-U header malformed or too short
	DecodeTunnelUnsupported                      // GRE routing, ERSPAN frame types other than Ethernet/IP, unknown GRE/GENEVE protocol
	DecodeFragNested                             // a fragment inside a reassembled datagram (copied aside and reassembled; counted because it is rare and suspicious)
	DecodeWiFiProtected                          // 802.11 data frame with the Protected bit: encrypted, nothing to decode
	DecodeWiFiUnsupported                        // 802.11 MSDU fragment or A-MSDU: not reassembled
	numDecodeCounters
)

var decodeCounterNames = [numDecodeCounters]string{
	DecodeFrames:            "frames",
	DecodeMessagesUDP:       "messages_udp",
	DecodeMessagesTCP:       "messages_tcp",
	DecodeNotDNS:            "not_dns",
	DecodeDNSMalformed:      "dns_malformed",
	DecodeUnknownLinkType:   "unknown_link_type",
	DecodeTruncated:         "truncated",
	DecodeLinkBadHeader:     "link_bad_header",
	DecodeNotIP:             "not_ip",
	DecodeVLANDepth:         "vlan_depth",
	DecodeMPLSDepth:         "mpls_depth",
	DecodeIPBadHeader:       "ip_bad_header",
	DecodeIPBadLength:       "ip_bad_length",
	DecodeIPv6Jumbo:         "ipv6_jumbo",
	DecodeIPv6ExtLimit:      "ipv6_ext_limit",
	DecodeESP:               "esp",
	DecodeNotUDPTCP:         "not_udp_tcp",
	DecodeNonDNSPort:        "non_dns_port",
	DecodeUDPBadHeader:      "udp_bad_header",
	DecodeTCPBadHeader:      "tcp_bad_header",
	DecodeTunnelDepth:       "tunnel_depth",
	DecodeTunnelBadHeader:   "tunnel_bad_header",
	DecodeTunnelUnsupported: "tunnel_unsupported",
	DecodeFragNested:        "frag_nested",
	DecodeWiFiProtected:     "wifi_protected",
	DecodeWiFiUnsupported:   "wifi_unsupported",
}

// Decoding bounds. Each bounds the work one frame can cause; what exceeds it
// is counted and dropped.
const (
	// maxEncapDepth bounds nested encapsulations (IP-in-IP, GRE, ERSPAN,
	// VXLAN, GENEVE). Real deployments nest two or three (zeek's
	// vxlan-triple capture has three); a GRE "recursion bomb" nests as
	// deep as the MTU allows.
	maxEncapDepth = 8
	// maxVLANTags bounds stacked 802.1Q/802.1ad tags in one Ethernet
	// header. QinQ is two; some carriers stack three.
	maxVLANTags = 8
	// maxMPLSLabels bounds an MPLS label stack; RFC 3032 sets no limit,
	// deployed stacks rarely exceed five.
	maxMPLSLabels = 16
	// maxIPv6ExtHeaders bounds the extension headers walked in one IPv6
	// packet. RFC 8200 §4.1 allows each type once (destination options
	// twice), eight in all; hostile packets chain hundreds.
	maxIPv6ExtHeaders = 16
	// expireInterval is how often, in capture time, the fragment and flow
	// tables are aged.
	expireInterval = int64(1e9)
	// dnsPort is the DNS port (RFC 1035 §4.2).
	dnsPort = 53
)

// Assembler turns captured frames into whole DNS messages. It is owned by one
// goroutine.
//
// It decodes link, tunnel, IP and transport headers with small decoders of
// its own rather than gopacket's DecodingLayerParser: gopacket's
// DecodeFromBytes methods build an error with fmt.Errorf for every malformed
// packet (layers/ip4.go, udp.go, gre.go …), so hostile traffic on a mirror
// port turns into an allocation storm on the capture path. The decoders here
// only slice the frame and count failures.
type Assembler struct {
	cfg   Config
	sink  Sink
	stats Stats
	frag  *defragmenter
	tcp   *tcpReassembler
	dedup *deduper // nil when Config.DedupWindow is 0

	// Per-frame state, set by HandleFrame.
	ts      int64  // capture time of the frame being decoded
	vlan    uint16 // f.VLAN, or the outermost 802.1Q VID
	snapped bool   // the frame was cut by the snaplen: running out of bytes is truncation, not a lie
	inFrag  int    // >0 while decoding a reassembled datagram (its bytes live in the defragmenter)

	maxTS      int64 // largest capture time seen
	nextExpire int64 // capture time at which the tables are aged next

	msg     Message    // reused for every message handed to the Sink
	seg     tcpSegment // reused for every TCP segment
	fragBuf []byte     // scratch for fragments found inside reassembled datagrams

	steer *Steerer // set only in a Steerer's own Assembler: decoding stops at the outermost IP header
}

// NewAssembler returns an Assembler that hands every message to sink.
func NewAssembler(cfg Config, sink Sink) *Assembler {
	a := &Assembler{cfg: cfg, sink: sink}
	a.frag = newDefragmenter(cfg, &a.stats)
	a.tcp = newTCPReassembler(cfg, &a.stats, a.deliverTCP)
	if cfg.DedupWindow > 0 {
		a.dedup = newDeduper(int64(cfg.DedupWindow), cfg.DedupEntries, &a.stats)
	}
	return a
}

// HandleFrame decodes one frame and hands any message it completes to the
// Sink before returning. f.Data may be reused by the caller afterwards.
func (a *Assembler) HandleFrame(f *packet.Frame) {
	a.stats.Decode[DecodeFrames].Inc()
	a.ts = f.Timestamp
	a.vlan = f.VLAN
	a.snapped = f.WireLen > len(f.Data)
	a.inFrag = 0
	if f.Timestamp > a.maxTS {
		a.maxTS = f.Timestamp
	}
	if a.maxTS >= a.nextExpire {
		a.frag.expire(a.maxTS)
		a.tcp.expire(a.maxTS)
		a.nextExpire = a.maxTS + expireInterval
	}
	a.link(f.LinkType, f.Data)
}

// Flush ends the input: partial TCP messages and incomplete datagrams are
// counted and dropped.
func (a *Assembler) Flush() {
	a.tcp.flush()
	a.frag.expire(math.MaxInt64)
}

// Stats returns the Assembler's counters; safe to read from any goroutine.
func (a *Assembler) Stats() *Stats { return &a.stats }

// count increments one decode counter.
func (a *Assembler) count(c DecodeCounter) { a.stats.Decode[c].Inc() }

// short counts a header or payload that needs more bytes than are present:
// truncation when the snaplen cut the frame, otherwise the layer's own
// bad-header counter (the packet lies about its length).
func (a *Assembler) short(bad DecodeCounter) {
	if a.snapped {
		a.count(DecodeTruncated)
		return
	}
	a.count(bad)
}

// deliver parses one DNS message carried over tr, captured at ts, and hands
// it to the Sink. msg aliases the frame, the defragmenter's buffer or a TCP
// stream buffer, and is not kept after the call.
func (a *Assembler) deliver(src, dst netip.AddrPort, msg []byte, tr Transport, ts int64) {
	m := &a.msg
	if !parseDNS(msg, &m.DNS) {
		a.count(DecodeNotDNS)
		return
	}
	m.Src, m.Dst = src, dst
	m.Transport = tr
	m.Timestamp = ts
	m.Payload = msg
	if tr == TransportTCP {
		a.count(DecodeMessagesTCP)
	} else {
		a.count(DecodeMessagesUDP)
	}
	if m.DNS.Malformed {
		a.count(DecodeDNSMalformed)
	}
	a.sink.HandleMessage(m)
	m.Payload = nil
	m.DNS.Question = nil
}

// deliverTCP is the TCP reassembler's deliverFunc.
func (a *Assembler) deliverTCP(src, dst netip.AddrPort, msg []byte, ts int64) {
	a.deliver(src, dst, msg, TransportTCP, ts)
}
