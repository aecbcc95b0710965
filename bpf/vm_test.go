package bpf

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	"golang.org/x/net/bpf"
)

// Packet builders. Each returns a whole frame; headers are minimal but
// well-formed, so tcpdump decodes them the same way (TestCraftedTcpdump).

var (
	mac2 = []byte{0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0x02}
	src4 = []byte{192, 0, 2, 1}
	dst4 = []byte{192, 0, 2, 53}
	src6 = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
	dst6 = []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53}
)

const (
	protoTCP  = 6
	protoUDP  = 17
	protoGRE  = 47
	protoFrag = 44
	protoHop  = 0
)

func eth(etherType uint16, payload []byte, tags ...uint16) []byte {
	b := append([]byte(nil), mac2...)
	// tags alternate TPID, TCI: outer first.
	for i := 0; i+1 < len(tags); i += 2 {
		b = binary.BigEndian.AppendUint16(b, tags[i])
		b = binary.BigEndian.AppendUint16(b, tags[i+1])
	}
	b = binary.BigEndian.AppendUint16(b, etherType)
	return append(b, payload...)
}

func udp(sport, dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = binary.BigEndian.AppendUint16(b, uint16(8+len(payload)))
	b = binary.BigEndian.AppendUint16(b, 0)
	return append(b, payload...)
}

func tcp(sport, dport uint16, payload []byte) []byte {
	b := binary.BigEndian.AppendUint16(nil, sport)
	b = binary.BigEndian.AppendUint16(b, dport)
	b = append(b, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0, 0, 0, 0)
	return append(b, payload...)
}

// ipv4 with flags/fragment offset field fragField (MF = 0x2000) and optional
// options (a multiple of 4 bytes).
func ipv4(proto byte, fragField uint16, opts, payload []byte) []byte {
	ihl := 5 + len(opts)/4
	b := []byte{0x40 | byte(ihl), 0}
	b = binary.BigEndian.AppendUint16(b, uint16(ihl*4+len(payload)))
	b = append(b, 0x12, 0x34)
	b = binary.BigEndian.AppendUint16(b, fragField)
	b = append(b, 64, proto, 0, 0)
	b = append(b, src4...)
	b = append(b, dst4...)
	b = append(b, opts...)
	return append(b, payload...)
}

func ipv6(next byte, payload []byte) []byte {
	b := []byte{0x60, 0, 0, 0}
	b = binary.BigEndian.AppendUint16(b, uint16(len(payload)))
	b = append(b, next, 64)
	b = append(b, src6...)
	b = append(b, dst6...)
	return append(b, payload...)
}

// frag6 is an IPv6 Fragment extension header (RFC 8200 §4.5).
func frag6(next byte, offset uint16, more bool, payload []byte) []byte {
	f := offset << 3
	if more {
		f |= 1
	}
	b := []byte{next, 0}
	b = binary.BigEndian.AppendUint16(b, f)
	b = append(b, 0, 0, 0x12, 0x34)
	return append(b, payload...)
}

// hop6 is an empty Hop-by-Hop Options header (8 bytes: PadN).
func hop6(next byte, payload []byte) []byte {
	return append([]byte{next, 0, 1, 4, 0, 0, 0, 0}, payload...)
}

// pppoe is a PPPoE session header (RFC 2516 §4, session 0x1234) and a PPP
// protocol field.
func pppoe(proto uint16, payload []byte) []byte {
	b := []byte{0x11, 0, 0x12, 0x34}
	b = binary.BigEndian.AppendUint16(b, uint16(2+len(payload)))
	b = binary.BigEndian.AppendUint16(b, proto)
	return append(b, payload...)
}

var dnsQuery = []byte{0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 3, 'w', 'w', 'w', 0, 0, 1, 0, 1}

const (
	etIPv4   = 0x0800
	etIPv6   = 0x86dd
	etARP    = 0x0806
	etVLAN   = 0x8100
	etQinQ   = 0x88a8
	tciV11   = 11
	tciV100  = 100
	etPPPoES = 0x8864
	pppIPv4  = 0x0021
	pppIPv6  = 0x0057
)

type crafted struct {
	name        string
	frame       []byte
	dns, tunnel bool // want: default filter, tunnel filter
	hostMatch   bool // 'host 192.0.2.53'
	port53Match bool // 'port 53'
	limitation  string
}

