package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// readmeCounts reads the packet count of every capture from
// testdata/pcaps/README.md, whose table gives each file's line as
// "| name | ... (N packets, ...". tshark agrees with these counts
// (TestFileSourceMatchesTshark checks every frame against it).
func readmeCounts(t testing.TB) map[string]int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^\| ([^ |]+) \|.*?\((\d+) packets,`)
	out := map[string]int{}
	for _, m := range re.FindAllStringSubmatch(string(b), -1) {
		n, _ := strconv.Atoi(m[2])
		out[m[1]] = n
	}
	return out
}

// rec is one frame as a test sees it, with its bytes copied.
type rec struct {
	TS    int64
	Data  []byte
	Wire  int
	Link  packet.LinkType
	Iface int
}

func (r rec) String() string {
	return fmt.Sprintf("ts=%d len=%d wire=%d link=%d if=%d", r.TS, len(r.Data), r.Wire, r.Link, r.Iface)
}

// readAll reads s to its end and returns the frames and the final error
// (nil for a clean io.EOF).
func readAll(t testing.TB, s *FileSource) ([]rec, error) {
	t.Helper()
	var out []rec
	var f packet.Frame
	for {
		err := s.Next(&f)
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, rec{f.Timestamp, bytes.Clone(f.Data), f.WireLen, f.LinkType, f.Interface})
	}
}

func mustReadFile(t testing.TB, path string) []rec {
	t.Helper()
	s, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	recs, err := readAll(t, s)
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestFileSourceCaptures(t *testing.T) {
	counts := readmeCounts(t)
	for _, path := range testenv.Pcaps(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			want, ok := counts[name]
			if !ok {
				t.Fatalf("no line with a packet count for %s in testdata/pcaps/README.md", name)
			}
			s, err := OpenFile(path)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			recs, err := readAll(t, s)
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != want {
				t.Fatalf("read %d frames, want %d", len(recs), want)
			}
			var bytesSum uint64
			for _, r := range recs {
				bytesSum += uint64(len(r.Data))
			}
			if st := s.Stats(); st.Packets != uint64(want) || st.Bytes != bytesSum {
				t.Errorf("Stats = %+v, want {%d %d}", st, want, bytesSum)
			}
			if s.BytesRead() != s.Size() || s.Size() == 0 {
				t.Errorf("BytesRead = %d, Size = %d, want equal and nonzero at EOF", s.BytesRead(), s.Size())
			}
			var f packet.Frame
			if err := s.Next(&f); err != io.EOF {
				t.Errorf("Next after EOF = %v, want io.EOF", err)
			}
		})
	}
}

// TestFileSourceMatchesTshark compares every frame's timestamp, lengths and
// interface with what tshark reads from the same file: for a sample of the
// captures in testdata/pcaps (every link type, pcapng, the largest; each
// tshark start costs a third of a CPU second) and for crafted files in the
// formats none of them uses (big-endian, nanosecond, mixed pcapng).
func TestFileSourceMatchesTshark(t *testing.T) {
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	dir := t.TempDir()
	var paths []string
	for _, name := range []string{"dnscap_dns.pcap", "dnscap_frags.pcap", "dnscap_sll2.pcap", "synthetic_sll1_dnscap-dns.pcap",
		"tcpdump_LINKTYPE_IPV6.pcap", "zeek_gre-teb-outerfrag.pcap", "zeek_pcapng-multi-interface.pcapng"} {
		paths = append(paths, filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name))
	}
	leNg, _ := multiNg(binary.LittleEndian)
	beNg, _ := multiNg(binary.BigEndian)
	const ts = 1700000000*1e9 + 123456789
	for name, data := range map[string][]byte{
		"le.pcapng":       leNg,
		"be.pcapng":       beNg,
		"be-nano.pcap":    pcapFile(binary.BigEndian, true, 1, []rec{{ts, pktA, 60, 0, 0}, {ts + 1, pktB, 8, 0, 0}}),
		"le-nano.pcap":    pcapFile(binary.LittleEndian, true, 101, []rec{{ts, pktB, 8, 0, 0}}),
		"be-micro.pcap":   pcapFile(binary.BigEndian, false, 113, []rec{{ts, pktC, 6, 0, 0}}),
		"le.pcapng.gz":    gzipBytes(t, leNg),
		"be-nano.pcap.gz": gzipBytes(t, pcapFile(binary.BigEndian, true, 1, []rec{{ts, pktA, 60, 0, 0}})),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	for _, path := range paths {
		t.Run(filepath.Base(path), func(t *testing.T) {
			cmd := exec.Command(tshark, "-r", path, "-T", "fields",
				"-e", "frame.time_epoch", "-e", "frame.cap_len", "-e", "frame.len", "-e", "frame.interface_id")
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("tshark: %v", err)
			}
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			recs := mustReadFile(t, path)
			if len(lines) != len(recs) {
				t.Fatalf("tshark has %d frames, we read %d", len(lines), len(recs))
			}
			for i, line := range lines {
				fl := strings.Split(line, "\t")
				ts := parseEpoch(t, fl[0])
				caplen, _ := strconv.Atoi(fl[1])
				wire, _ := strconv.Atoi(fl[2])
				iface := 0
				if len(fl) > 3 && fl[3] != "" {
					iface, _ = strconv.Atoi(fl[3])
				}
				r := recs[i]
				if r.TS != ts || len(r.Data) != caplen || r.Wire != wire || r.Iface != iface {
					t.Fatalf("frame %d: got %v, tshark ts=%d len=%d wire=%d if=%d", i+1, r, ts, caplen, wire, iface)
				}
			}
		})
	}
}

// parseEpoch turns tshark's "1476976981.075993000" into nanoseconds without
// going through a float.
func parseEpoch(t *testing.T, s string) int64 {
	t.Helper()
	if s == "" {
		return 0 // a Simple Packet Block has no timestamp
	}
	sec, frac, _ := strings.Cut(s, ".")
	frac = (frac + "000000000")[:9]
	a, err1 := strconv.ParseInt(sec, 10, 64)
	b, err2 := strconv.ParseInt(frac, 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad tshark time %q", s)
	}
	return a*1e9 + b
}

func gzipBytes(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestFileSourceGzip(t *testing.T) {
	dir := t.TempDir()
	for _, path := range testenv.Pcaps(t) {
		name := filepath.Base(path)
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			gz := filepath.Join(dir, name+".gz")
			if strings.HasSuffix(name, ".gz") {
				// Already gzipped (lab_realworld_unbound_sll2.pcap.gz):
				// a gzip of a gzip is no capture, read it as it is.
				gz = path
			} else if err := os.WriteFile(gz, gzipBytes(t, raw), 0o600); err != nil {
				t.Fatal(err)
			}
			want := mustReadFile(t, path)
			s, err := OpenFile(gz)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			got, err := readAll(t, s)
			if err != nil {
				t.Fatal(err)
			}
			assertSameRecs(t, got, want)
			if s.BytesRead() != s.Size() {
				t.Errorf("BytesRead = %d, want the compressed size %d", s.BytesRead(), s.Size())
			}
		})
	}
}

func assertSameRecs(t *testing.T, got, want []rec) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d frames, want %d", len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.TS != w.TS || g.Wire != w.Wire || g.Link != w.Link || g.Iface != w.Iface || !bytes.Equal(g.Data, w.Data) {
			t.Fatalf("frame %d: got %v % x, want %v % x", i+1, g, g.Data, w, w.Data)
		}
	}
}

func TestFileSourceStdin(t *testing.T) {
	for _, name := range []string{"dnscap_dns.pcap", "zeek_pcapng-multi-interface.pcapng"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", name)
			want := mustReadFile(t, path)
			f, err := os.Open(path)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			old := os.Stdin
			os.Stdin = f
			defer func() { os.Stdin = old }()
			s, err := OpenFile("-")
			if err != nil {
				t.Fatal(err)
			}
			got, err := readAll(t, s)
			if err != nil {
				t.Fatal(err)
			}
			assertSameRecs(t, got, want)
			if s.Name() != "stdin" || s.Size() != 0 {
				t.Errorf("Name %q Size %d, want stdin 0", s.Name(), s.Size())
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// Close must leave stdin open for others.
			if _, err := f.Stat(); err != nil {
				t.Errorf("stdin closed by Close: %v", err)
			}
		})
	}
}

// --- crafted captures ---

func pcapFile(order binary.AppendByteOrder, nano bool, link uint32, recs []rec) []byte {
	magic := uint32(magicPcapMicro)
	div := int64(1000)
	if nano {
		magic, div = magicPcapNano, 1
	}
	var b []byte
	b = order.AppendUint32(b, magic)
	b = order.AppendUint16(b, 2)
	b = order.AppendUint16(b, 4)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 0)
	b = order.AppendUint32(b, 65535)
	b = order.AppendUint32(b, link)
	for _, r := range recs {
		b = order.AppendUint32(b, uint32(r.TS/1e9))
		b = order.AppendUint32(b, uint32(r.TS%1e9/div))
		b = order.AppendUint32(b, uint32(len(r.Data)))
		b = order.AppendUint32(b, uint32(r.Wire))
		b = append(b, r.Data...)
	}
	return b
}

func ngBlk(order binary.AppendByteOrder, typ uint32, body []byte) []byte {
	for len(body)%4 != 0 {
		body = append(body, 0)
	}
	n := uint32(len(body) + 12)
	b := order.AppendUint32(nil, typ)
	b = order.AppendUint32(b, n)
	b = append(b, body...)
	return order.AppendUint32(b, n)
}

func ngOpt(order binary.AppendByteOrder, code uint16, val []byte) []byte {
	b := order.AppendUint16(nil, code)
	b = order.AppendUint16(b, uint16(len(val)))
	b = append(b, val...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	return b
}

func ngSHB(order binary.AppendByteOrder) []byte {
	b := order.AppendUint32(nil, ngByteOrderMagic)
	b = order.AppendUint16(b, 1)
	b = order.AppendUint16(b, 0)
	b = order.AppendUint64(b, ^uint64(0)) // section length unknown
	return ngBlk(order, ngBlockSHB, b)
}

func ngIDB(order binary.AppendByteOrder, link packet.LinkType, snaplen uint32, opts ...[]byte) []byte {
	b := order.AppendUint16(nil, uint16(link))
	b = order.AppendUint16(b, 0)
	b = order.AppendUint32(b, snaplen)
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return ngBlk(order, ngBlockIDB, b)
}

func ngEPB(order binary.AppendByteOrder, iface uint32, ts uint64, data []byte, wire int, opts ...[]byte) []byte {
	b := order.AppendUint32(nil, iface)
	b = order.AppendUint32(b, uint32(ts>>32))
	b = order.AppendUint32(b, uint32(ts))
	b = order.AppendUint32(b, uint32(len(data)))
	b = order.AppendUint32(b, uint32(wire))
	b = append(b, data...)
	for len(b)%4 != 0 {
		b = append(b, 0)
	}
	for _, o := range opts {
		b = append(b, o...)
	}
	if len(opts) > 0 {
		b = append(b, 0, 0, 0, 0)
	}
	return ngBlk(order, ngBlockEPB, b)
}

func ngSPB(order binary.AppendByteOrder, data []byte, wire int) []byte {
	b := order.AppendUint32(nil, uint32(wire))
	return ngBlk(order, ngBlockSPB, append(b, data...))
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

var (
	pktA = []byte{0xde, 0xad, 0xbe, 0xef, 0x01}
	pktB = []byte{0x45, 0x00, 0x00, 0x1c, 0x00, 0x00, 0x40, 0x00}
	pktC = []byte{0x00, 0x04, 0x00, 0x01, 0x00, 0x06}
)

// multiNg is a pcapng section with three interfaces of different link types
// and timestamp resolutions, plus blocks a reader must skip.
func multiNg(order binary.AppendByteOrder) ([]byte, []rec) {
	const sec = 1700000000
	data := cat(
		ngSHB(order),
		ngIDB(order, packet.LinkTypeEthernet, 262144), // default resolution: microseconds
		ngIDB(order, packet.LinkTypeRaw, 0, ngOpt(order, ngOptTSResol, []byte{9})),
		ngIDB(order, packet.LinkTypeLinuxSLL2, 0, ngOpt(order, ngOptTSResol, []byte{0x80 | 20}), ngOpt(order, ngOptTSOffset, order.AppendUint64(nil, 100))),
		ngBlk(order, 4, []byte{0, 0, 0, 0}), // name resolution block: skipped
		ngEPB(order, 0, sec*1e6+123456, pktA, 60),
		ngEPB(order, 1, sec*1e9+987654321, pktB, 8, ngOpt(order, 2, []byte{1, 0, 0, 0})), // epb_flags
		ngBlk(order, 5, make([]byte, 12)),                                                // interface statistics block: skipped
		ngEPB(order, 2, sec<<20|1<<19, pktC, 6),
		ngSPB(order, pktA[:3], 3),
	)
	want := []rec{
		{sec*1e9 + 123456000, pktA, 60, packet.LinkTypeEthernet, 0},
		{sec*1e9 + 987654321, pktB, 8, packet.LinkTypeRaw, 1},
		{(sec+100)*1e9 + 5e8, pktC, 6, packet.LinkTypeLinuxSLL2, 2},
		{0, pktA[:3], 3, packet.LinkTypeEthernet, 0},
	}
	return data, want
}

func TestFileSourceFormats(t *testing.T) {
	const ts = 1700000000*1e9 + 123456789
	tsMicro := int64(ts) / 1000 * 1000
	bigPkt := make([]byte, 262144) // libpcap's maximum snaplen
	huge := make([]byte, 300000)   // larger than the read buffer: read through the scratch buffer
	for i := range huge {
		huge[i] = byte(i * 7)
	}
	copy(bigPkt, huge)
	hugePcap := pcapFile(binary.BigEndian, true, 1, []rec{{ts, huge, 300000, 0, 0}, {ts, pktA, 5, 0, 0}})
	binary.BigEndian.PutUint32(hugePcap[16:], 1<<20) // declares a snaplen that allows it
	le := binary.LittleEndian
	hugeNg := cat(ngSHB(le), ngIDB(le, packet.LinkTypeEthernet, 0), ngEPB(le, 0, 5, huge, 300000), ngEPB(le, 0, 6, pktA, 5))
	leNg, leNgWant := multiNg(binary.LittleEndian)
	beNg, beNgWant := multiNg(binary.BigEndian)
	twoSections := cat(leNg, beNg)
	tests := []struct {
		name string
		data []byte
		want []rec
	}{
		{"pcap little-endian micro", pcapFile(binary.LittleEndian, false, 1, []rec{{ts, pktA, 60, 0, 0}}),
			[]rec{{tsMicro, pktA, 60, packet.LinkTypeEthernet, 0}}},
		{"pcap big-endian micro", pcapFile(binary.BigEndian, false, 113, []rec{{ts, pktA, 60, 0, 0}}),
			[]rec{{tsMicro, pktA, 60, packet.LinkTypeLinuxSLL, 0}}},
		{"pcap little-endian nano", pcapFile(binary.LittleEndian, true, 101, []rec{{ts, pktB, 8, 0, 0}, {ts + 1, pktC, 6, 0, 0}}),
			[]rec{{ts, pktB, 8, packet.LinkTypeRaw, 0}, {ts + 1, pktC, 6, packet.LinkTypeRaw, 0}}},
		{"pcap big-endian nano", pcapFile(binary.BigEndian, true, 276, []rec{{ts, pktC, 6, 0, 0}}),
			[]rec{{ts, pktC, 6, packet.LinkTypeLinuxSLL2, 0}}},
		{"pcap unknown link type", pcapFile(binary.LittleEndian, true, 147, []rec{{ts, pktC, 6, 0, 0}}),
			[]rec{{ts, pktC, 6, 147, 0}}},
		{"pcap FCS bits in link type", pcapFile(binary.LittleEndian, true, 1|0x14000000, []rec{{ts, pktC, 6, 0, 0}}),
			[]rec{{ts, pktC, 6, packet.LinkTypeEthernet, 0}}},
		{"pcap capture length over wire length", pcapFile(binary.LittleEndian, true, 1, []rec{{ts, pktA, 2, 0, 0}}),
			[]rec{{ts, pktA, 5, packet.LinkTypeEthernet, 0}}},
		{"pcap large record", pcapFile(binary.LittleEndian, true, 1, []rec{{ts, bigPkt, 300000, 0, 0}, {ts, pktA, 5, 0, 0}}),
			[]rec{{ts, bigPkt[:262144], 300000, packet.LinkTypeEthernet, 0}, {ts, pktA, 5, packet.LinkTypeEthernet, 0}}},
		{"pcap header only", pcapFile(binary.LittleEndian, false, 1, nil), nil},
		{"pcap record larger than the read buffer", hugePcap,
			[]rec{{ts, huge, 300000, packet.LinkTypeEthernet, 0}, {ts, pktA, 5, packet.LinkTypeEthernet, 0}}},
		{"pcapng block larger than the read buffer", hugeNg,
			[]rec{{5000, huge, 300000, packet.LinkTypeEthernet, 0}, {6000, pktA, 5, packet.LinkTypeEthernet, 0}}},
		{"pcapng little-endian mixed", leNg, leNgWant},
		{"pcapng big-endian mixed", beNg, beNgWant},
		{"pcapng two sections", twoSections, append(append([]rec{}, leNgWant...), beNgWant...)},
		{"pcapng header only", ngSHB(binary.LittleEndian), nil},
	}
	for _, tt := range tests {
		for _, gz := range []bool{false, true} {
			name := tt.name
			data := tt.data
			if gz {
				name += " gzip"
				data = gzipBytes(t, data)
			}
			t.Run(name, func(t *testing.T) {
				s, err := NewFileSource("t", bytes.NewReader(data))
				if err != nil {
					t.Fatal(err)
				}
				got, err := readAll(t, s)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) == 0 && len(tt.want) == 0 {
					return
				}
				assertSameRecs(t, got, tt.want)
			})
		}
	}
}

func TestFileLinkTypes(t *testing.T) {
	// The interfaces described before the first packet are known at open.
	leNg, _ := multiNg(binary.LittleEndian)
	s, err := NewFileSource("t", bytes.NewReader(leNg))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%d", s.LinkTypes()); got != "[1 101 276]" {
		t.Errorf("LinkTypes at open = %s, want [1 101 276]", got)
	}
	// One described after the first packet shows up once read.
	le := binary.LittleEndian
	late := cat(ngSHB(le), ngIDB(le, packet.LinkTypeEthernet, 0), ngEPB(le, 0, 0, pktA, 5), ngIDB(le, 147, 0), ngEPB(le, 1, 0, pktA, 5))
	s, err = NewFileSource("t", bytes.NewReader(late))
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%d", s.LinkTypes()); got != "[1]" {
		t.Errorf("LinkTypes at open = %s, want [1]", got)
	}
	recs, err := readAll(t, s)
	if err != nil || len(recs) != 2 || recs[1].Link != 147 {
		t.Fatalf("read %v, %v", recs, err)
	}
	if got := fmt.Sprintf("%d", s.LinkTypes()); got != "[1 147]" {
		t.Errorf("LinkTypes at end = %s, want [1 147]", got)
	}
	s, err = OpenFile(filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "dnscap_sll2.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := fmt.Sprintf("%d", s.LinkTypes()); got != "[276]" {
		t.Errorf("pcap LinkTypes = %s, want [276]", got)
	}
}

// pcapRecordStarts returns the offset of every record in a classic pcap.
func pcapRecordStarts(b []byte) []int {
	var out []int
	for off := 24; off+16 <= len(b); {
		out = append(out, off)
		off += 16 + int(binary.LittleEndian.Uint32(b[off+8:]))
	}
	return out
}

func TestFileSourceTruncated(t *testing.T) {
	dir := t.TempDir()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "dnscap_dns.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	starts := pcapRecordStarts(raw)
	tests := []struct {
		name string
		cut  int
		want string // exact error; "" for a clean end
	}{
		{"inside file header", 10, "capture: x.pcap: truncated file header"},
		{"13-byte file", 13, "capture: x.pcap: truncated file header"},
		{"after file header", 24, ""},
		{"inside record header of packet 1", 30, "capture: x.pcap: packet 1: truncated record"},
		{"inside data of packet 17", starts[16] + 16 + 5, "capture: x.pcap: packet 17: truncated record"},
		{"inside record header of packet 17", starts[16] + 3, "capture: x.pcap: packet 17: truncated record"},
		{"at record boundary", starts[17], ""},
		{"last byte missing", len(raw) - 1, "capture: x.pcap: packet 133: truncated record"},
		{"short magic", 3, "capture: x.pcap: not a pcap or pcapng file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "x.pcap")
			if err := os.WriteFile(path, raw[:tt.cut], 0o600); err != nil {
				t.Fatal(err)
			}
			// Error messages name the path as given.
			wd, _ := os.Getwd()
			defer os.Chdir(wd)
			if err := os.Chdir(dir); err != nil {
				t.Fatal(err)
			}
			s, err := OpenFile("x.pcap")
			if err == nil {
				defer s.Close()
				_, err = readAll(t, s)
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want {
				t.Fatalf("error %q, want %q", got, tt.want)
			}
			if tt.want != "" && strings.Contains(tt.want, "truncated") && !errors.Is(err, ErrTruncated) {
				t.Errorf("errors.Is(%v, ErrTruncated) = false", err)
			}
		})
	}
}

// TestFileSourceTruncatedEveryOffset cuts small captures (and their gzipped
// forms) at every byte: the reader must never panic, must end cleanly
// exactly at record boundaries, and must otherwise report ErrTruncated.
func TestFileSourceTruncatedEveryOffset(t *testing.T) {
	leNg, _ := multiNg(binary.LittleEndian)
	beNg, _ := multiNg(binary.BigEndian)
	zeek, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "zeek_pcapng-multi-interface.pcapng"))
	if err != nil {
		t.Fatal(err)
	}
	small, err := os.ReadFile(filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "dnscap_1qtcpnosyn.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		data []byte
	}{{"pcap", small}, {"pcapng-le", leNg}, {"pcapng-be", beNg}, {"zeek-pcapng", zeek}} {
		t.Run(tc.name, func(t *testing.T) {
			full, err := NewFileSource("full", bytes.NewReader(tc.data))
			if err != nil {
				t.Fatal(err)
			}
			all, err := readAll(t, full)
			if err != nil {
				t.Fatal(err)
			}
			gz := gzipBytes(t, tc.data)
			clean := 0
			for cut := 0; cut < len(tc.data); cut++ {
				s, err := NewFileSource("cut", bytes.NewReader(tc.data[:cut]))
				var got []rec
				if err == nil {
					got, err = readAll(t, s)
				}
				switch {
				case err == nil:
					clean++
					if len(got) > len(all) {
						t.Fatalf("cut %d: %d frames from a prefix of a %d-frame file", cut, len(got), len(all))
					}
				case errors.Is(err, ErrTruncated), errors.Is(err, ErrEmpty), errors.Is(err, ErrNotCapture) && cut < 4:
				default:
					t.Fatalf("cut %d: %v, want a truncation error", cut, err)
				}
				// The gzipped prefix of the whole file is a cut stream too.
				if cut < len(gz) {
					s, err := NewFileSource("cutgz", bytes.NewReader(gz[:cut]))
					if err == nil {
						_, err = readAll(t, s)
					}
					if err != nil && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrEmpty) && !errors.Is(err, ErrNotCapture) {
						t.Fatalf("gzip cut %d: %v, want a sentinel", cut, err)
					}
				}
			}
			// A clean end at every record boundary (and after the header).
			if clean < len(all) {
				t.Errorf("%d clean ends for %d records", clean, len(all))
			}
		})
	}
}

func TestFileSourceBadFiles(t *testing.T) {
	dir := t.TempDir()
	leNg, _ := multiNg(binary.LittleEndian)
	badTrailer := bytes.Clone(leNg)
	binary.LittleEndian.PutUint32(badTrailer[len(badTrailer)-4:], 999)
	badIface := cat(ngSHB(binary.LittleEndian), ngEPB(binary.LittleEndian, 0, 0, pktA, 5))
	tooLong := pcapFile(binary.LittleEndian, false, 1, []rec{{0, pktA, 60, 0, 0}, {0, make([]byte, 262145), 262145, 0, 0}})
	badVersion := pcapFile(binary.BigEndian, false, 1, nil)
	badVersion[5] = 3
	badCRC := gzipBytes(t, pcapFile(binary.LittleEndian, false, 1, []rec{{0, pktA, 60, 0, 0}}))
	badCRC[len(badCRC)-8] ^= 0xff // RFC 1952 §2.3.1: CRC32, then ISIZE, end the member
	badBOM := ngSHB(binary.LittleEndian)
	badBOM[8] = 0
	tests := []struct {
		name   string
		data   []byte
		is     error
		prefix string
	}{
		{"empty", nil, ErrEmpty, "capture: f: empty file"},
		{"garbage", []byte("this is not a capture at all, just text\n"), ErrNotCapture, "capture: f: not a pcap or pcapng file"},
		{"gzipped garbage", gzipBytes(t, []byte("hello, world, not a pcap")), ErrNotCapture, "capture: f: not a pcap or pcapng file"},
		{"gzipped empty", gzipBytes(t, nil), ErrEmpty, "capture: f: empty file"},
		{"gzip header only", []byte{0x1f, 0x8b}, ErrTruncated, "capture: f: truncated gzip header"},
		{"gzip bad checksum", badCRC, ErrCorrupt, "capture: f: packet 2: corrupt record: gzip: invalid checksum"},
		{"pcapng bad trailer", badTrailer, ErrCorrupt, "capture: f: packet 4: corrupt record: pcapng: block trailer length differs from header"},
		{"pcapng packet before interface", badIface, ErrCorrupt, "capture: f: packet 1: corrupt record: pcapng: packet names an interface"},
		{"pcapng bad byte order", badBOM, ErrCorrupt, "capture: f: corrupt record: pcapng: bad byte-order magic"},
		{"pcap record over the snap length", tooLong, ErrCorrupt, "capture: f: packet 2: corrupt record: pcap: record longer than the snap length allows"},
		{"pcap major version 3", badVersion, ErrCorrupt, "capture: f: corrupt record: pcap: unsupported major version"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "f")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			wd, _ := os.Getwd()
			defer os.Chdir(wd)
			os.Chdir(dir)
			s, err := OpenFile("f")
			if err == nil {
				_, err = readAll(t, s)
				s.Close()
			}
			if !errors.Is(err, tt.is) {
				t.Fatalf("err = %v, want %v", err, tt.is)
			}
			if !strings.HasPrefix(err.Error(), tt.prefix) {
				t.Fatalf("err = %q, want prefix %q", err, tt.prefix)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		_, err := OpenFile(filepath.Join(dir, "nope.pcap"))
		if !errors.Is(err, os.ErrNotExist) || !strings.Contains(err.Error(), "nope.pcap") {
			t.Fatalf("err = %v, want not-exist naming the file", err)
		}
	})
}

// repeated builds an in-memory capture of n copies of one frame, in the
// given format, for allocation tests and benchmarks.
func repeated(format string, frame []byte, n int) []byte {
	le := binary.LittleEndian
	switch format {
	case "pcap":
		recs := make([]rec, n)
		for i := range recs {
			recs[i] = rec{TS: int64(i) * 1000, Data: frame, Wire: len(frame)}
		}
		return pcapFile(le, true, 1, recs)
	default: // pcapng with an SLL2 interface and epb_flags on every packet
		parts := [][]byte{ngSHB(le), ngIDB(le, packet.LinkTypeLinuxSLL2, 262144, ngOpt(le, ngOptTSResol, []byte{9}))}
		for i := range n {
			parts = append(parts, ngEPB(le, 0, uint64(i), frame, len(frame), ngOpt(le, 2, []byte{1, 0, 0, 0})))
		}
		return cat(parts...)
	}
}

func TestFileSourceNextZeroAlloc(t *testing.T) {
	frame := make([]byte, 120)
	for _, format := range []string{"pcap", "pcapng", "pcap-gzip", "pcapng-gzip"} {
		t.Run(format, func(t *testing.T) {
			data := repeated(strings.TrimSuffix(format, "-gzip"), frame, 3000)
			if strings.HasSuffix(format, "gzip") {
				data = gzipBytes(t, data)
			}
			s, err := NewFileSource("t", bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			var f packet.Frame
			if err := s.Next(&f); err != nil {
				t.Fatal(err)
			}
			n := testing.AllocsPerRun(2000, func() {
				if err := s.Next(&f); err != nil {
					t.Fatal(err)
				}
			})
			if n != 0 {
				t.Fatalf("Next allocates %v/packet, want 0", n)
			}
		})
	}
}

// BenchmarkFileSourceNext reports the cost of reading one 120-byte frame
// from memory, out of the read buffer without a copy: pcap, pcapng and
// their gzipped forms.
func BenchmarkFileSourceNext(b *testing.B) {
	frame := make([]byte, 120)
	for _, format := range []string{"pcap", "pcapng", "pcap-gzip", "pcapng-gzip"} {
		data := repeated(strings.TrimSuffix(format, "-gzip"), frame, 100000)
		if strings.HasSuffix(format, "-gzip") {
			data = gzipBytes(b, data)
		}
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(frame)))
			s, _ := NewFileSource("b", bytes.NewReader(data))
			var f packet.Frame
			for b.Loop() {
				if err := s.Next(&f); err != nil {
					b.StopTimer()
					s, _ = NewFileSource("b", bytes.NewReader(data))
					b.StartTimer()
				}
			}
		})
	}
}

// FuzzFileSource feeds arbitrary bytes as a capture file: no panic, and the
// counters agree with what Next returned.
func FuzzFileSource(f *testing.F) {
	for _, path := range testenv.Pcaps(f) {
		b, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	leNg, _ := multiNg(binary.LittleEndian)
	beNg, _ := multiNg(binary.BigEndian)
	f.Add(leNg)
	f.Add(beNg)
	f.Add(gzipBytes(f, leNg))
	f.Add(pcapFile(binary.BigEndian, true, 1, []rec{{1, pktA, 5, 0, 0}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := NewFileSource("fuzz", bytes.NewReader(data))
		if err != nil {
			return
		}
		var fr packet.Frame
		var n, sum uint64
		for range 100000 {
			if err := s.Next(&fr); err != nil {
				break
			}
			if fr.WireLen < 0 {
				t.Fatalf("negative WireLen %d", fr.WireLen)
			}
			n++
			sum += uint64(len(fr.Data))
		}
		if st := s.Stats(); st.Packets != n || st.Bytes != sum {
			t.Fatalf("Stats %+v, counted %d %d", st, n, sum)
		}
	})
}
