package e2e

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/miekg/dns"
)

// realWorld is one committed capture of internal/lab's TestRealWorldCaptures
// with the dnstap of every server in it.
type realWorld struct {
	pcap string
	// flags tell the sensor which servers it watches and their roles.
	flags []string
	// servers are the servers' own dnstap files and the Compare reasons
	// each may need (anything else is a failure).
	servers []realServer
	// tsharkOnly is how many DNS messages tshark counts that the sensor
	// rightly does not (see the case's comment).
	tsharkOnly int
	// axfrRecords, when not 0, is the RR count of every AXFR in the
	// capture (dig's "XFR size: N records").
	axfrRecords int
	// check, when set, asserts more about the sensor's messages.
	check func(t *testing.T, entries []tapfile.CompareEntry)
}

type realServer struct {
	dnstap  string
	excuses []string
}

var (
	bindExcuses    = []string{tapfile.ReasonBINDRD}
	unboundExcuses = []string{tapfile.ReasonNoSource, tapfile.ReasonNoSourcePort}
)

var realWorlds = []realWorld{
	{
		// The secondary (192.0.2.2) is a server too: its answer to the
		// primary's NOTIFY is in its own dnstap.
		pcap:  "lab_realworld_xfr.pcap",
		flags: []string{"--server", "192.0.2.53,fd00:53::53,192.0.2.2,fd00:53::2", "--role", "authoritative"},
		servers: []realServer{
			{"lab_realworld_xfr.primary.dnstap", bindExcuses},
			{"lab_realworld_xfr.secondary.dnstap", nil},
		},
		// The primary's first NOTIFY reached the secondary before it
		// listened: the ICMP port unreachable quotes the whole UDP
		// datagram and tshark dissects the DNS inside it. It never
		// crossed to a DNS server, and the sensor does not decode ICMP.
		tsharkOnly:  1,
		axfrRecords: 2007,
		check: func(t *testing.T, e []tapfile.CompareEntry) {
			var notify, ixfr int
			for i := range e {
				m := unpack(t, &e[i])
				if m.Opcode == dns.OpcodeNotify && !m.Response {
					notify++
				}
				if len(m.Question) == 1 && m.Question[0].Qtype == dns.TypeIXFR && m.Response {
					ixfr++
				}
			}
			// Startup NOTIFY (twice: unanswered, then answered), update
			// NOTIFY, dig +opcode=notify; each once per message.
			if notify == 0 || ixfr < 2 {
				t.Errorf("%d NOTIFY queries and %d IXFR answer messages, want some of each", notify, ixfr)
			}
		},
	},
	{
		pcap:    "lab_realworld_dnssec.pcapng",
		flags:   []string{"--server", serverFlag, "--role", "authoritative"},
		servers: []realServer{{"lab_realworld_dnssec.bind.dnstap", bindExcuses}},
		check: func(t *testing.T, e []tapfile.CompareEntry) {
			// The fragmented signed TXT answers must come out whole over
			// UDP on both families (RRSIG included).
			fam := map[bool]int{}
			for i := range e {
				m := unpack(t, &e[i])
				if m.Response && e[i].Protocol.String() == "UDP" && len(e[i].Wire) > 1500 && len(m.Answer) == 2 {
					fam[e[i].Response.Addr().Is4()]++
				}
			}
			if fam[true] == 0 || fam[false] == 0 {
				t.Errorf("whole UDP answers over 1500 bytes by IPv4: %v, want both families", fam)
			}
		},
	},
	{
		// Unbound (192.0.2.3, fd00:53::3) forwards to BIND; messages
		// between the two are both servers' and come out twice (AUTH_*
		// and FORWARDER_*), one per view.
		pcap: "lab_realworld_unbound_sll2.pcap.gz",
		flags: []string{"--server", "192.0.2.53=authoritative,fd00:53::53=authoritative,192.0.2.3,fd00:53::3",
			"--forwarder", serverFlag},
		servers: []realServer{
			{"lab_realworld_unbound_sll2.bind.dnstap", bindExcuses},
			{"lab_realworld_unbound_sll2.unbound.dnstap", unboundExcuses},
		},
	},
	{
		// 60 KB answers and an AXFR of two messages of up to 64 KB.
		pcap:        "lab_realworld_big.pcap",
		flags:       []string{"--server", serverFlag, "--role", "authoritative"},
		servers:     []realServer{{"lab_realworld_big.bind.dnstap", bindExcuses}},
		axfrRecords: 2007,
	},
	{
		// 2048-byte padded queries, fragmented on both families.
		pcap:    "lab_realworld_fragq.pcap",
		flags:   []string{"--server", serverFlag, "--role", "authoritative"},
		servers: []realServer{{"lab_realworld_fragq.bind.dnstap", bindExcuses}},
		check: func(t *testing.T, e []tapfile.CompareEntry) {
			n := 0
			for i := range e {
				if !e[i].IsResponse() && e[i].Protocol.String() == "UDP" && len(e[i].Wire) == 2048 {
					n++
				}
			}
			if n != 2 {
				t.Errorf("%d whole 2048-byte UDP queries, want 2 (IPv4 and IPv6 fragments)", n)
			}
		},
	},
	{
		// Offloads on: TSO segments far above the MTU, bad TCP checksums.
		pcap:        "lab_realworld_offload.pcap",
		flags:       []string{"--server", serverFlag, "--role", "authoritative"},
		servers:     []realServer{{"lab_realworld_offload.bind.dnstap", bindExcuses}},
		axfrRecords: 2007,
	},
	{
		// Queries in the SYN (TCP Fast Open).
		pcap:    "lab_realworld_tfo.pcap",
		flags:   []string{"--server", serverFlag, "--role", "authoritative"},
		servers: []realServer{{"lab_realworld_tfo.bind.dnstap", bindExcuses}},
	},
	{
		// Unbound over UDP upstream: fragments, BIND's TC=1 and Unbound's
		// own TCP retry.
		pcap: "lab_realworld_unbound_udp.pcap",
		flags: []string{"--server", "192.0.2.53=authoritative,fd00:53::53=authoritative,192.0.2.3,fd00:53::3",
			"--forwarder", serverFlag},
		servers: []realServer{
			{"lab_realworld_unbound_udp.bind.dnstap", bindExcuses},
			{"lab_realworld_unbound_udp.unbound.dnstap", unboundExcuses},
		},
	},
	{
		// BADCOOKIE answers and the clients' retries.
		pcap:    "lab_realworld_cookie.pcap",
		flags:   []string{"--server", serverFlag, "--role", "authoritative"},
		servers: []realServer{{"lab_realworld_cookie.bind.dnstap", bindExcuses}},
	},
	{
		pcap:    "lab_realworld_dnsperf_tcp.pcap",
		flags:   []string{"--server", serverFlag, "--role", "authoritative"},
		servers: []realServer{{"lab_realworld_dnsperf_tcp.bind.dnstap", bindExcuses}},
	},
}