func craftedPackets() []crafted {
	arp := eth(etARP, []byte{0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, 1, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 192, 0, 2, 53})
	v4udp53 := ipv4(protoUDP, 0, nil, udp(40000, 53, dnsQuery))
	v4ntp := ipv4(protoUDP, 0, nil, udp(40000, 123, dnsQuery))
	return []crafted{
		// IP 192.0.2.1.40000 > 192.0.2.53.53: UDP query
		{name: "ipv4 udp query to 53", frame: eth(etIPv4, v4udp53), dns: true, tunnel: true, hostMatch: true, port53Match: true},
		// IP 192.0.2.1.53 > 192.0.2.53.40000: UDP response
		{name: "ipv4 udp response from 53", frame: eth(etIPv4, ipv4(protoUDP, 0, nil, udp(53, 40000, dnsQuery))), dns: true, tunnel: true, hostMatch: true, port53Match: true},
		{name: "ipv4 tcp to 53", frame: eth(etIPv4, ipv4(protoTCP, 0, nil, tcp(40000, 53, dnsQuery))), dns: true, tunnel: true, hostMatch: true, port53Match: true},
		{name: "ipv4 with options udp to 53", frame: eth(etIPv4, ipv4(protoUDP, 0, []byte{1, 1, 1, 0}, udp(40000, 53, dnsQuery))), dns: true, tunnel: true, hostMatch: true, port53Match: true},
		{name: "ipv6 udp to 53", frame: eth(etIPv6, ipv6(protoUDP, udp(40000, 53, dnsQuery))), dns: true, tunnel: true, port53Match: true},
		{name: "ipv6 tcp from 53", frame: eth(etIPv6, ipv6(protoTCP, tcp(53, 40000, dnsQuery))), dns: true, tunnel: true, port53Match: true},
		{name: "ipv4 udp ntp", frame: eth(etIPv4, v4ntp), hostMatch: true},
		{name: "ipv4 tcp https", frame: eth(etIPv4, ipv4(protoTCP, 0, nil, tcp(40000, 443, nil))), hostMatch: true},
		{name: "ipv6 udp 443", frame: eth(etIPv6, ipv6(protoUDP, udp(40000, 443, nil)))},
		// IP 192.0.2.1 > 192.0.2.53: udp (frag 0x1234:100@1480): no ports
		{name: "ipv4 non-first fragment", frame: eth(etIPv4, ipv4(protoUDP, 185, nil, make([]byte, 100))), dns: true, tunnel: true, hostMatch: true},
		{name: "ipv4 last fragment with MF clear", frame: eth(etIPv4, ipv4(protoUDP, 370, nil, make([]byte, 20))), dns: true, tunnel: true, hostMatch: true},
		{name: "ipv4 first fragment to 53", frame: eth(etIPv4, ipv4(protoUDP, 0x2000, nil, udp(40000, 53, dnsQuery))), dns: true, tunnel: true, hostMatch: true, port53Match: true},
		{name: "ipv4 first fragment to 443", frame: eth(etIPv4, ipv4(protoUDP, 0x2000, nil, udp(40000, 443, dnsQuery))), hostMatch: true},
		{name: "ipv4 DF set udp 123", frame: eth(etIPv4, ipv4(protoUDP, 0x4000, nil, udp(40000, 123, nil))), hostMatch: true},
		{name: "ipv6 first fragment to 53", frame: eth(etIPv6, ipv6(protoFrag, frag6(protoUDP, 0, true, udp(40000, 53, dnsQuery)))), dns: true, tunnel: true},
		{name: "ipv6 non-first fragment", frame: eth(etIPv6, ipv6(protoFrag, frag6(protoUDP, 185, false, make([]byte, 64)))), dns: true, tunnel: true},
		{name: "ipv6 hop-by-hop then udp 53", frame: eth(etIPv6, ipv6(protoHop, hop6(protoUDP, udp(40000, 53, dnsQuery)))),
			limitation: "libpcap's port primitives read only the first IPv6 next-header; such packets are rare for DNS and the decoder sees them in files"},
		{name: "vlan 11 ipv4 udp 53", frame: eth(etIPv4, v4udp53, etVLAN, tciV11), dns: true, tunnel: true},
		{name: "vlan 11 ipv6 tcp 53", frame: eth(etIPv6, ipv6(protoTCP, tcp(40000, 53, dnsQuery)), etVLAN, tciV11), dns: true, tunnel: true},
		{name: "vlan 11 ipv4 non-first fragment", frame: eth(etIPv4, ipv4(protoUDP, 185, nil, make([]byte, 40)), etVLAN, tciV11), dns: true, tunnel: true},
		{name: "vlan 11 ipv4 ntp", frame: eth(etIPv4, v4ntp, etVLAN, tciV11)},
		{name: "qinq ipv4 udp 53", frame: eth(etIPv4, v4udp53, etQinQ, tciV100, etVLAN, tciV11), dns: true, tunnel: true},
		{name: "qinq 8100/8100 ipv6 udp 53", frame: eth(etIPv6, ipv6(protoUDP, udp(53, 40000, dnsQuery)), etVLAN, tciV100, etVLAN, tciV11), dns: true, tunnel: true},
		{name: "qinq ipv4 ntp", frame: eth(etIPv4, v4ntp, etQinQ, tciV100, etVLAN, tciV11)},
		{name: "three tags ipv4 udp 53", frame: eth(etIPv4, v4udp53, etQinQ, 1, etVLAN, 2, etVLAN, 3),
			limitation: "two tags at most: the kernel strips the outer one on AF_PACKET, so three in the frame are not seen on real mirrors"},
		{name: "arp", frame: arp},
		{name: "gre", frame: eth(etIPv4, ipv4(protoGRE, 0, nil, []byte{0, 0, 0x65, 0x58})), tunnel: true, hostMatch: true},
		{name: "vxlan", frame: eth(etIPv4, ipv4(protoUDP, 0, nil, udp(40000, 4789, make([]byte, 8)))), tunnel: true, hostMatch: true},
		{name: "geneve over ipv6", frame: eth(etIPv6, ipv6(protoUDP, udp(40000, 6081, make([]byte, 8)))), tunnel: true},
		{name: "gtp-u", frame: eth(etIPv4, ipv4(protoUDP, 0, nil, udp(2152, 2152, make([]byte, 8)))), tunnel: true, hostMatch: true},
		{name: "gre-in-udp over ipv6", frame: eth(etIPv6, ipv6(protoUDP, udp(40000, 4754, make([]byte, 4)))), tunnel: true},
		{name: "vxlan-gpe under vlan", frame: eth(etIPv4, ipv4(protoUDP, 0, nil, udp(40000, 4790, make([]byte, 8))), etVLAN, tciV11), tunnel: true},
		{name: "pppoe ipv4 udp 53", frame: eth(etPPPoES, pppoe(pppIPv4, v4udp53)), tunnel: true},
		{name: "pppoe ipv4 with options tcp from 53", frame: eth(etPPPoES, pppoe(pppIPv4, ipv4(protoTCP, 0, []byte{1, 1, 1, 0}, tcp(53, 40000, dnsQuery)))), tunnel: true},
		{name: "pppoe ipv4 non-first fragment", frame: eth(etPPPoES, pppoe(pppIPv4, ipv4(protoUDP, 185, nil, make([]byte, 40)))), tunnel: true},
		{name: "pppoe ipv4 ntp", frame: eth(etPPPoES, pppoe(pppIPv4, v4ntp))},
		{name: "pppoe ipv6 udp 53", frame: eth(etPPPoES, pppoe(pppIPv6, ipv6(protoUDP, udp(40000, 53, dnsQuery)))), tunnel: true},
		{name: "pppoe ipv6 first fragment", frame: eth(etPPPoES, pppoe(pppIPv6, ipv6(protoFrag, frag6(protoUDP, 0, true, udp(40000, 53, dnsQuery))))), tunnel: true},
		{name: "pppoe ipv6 udp 443", frame: eth(etPPPoES, pppoe(pppIPv6, ipv6(protoUDP, udp(40000, 443, nil))))},
		{name: "pppoe lcp", frame: eth(etPPPoES, pppoe(0xc021, make([]byte, 20)))},
		{name: "vlan pppoe ipv4 udp 53", frame: eth(etPPPoES, pppoe(pppIPv4, v4udp53), etVLAN, tciV11), tunnel: true},
		{name: "qinq pppoe ipv6 tcp 53", frame: eth(etPPPoES, pppoe(pppIPv6, ipv6(protoTCP, tcp(40000, 53, dnsQuery))), etQinQ, tciV100, etVLAN, tciV11), tunnel: true},
		{name: "qinq pppoe ipv4 ntp", frame: eth(etPPPoES, pppoe(pppIPv4, v4ntp), etQinQ, tciV100, etVLAN, tciV11)},
		{name: "pppoe discovery", frame: eth(0x8863, []byte{0x11, 0x09, 0, 0, 0, 0})},
		{name: "truncated before ports", frame: eth(etIPv4, v4udp53)[:14+20+1], hostMatch: true},
		{name: "empty frame", frame: nil},
		{name: "ethernet header only", frame: eth(etIPv4, nil)},
	}
}

