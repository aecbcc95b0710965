// Command genencap writes the synthetic_* captures of encapsulations and
// link types for which no public DNS capture was found: every frame of
// dnscap's dns.pcap (82 DNS messages among 133 frames), re-encapsulated.
//
//	go run ./internal/reassembly/testdata/genencap -in testdata/pcaps/dnscap_dns.pcap -out testdata/pcaps
//
// Each output keeps the frames' order, timestamps and bytes from the
// EtherType on; only the link header and what wraps the packet change.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

var (
	dstMAC = []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55}
	srcMAC = []byte{0x00, 0x66, 0x77, 0x88, 0x99, 0xaa}
	bssid  = []byte{0x02, 0x00, 0x5e, 0x00, 0x53, 0x01}
)

type frame struct {
	ci      gopacket.CaptureInfo
	et      uint16 // EtherType of the original Ethernet frame
	payload []byte // what followed it
	eth     []byte // the whole original frame
}

// wrapper turns one original frame into the new link-layer frame(s).
type wrapper struct {
	file string
	lt   layers.LinkType
	wrap func(f frame, i int) [][]byte
}

func snap(et uint16, p []byte) []byte {
	b := []byte{0xaa, 0xaa, 0x03, 0, 0, 0, byte(et >> 8), byte(et)}
	return append(b, p...)
}

// wifiData is an 802.11 data frame from the AP (From DS) or to it (To DS)
// with an LLC/SNAP body; qos selects QoS Data (subtype 8) with a QoS
// Control field, wds the four-address form.
func wifiData(f frame, i int, qos, wds, protected bool) []byte {
	fc0 := byte(0x08) // type data, subtype 0
	if qos {
		fc0 = 0x88
	}
	flags := byte(0x02) // From DS
	if i%2 == 1 {
		flags = 0x01 // To DS
	}
	if wds {
		flags = 0x03
	}
	if protected {
		flags |= 0x40
	}
	b := []byte{fc0, flags, 0x2c, 0x00}
	b = append(b, dstMAC...)
	b = append(b, bssid...)
	b = append(b, srcMAC...)
	b = binary.LittleEndian.AppendUint16(b, uint16(i&0xfff)<<4) // sequence number, fragment 0
	if wds {
		b = append(b, srcMAC...)
	}
	if qos {
		b = append(b, byte(i%8), 0x00) // TID, normal ack, no A-MSDU
	}
	if protected {
		// CCMP header, then bytes no one can read without the key.
		b = append(b, 0x01, 0x00, 0x00, 0x20, 0, 0, 0, 0)
		for j := 0; j < len(f.payload)+16; j++ {
			b = append(b, byte(j*7+i))
		}
		return b
	}
	return append(b, snap(f.et, f.payload)...)
}

func radiotapless(f frame, i int) [][]byte {
	out := [][]byte{wifiData(f, i, true, i%3 == 0, false)}
	if i%10 == 0 {
		// An encrypted frame beside every tenth: skipped and counted.
		out = append(out, wifiData(f, i, true, false, true))
	}
	return out
}

func ppi(f frame, i int) [][]byte {
	h := []byte{0, 0, 8, 0, 105, 0, 0, 0} // version 0, flags 0, length 8, DLT 105
	return [][]byte{append(h, wifiData(f, i, false, false, false)...)}
}

func pktap(dlt uint32) func(frame, int) [][]byte {
	return func(f frame, i int) [][]byte {
		h := make([]byte, 108)
		binary.LittleEndian.PutUint32(h[0:], 108)   // pth_length
		binary.LittleEndian.PutUint32(h[4:], 1)     // pth_type_next: packet
		binary.LittleEndian.PutUint32(h[8:], dlt)   // pth_dlt
		copy(h[12:], "en0")                         // pth_ifname
		binary.LittleEndian.PutUint32(h[44:], 14)   // pth_frame_pre_length (Ethernet header)
		binary.LittleEndian.PutUint32(h[52:], 4242) // pth_pid
		copy(h[56:], "mDNSResponder")               // pth_comm
		binary.LittleEndian.PutUint16(h[80:], 6)    // pth_iftype: IFT_ETHER
		return [][]byte{append(h, f.eth...)}
	}
}

func fddi(f frame, i int) [][]byte {
	b := []byte{0x50}
	b = append(b, dstMAC...)
	b = append(b, srcMAC...)
	return [][]byte{append(b, snap(f.et, f.payload)...)}
}

func nullEtherType(f frame, i int) [][]byte {
	// The EtherType as a big-endian 32-bit value in the family field.
	b := binary.BigEndian.AppendUint32(nil, uint32(f.et))
	return [][]byte{append(b, f.payload...)}
}

