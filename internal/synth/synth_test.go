package synth

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/miekg/dns"
)

var allKinds = []Kind{KindUDP, KindTCP, KindFrag, KindSYNFlood, KindFragFlood, KindQueryFlood, KindCollideFlood}

func generate(t testing.TB, o Options) ([]byte, Summary) {
	t.Helper()
	var buf bytes.Buffer
	sum, err := Generate(&buf, o)
	if err != nil {
		t.Fatalf("Generate(%v): %v", o.Kind, err)
	}
	if sum.Bytes != int64(buf.Len()) {
		t.Fatalf("Summary.Bytes = %d, wrote %d", sum.Bytes, buf.Len())
	}
	return buf.Bytes(), sum
}

// decoded is what an independent decoder (gopacket, miekg/dns) found in a
// capture.
type decoded struct {
	packets, ipv6, fragments, syns int
	queries, responses             int // whole DNS messages in unfragmented UDP packets
	// maxOutstanding is the most UDP queries seen waiting for their
	// response at once; reordered counts responses that arrive before the
	// response to an earlier query.
	maxOutstanding, reordered int
}

type txKey struct {
	port uint16
	id   uint16
}

// decodeAll decodes every packet with gopacket, checks that it decodes
// without error, that timestamps never go back, and that IP, UDP and TCP
// checksums are right (by re-serializing with gopacket's own checksum code
// and comparing bytes), and unpacks every unfragmented UDP DNS message with
// miekg/dns.
func decodeAll(capture []byte) (decoded, error) {
	var d decoded
	r, err := pcapgo.NewReader(bytes.NewReader(capture))
	if err != nil {
		return d, err
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		return d, fmt.Errorf("link type %v", r.LinkType())
	}
	var last int64
	sbuf := gopacket.NewSerializeBuffer()
	outstanding := map[txKey]int{} // query's sequence number
	lastAnswered := -1
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return d, fmt.Errorf("packet %d: %v", d.packets+1, err)
		}
		d.packets++
		if ts := ci.Timestamp.UnixNano(); ts < last {
			return d, fmt.Errorf("packet %d: timestamp goes back", d.packets)
		} else {
			last = ts
		}
		p := gopacket.NewPacket(data, layers.LayerTypeEthernet, gopacket.Default)
		if el := p.ErrorLayer(); el != nil {
			return d, fmt.Errorf("packet %d: %v", d.packets, el.Error())
		}
		var ipl gopacket.SerializableLayer
		fragment := false
		if ip4, ok := p.Layer(layers.LayerTypeIPv4).(*layers.IPv4); ok {
			fragment = ip4.Flags&layers.IPv4MoreFragments != 0 || ip4.FragOffset != 0
			ipl = ip4
		}
		if ip6, ok := p.Layer(layers.LayerTypeIPv6).(*layers.IPv6); ok {
			d.ipv6++
			ipl = ip6
			if p.Layer(layers.LayerTypeIPv6Fragment) != nil {
				fragment = true
			}
		}
		if fragment {
			d.fragments++
			continue
		}
		var l4 gopacket.SerializableLayer
		var payload []byte
		switch x := p.TransportLayer().(type) {
		case *layers.UDP:
			x.SetNetworkLayerForChecksum(p.NetworkLayer())
			l4, payload = x, x.Payload
			m := new(dns.Msg)
			if err := m.Unpack(payload); err != nil {
				return d, fmt.Errorf("packet %d: DNS: %v", d.packets, err)
			}
			if m.Response {
				d.responses++
				k := txKey{uint16(x.DstPort), m.Id}
				if q, ok := outstanding[k]; ok {
					if q < lastAnswered {
						d.reordered++
					}
					lastAnswered = q
					delete(outstanding, k)
				}
			} else {
				outstanding[txKey{uint16(x.SrcPort), m.Id}] = d.queries
				d.queries++
				d.maxOutstanding = max(d.maxOutstanding, len(outstanding))
			}
		case *layers.TCP:
			x.SetNetworkLayerForChecksum(p.NetworkLayer())
			l4, payload = x, x.Payload
			if x.SYN && !x.ACK {
				d.syns++
			}
		default:
			return d, fmt.Errorf("packet %d: no transport layer", d.packets)
		}
		eth := p.Layer(layers.LayerTypeEthernet).(*layers.Ethernet)
		opts := gopacket.SerializeOptions{ComputeChecksums: true}
		if err := gopacket.SerializeLayers(sbuf, opts, eth, ipl, l4, gopacket.Payload(payload)); err != nil {
			return d, fmt.Errorf("packet %d: serialize: %v", d.packets, err)
		}
		if !bytes.Equal(sbuf.Bytes(), data) {
			return d, fmt.Errorf("packet %d: bytes differ after recomputing checksums:\n got %x\nwant %x", d.packets, data, sbuf.Bytes())
		}
	}
	return d, nil
}

