package bpf

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"golang.org/x/net/bpf"
)

// pcapFrame is one frame of a test capture.
type pcapFrame struct {
	link uint16
	data []byte
	wire int
}

// readPcap reads a capture with pcapgo (not internal/capture, which imports
// this package).
func readPcap(t testing.TB, path string) []pcapFrame {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []pcapFrame
	if strings.HasSuffix(path, ".pcapng") {
		r, err := pcapgo.NewNgReader(bytes.NewReader(raw), pcapgo.NgReaderOptions{WantMixedLinkType: true})
		if err != nil {
			t.Fatal(err)
		}
		for {
			data, ci, err := r.ReadPacketData()
			if err == io.EOF {
				return out
			}
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, pcapFrame{uint16(ci.AncillaryData[0].(layers.LinkType)), data, ci.Length})
		}
	}
	r, err := pcapgo.NewReader(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, pcapFrame{uint16(r.LinkType()), data, ci.Length})
	}
}

// wantMatches are the frames of each capture that the default filter and
// the tunnel filter accept (checked against tcpdump -w with the same
// expression, then capinfos -c). Where they differ from tshark's DNS count in
// testdata/pcaps/README.md:
//   - tunnels (GRE, ERSPAN, VXLAN, GENEVE): the default filter sees only the
//     outer header and matches none of them; the tunnel filter takes every
//     GRE/VXLAN/GENEVE packet, DNS inside or not (the decoder decides).
//   - zeek_gre-teb-outerfrag: 39 outer IPv4 fragments match the default
//     filter (non-first fragments carry no ports: kept on purpose).
//   - netutils_gre_ipv6_dns_tcp: GRE behind an IPv6 Destination Options
//     header: libpcap's "proto 47" reads only the first next-header, and the
//     inner DNS is on port 5301 anyway.
//   - dnscap_frags, dnscap_sll2, synthetic_sll1, tcpdump_LINKTYPE_IPV6: not
//     Ethernet, so the filter is the expression without its VLAN branches.
//   - GTP-U, GRE-in-UDP, VXLAN-GPE: the tunnel filter takes every packet to
//     their ports; PPPoE (dpkt_nb6-http, synthetic_pppoe-qinq): the tunnel
//     filter takes the DNS packets inside PPPoE sessions, under 0, 1 or 2
//     tags, and nothing else of them.
//   - zeek_tunnels_gre-pptp: its GRE is inside IPv4-in-IPv6, which neither
//     filter follows (libpcap's "proto 47" reads the outer header).
//   - synthetic_80211qos: libpcap's 802.11 header length leaves out the
//     fourth address, so the 36 DNS frames in four-address (WDS) form are
//     not matched (tcpdump agrees); the decoder reads them.
//   - synthetic_null-ethertype: libpcap's BSD loopback filter tests an
//     address family, not an EtherType: nothing matches.
//   - NFLOG and PKTAP: libpcap cannot filter them ("link-layer type
//     filtering not implemented"); Prepare fails and nothing matches.
var wantMatches = map[string][2]int{
	"arkime_gtp-iphone.pcap":                             {0, 106},
	"dpkt_nb6-http.pcap":                                 {0, 16},
	"synthetic_80211qos_dnscap-dns.pcap":                 {46, 46},
	"synthetic_fddi_dnscap-dns.pcap":                     {82, 82},
	"synthetic_null-ethertype_dnscap-dns.pcap":           {0, 0},
	"synthetic_pktap149_dnscap-dns.pcap":                 {0, 0},
	"synthetic_pktap_dnscap-dns.pcap":                    {0, 0},
	"synthetic_ppi_dnscap-dns.pcap":                      {82, 82},
	"synthetic_pppoe-qinq_dnscap-dns.pcap":               {0, 82},
	"synthetic_vxlangpe_dnscap-dns.pcap":                 {0, 133},
	"tcpdump_nflog.pcap":                                 {0, 0},
	"zeek_radiotap.pcap":                                 {2, 2},
	"zeek_tunnels_gre-over-udp-4754.pcap":                {0, 14},
	"zeek_tunnels_gre-pptp.pcap":                         {0, 0},
	"dnscap_1qtcpnosyn.pcap":                             {8, 8},
	"dnscap_dns.pcap":                                    {82, 82},
	"dnscap_dnso1tcp-bighole.pcap":                       {200, 200},
	"dnscap_dnso1tcp-midmiss.pcap":                       {19, 19},
	"dnscap_dnso1tcp.pcap":                               {212, 212},
	"dnscap_dnsotcp-many1pkt.pcap":                       {10, 10},
	"dnscap_dnsotcp-manyopkts.pcap":                      {7, 7},
	"dnscap_do1t-nosyn-1nolen.pcap":                      {9, 9},
	"dnscap_edns.pcap":                                   {14, 14},
	"dnscap_frags.pcap":                                  {495, 495},
	"dnscap_ipv6-with-ethernet-padding.pcap":             {1, 1},
	"dnscap_sll2.pcap":                                   {2, 2},
	"dnscap_vlan11.pcap":                                 {82, 82},
	"lab_bind_frag.pcap":                                 {16, 16},
	"lab_bind_tcp.pcap":                                  {100, 100},
	"lab_bind_udp.pcap":                                  {26, 26},
	"netutils_dns_ipv6_tcp.pcap":                         {10, 10},
	"netutils_dnsdump_ip4_fragmented+udp.pcap":           {3, 3},
	"netutils_dnsdump_ip4_fragmented_query.pcap":         {4, 4},
	"netutils_dnsdump_ip6_fragmented+udp.pcap":           {3, 3},
	"netutils_dnsdump_ip6_fragmented_query.pcap":         {2, 2},
	"netutils_dnsdump_tcp_fastopen.pcap":                 {32, 32},
	"netutils_dnsdump_udp_truncated+tcp_fragmented.pcap": {30, 30},
	"netutils_gre_ipv4_dns_tcp.pcap":                     {0, 20},
	"netutils_gre_ipv6_dns_tcp.pcap":                     {0, 0},
	"sv_datasets-08-state-ipv6-vlan.pcap":                {3, 3},
	"sv_dns-reversed-tcp-1.pcap":                         {5, 5},
	"sv_dns-tcp-multirequest-buffer.pcap":                {48, 48},
	"sv_dns-tcp-ts-gap.pcap":                             {15, 15},
	"sv_vxlan-decoder-03.pcap":                           {0, 100},
	"synthetic_erspan2_dnscap-dns.pcap":                  {0, 133},
	"synthetic_sll1_dnscap-dns.pcap":                     {82, 82},
	"tcpdump_LINKTYPE_IPV6.pcap":                         {1, 1},
	"tcpdump_dns-badlabel.pcap":                          {1, 1},
	"zeek_dns-edns-ecs.pcap":                             {89, 89},
	"zeek_dns-invalid-names.pcap":                        {3, 3},
	"zeek_dns-loc-29-trunc-qinq.pcap":                    {2, 2},
	"zeek_geneve-vxlan-dns-truncated.pcap":               {0, 2},
	"zeek_gre-teb-outerfrag.pcap":                        {39, 287},
	"zeek_ipv6-fragmented-dns.pcap":                      {8, 8},
	"zeek_max-compression-depth.pcap":                    {1, 1},
	"zeek_pcapng-multi-interface.pcapng":                 {6, 6},
	"zeek_vxlan-triple-v2.pcap":                          {0, 1},
}