// TestRealWorldCaptures runs the sensor over the committed real-world lab
// captures, offline: its output must cover every server's own dnstap
// (only the listed, known labelling differences excused), and its messages
// must be tshark's, one for one (sender, DNS ID, QR bit).
func TestRealWorldCaptures(t *testing.T) {
	for _, rw := range realWorlds {
		t.Run(rw.pcap, func(t *testing.T) {
			pcap := pcapPath(rw.pcap)
			out, summary := convert(t, pcap, rw.flags...)
			// Every answer here has its query in the capture, the later
			// messages of zone transfers included.
			if m := regexp.MustCompile(`responses without query\s+(\d+)`).FindStringSubmatch(summary); m == nil || m[1] != "0" {
				t.Errorf("responses without query: %v, want 0\n%s", m, summary)
			}
			for _, srv := range rw.servers {
				rep := compareFiles(t, pcapPath(srv.dnstap), out, srv.dnstap)
				if !rep.Covers() || rep.MessagesA == 0 {
					t.Errorf("sensor output does not cover %s:\n%s\nsummary:\n%s", srv.dnstap, rep, summary)
				}
				for reason := range rep.Excused {
					if !slices.Contains(srv.excuses, reason) {
						t.Errorf("%s: excused %d x %q, not a known difference for this server", srv.dnstap, rep.Excused[reason], reason)
					}
				}
				t.Logf("%s: %d messages, %d exact, excused %v", srv.dnstap, rep.MessagesA, rep.Matched, rep.Excused)
			}

			// One frame per message: without --server the port-53 side is
			// the server, and no message is both servers'.
			plain, plainSummary := convert(t, pcap)
			entries := readEntries(t, plain)
			if got := summaryMessages(t, plainSummary); got != len(entries) {
				t.Errorf("summary says %d DNS messages, file holds %d frames", got, len(entries))
			}
			want := tsharkMessages(t, pcap)
			got := make([]string, len(entries))
			for i := range entries {
				got[i] = senderKey(&entries[i])
			}
			onlyT, onlyS := multisetDiff(want, got)
			if len(onlyS) != 0 || len(onlyT) != rw.tsharkOnly {
				t.Errorf("tshark %d messages, sensor %d; only tshark (%d allowed): %v; only sensor: %v",
					len(want), len(got), rw.tsharkOnly, onlyT, onlyS)
			}
			if rw.axfrRecords != 0 {
				checkAXFR(t, entries, rw.axfrRecords)
			}
			if rw.check != nil {
				rw.check(t, entries)
			}
		})
	}
}

