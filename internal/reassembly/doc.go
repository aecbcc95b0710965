// Package reassembly owns everything between a captured link-layer frame and
// a whole DNS message: link layers (Ethernet, 802.1Q/QinQ, MPLS, PPPoE, Linux
// SLL and SLL2, BSD loopback, raw IP, FDDI, IEEE 802.11 with radiotap or PPI,
// NFLOG, PKTAP), tunnels (GRE, PPTP, ERSPAN, VXLAN, VXLAN-GPE, GENEVE,
// GRE-in-UDP, GTP-U), IPv4 and
// IPv6 with extension headers, IP defragmentation, UDP, and TCP streams with
// the RFC 1035 §4.2.2 two-byte length framing.
//
// It reads packet.Frame values and never imports internal/capture, so it
// builds on any OS. The link types it decodes are those of packet's table;
// link.go has one case for each, and a test checks that the two agree.
//
// Decoding lives here rather than in capture because defragmentation must sit
// between the IP and transport decoders: non-first fragments carry no ports.
//
// An Assembler is owned by one goroutine (one capture worker). It keeps all of
// its state (flows, fragments) itself, with no locks on the per-packet path,
// and every table it keeps has a size limit, an idle timeout driven by capture
// time, and counters of what it evicted or dropped.
//
// It knows nothing of dnstap or outputs: it hands each message to a Sink.
package reassembly
