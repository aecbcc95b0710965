package bpf

import (
	"errors"
	"strings"

	"golang.org/x/net/bpf"
)

// Snaplen is the snapshot length every program is compiled with. libpcap
// puts it in the program's accepting "ret #k", so it is the most bytes the
// kernel copies per packet: 262144 is libpcap's MAXIMUM_SNAPLEN, larger than
// any DNS message over TCP (65535 + 2) plus its headers, so no answer is ever
// cut. A peer that compiles with 1024 cuts every large answer.
const Snaplen = 262144

// Link types (pcap LINKTYPE_* values, as in packet.LinkType) this package
// needs by name. This package does not import internal/capture, which
// imports it, so link types cross the boundary as uint16.
const (
	linkTypeEthernet = 1
	linkTypeRaw      = 101
)

// dnsCore is the filter for one level of encapsulation: DNS over UDP and TCP
// on port 53, every non-first IPv4 fragment (no ports: offset field nonzero)
// and every IPv6 packet whose first extension header is a Fragment header
// (44), because a bare "udp port 53" drops both kinds of fragments of a
// large answer, and the reassembler downstream needs all of them.
const dnsCore = "udp port 53 or tcp port 53 or (ip[6:2] & 0x1fff != 0) or ip6[6] = 44"

// tunnelCore adds GRE (which carries ERSPAN), VXLAN and GENEVE, for a mirror
// port that receives encapsulated copies.
const tunnelCore = dnsCore + " or proto 47 or udp port 4789 or udp port 6081"

// withVLANs matches f untagged, under one 802.1Q tag and under two (QinQ).
// In libpcap each "vlan" moves every later offset by 4 bytes, so the nested
// form is needed: the flat "vlan and vlan and F" tests only the double-tagged
// case, and "F or vlan and F" misses QinQ.
func withVLANs(f string) string {
	return "(" + f + ") or (vlan and ((" + f + ") or (vlan and (" + f + "))))"
}

// Filter expressions, in tcpdump syntax, of the checked-in programs.
var (
	// DNSExpr is the default capture filter.
	DNSExpr = withVLANs(dnsCore)
	// DNSTunnelExpr is the default capture filter for tunnelled mirrors.
	DNSTunnelExpr = withVLANs(tunnelCore)
)

// DNS returns the default capture filter, DNSExpr compiled by libpcap for
// Ethernet with snaplen Snaplen (golden data in programs.go, checked against
// libpcap by TestGolden). The kernel hands AF_PACKET sockets Ethernet frames
// whose outer VLAN tag it has usually stripped (reported in auxiliary data);
// the tagged branches match frames that keep their tags (a second tag in
// QinQ, NICs without VLAN offload, and pcap files). The slice is new and
// belongs to the caller.
func DNS() []bpf.RawInstruction { return clone(dnsEthernet) }

// DNSTunnel returns DNSTunnelExpr compiled like DNS. The slice is new and
// belongs to the caller.
func DNSTunnel() []bpf.RawInstruction { return clone(dnsTunnelEthernet) }

func clone(p []bpf.RawInstruction) []bpf.RawInstruction {
	return append([]bpf.RawInstruction(nil), p...)
}

// Errors Compile wraps.
var (
	// ErrNoCompiler: this binary was built without libpcap (CGO_ENABLED=0
	// or the nopcap tag), so only the checked-in programs are available.
	ErrNoCompiler = errors.New("bpf: filter expressions need a build with libpcap (cgo); this binary was built without it")
	// ErrCompile: libpcap refused the expression; the wrapping error holds
	// the expression, the link type and libpcap's message.
	ErrCompile = errors.New("bpf: cannot compile filter")
)

// Compile compiles a filter expression in tcpdump syntax for frames of the
// given link type (a pcap LINKTYPE_* value) with snaplen Snaplen, using
// libpcap. The checked-in expressions (DNSExpr, DNSTunnelExpr) on Ethernet
// need no libpcap and work in every build; on other link types they are
// compiled without their VLAN branches. Anything else returns an error
// wrapping ErrNoCompiler in a build without libpcap, and one wrapping
// ErrCompile, naming the expression and link type, when libpcap refuses it.
// An expression that can match nothing on this link type compiles to
// "ret #0". The slice is new and belongs to the caller.
//
// There is no pure-Go compiler that gets tcpdump syntax right (see doc.go),
// so this is libpcap's own compiler, through cgo.
func Compile(expr string, linkType uint16) ([]bpf.RawInstruction, error) {
	switch {
	case linkType == linkTypeEthernet && expr == DNSExpr:
		return DNS(), nil
	case linkType == linkTypeEthernet && expr == DNSTunnelExpr:
		return DNSTunnel(), nil
	case expr == DNSExpr:
		// libpcap refuses "vlan" on every link type but Ethernet ("no VLAN
		// support for Raw IPv4"), and there are no tags to skip there: raw
		// IP has none and Linux cooked captures get them stripped.
		expr = dnsCore
	case expr == DNSTunnelExpr:
		expr = tunnelCore
	}
	if strings.TrimSpace(expr) == "" {
		// libpcap compiles "" to "accept everything"; say so explicitly.
		return []bpf.RawInstruction{{Op: clsRET | retK, K: Snaplen}}, nil
	}
	return compile(expr, linkType)
}

// dlt maps a pcap LINKTYPE_* (the value in files) to the libpcap DLT_* that
// pcap_open_dead takes. They are equal except for a few old values that
// differ between operating systems; libpcap on Linux uses DLT_RAW = 12 for
// raw IP, where files say LINKTYPE_RAW = 101 (pcap-common.c).
func dlt(linkType uint16) int {
	switch linkType {
	case linkTypeRaw:
		return 12 // DLT_RAW on Linux
	case 100:
		return 11 // LINKTYPE_ATM_RFC1483 → DLT_ATM_RFC1483
	case 102:
		return 15 // LINKTYPE_SLIP_BSDOS → DLT_SLIP_BSDOS
	case 103:
		return 16 // LINKTYPE_PPP_BSDOS → DLT_PPP_BSDOS
	}
	return int(linkType)
}
