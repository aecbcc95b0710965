package packet

import (
	"strconv"
	"strings"
)

// LinkType is a pcap LINKTYPE_* value (https://www.tcpdump.org/linktypes.html).
// It is the wire value found in pcap and pcapng headers, not libpcap's DLT_*
// (they differ for raw IP: DLT_RAW is 12 or 14 on some systems, LINKTYPE_RAW is 101).
type LinkType uint16

// Link types the sensor decodes. Each has an entry in linkTypes and a case in
// the decoder (internal/reassembly/link.go), whose tests check that the two
// agree for every one of the 65536 values.
const (
	LinkTypeNull      LinkType = 0   // BSD loopback: 4-byte address family in host byte order
	LinkTypeEthernet  LinkType = 1   // IEEE 802.3
	LinkTypeFDDI      LinkType = 10  // FDDI: frame control, addresses, LLC/SNAP
	LinkTypeRaw       LinkType = 101 // raw IPv4 or IPv6, version from the first nibble
	LinkTypeIEEE80211 LinkType = 105 // IEEE 802.11 frames without a radio header
	LinkTypeLoop      LinkType = 108 // OpenBSD loopback: 4-byte address family in network byte order
	LinkTypeLinuxSLL  LinkType = 113 // Linux "cooked" capture v1
	LinkTypeRadiotap  LinkType = 127 // radiotap header, then an 802.11 frame
	LinkTypePKTAPMac  LinkType = 149 // PKTAP as macOS writes it (DLT_PKTAP there, LINKTYPE_USER2 elsewhere)
	LinkTypePPI       LinkType = 192 // Per-Packet Information header, then a frame of the DLT it names
	LinkTypeIPv4      LinkType = 228 // raw IPv4
	LinkTypeIPv6      LinkType = 229 // raw IPv6
	LinkTypeNFLOG     LinkType = 239 // Linux NFLOG: netfilter log TLVs, the packet in NFULA_PAYLOAD
	LinkTypePKTAP     LinkType = 258 // Apple PKTAP: metadata header, then a frame of the DLT it names
	LinkTypeLinuxSLL2 LinkType = 276 // Linux "cooked" capture v2
)

// linkTypes is the one list of decoded link types: adding a link type is an
// entry here plus its case in the decoder. Name is tcpdump's LINKTYPE_ name
// without the prefix, so that users can look it up.
var linkTypes = [...]struct {
	lt   LinkType
	name string
}{
	{LinkTypeEthernet, "ETHERNET"},
	{LinkTypeRaw, "RAW"},
	{LinkTypeIPv4, "IPV4"},
	{LinkTypeIPv6, "IPV6"},
	{LinkTypeLinuxSLL, "LINUX_SLL"},
	{LinkTypeLinuxSLL2, "LINUX_SLL2"},
	{LinkTypeNull, "NULL"},
	{LinkTypeLoop, "LOOP"},
	{LinkTypeFDDI, "FDDI"},
	{LinkTypeIEEE80211, "IEEE802_11"},
	{LinkTypeRadiotap, "IEEE802_11_RADIOTAP"},
	{LinkTypePPI, "PPI"},
	{LinkTypeNFLOG, "NFLOG"},
	{LinkTypePKTAP, "PKTAP"},
	{LinkTypePKTAPMac, "USER2 (macOS PKTAP)"},
}

// Supported reports whether the sensor decodes frames of link type lt. A
// source hands out frames of any link type (the decoder counts those it
// cannot read as unknown); the CLI uses this to refuse a file up front.
func (lt LinkType) Supported() bool {
	for _, e := range &linkTypes {
		if e.lt == lt {
			return true
		}
	}
	return false
}

// String is tcpdump's name of a decoded link type ("ETHERNET"), or the
// decimal value of any other.
func (lt LinkType) String() string {
	for _, e := range &linkTypes {
		if e.lt == lt {
			return e.name
		}
	}
	return strconv.Itoa(int(lt))
}

// LinkTypes returns the decoded link types, most common first. The slice is
// new and belongs to the caller.
func LinkTypes() []LinkType {
	out := make([]LinkType, len(linkTypes))
	for i, e := range &linkTypes {
		out[i] = e.lt
	}
	return out
}

// SupportedList describes the decoded link types for an error message:
// "ETHERNET 1, RAW 101, …".
func SupportedList() string {
	var b strings.Builder
	for i, e := range &linkTypes {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(e.name)
		b.WriteByte(' ')
		b.WriteString(strconv.Itoa(int(e.lt)))
	}
	return b.String()
}