func TestGenerateDecodes(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			capture, sum := generate(t, Options{Kind: k, Packets: 20000, Seed: 7})
			d, err := decodeAll(capture)
			if err != nil {
				t.Fatal(err)
			}
			if d.packets != sum.Packets {
				t.Errorf("decoded %d packets, Summary.Packets = %d", d.packets, sum.Packets)
			}
			if k != KindTCP && sum.Packets != 20000 {
				t.Errorf("Summary.Packets = %d, want exactly 20000", sum.Packets)
			}
			if k == KindTCP && (sum.Packets < 20000 || sum.Packets > 20100) {
				t.Errorf("Summary.Packets = %d, want 20000 plus at most one connection", sum.Packets)
			}
			if d.ipv6 != sum.IPv6 {
				t.Errorf("decoded %d IPv6 packets, Summary.IPv6 = %d", d.ipv6, sum.IPv6)
			}
			queryFlood := k == KindQueryFlood || k == KindCollideFlood
			if share := float64(sum.IPv6) / float64(sum.Packets); !queryFlood && (share < 0.07 || share > 0.13) {
				t.Errorf("IPv6 share %.3f, want about 0.10", share)
			}
			if d.fragments != sum.Fragments {
				t.Errorf("decoded %d fragments, Summary.Fragments = %d", d.fragments, sum.Fragments)
			}
			switch k {
			case KindUDP:
				if d.queries != sum.Queries || d.responses != sum.Responses {
					t.Errorf("decoded %d queries %d responses, Summary says %d and %d", d.queries, d.responses, sum.Queries, sum.Responses)
				}
				if sum.Queries != sum.Responses+sum.Unanswered {
					t.Errorf("queries %d != responses %d + unanswered %d", sum.Queries, sum.Responses, sum.Unanswered)
				}
				if sum.NXDomain == 0 || sum.Unanswered == 0 {
					t.Errorf("want some NXDOMAIN and unanswered queries: %+v", sum)
				}
				if d.maxOutstanding < 200 || d.reordered < sum.Responses/10 {
					t.Errorf("transactions not interleaved: at most %d outstanding, %d of %d responses out of order",
						d.maxOutstanding, d.reordered, sum.Responses)
				}
				t.Logf("%d outstanding at most, %d of %d responses out of order", d.maxOutstanding, d.reordered, sum.Responses)
			case KindFrag:
				if sum.FragmentedMessages < sum.Responses/3 {
					t.Errorf("only %d of %d responses fragmented", sum.FragmentedMessages, sum.Responses)
				}
				if d.queries+d.responses+sum.FragmentedMessages != sum.Messages() {
					t.Errorf("decoded %d+%d whole messages + %d fragmented != %d", d.queries, d.responses, sum.FragmentedMessages, sum.Messages())
				}
			case KindTCP:
				if sum.SplitMessages == 0 || sum.SharedSegments == 0 || sum.TCPConns == 0 {
					t.Errorf("want split messages, shared segments and connections: %+v", sum)
				}
			case KindSYNFlood:
				if d.syns != sum.Packets || sum.TCPConns != sum.Packets {
					t.Errorf("SYNs: decoded %d, Summary.TCPConns %d, packets %d", d.syns, sum.TCPConns, sum.Packets)
				}
			case KindFragFlood:
				if d.fragments != sum.Packets {
					t.Errorf("fragments %d, packets %d", d.fragments, sum.Packets)
				}
			case KindQueryFlood, KindCollideFlood:
				if d.queries != sum.Packets || d.responses != 0 || sum.Unanswered != sum.Packets || sum.IPv6 != 0 {
					t.Errorf("decoded %d queries %d responses of %d packets, Summary %+v", d.queries, d.responses, sum.Packets, sum)
				}
			}
			if k == KindSYNFlood || k == KindFragFlood {
				if sum.Messages() != 0 {
					t.Errorf("flood has %d DNS messages", sum.Messages())
				}
			}
		})
	}
}

// TestTshark checks every kind against Wireshark's own reassembly: the DNS
// messages it finds (TCP and IP reassembly on) are exactly Summary's, and it
// reports no malformed packet, bad checksum or TCP sequence problem.
func TestTshark(t *testing.T) {
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			capture, sum := generate(t, Options{Kind: k, Packets: 5000, Seed: 3})
			f := filepath.Join(t.TempDir(), "c.pcap")
			if err := os.WriteFile(f, capture, 0o644); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(tshark, "-r", f, "-Y", "dns", "-T", "fields", "-e", "dns.flags.response").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			var q, r int
			for _, v := range strings.FieldsFunc(string(out), func(c rune) bool { return c == ',' || c == '\n' }) {
				switch v {
				case "0", "False":
					q++
				case "1", "True":
					r++
				default:
					t.Fatalf("tshark field %q", v)
				}
			}
			if q != sum.Queries || r != sum.Responses {
				t.Errorf("tshark found %d queries %d responses, Summary says %d and %d", q, r, sum.Queries, sum.Responses)
			}
			// Every response follows its query: Wireshark links each one
			// back (dns.response_to) and reports none unsolicited.
			out, err = exec.Command(tshark, "-r", f, "-Y", "dns.flags.response == 1 && !dns.response_to").Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			if n := strings.Count(string(out), "\n"); n != 0 {
				t.Errorf("%d responses without a query before them:\n%s", n, out)
			}
			out, err = exec.Command(tshark, "-r", f, "-q", "-o", "ip.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
				"-o", "tcp.check_checksum:TRUE", "-z", "expert,note").Output()
			if err != nil {
				t.Fatalf("tshark expert: %v", err)
			}
			// RSTs and FINs are on purpose; nothing else may be flagged.
			for _, line := range strings.Split(string(out), "\n") {
				for _, bad := range []string{"Malformed", "Bad", "bad", "Dup ACK", "Retransmission", "Out-Of-Order",
					"not captured", "unseen", "Spurious", "Window", "hecksum", "Exception", "Illegal"} {
					if strings.Contains(line, bad) {
						t.Errorf("tshark: %s", strings.TrimSpace(line))
					}
				}
			}
		})
	}
}

