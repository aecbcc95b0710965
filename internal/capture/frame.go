package capture

// LinkType is a pcap LINKTYPE_* value (https://www.tcpdump.org/linktypes.html).
// It is the wire value found in pcap and pcapng headers, not libpcap's DLT_*
// (they differ for raw IP: DLT_RAW is 12 or 14 on some systems, LINKTYPE_RAW is 101).
type LinkType uint16

// Link types the sensor decodes.
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

// Frame is one captured link-layer frame.
//
// Data aliases the source's buffer (a file reader's scratch buffer or an
// AF_PACKET ring block): it is a read-only view, valid only until the next
// call that fills the Frame. Whoever keeps bytes beyond that must copy them.
type Frame struct {
	Data      []byte
	Timestamp int64    // capture time, nanoseconds since the Unix epoch; never the wall clock at processing
	WireLen   int      // length of the frame on the wire; len(Data) is smaller when the snaplen cut it
	LinkType  LinkType // how Data starts
	Interface int      // index of the capturing interface within its source (pcapng IDB number, or -i order)
	VLAN      uint16   // 802.1Q VID the kernel stripped and reported in auxiliary data (AF_PACKET); 0 when none
}