// checkAXFR sums the answer RRs of every AXFR answer stream (all response
// messages of one TCP connection that answer an AXFR query): each must be
// the whole zone, SOA at both ends.
func checkAXFR(t *testing.T, e []tapfile.CompareEntry, want int) {
	t.Helper()
	type conn struct{ q, r netip.AddrPort }
	rrs := map[conn]int{}
	var order []conn
	for i := range e {
		if !e[i].IsResponse() || e[i].Protocol.String() != "TCP" {
			continue
		}
		m := unpack(t, &e[i])
		c := conn{e[i].Query, e[i].Response}
		// Only the first message of an AXFR answer repeats the question.
		if len(m.Question) == 1 && m.Question[0].Qtype == dns.TypeAXFR {
			order = append(order, c)
		}
		if _, ok := rrs[c]; ok || (len(m.Question) == 1 && m.Question[0].Qtype == dns.TypeAXFR) {
			rrs[c] += len(m.Answer)
		}
	}
	if len(order) == 0 {
		t.Fatal("no AXFR answer in the sensor's output")
	}
	for _, c := range order {
		if rrs[c] != want {
			t.Errorf("AXFR %v -> %v: %d RRs in the sensor's messages, want %d", c.q, c.r, rrs[c], want)
		}
	}
	t.Logf("%d AXFRs of %d RRs each", len(order), want)
}

func unpack(t *testing.T, e *tapfile.CompareEntry) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(e.Wire); err != nil {
		t.Fatalf("sensor message %s does not unpack: %v", e, err)
	}
	return m
}

func readEntries(t *testing.T, path string) []tapfile.CompareEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	e, err := tapfile.ReadCompareEntries(f)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// senderKey is "sender address:port id qr" of a sensor message, as
// tsharkMessages writes it.
func senderKey(e *tapfile.CompareEntry) string {
	from := e.Query
	if e.IsResponse() {
		from = e.Response
	}
	var id uint16
	qr := 0
	if len(e.Wire) >= 3 {
		id = uint16(e.Wire[0])<<8 | uint16(e.Wire[1])
		qr = int(e.Wire[2] >> 7)
	}
	return fmt.Sprintf("%s %d %d", from, id, qr)
}

// tsharkMessages lists every DNS message tshark sees (it reassembles IP
// fragments and TCP streams, and one frame may end several messages) as
// "sender address:port id qr".
func tsharkMessages(t *testing.T, pcap string) []string {
	t.Helper()
	tshark := testenv.NeedTool(t, "tshark", "tshark")
	cmd := exec.Command(tshark, "-r", pcap, "-n", "-Y", "dns", "-T", "fields",
		"-e", "frame.number", "-e", "ip.src", "-e", "ipv6.src", "-e", "udp.srcport", "-e", "tcp.srcport",
		"-e", "dns.id", "-e", "dns.flags.response", "-e", "icmp.type", "-e", "icmpv6.type")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("tshark -r %s: %v", pcap, err)
	}
	var msgs []string
	for _, line := range strings.Split(strings.TrimRight(string(out), "\n"), "\n") {
		f := strings.Split(line, "\t")
		if len(f) < 9 {
			t.Fatalf("tshark line %q: want 9 fields", line)
		}
		src := f[1] + f[2]
		port := f[3] + f[4]
		if f[7] != "" || f[8] != "" {
			// A DNS message quoted in an ICMP error: keep it (the case's
			// tsharkOnly says how many), with the quoted sender.
			src = lastOf(f[1] + f[2])
		}
		ids, qrs := strings.Split(f[5], ","), strings.Split(f[6], ",")
		if len(ids) != len(qrs) {
			t.Fatalf("tshark frame %s: %d IDs and %d QR flags", f[0], len(ids), len(qrs))
		}
		a, err := netip.ParseAddr(src)
		if err != nil {
			t.Fatalf("tshark frame %s: source %q: %v", f[0], src, err)
		}
		p, err := strconv.Atoi(firstOf(port))
		if err != nil {
			t.Fatalf("tshark frame %s: port %q: %v", f[0], port, err)
		}
		for i := range ids {
			id, err := strconv.ParseUint(strings.TrimPrefix(ids[i], "0x"), 16, 16)
			if err != nil {
				t.Fatalf("tshark frame %s: id %q: %v", f[0], ids[i], err)
			}
			qr := 0
			if qrs[i] == "1" || qrs[i] == "True" {
				qr = 1
			}
			msgs = append(msgs, fmt.Sprintf("%s %d %d", netip.AddrPortFrom(a, uint16(p)), id, qr))
		}
	}
	return msgs
}

func firstOf(s string) string { v, _, _ := strings.Cut(s, ","); return v }

func lastOf(s string) string { return s[strings.LastIndex(s, ",")+1:] }

// multisetDiff returns what a has more of than b, and b more than a.
func multisetDiff(a, b []string) (onlyA, onlyB []string) {
	n := map[string]int{}
	for _, s := range a {
		n[s]++
	}
	for _, s := range b {
		n[s]--
	}
	for s, c := range n {
		for ; c > 0; c-- {
			onlyA = append(onlyA, s)
		}
		for ; c < 0; c++ {
			onlyB = append(onlyB, s)
		}
	}
	slices.Sort(onlyA)
	slices.Sort(onlyB)
	return onlyA, onlyB
}