// pureGoRunEnv is set by make test for its run of the pure-Go build, where
// tests of user filter expressions are expected not to run; anywhere else a
// build without libpcap is a missing tool, which CI must not skip.
const pureGoRunEnv = "SENSOR_PURE_GO_RUN"

func needCompiler(t testing.TB) {
	t.Helper()
	if HaveCompiler {
		return
	}
	if os.Getenv(pureGoRunEnv) == "1" {
		t.Skip("pure-Go build: user expressions need libpcap")
	}
	testenv.Skip(t, "built without libpcap (cgo, no nopcap tag): user expressions cannot be compiled")
}

func countMatches(m *Matcher, frames []pcapFrame) int {
	n := 0
	for _, f := range frames {
		if m.Match(f.link, f.data, f.wire) {
			n++
		}
	}
	return n
}

func TestMatcherCaptures(t *testing.T) {
	for _, path := range testenv.Pcaps(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			frames := readPcap(t, path)
			if frames[0].link != linkTypeEthernet {
				needCompiler(t)
			}
			want, ok := wantMatches[name]
			if !ok {
				t.Logf("no expectation for %s yet: only TestMatcherCapturesTcpdump checks it", name)
				return
			}
			for i, expr := range []string{DNSExpr, DNSTunnelExpr} {
				m := NewMatcher(expr)
				if got := countMatches(m, frames); got != want[i] {
					t.Errorf("filter %d matches %d of %d frames, want %d (errors: %v)", i, got, len(frames), want[i], m.Errors())
				}
			}
		})
	}
}