func TestDeterministic(t *testing.T) {
	for _, k := range allKinds {
		t.Run(k.String(), func(t *testing.T) {
			a, sa := generate(t, Options{Kind: k, Packets: 3000, Seed: 11})
			b, sb := generate(t, Options{Kind: k, Packets: 3000, Seed: 11})
			c, _ := generate(t, Options{Kind: k, Packets: 3000, Seed: 12})
			if !bytes.Equal(a, b) || sa != sb {
				t.Error("same options gave different captures")
			}
			if bytes.Equal(a, c) {
				t.Error("different seeds gave the same capture")
			}
		})
	}
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"defaults", Options{Packets: 10}, true},
		{"no IPv6", Options{Packets: 100, NoIPv6: true}, true},
		{"nanosecond", Options{Packets: 10, Nanosecond: true}, true},
		{"bad kind", Options{Kind: numKinds}, false},
		{"negative packets", Options{Packets: -1}, false},
		{"IPv6 over 100", Options{IPv6Percent: 101}, false},
		{"too many servers", Options{Servers: 17}, false},
		{"negative rate", Options{Rate: -5}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sum, err := Generate(io.Discard, tc.o)
			if tc.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tc.ok)
			}
			if !tc.ok && !errors.Is(err, ErrBadOptions) {
				t.Fatalf("err = %v, want ErrBadOptions", err)
			}
			if tc.ok && tc.o.NoIPv6 && sum.IPv6 != 0 {
				t.Fatalf("NoIPv6 wrote %d IPv6 packets", sum.IPv6)
			}
		})
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range allKinds {
		got, err := ParseKind(k.String())
		if err != nil || got != k {
			t.Errorf("ParseKind(%q) = %v, %v", k.String(), got, err)
		}
	}
	if _, err := ParseKind("icmp"); err == nil {
		t.Error("ParseKind(icmp) did not fail")
	}
}

func BenchmarkGenerate(b *testing.B) {
	for _, k := range allKinds {
		b.Run(k.String(), func(b *testing.B) {
			const n = 100_000
			var bytes int64
			for b.Loop() {
				sum, err := Generate(io.Discard, Options{Kind: k, Packets: n})
				if err != nil {
					b.Fatal(err)
				}
				bytes = sum.Bytes
			}
			b.SetBytes(bytes)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/packet")
		})
	}
}

// TestPairCollisions checks the attack itself: the pairs it chooses are
// distinct and, under the old unseeded pairing hash, land in the target
// positions, while random pairs spread over the whole index. Without this,
// a flood test passing could mean the attack broke, not that the sensor
// resists it.
func TestPairCollisions(t *testing.T) {
	const n, indexBits, slots = 4000, 14, 64
	q := FloodQuestion()
	pairs := PairCollisions(FloodClient, FloodServer, q, n, indexBits, slots)
	if len(pairs) != n {
		t.Fatalf("%d pairs, want %d", len(pairs), n)
	}
	mask := uint64(1)<<indexBits - 1
	homes := map[uint64]int{}
	seen := map[PortID]bool{}
	for _, p := range pairs {
		if seen[p] {
			t.Fatalf("pair %v twice", p)
		}
		seen[p] = true
		homes[UnseededPairHash(netip.AddrPortFrom(FloodClient, p.Port), FloodServer, 1, p.ID, q)&mask]++
	}
	for h := range homes {
		if h >= slots {
			t.Fatalf("home %d outside the first %d positions", h, slots)
		}
	}
	// The same number of ordinary pairs: nearly all in homes of their own.
	rng := rand.New(rand.NewPCG(1, 2))
	spread := map[uint64]bool{}
	for range n {
		spread[UnseededPairHash(netip.AddrPortFrom(FloodClient, uint16(1024+rng.IntN(60000))), FloodServer, 1, uint16(rng.Uint32()), q)&mask] = true
	}
	if len(spread) < n/2 {
		t.Fatalf("%d random pairs took only %d homes", n, len(spread))
	}
	t.Logf("%d chosen pairs in %d homes; %d random pairs in %d", n, len(homes), n, len(spread))
}
