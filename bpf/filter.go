package bpf

import (
	"errors"
	"strconv"
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

// tunnelCore adds GRE (which carries ERSPAN and PPTP), VXLAN, GENEVE,
// GTP-U (2152), GRE-in-UDP (4754) and VXLAN-GPE (4790), for a mirror port
// that receives encapsulated copies.
const tunnelCore = dnsCore + " or proto 47 or udp port 4789 or udp port 6081 or udp port 2152 or udp port 4754 or udp port 4790"

// pppoeDNS matches dnsCore inside PPPoE session frames (EtherType 0x8864,
// PPP protocol 0x0021 IPv4 or 0x0057 IPv6) behind tags VLAN tags. libpcap's
// "pppoes" keyword cannot serve: it turns the rest of the expression into
// PPP, after which "vlan" is refused ("no VLAN support for PPP"), so it
// could only come last and cover one tag depth. Absolute ether[] offsets,
// which "vlan" does not shift, cover every depth in one expression.
func pppoeDNS(tags int) string {
	et := 12 + 4*tags // the EtherType after the tags
	b := et + 10      // the IP header: EtherType, PPPoE header (6), PPP protocol (2)
	var tagged string
	for i := 0; i < tags; i++ {
		o := itoa(12 + 4*i)
		tagged += "(ether[" + o + ":2] = 0x8100 or ether[" + o + ":2] = 0x88a8 or ether[" + o + ":2] = 0x9100) and "
	}
	ip := func(off int) string { return itoa(b + off) }
	ihl := "((ether[" + ip(0) + "] & 0xf) << 2)"
	v4 := "((ether[" + ip(9) + "] = 17 or ether[" + ip(9) + "] = 6) and (ether[" + ip(0) + " + " + ihl + " : 2] = 53 or ether[" + ip(2) + " + " + ihl + " : 2] = 53)) or (ether[" + ip(6) + ":2] & 0x1fff != 0)"
	v6 := "((ether[" + ip(6) + "] = 17 or ether[" + ip(6) + "] = 6) and (ether[" + ip(40) + ":2] = 53 or ether[" + ip(42) + ":2] = 53)) or ether[" + ip(6) + "] = 44"
	return "(" + tagged + "ether[" + itoa(et) + ":2] = 0x8864 and ((ether[" + itoa(et+8) + ":2] = 0x0021 and (" + v4 + ")) or (ether[" + itoa(et+8) + ":2] = 0x0057 and (" + v6 + "))))"
}

func itoa(n int) string { return strconv.Itoa(n) }

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
	// DNSTunnelExpr is the default capture filter for tunnelled mirrors:
	// tunnelCore untagged, under one tag and under two, and DNS in PPPoE
	// sessions at the same depths.
	DNSTunnelExpr = withVLANs(tunnelCore) + " or " + pppoeDNS(0) + " or " + pppoeDNS(1) + " or " + pppoeDNS(2)
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