// TestMatcherCapturesTcpdump checks every capture, with the default, the
// tunnel and two user expressions, frame by frame against tcpdump: the file
// path must keep exactly the frames a live capture with the same filter
// would.
func TestMatcherCapturesTcpdump(t *testing.T) {
	needCompiler(t)
	tcpdump := testenv.NeedTool(t, "tcpdump", "tcpdump")
	for _, path := range testenv.Pcaps(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			frames := readPcap(t, path)
			in := gunzipped(t, path)
			for _, expr := range []string{DNSExpr, DNSTunnelExpr, "host 192.0.2.53", "udp and greater 200"} {
				tdExpr := expr
				if frames[0].link != linkTypeEthernet {
					// Compile drops the VLAN branches there, as tcpdump
					// would refuse them.
					tdExpr = map[string]string{DNSExpr: dnsCore, DNSTunnelExpr: tunnelCore}[expr]
					if tdExpr == "" {
						tdExpr = expr
					}
				}
				out := filepath.Join(t.TempDir(), "out.pcap")
				var kept []pcapFrame
				if b, err := exec.Command(tcpdump, "-r", in, "-w", out, tdExpr).CombinedOutput(); err == nil {
					kept = readPcap(t, out)
				} else if strings.Contains(string(b), "link-layer type filtering not implemented") {
					// libpcap cannot filter NFLOG or PKTAP frames:
					// neither can we, and we say so up front.
					if err := NewMatcher(expr).Prepare(frames[0].link); err == nil {
						t.Fatalf("%q: libpcap cannot filter link type %d, but Prepare succeeds", expr, frames[0].link)
					}
					continue
				} else if !strings.Contains(string(b), "expression rejects all packets") {
					t.Fatalf("tcpdump %q: %v\n%s", tdExpr, err, b)
				}
				m := NewMatcher(expr)
				var ours []pcapFrame
				for _, f := range frames {
					if m.Match(f.link, f.data, f.wire) {
						ours = append(ours, f)
					}
				}
				if len(ours) != len(kept) {
					t.Fatalf("%q: we keep %d frames, tcpdump %d", expr, len(ours), len(kept))
				}
				for i := range ours {
					if !bytes.Equal(ours[i].data, kept[i].data) {
						t.Fatalf("%q: kept frame %d differs from tcpdump's", expr, i)
					}
				}
			}
		})
	}
}

// Frames of one DNS query (192.0.2.1.40000 > 192.0.2.53.53, UDP) under each
// link type the sensor decodes.
func linkFrames() map[uint16][]byte {
	ip := ipv4(protoUDP, 0, nil, udp(40000, 53, dnsQuery))
	sll := []byte{0, 0, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0, 0x08, 0x00}              // host, Ethernet, 6-byte address, IPv4
	sll2 := []byte{0x08, 0x00, 0, 0, 0, 0, 0, 2, 0, 1, 0, 6, 2, 0, 0, 0, 0, 1, 0, 0} // IPv4, ifindex 2, Ethernet, host
	return map[uint16][]byte{
		0:   append(binary.LittleEndian.AppendUint32(nil, 2), ip...), // DLT_NULL: AF_INET in host (little-endian) order
		1:   eth(etIPv4, ip),
		101: ip,
		108: append(binary.BigEndian.AppendUint32(nil, 2), ip...), // DLT_LOOP: network order
		113: append(sll, ip...),
		228: ip,
		276: append(sll2, ip...),
	}
}

func TestCompileLinkTypes(t *testing.T) {
	needCompiler(t)
	frames := linkFrames()
	v6 := ipv6(protoUDP, udp(40000, 53, dnsQuery))
	tests := []struct {
		expr string
		want bool
	}{
		{"host 192.0.2.53", true},
		{"port 53", true},
		{"udp dst port 53 and src host 192.0.2.1", true},
		{"port 54", false},
		{"host 192.0.2.54", false},
		{"tcp", false},
		{DNSExpr, true},
		{DNSTunnelExpr, true},
	}
	for lt, frame := range frames {
		for _, tt := range tests {
			t.Run(strings.Join([]string{linkName(lt), tt.expr[:min(len(tt.expr), 25)]}, "/"), func(t *testing.T) {
				m := NewMatcher(tt.expr)
				if err := m.Prepare(lt); err != nil {
					t.Fatal(err)
				}
				if got := m.Match(lt, frame, len(frame)); got != tt.want {
					t.Fatalf("Match = %v, want %v", got, tt.want)
				}
			})
		}
	}
	t.Run("raw-ipv6/port 53", func(t *testing.T) {
		m := NewMatcher("port 53 and ip6")
		if !m.Match(229, v6, len(v6)) || m.Match(229, frames[228], len(frames[228])) {
			t.Fatal("raw IPv6 link type: wrong match")
		}
		// libpcap calls an IPv4 host test on raw IPv6 an error ("expression
		// rejects all packets"); Compile makes it a program that drops all.
		m = NewMatcher("host 192.0.2.53")
		if err := m.Prepare(229); err != nil || m.Match(229, v6, len(v6)) {
			t.Fatalf("host 192.0.2.53 on raw IPv6: Prepare %v", err)
		}
	})
}

