package packet

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