// summaryMessages is the "DNS messages N" count of the sensor's summary.
func summaryMessages(t *testing.T, summary string) int {
	t.Helper()
	for _, line := range strings.Split(summary, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == "DNS" && f[1] == "messages" {
			n, err := strconv.Atoi(f[2])
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatalf("no \"DNS messages N\" line in:\n%s", summary)
	return 0
}

// frame is one captured frame of a perturbed capture.
type frame struct {
	ci   gopacket.CaptureInfo
	data []byte
}

// tcpSeg locates the TCP header and payload of an Ethernet frame holding
// an unfragmented IPv4 or IPv6 TCP segment; ok is false for anything else.
func tcpSeg(b []byte) (ipOff, tcpOff, payOff int, ok bool) {
	if len(b) < 14 {
		return 0, 0, 0, false
	}
	switch uint16(b[12])<<8 | uint16(b[13]) {
	case 0x0800:
		ip := b[14:]
		if len(ip) < 20 || ip[9] != 6 || (uint16(ip[6])<<8|uint16(ip[7]))&0x3fff != 0 {
			return 0, 0, 0, false
		}
		tcpOff = 14 + int(ip[0]&0x0f)*4
	case 0x86dd:
		if len(b) < 54 || b[14+6] != 6 {
			return 0, 0, 0, false
		}
		tcpOff = 54
	default:
		return 0, 0, 0, false
	}
	if len(b) < tcpOff+20 {
		return 0, 0, 0, false
	}
	return 14, tcpOff, tcpOff + int(b[tcpOff+12]>>4)*4, true
}

// flowDir is a TCP direction: the 12 (IPv4) or 36 (IPv6) address bytes and
// the 4 port bytes.
func flowDir(b []byte, ipOff, tcpOff int) (dir, reverse string) {
	n := 4 // address length
	src := ipOff + 12
	if b[12] != 0x08 {
		n, src = 16, ipOff+8
	}
	a, z := b[src:src+n], b[src+n:src+2*n]
	sp, dp := b[tcpOff:tcpOff+2], b[tcpOff+2:tcpOff+4]
	return string(a) + string(z) + string(sp) + string(dp), string(z) + string(a) + string(dp) + string(sp)
}

// fixLengths rewrites the IP length fields and the IPv4 header and TCP
// checksums of a frame whose TCP payload changed.
func fixLengths(b []byte, ipOff, tcpOff int) {
	var sum uint32
	add := func(p []byte) {
		for i := 0; i+1 < len(p); i += 2 {
			sum += uint32(p[i])<<8 | uint32(p[i+1])
		}
		if len(p)%2 == 1 {
			sum += uint32(p[len(p)-1]) << 8
		}
	}
	fold := func() uint16 {
		for sum>>16 != 0 {
			sum = sum&0xffff + sum>>16
		}
		return ^uint16(sum)
	}
	tcpLen := len(b) - tcpOff
	if b[12] == 0x08 {
		ip := b[ipOff:tcpOff]
		n := len(b) - ipOff
		ip[2], ip[3] = byte(n>>8), byte(n)
		ip[10], ip[11] = 0, 0
		sum = 0
		add(ip)
		c := fold()
		ip[10], ip[11] = byte(c>>8), byte(c)
		sum = 0
		add(ip[12:20])
		sum += 6 + uint32(tcpLen)
	} else {
		n := len(b) - ipOff - 40
		b[ipOff+4], b[ipOff+5] = byte(n>>8), byte(n)
		sum = 0
		add(b[ipOff+8 : ipOff+40])
		sum += 6 + uint32(tcpLen)
	}
	b[tcpOff+16], b[tcpOff+17] = 0, 0
	add(b[tcpOff:])
	c := fold()
	b[tcpOff+16], b[tcpOff+17] = byte(c>>8), byte(c)
}

// perturb returns a capture's frames with its TCP data segments changed as
// a lossy or doubled SPAN port delivers them: mode "dup" sends every data
// segment twice; "swap" swaps each second pair of consecutive data segments
// of one direction (out of order) with no frame of the other direction
// between them; "collapse" follows each second pair of
// consecutive data segments of one direction with a retransmission that
// carries both payloads at the first's sequence number, as Linux's
// retransmit collapsing sends after a loss.
func perturb(t *testing.T, frames []frame, mode string) []frame {
	t.Helper()
	switch mode {
	case "fragrev", "fragdup":
		return perturbFrags(frames, mode)
	case "trailer":
		// 4 bytes after every IP packet, as in captures that keep the
		// Ethernet FCS, or Ethernet padding of short frames: the IP
		// length, not the frame's, ends the packet.
		out := make([]frame, len(frames))
		for i, f := range frames {
			d := append(slices.Clone(f.data), 0xde, 0xad, 0xbe, 0xef)
			ci := f.ci
			ci.CaptureLength, ci.Length = len(d), len(d)
			out[i] = frame{ci, d}
		}
		return out
	case "tsorder":
		// Timestamps out of file order, as in captures merged from two
		// interfaces (dumpcap -i a -i b, mergecap -a, a SPAN port fed by
		// two mirror sessions): each pair of frames swaps its times.
		out := slices.Clone(frames)
		for i := 0; i+1 < len(out); i += 2 {
			out[i].ci.Timestamp, out[i+1].ci.Timestamp = out[i+1].ci.Timestamp, out[i].ci.Timestamp
		}
		return out
	case "portreuse":
		// Every TCP connection of a family from one client port: each new
		// SYN reuses the 4-tuple of the connection before it (a client
		// binding a fixed source port, or port reuse under load).
		out := make([]frame, len(frames))
		for i, f := range frames {
			d := slices.Clone(f.data)
			if ipOff, tcpOff, _, ok := tcpSeg(d); ok {
				for _, off := range []int{tcpOff, tcpOff + 2} {
					if binary.BigEndian.Uint16(d[off:]) != 53 {
						binary.BigEndian.PutUint16(d[off:], 40000)
					}
				}
				fixLengths(d, ipOff, tcpOff)
			}
			out[i] = frame{f.ci, d}
		}
		return out
	case "halfclose":
		// The client shuts down its side right after its last query (a
		// TCP half-close, as some stub resolvers do): its FIN moves up to
		// just after its last data segment, before the server's answer.
		out := slices.Clone(frames)
		lastData := map[string]int{}
		for i := 0; i < len(out); i++ {
			ipOff, tcpOff, payOff, ok := tcpSeg(out[i].data)
			if !ok {
				continue
			}
			dir, _ := flowDir(out[i].data, ipOff, tcpOff)
			fin := out[i].data[tcpOff+13]&0x01 != 0
			fromClient := binary.BigEndian.Uint16(out[i].data[tcpOff+2:]) == 53
			switch {
			case fromClient && payOff < len(out[i].data):
				lastData[dir] = i
			case fromClient && fin:
				if j, ok := lastData[dir]; ok && j+1 < i {
					f := out[i]
					copy(out[j+2:i+1], out[j+1:i])
					out[j+1] = f
					delete(lastData, dir)
				}
			}
		}
		return out
	case "idle":
		// Every connection falls silent for longer than the sensor's
		// flow timeout (1 minute) half-way through the capture, then goes
		// on (a resolver's kept-open upstream connection).
		out := slices.Clone(frames)
		for i := len(out) / 2; i < len(out); i++ {
			out[i].ci.Timestamp = out[i].ci.Timestamp.Add(90 * time.Second)
		}
		return out
	}
	var out []frame
	last := map[string]int{} // direction -> index in out of its last data segment
	n := 0
	for _, f := range frames {
		ipOff, tcpOff, payOff, ok := tcpSeg(f.data)
		if !ok {
			out = append(out, f)
			continue
		}
		dir, reverse := flowDir(f.data, ipOff, tcpOff)
		// Nothing moves past the peer's answer or ACK: at one capture point
		// a segment is seen before the peer acknowledges it (a sensor may
		// take an ACK of bytes it never saw as a capture loss).
		delete(last, reverse)
		if payOff >= len(f.data) {
			out = append(out, f)
			continue
		}
		prev, seen := last[dir]
		n++
		switch {
		case mode == "dup":
			out = append(out, f, frame{f.ci, slices.Clone(f.data)})
		case mode == "swap" && seen && n%2 == 0:
			out = append(out, out[prev])
			out[prev] = f
			delete(last, dir)
			continue
		case mode == "collapse" && seen && n%2 == 0:
			// Linux collapses what fits one MSS-sized segment; of two
			// full segments, resend the second half of one and the first
			// half of the next (a retransmission overlapping both).
			p := out[prev].data
			_, _, pPay, _ := tcpSeg(p)
			pp, fp := p[pPay:], f.data[payOff:]
			h1, h2 := 0, len(fp)
			if len(p)+len(fp) > 1514 {
				h1, h2 = len(pp)/2, len(fp)/2
			}
			seg := append(slices.Clone(p[:pPay]), pp[h1:]...)
			seg = append(seg, fp[:h2]...)
			seq := binary.BigEndian.Uint32(p[tcpOff+4:]) + uint32(h1)
			binary.BigEndian.PutUint32(seg[tcpOff+4:], seq)
			fixLengths(seg, ipOff, tcpOff)
			ci := f.ci
			ci.CaptureLength, ci.Length = len(seg), len(seg)
			out = append(out, f, frame{ci, seg})
			delete(last, dir)
			continue
		default:
			out = append(out, f)
		}
		last[dir] = len(out) - 1
	}
	return out
}

// TestRealWorldPerturbed replays the Ethernet real-world captures as a
// lossy or doubled SPAN port would deliver them (TCP data segments
// duplicated, swapped, or retransmitted collapsed): the sensor must still
// write exactly the messages it writes for the clean capture.
func TestRealWorldPerturbed(t *testing.T) {
	tcpModes := map[string]int{"dup": 0, "swap": 0, "collapse": 0, "idle": 0, "trailer": 0, "tsorder": 0, "portreuse": 0, "halfclose": 0}
	for _, c := range []struct {
		name  string
		modes map[string]int // mode -> messages it may lose
	}{
		// The idle gap falls in the middle of an AXFR answer message: the
		// flow expires with the head of that message buffered, and its
		// tail comes after the gap. The sensor drops that one message
		// (tcp_partial_messages 1) and resynchronises on the next length
		// prefix; tshark, which never expires a stream, keeps it.
		{"lab_realworld_xfr.pcap", map[string]int{"dup": 0, "swap": 0, "collapse": 0, "idle": 1, "trailer": 0, "tsorder": 0, "portreuse": 0, "halfclose": 0}},
		// dnsperf's queries are each ACKed before the next: no two are
		// adjacent to swap or collapse.
		// No port reuse either: its three connections are concurrent.
		{"lab_realworld_dnsperf_tcp.pcap", map[string]int{"dup": 0, "idle": 0, "trailer": 0, "tsorder": 0, "halfclose": 0}},
		{"lab_bind_tcp.pcap", tcpModes},
		{"lab_bind_frag.pcap", map[string]int{"fragrev": 0, "fragdup": 0, "trailer": 0, "tsorder": 0}},
		{"lab_bind_udp.pcap", map[string]int{"trailer": 0, "tsorder": 0}},
	} {
		name := c.name
		clean, _ := convert(t, pcapPath(name))
		want := messageKeys(readEntries(t, clean))
		frames := readFrames(t, pcapPath(name))
		for _, mode := range slices.Sorted(maps.Keys(c.modes)) {
			t.Run(name+"/"+mode, func(t *testing.T) {
				pf := perturb(t, frames, mode)
				if slices.EqualFunc(pf, frames, func(a, b frame) bool { return a.ci.Timestamp.Equal(b.ci.Timestamp) && string(a.data) == string(b.data) }) {
					t.Fatalf("%s changed nothing", mode)
				}
				dir := t.TempDir()
				if keep := os.Getenv("SENSOR_REALWORLD_KEEP"); keep != "" {
					dir = keep // to look at the perturbed captures with tshark
				}
				path := filepath.Join(dir, strings.TrimSuffix(name, ".pcap")+"."+mode+".pcap")
				writeFrames(t, path, pf)
				out, summary := convert(t, path)
				got := messageKeys(readEntries(t, out))
				want := want
				if mode == "portreuse" {
					// The client ports changed on purpose: compare the rest.
					want, got = dropSender(want), dropSender(got)
				}
				onlyClean, onlyPerturbed := multisetDiff(want, got)
				if len(onlyClean) != c.modes[mode] || len(onlyPerturbed) != 0 {
					t.Errorf("%d frames (clean %d): %d messages only in the clean output (%d allowed), %d only in the %s one:\n%v\n%v\nsummary:\n%s",
						len(pf), len(frames), len(onlyClean), c.modes[mode], len(onlyPerturbed), mode, head(onlyClean), head(onlyPerturbed), summary)
				}
			})
		}
	}
}

// dropSender strips the "address:port" that starts each messageKeys key.
func dropSender(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		_, out[i], _ = strings.Cut(k, " ")
	}
	return out
}

func head(s []string) []string { return s[:min(len(s), 5)] }

// messageKeys is senderKey plus a digest of the message bytes.
func messageKeys(e []tapfile.CompareEntry) []string {
	out := make([]string, len(e))
	for i := range e {
		out[i] = fmt.Sprintf("%s %s %d %x", senderKey(&e[i]), e[i].Protocol, len(e[i].Wire), sha256.Sum256(e[i].Wire))
	}
	return out
}

func readFrames(t *testing.T, path string) []frame {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if r.LinkType() != layers.LinkTypeEthernet {
		t.Fatalf("%s: link type %v, want Ethernet", path, r.LinkType())
	}
	var out []frame
	for {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, frame{ci, slices.Clone(data)})
	}
}