func linkName(lt uint16) string {
	return map[uint16]string{0: "null", 1: "ethernet", 101: "raw", 108: "loop", 113: "sll", 228: "ipv4", 229: "ipv6", 276: "sll2"}[lt]
}

func TestCompileErrors(t *testing.T) {
	needCompiler(t)
	tests := []struct {
		expr     string
		linkType uint16
		msg      string
	}{
		{"host 192.0.2.53 andd port 53", 1, `bpf: cannot compile filter "host 192.0.2.53 andd port 53" for link type 1: can't parse filter expression: syntax error`},
		{"port 53 and (", 1, `bpf: cannot compile filter "port 53 and (" for link type 1: can't parse filter expression: syntax error`},
		{"port 5x3", 1, `bpf: cannot compile filter "port 5x3" for link type 1: unknown port '5x3'`},
		{"ether host 02:00:00:00:00:01", 101, `bpf: cannot compile filter "ether host 02:00:00:00:00:01" for link type 101: ethernet addresses supported only on ethernet/FDDI/token ring/802.11/ATM LANE/Fibre Channel`},
		{"port 53", 65000, `bpf: cannot compile filter "port 53" for link type 65000: `},
	}
	for _, tt := range tests {
		t.Run(tt.expr, func(t *testing.T) {
			_, err := Compile(tt.expr, tt.linkType)
			if !errors.Is(err, ErrCompile) {
				t.Fatalf("Compile = %v, want ErrCompile", err)
			}
			if !strings.HasPrefix(err.Error(), tt.msg) {
				t.Fatalf("error %q, want prefix %q", err, tt.msg)
			}
		})
	}
}

func TestMatcherCompileFailure(t *testing.T) {
	needCompiler(t)
	m := NewMatcher("ether host 02:00:00:00:00:01")
	eth1 := eth(etIPv4, ipv4(protoUDP, 0, nil, udp(1, 53, nil)))
	raw := ipv4(protoUDP, 0, nil, udp(1, 53, nil))
	if !m.Match(1, eth1, len(eth1)) {
		t.Error("Ethernet frame from 02:00:00:00:00:01 did not match")
	}
	for range 3 {
		if m.Match(101, raw, len(raw)) {
			t.Error("raw frame matched an expression that cannot compile for raw IP")
		}
	}
	if m.Failed() != 3 {
		t.Errorf("Failed = %d, want 3", m.Failed())
	}
	if err := m.Errors(); !errors.Is(err, ErrCompile) || !strings.Contains(err.Error(), "link type 101") {
		t.Errorf("Errors = %v", err)
	}
	if n := testing.AllocsPerRun(100, func() { m.Match(101, raw, len(raw)) }); n != 0 {
		t.Errorf("Match on a failed link type allocates %v", n)
	}
}

func TestMatcherBounded(t *testing.T) {
	needCompiler(t)
	m := NewMatcher("greater 1")
	// Link types 147-162 are DLT_USER0..15: libpcap compiles a length test
	// for them, so each takes a slot.
	for lt := uint16(147); lt < 147+maxLinkTypes; lt++ {
		if err := m.Prepare(lt); err != nil {
			t.Fatalf("link type %d: %v", lt, err)
		}
	}
	frame := linkFrames()[1]
	if m.Match(1, frame, len(frame)) {
		t.Fatal("link type beyond the limit matched")
	}
	if !errors.Is(m.Errors(), ErrTooManyLinkTypes) || len(m.progs) != maxLinkTypes {
		t.Fatalf("Errors = %v, %d programs", m.Errors(), len(m.progs))
	}
}