func ethHdr(et uint16) []byte {
	b := append(append([]byte{}, dstMAC...), srcMAC...)
	return binary.BigEndian.AppendUint16(b, et)
}

func csum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(binary.BigEndian.Uint16(b[i:]))
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// outerUDP4 wraps p in IPv4 203.0.113.1 → 203.0.113.2 and UDP to dport.
func outerUDP4(id uint16, sport, dport uint16, p []byte) []byte {
	udp := binary.BigEndian.AppendUint16(nil, sport)
	udp = binary.BigEndian.AppendUint16(udp, dport)
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(p)))
	udp = append(udp, 0, 0) // checksum 0: none (RFC 768)
	udp = append(udp, p...)
	ip := []byte{0x45, 0, 0, 0, byte(id >> 8), byte(id), 0x40, 0, 64, 17, 0, 0, 203, 0, 113, 1, 203, 0, 113, 2}
	binary.BigEndian.PutUint16(ip[2:], uint16(20+len(udp)))
	binary.BigEndian.PutUint16(ip[10:], csum(ip))
	return append(ip, udp...)
}

func vxlanGPE(f frame, i int) [][]byte {
	h := []byte{0x0c, 0, 0, 3, 0, 0, 42, 0} // I and P, next protocol Ethernet, VNI 42
	inner := f.eth
	if f.et == 0x0800 {
		h[3] = 1 // IPv4 directly
		inner = f.payload
	}
	p := append(h, inner...)
	return [][]byte{append(ethHdr(0x0800), outerUDP4(uint16(i), 50000+uint16(i%100), 4790, p)...)}
}

func pppoeQinQ(f frame, i int) [][]byte {
	b := ethHdr(0x88a8)
	b = append(b, 0x00, 100, 0x81, 0x00, 0x00, 200) // S-tag 100, C-tag 200
	if f.et != 0x0800 {
		return [][]byte{append(binary.BigEndian.AppendUint16(b, f.et), f.payload...)}
	}
	b = append(b, 0x88, 0x64, 0x11, 0x00, 0x12, 0x34) // PPPoE session, ID 0x1234
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(f.payload)))
	b = append(b, 0x00, 0x21) // PPP: IPv4
	return [][]byte{append(b, f.payload...)}
}

func main() {
	in := flag.String("in", "testdata/pcaps/dnscap_dns.pcap", "source capture (Ethernet)")
	out := flag.String("out", "testdata/pcaps", "directory for the outputs")
	flag.Parse()
	src, err := os.Open(*in)
	if err != nil {
		log.Fatal(err)
	}
	r, err := pcapgo.NewReader(src)
	if err != nil {
		log.Fatal(err)
	}
	var frames []frame
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			log.Fatal(err)
		}
		if len(data) < 14 || ci.CaptureLength != ci.Length {
			log.Fatalf("frame %d: not a whole Ethernet frame", len(frames)+1)
		}
		frames = append(frames, frame{ci, binary.BigEndian.Uint16(data[12:14]), data[14:], data})
	}
	ws := []wrapper{
		{"synthetic_80211qos_dnscap-dns.pcap", layers.LinkTypeIEEE802_11, radiotapless},
		{"synthetic_ppi_dnscap-dns.pcap", layers.LinkType(192), ppi},
		{"synthetic_pktap_dnscap-dns.pcap", layers.LinkType(258), pktap(1)},
		{"synthetic_pktap149_dnscap-dns.pcap", layers.LinkType(149), pktap(1)},
		{"synthetic_fddi_dnscap-dns.pcap", layers.LinkTypeFDDI, fddi},
		{"synthetic_null-ethertype_dnscap-dns.pcap", layers.LinkTypeNull, nullEtherType},
		{"synthetic_vxlangpe_dnscap-dns.pcap", layers.LinkTypeEthernet, vxlanGPE},
		{"synthetic_pppoe-qinq_dnscap-dns.pcap", layers.LinkTypeEthernet, pppoeQinQ},
	}
	for _, w := range ws {
		if err := write(filepath.Join(*out, w.file), w, frames); err != nil {
			log.Fatal(err)
		}
	}
}

func write(path string, w wrapper, frames []frame) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	pw := pcapgo.NewWriter(f)
	if err := pw.WriteFileHeader(262144, w.lt); err != nil {
		return err
	}
	for i, fr := range frames {
		for _, b := range w.wrap(fr, i) {
			ci := fr.ci
			ci.CaptureLength, ci.Length = len(b), len(b)
			if err := pw.WritePacket(ci, b); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
		}
	}
	return f.Close()
}
