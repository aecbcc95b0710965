package emit

import (
	"bytes"
	"io"
	"net/netip"
	"os"
	"strings"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"google.golang.org/protobuf/proto"

	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// pcapDNSPayloads returns the UDP payloads on port 53 of every capture in
// testdata/pcaps (gopacket's slow path is fine for seeding).
func pcapDNSPayloads(f *testing.F) [][]byte {
	f.Helper()
	var out [][]byte
	for _, path := range testenv.Pcaps(f) {
		fh, err := os.Open(path)
		if err != nil {
			f.Fatal(err)
		}
		var src interface {
			ReadPacketData() ([]byte, gopacket.CaptureInfo, error)
		}
		var lt layers.LinkType
		if strings.HasSuffix(path, ".pcapng") {
			r, err := pcapgo.NewNgReader(fh, pcapgo.DefaultNgReaderOptions)
			if err != nil {
				fh.Close()
				continue
			}
			src, lt = r, r.LinkType()
		} else {
			r, err := pcapgo.NewReader(fh)
			if err != nil {
				fh.Close()
				continue
			}
			src, lt = r, r.LinkType()
		}
		for {
			data, _, err := src.ReadPacketData()
			if err == io.EOF || err != nil {
				break
			}
			pkt := gopacket.NewPacket(data, lt, gopacket.Default)
			if udp, ok := pkt.Layer(layers.LayerTypeUDP).(*layers.UDP); ok && (udp.SrcPort == 53 || udp.DstPort == 53) && len(udp.Payload) >= 12 {
				out = append(out, append([]byte(nil), udp.Payload...))
			}
		}
		fh.Close()
	}
	return out
}

// FuzzPipeline feeds arbitrary DNS payloads through classification,
// pairing and encoding: every frame must decode with golang-dnstap and
// carry the payload's exact bytes.
func FuzzPipeline(f *testing.F) {
	for _, p := range pcapDNSPayloads(f) {
		f.Add(p, uint8(0))
	}
	f.Add(wire(f, msgSpec{ID: 1}), uint8(1))
	f.Add(wire(f, msgSpec{ID: 1, Response: true}), uint8(2))
	out := &collect{}
	p := NewPipeline(Config{
		Servers:    []ServerSpec{{Prefix: netip.MustParsePrefix("192.0.2.53/32"), Role: RoleRecursive}, {Prefix: netip.MustParsePrefix("2001:db8::53/128"), Role: RoleAuthoritative}},
		MaxPending: 16,
		Identity:   []byte("fuzz"),
	}, out)
	ts := t0
	f.Fuzz(func(t *testing.T, payload []byte, sel uint8) {
		if len(payload) < 12 {
			return // reassembly never hands over less than a header
		}
		ends := [4][2]string{
			{"192.0.2.10:4000", "192.0.2.53:53"},
			{"192.0.2.53:53", "192.0.2.10:4000"},
			{"[2001:db8::1]:4000", "[2001:db8::53]:53"},
			{"192.0.2.53:4000", "198.51.100.1:53"},
		}[sel%4]
		m := &reassembly.Message{
			Src:       netip.MustParseAddrPort(ends[0]),
			Dst:       netip.MustParseAddrPort(ends[1]),
			Transport: reassembly.Transport(sel>>2%2 + 1),
			Timestamp: ts,
			Payload:   payload,
		}
		ts += int64(sel) * 1e7
		fillHeader(&m.DNS, payload)
		out.frames = out.frames[:0]
		p.HandleMessage(m)
		for _, fr := range out.frames {
			var d dnstap.Dnstap
			if err := proto.Unmarshal(fr, &d); err != nil {
				t.Fatalf("frame does not decode: %v", err)
			}
			msg := d.Message.ResponseMessage
			if MessageType(d.Message.GetType()).IsQuery() {
				msg = d.Message.QueryMessage
			}
			if !bytes.Equal(msg, payload) {
				t.Fatal("frame does not carry the exact payload")
			}
			if d.Message.GetQueryTimeNsec() >= 1e9 || d.Message.GetResponseTimeNsec() >= 1e9 {
				t.Fatal("nanoseconds out of range")
			}
		}
	})
}