func TestNilMatcher(t *testing.T) {
	m := NewMatcher("")
	if m != nil || !m.Match(1, nil, 0) || m.Prepare(1) != nil || m.Errors() != nil || m.Failed() != 0 || m.Expr() != "" {
		t.Fatal("nil Matcher must match everything")
	}
	raw, err := Compile("  ", 1)
	if err != nil || len(raw) != 1 || mustProgram(t, raw).Run(nil, 0) != Snaplen {
		t.Fatalf("Compile(blank) = %v, %v; want accept-all", raw, err)
	}
}

// TestDefaultWithoutLibpcap: the checked-in programs work in every build,
// and in a build without libpcap anything else fails with ErrNoCompiler.
// Run it in both builds: go test ./bpf && go test -tags nopcap ./bpf.
func TestDefaultWithoutLibpcap(t *testing.T) {
	for _, expr := range []string{DNSExpr, DNSTunnelExpr} {
		if _, err := Compile(expr, linkTypeEthernet); err != nil {
			t.Fatalf("Compile(%q, Ethernet): %v", expr, err)
		}
	}
	if HaveCompiler {
		return
	}
	_, err := Compile("port 53", linkTypeEthernet)
	if !errors.Is(err, ErrNoCompiler) || err.Error() != `bpf: filter expressions need a build with libpcap (cgo); this binary was built without it (filter "port 53")` {
		t.Fatalf("Compile without libpcap = %v", err)
	}
}

// FuzzMatch runs arbitrary frames through the default and tunnel filters,
// seeded with every frame in testdata/pcaps: no panic, and both programs
// return either 0 or the snaplen.
func FuzzMatch(f *testing.F) {
	for _, path := range testenv.Pcaps(f) {
		for _, fr := range readPcap(f, path) {
			f.Add(fr.data, fr.wire)
		}
	}
	for _, c := range craftedPackets() {
		f.Add(c.frame, len(c.frame))
	}
	dns, tun := mustProgram(f, DNS()), mustProgram(f, DNSTunnel())
	f.Fuzz(func(t *testing.T, data []byte, wire int) {
		for _, p := range []*Program{dns, tun} {
			if r := p.Run(data, wire); r != 0 && r != Snaplen {
				t.Fatalf("Run = %d", r)
			}
		}
	})
}

// FuzzProgram runs arbitrary programs over arbitrary packets: whatever
// NewProgram accepts must run without panicking, and give the same answer
// as golang.org/x/net/bpf's VM wherever that VM runs the program too (it
// lacks NEG and the X forms of LEN; with the wire length equal to the
// captured length their "len" agrees).
func FuzzProgram(f *testing.F) {
	enc := func(p []bpf.RawInstruction) []byte {
		var b []byte
		for _, in := range p {
			b = binary.LittleEndian.AppendUint16(b, in.Op)
			b = append(b, in.Jt, in.Jf)
			b = binary.LittleEndian.AppendUint32(b, in.K)
		}
		return b
	}
	for _, c := range craftedPackets()[:4] {
		f.Add(enc(DNS()), c.frame)
		f.Add(enc(DNSTunnel()), c.frame)
	}
	f.Add(enc([]bpf.RawInstruction{{Op: clsLDX | szB | mdMSH, K: 14}, {Op: clsLD | szH | mdIND, K: 14}, {Op: clsRET | retA}}), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, prog, pkt []byte) {
		var raw []bpf.RawInstruction
		for len(prog) >= 8 {
			raw = append(raw, bpf.RawInstruction{Op: binary.LittleEndian.Uint16(prog), Jt: prog[2], Jf: prog[3], K: binary.LittleEndian.Uint32(prog[4:])})
			prog = prog[8:]
		}
		p, err := NewProgram(raw)
		if err != nil {
			return
		}
		got := p.Run(pkt, len(pkt))
		ins, ok := bpf.Disassemble(raw)
		if !ok {
			return
		}
		vm, err := bpf.NewVM(ins)
		if err != nil {
			return
		}
		want, err := vm.Run(pkt)
		if err == nil && uint32(want) != got {
			t.Fatalf("Run = %d, x/net/bpf VM = %d", got, want)
		}
	})
}

// gunzipped returns path, or for a gzipped capture a temporary copy
// uncompressed: tcpdump reads no gzip.
func gunzipped(t *testing.T, path string) string {
	t.Helper()
	if !strings.HasSuffix(path, ".gz") {
		return path
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), strings.TrimSuffix(filepath.Base(path), ".gz"))
	if err := os.WriteFile(out, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return out
}