func mustProgram(t testing.TB, raw []bpf.RawInstruction) *Program {
	t.Helper()
	p, err := NewProgram(raw)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaultFilterCrafted(t *testing.T) {
	dns, tun := mustProgram(t, DNS()), mustProgram(t, DNSTunnel())
	for _, c := range craftedPackets() {
		t.Run(c.name, func(t *testing.T) {
			if got := dns.Run(c.frame, len(c.frame)); (got != 0) != c.dns {
				t.Errorf("DNS filter returns %d, want match=%v %s", got, c.dns, c.limitation)
			} else if c.dns && got != Snaplen {
				t.Errorf("DNS filter returns %d, want snaplen %d", got, Snaplen)
			}
			if got := tun.Run(c.frame, len(c.frame)); (got != 0) != c.tunnel {
				t.Errorf("tunnel filter returns %d, want match=%v %s", got, c.tunnel, c.limitation)
			}
		})
	}
}

// writePcap writes frames as an Ethernet pcap for tcpdump.
func writePcap(t *testing.T, frames [][]byte) string {
	t.Helper()
	le := binary.LittleEndian
	b := le.AppendUint32(nil, 0xa1b2c3d4)
	b = le.AppendUint16(b, 2)
	b = le.AppendUint16(b, 4)
	b = le.AppendUint64(b, 0)
	b = le.AppendUint32(b, Snaplen)
	b = le.AppendUint32(b, linkTypeEthernet)
	for i, f := range frames {
		b = le.AppendUint32(b, uint32(i+1)) // the second = the frame's number
		b = le.AppendUint32(b, 0)
		b = le.AppendUint32(b, uint32(len(f)))
		b = le.AppendUint32(b, uint32(len(f)))
		b = append(b, f...)
	}
	path := filepath.Join(t.TempDir(), "crafted.pcap")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// tcpdumpMatches runs tcpdump with expr over a pcap written by writePcap and
// returns which frames (by index) it printed.
func tcpdumpMatches(t *testing.T, tcpdump, path, expr string, n int) []bool {
	t.Helper()
	out, err := exec.Command(tcpdump, "-r", path, "-nn", "-tt", "-q", expr).Output()
	if err != nil {
		t.Fatalf("tcpdump %q: %v", expr, err)
	}
	got := make([]bool, n)
	for _, line := range strings.Split(string(out), "\n") {
		sec, _, ok := strings.Cut(line, ".")
		if !ok {
			continue
		}
		var i int
		for _, c := range sec {
			if c < '0' || c > '9' {
				i = -1
				break
			}
			i = i*10 + int(c-'0')
		}
		if i >= 1 && i <= n {
			got[i-1] = true
		}
	}
	return got
}

// TestCraftedTcpdump is the oracle: every crafted frame, through every
// program, must match exactly when tcpdump (libpcap's own bpf_filter) says it
// does.
func TestCraftedTcpdump(t *testing.T) {
	tcpdump := testenv.NeedTool(t, "tcpdump", "tcpdump")
	cs := craftedPackets()
	frames := make([][]byte, len(cs))
	for i, c := range cs {
		frames[i] = c.frame
	}
	path := writePcap(t, frames)
	for _, expr := range []string{DNSExpr, DNSTunnelExpr, "host 192.0.2.53", "port 53", "udp and len > 100", "greater 90"} {
		t.Run(expr[:min(len(expr), 30)], func(t *testing.T) {
			if expr != DNSExpr && expr != DNSTunnelExpr {
				needCompiler(t)
			}
			m := NewMatcher(expr)
			want := tcpdumpMatches(t, tcpdump, path, expr, len(cs))
			for i, c := range cs {
				if got := m.Match(linkTypeEthernet, c.frame, len(c.frame)); got != want[i] {
					t.Errorf("%s: Match = %v, tcpdump says %v", c.name, got, want[i])
				}
			}
			if err := m.Errors(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestProgramWireLen(t *testing.T) {
	// "greater 100" compiles to "ld #pktlen; jge #100": libpcap uses the
	// length on the wire, so a frame cut to 60 bytes by the snaplen still
	// counts as its original 1500.
	raw := []bpf.RawInstruction{
		{Op: clsLD | szW | mdLEN},
		{Op: clsJMP | jmpJGE, Jt: 0, Jf: 1, K: 100},
		{Op: clsRET | retK, K: Snaplen},
		{Op: clsRET | retK, K: 0},
	}
	p := mustProgram(t, raw)
	frame := make([]byte, 60)
	if p.Run(frame, 1500) == 0 {
		t.Error("wire length 1500 did not match greater 100")
	}
	if p.Run(frame, 60) != 0 {
		t.Error("wire length 60 matched greater 100")
	}
}

func TestProgramSemantics(t *testing.T) {
	ret := func(k uint32) bpf.RawInstruction { return bpf.RawInstruction{Op: clsRET | retK, K: k} }
	retAcc := bpf.RawInstruction{Op: clsRET | retA}
	pkt := []byte{0x45, 0x01, 0x02, 0x03, 0x04, 0x05}
	tests := []struct {
		name string
		prog []bpf.RawInstruction
		want uint32
	}{
		{"ld word", []bpf.RawInstruction{{Op: clsLD | szW | mdABS, K: 1}, retAcc}, 0x01020304},
		{"ld half", []bpf.RawInstruction{{Op: clsLD | szH | mdABS, K: 4}, retAcc}, 0x0405},
		{"ld word out of bounds", []bpf.RawInstruction{{Op: clsLD | szW | mdABS, K: 3}, ret(7)}, 0},
		{"ld huge offset", []bpf.RawInstruction{{Op: clsLD | szB | mdABS, K: 0xffffffff}, ret(7)}, 0},
		{"ldx msh then ind", []bpf.RawInstruction{{Op: clsLDX | szB | mdMSH, K: 0}, {Op: clsLD | szB | mdIND, K: 0xffffffec + 1}, ret(7)}, 0}, // X+K is not taken mod 2^32, as in libpcap
		{"ldx msh", []bpf.RawInstruction{{Op: clsLDX | szB | mdMSH, K: 0}, {Op: clsMISC | miscTXA}, retAcc}, 20},
		{"ind wraps no further", []bpf.RawInstruction{{Op: clsLDX | szW | mdIMM, K: 0xffffffff}, {Op: clsLD | szB | mdIND, K: 2}, ret(7)}, 0},
		{"div by x zero", []bpf.RawInstruction{{Op: clsLD | szW | mdIMM, K: 8}, {Op: clsLDX | szW | mdIMM, K: 0}, {Op: clsALU | aluDIV | srcX}, ret(7)}, 0},
		{"mod by x", []bpf.RawInstruction{{Op: clsLD | szW | mdIMM, K: 8}, {Op: clsLDX | szW | mdIMM, K: 3}, {Op: clsALU | aluMOD | srcX}, retAcc}, 2},
		{"neg", []bpf.RawInstruction{{Op: clsLD | szW | mdIMM, K: 1}, {Op: clsALU | aluNEG}, retAcc}, 0xffffffff},
		{"lsh 32 gives 0", []bpf.RawInstruction{{Op: clsLD | szW | mdIMM, K: 1}, {Op: clsLDX | szW | mdIMM, K: 32}, {Op: clsALU | aluLSH | srcX}, retAcc}, 0},
		{"scratch", []bpf.RawInstruction{{Op: clsLD | szW | mdIMM, K: 9}, {Op: clsST, K: 15}, {Op: clsLDX | szW | mdMEM, K: 15}, {Op: clsMISC | miscTXA}, retAcc}, 9},
		{"ja", []bpf.RawInstruction{{Op: clsJMP | jmpJA, K: 1}, ret(1), ret(2)}, 2},
		{"jset x", []bpf.RawInstruction{{Op: clsLD | szB | mdABS, K: 0}, {Op: clsLDX | szW | mdIMM, K: 4}, {Op: clsJMP | jmpJSET | srcX, Jt: 0, Jf: 1}, ret(1), ret(2)}, 1},
		{"len", []bpf.RawInstruction{{Op: clsLDX | szW | mdLEN}, {Op: clsMISC | miscTXA}, retAcc}, 99},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := mustProgram(t, tt.prog).Run(pkt, 99); got != tt.want {
				t.Fatalf("Run = %#x, want %#x", got, tt.want)
			}
		})
	}
}

func TestNewProgramRejects(t *testing.T) {
	ret := bpf.RawInstruction{Op: clsRET | retK, K: 1}
	tests := []struct {
		name string
		prog []bpf.RawInstruction
	}{
		{"empty", nil},
		{"no return at end", []bpf.RawInstruction{{Op: clsLD | szW | mdIMM}}},
		{"jump past end", []bpf.RawInstruction{{Op: clsJMP | jmpJEQ, Jt: 1}, ret}},
		{"ja past end", []bpf.RawInstruction{{Op: clsJMP | jmpJA, K: 0xffffffff}, ret}},
		{"div by constant zero", []bpf.RawInstruction{{Op: clsALU | aluDIV}, ret}},
		{"scratch out of range", []bpf.RawInstruction{{Op: clsST, K: 16}, ret}},
		{"unknown opcode", []bpf.RawInstruction{{Op: 0xffff}, ret}},
		{"ld extension-like mode", []bpf.RawInstruction{{Op: clsLD | szB | mdLEN}, ret}},
		{"ret x", []bpf.RawInstruction{{Op: clsRET | 0x08}}},
		{"too long", make([]bpf.RawInstruction, maxInstructions+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewProgram(tt.prog); !errors.Is(err, ErrInvalidProgram) {
				t.Fatalf("NewProgram = %v, want ErrInvalidProgram", err)
			}
		})
	}
}

func TestProgramZeroAlloc(t *testing.T) {
	p := mustProgram(t, DNS())
	frame := eth(etIPv4, ipv4(protoUDP, 0, nil, udp(40000, 53, dnsQuery)), etQinQ, 1, etVLAN, 2)
	m := NewMatcher(DNSExpr)
	m.Match(linkTypeEthernet, frame, len(frame))
	if n := testing.AllocsPerRun(1000, func() { p.Run(frame, len(frame)) }); n != 0 {
		t.Fatalf("Run allocates %v/packet", n)
	}
	if n := testing.AllocsPerRun(1000, func() { m.Match(linkTypeEthernet, frame, len(frame)) }); n != 0 {
		t.Fatalf("Match allocates %v/packet", n)
	}
}

// BenchmarkMatch is the default filter on a QinQ DNS frame, the longest
// path through the program (both VLAN branches).
func BenchmarkMatch(b *testing.B) {
	frames := map[string][]byte{
		"ipv4-udp53": eth(etIPv4, ipv4(protoUDP, 0, nil, udp(40000, 53, dnsQuery))),
		"qinq-udp53": eth(etIPv4, ipv4(protoUDP, 0, nil, udp(40000, 53, dnsQuery)), etQinQ, 1, etVLAN, 2),
		"qinq-ntp":   eth(etIPv4, ipv4(protoUDP, 0, nil, udp(40000, 123, dnsQuery)), etQinQ, 1, etVLAN, 2),
	}
	for name, frame := range frames {
		b.Run(name, func(b *testing.B) {
			m := NewMatcher(DNSExpr)
			b.ReportAllocs()
			for b.Loop() {
				m.Match(linkTypeEthernet, frame, len(frame))
			}
		})
		b.Run(name+"/x-net-vm", func(b *testing.B) {
			// For comparison: golang.org/x/net/bpf's VM on the same program.
			ins, ok := bpf.Disassemble(DNS())
			if !ok {
				b.Fatal("disassemble")
			}
			vm, err := bpf.NewVM(ins)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				vm.Run(frame)
			}
		})
	}
}
