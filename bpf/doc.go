// Package bpf owns the capture filters: the default DNS filter as a classic
// BPF program, the compilation of user filter expressions in tcpdump syntax,
// and a Go interpreter that runs them on file input, so that a pcap run and
// a live run with the same expression see the same packets.
//
// It hands back []golang.org/x/net/bpf.RawInstruction and knows nothing of
// the capture APIs that attach them. Link types cross its boundary as
// uint16 LINKTYPE_* values, because internal/capture imports this package.
//
// # The default filter
//
// DNSExpr is F or (vlan and (F or (vlan and F))) with
//
//	F = udp port 53 or tcp port 53 or (ip[6:2] & 0x1fff != 0) or ip6[6] = 44
//
// "udp port 53" alone drops every non-first IPv4 fragment (no UDP header)
// and every IPv6 packet that starts with a Fragment header, so a large
// answer would reach the reassembler incomplete; the two extra terms keep
// all fragments, DNS or not (the defragmenter sorts them out). In libpcap
// each "vlan" shifts every later offset by four bytes, so only the nested
// form covers untagged, tagged and QinQ frames in one program. DNSTunnelExpr
// adds GRE (and ERSPAN and PPTP in it), VXLAN, GENEVE, GTP-U (UDP 2152),
// GRE-in-UDP (4754) and VXLAN-GPE (4790), and DNS inside PPPoE sessions
// under zero, one or two tags, written with absolute ether[] offsets
// because libpcap's "pppoes" makes the rest of an expression PPP and
// "vlan" after it an error. Known limits (tests
// document them): libpcap reads only the first IPv6 next-header, so a
// port-53 packet behind a Hop-by-Hop or Destination Options header, or GRE
// behind one, is not matched; three VLAN tags are not matched.
//
// The programs are compiled by libpcap for Ethernet with snaplen 262144
// (libpcap's MAXIMUM_SNAPLEN, which it writes into "ret #k": a smaller one
// cuts large answers) and checked in as Go data (programs.go), so the
// default filter needs no libpcap at run time, even in a CGO_ENABLED=0
// binary. TestGolden recompiles them with libpcap and TestGoldenTcpdump
// with tcpdump -dd; "go test ./bpf -run TestGolden -update" regenerates
// them. The dead handle (pcap_open_dead) makes libpcap read VLAN tags from
// the frame bytes, not from the kernel's vlan_tci extension: on AF_PACKET
// the kernel usually strips the outer tag before the filter runs, so F
// matches the inner packet there and the vlan branches catch QinQ and NICs
// that leave tags in place. Other link types have no VLAN branches (libpcap
// refuses "vlan" there, and those frames carry no tags), so Compile turns
// DNSExpr into F for them.
//
// # User expressions: libpcap through cgo
//
// No pure-Go compiler gets tcpdump syntax right. packetcap/go-pcap's
// filter package compiles "ip[6:2] & 0x1fff != 0" to "any IPv4" (the DNS
// filter above would then take every IPv4 packet) and x/net/bpf only
// assembles and runs programs. Writing our own would mean re-implementing
// libpcap's grammar and code generator (thousands of lines and decades of
// link-type cases) for an option users pass to tcpdump every day and expect
// to mean exactly what it means there. So Compile calls libpcap:
// pcap_open_dead(DLT, 262144), pcap_compile (optimised, netmask unknown),
// copy, pcap_freecode, pcap_close, under a mutex because pcap_compile was
// not thread-safe before libpcap 1.8. It is built with the constraint
// "cgo && !nopcap"; a build with CGO_ENABLED=0 or -tags nopcap gets
// compile_nopcap.go, whose Compile returns ErrNoCompiler ("filter
// expressions need a build with libpcap (cgo); this binary was built
// without it") for anything but the checked-in programs. A file's
// LINKTYPE_RAW (101) is DLT_RAW (12) to libpcap on Linux; other link types
// the sensor reads have equal LINKTYPE and DLT values. libpcap resolves
// host and port names while compiling, as tcpdump does.
//
// # Running programs on file input
//
// Matcher holds one Program per link type (a pcapng file may mix them),
// compiled the first time it meets that link type, at most 16 of them.
// Program is a small interpreter of classic BPF written for this purpose:
// it validates a program as the kernel does, returns 0 for loads outside the
// frame and for division by zero as libpcap's bpf_filter does, gives "len"
// the length on the wire (x/net/bpf's VM gives the captured length, so
// "greater N" would differ on frames cut by the snaplen), and does not
// allocate. It runs the default filter in 24-41 ns per frame, about twice
// as fast as x/net/bpf's VM on the same program (BenchmarkMatch, this 2-core
// machine). Tests compare it frame by frame with tcpdump on every capture in
// testdata/pcaps, and FuzzProgram with x/net/bpf's VM on random programs.
package bpf