func writeFrames(t *testing.T, path string, frames []frame) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := pcapgo.NewWriter(f)
	if err := w.WriteFileHeader(262144, layers.LinkTypeEthernet); err != nil {
		t.Fatal(err)
	}
	for _, fr := range frames {
		if err := w.WritePacket(fr.ci, fr.data); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// isFrag reports whether an Ethernet frame is an IPv4 fragment or an IPv6
// packet with a Fragment header, and returns its datagram key.
func isFrag(b []byte) (string, bool) {
	if len(b) < 14+40 {
		return "", false
	}
	switch uint16(b[12])<<8 | uint16(b[13]) {
	case 0x0800:
		if (uint16(b[20])<<8|uint16(b[21]))&0x3fff != 0 {
			return string(b[14+4:14+6]) + string(b[14+12:14+20]), true
		}
	case 0x86dd:
		if b[14+6] == 44 {
			return string(b[14+8:14+40]) + string(b[54+4:54+8]), true
		}
	}
	return "", false
}

// perturbFrags reverses the fragments of every fragmented datagram
// ("fragrev": last fragment first, as some routers and bonded links deliver
// them) or sends each fragment twice ("fragdup").
func perturbFrags(frames []frame, mode string) []frame {
	var out []frame
	for i := 0; i < len(frames); i++ {
		key, ok := isFrag(frames[i].data)
		if !ok {
			out = append(out, frames[i])
			continue
		}
		j := i
		for j < len(frames) {
			k, ok := isFrag(frames[j].data)
			if !ok || k != key {
				break
			}
			j++
		}
		group := frames[i:j]
		if mode == "fragrev" {
			for k := len(group) - 1; k >= 0; k-- {
				ci := group[len(group)-1-k].ci // timestamps stay in order
				ci.CaptureLength, ci.Length = len(group[k].data), len(group[k].data)
				out = append(out, frame{ci, group[k].data})
			}
		} else {
			for _, f := range group {
				out = append(out, f, frame{f.ci, slices.Clone(f.data)})
			}
		}
		i = j - 1
	}
	return out
}

// TestRealWorldLive runs the real-world traffic live: the sensor on the
// server's veth (AF_PACKET) beside tcpdump, during a secondary's AXFR and
// IXFR, an AXFR over IPv6, 60 KB TCP answers, fragmented signed UDP
// answers on both families, pipelined kdig queries and dnsperf over TCP.
// The live output must hold exactly the messages the sensor finds in
// tcpdump's file of the same frames, and cover BIND's dnstap.
func TestRealWorldLive(t *testing.T) {
	for _, offloads := range []string{"off", "on"} {
		t.Run("offloads_"+offloads, func(t *testing.T) { testRealWorldLive(t, offloads) })
	}
}

// testRealWorldLive is TestRealWorldLive with the veths' offloads off (as
// on a SPAN port), or on (the sensor beside the server on an ordinary
// host: AF_PACKET hands over TSO/GRO super-segments and partial checksums).
func testRealWorldLive(t *testing.T, offloads string) {
	bin := sensorBin(t)
	dnsperf := testenv.NeedTool(t, "dnsperf", "dnsperf")
	l := lab.New(t)
	if offloads == "on" {
		for _, side := range []struct {
			ns *lab.Netns
			If string
		}{{l.Server, l.ServerIf}, {l.Client, l.ClientIf}} {
			side.ns.Run(t, "ethtool", "-K", side.If, "rx", "on", "tx", "on", "sg", "on", "tso", "on", "gso", "on", "gro", "on")
		}
	}
	dir := t.TempDir()
	pcap := filepath.Join(dir, "live.pcap")
	c := l.Server.StartCapture(t, l.ServerIf, pcap, "")
	// Two sensors on the same port: one capture socket, and two in a
	// fanout group (flows and fragments must stay on one worker).
	out := filepath.Join(dir, "live.dnstap")
	out2 := filepath.Join(dir, "live2.dnstap")
	flags := []string{"--server", serverFlag + "," + lab.ClientV4.String(), "--role", "authoritative"}
	sensor := l.Server.Start(t, bin, append([]string{"-i", l.ServerIf, "-w", out}, flags...)...)
	sensor.WaitFor(t, "capture socket opened", sensorStartWait)
	sensor2 := l.Server.Start(t, bin, append([]string{"-i", l.ServerIf, "-w", out2, "--workers", "2"}, flags...)...)
	for range 2 {
		sensor2.WaitFor(t, "capture socket opened", sensorStartWait)
	}
	primary := lab.StartRealNamed(t, l.Server, lab.ServerV4, lab.ServerV6, lab.RealNamedOptions{Identity: "lab-primary", Primary: true, Secondary: lab.ClientV4})
	secondary := lab.StartRealNamed(t, l.Client, lab.ClientV4, lab.ClientV6, lab.RealNamedOptions{Identity: "lab-secondary", PrimaryAddr: lab.ServerV4})
	secondary.WaitLog(t, "transferred serial 1", time.Minute)
	at4, at6 := "@"+lab.ServerV4.String(), "@"+lab.ServerV6.String()
	l.Client.Run(t, "dig", "+tries=1", "+time=5", at6, lab.ZoneXFR, "AXFR")
	l.Client.NSUpdate(t, "server "+lab.ServerV4.String()+"\nzone "+lab.ZoneXFR+"\nupdate add live."+lab.ZoneXFR+" 300 A 192.0.2.1\nsend\n")
	secondary.WaitLog(t, "transferred serial 2", time.Minute)
	for _, at := range []string{at4, at6} {
		l.Client.Dig(t, at, "+tcp", lab.NameFat, "TXT")
		l.Client.Dig(t, at, "+bufsize=4096", "+dnssec", lab.NameSignedBig, "TXT")
	}
	args := []string{"+retry=0", "+timeout=5", "+tcp", "+keepopen", at4}
	for i := range 30 {
		args = append(args, fmt.Sprintf("HoSt-%04d.WeB.%s", i*31, lab.ZoneXFR), "A")
	}
	l.Client.Run(t, "kdig", args...)
	queries := filepath.Join(dir, "queries")
	if err := os.WriteFile(queries, []byte("www."+lab.ZoneSigned+" A\nmx."+lab.ZoneSigned+" MX\n"+lab.NameSignedBig+" TXT\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	perf := l.Client.Run(t, dnsperf, "-s", lab.ServerV4.String(), "-m", "tcp", "-c", "4", "-Q", "300", "-l", "2", "-d", queries)
	t.Logf("dnsperf: %s", perfLine(string(perf)))

	time.Sleep(ringSettle)
	c.Stop(t)
	for _, p := range []*lab.Process{sensor, sensor2} {
		if err := p.Stop(syscall.SIGTERM); err != nil {
			t.Fatalf("sensor: %v\n%s", err, p.Stderr())
		}
	}
	secondary.Stop(t)
	primary.Stop(t)
	t.Logf("live sensor:\n%s", sensor.Stderr())

	if offloads == "on" {
		big := 0
		for _, f := range readFrames(t, pcap) {
			if len(f.data) > 1514 {
				big++
			}
		}
		if big == 0 {
			t.Errorf("offloads on, but no frame above 1514 bytes in tcpdump's capture")
		}
		t.Logf("%d frames above 1514 bytes (TSO/GRO)", big)
	}
	// libpcap sizes tcpdump's ring for the MTU: with offloads on, the
	// kernel drops GSO frames larger than its blocks (seen: one 10.9 KB
	// AXFR segment, 4 messages, in 5 runs of 6), which the sensor's 1 MiB
	// blocks keep. Then tcpdump's file may lack messages the live sensor
	// has, never the reverse.
	tcpdumpDrops := 0
	if m := regexp.MustCompile(`(\d+) packets? dropped by kernel`).FindStringSubmatch(c.Stderr()); m != nil {
		tcpdumpDrops, _ = strconv.Atoi(m[1])
	}
	file, summary := convert(t, pcap, flags...)
	for _, o := range []string{out, out2} {
		onlyFile, onlyLive := multisetDiff(messageKeys(readEntries(t, file)), messageKeys(readEntries(t, o)))
		if len(onlyFile) != 0 || (len(onlyLive) != 0 && tcpdumpDrops == 0) {
			t.Errorf("%s: %d messages only in the file run, %d only live (tcpdump dropped %d frames):\n%v\n%v\nfile summary:\n%s",
				filepath.Base(o), len(onlyFile), len(onlyLive), tcpdumpDrops, head(onlyFile), head(onlyLive), summary)
			if keep := os.Getenv("SENSOR_REALWORLD_KEEP"); keep != "" {
				copyFile(t, pcap, filepath.Join(keep, "live-"+offloads+".pcap"))
				copyFile(t, o, filepath.Join(keep, "live-"+offloads+"-"+filepath.Base(o)))
			}
		} else if len(onlyLive) != 0 {
			t.Logf("%s: %d messages only live: tcpdump dropped %d frames", filepath.Base(o), len(onlyLive), tcpdumpDrops)
		}
	}
	// The two live sensors saw the same frames.
	if a, b := multisetDiff(messageKeys(readEntries(t, out)), messageKeys(readEntries(t, out2))); len(a)+len(b) != 0 {
		t.Errorf("1 worker and 2 workers differ: %d and %d messages only in one:\n%v\n%v", len(a), len(b), head(a), head(b))
	}
	rep := compareFiles(t, primary.DnstapPath, out, "BIND")
	if !rep.Covers() || rep.MessagesA == 0 {
		t.Errorf("live output does not cover BIND's dnstap:\n%s", rep)
	}
	// The secondary is a server too: messages between the two come out
	// once per view; count the primary's.
	var auth []tapfile.CompareEntry
	for _, e := range readEntries(t, out) {
		if e.Type == dnstap.Message_AUTH_QUERY || e.Type == dnstap.Message_AUTH_RESPONSE {
			auth = append(auth, e)
		}
	}
	checkAXFR(t, auth, 2007)
}

// TestRealWorldLiveAny: `tcpdump -i any` users will try `sensor -i any`.
// The sensor binds each socket to one interface, so it must refuse "any"
// at once (exit 2) instead of waiting for an interface of that name, as
// it did (the capture supervisor retried "capture: no such interface"
// forever).
func TestRealWorldLiveAny(t *testing.T) {
	bin := sensorBin(t)
	l := lab.New(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := l.Server.Command(ctx, bin, "-i", "any", "-w", filepath.Join(t.TempDir(), "any.dnstap")).CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 || !strings.Contains(string(out), "-i any is not supported") {
		t.Errorf("sensor -i any: %v, want exit 2 at once with a message:\n%s", err, out)
	}
}
