package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
	"github.com/miekg/dns"
)

// The security captures: traffic with known culprits for the report and
// alert tests. They are written by TestWriteSecurityCaptures (run with
// SENSOR_REGEN_SECURITY=1) and committed to testdata/pcaps, so the tests read
// fixed bytes; the generator documents exactly what they hold.
var (
	secServer   = netip.MustParseAddr("192.0.2.53")
	secNXClient = netip.MustParseAddr("198.51.100.66") // NXDOMAIN burst (DGA-like names)
	secTunnel   = netip.MustParseAddr("198.51.100.77") // TXT queries with long random labels
	secSinkhole = netip.MustParseAddr("198.51.100.88") // resolves a sinkholed name
	secSinkAddr = netip.MustParseAddr("192.0.2.66")
)

const (
	secTunnelDomain = "exfil.example"
	secSinkName     = "update.malware-cnc.example"
	secSinkholes    = "192.0.2.66,sinkhole.example.net"
	secStart        = 1767225600 // 2026-01-01T00:00:00Z
	secOrdinary     = 8          // ordinary clients 198.51.100.10 … .17
)

func secOrdinaryClient(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{198, 51, 100, byte(10 + i)})
}

// Names the ordinary clients ask for, with how they are answered.
var secNames = []struct {
	name  string
	qtype uint16
}{
	{"www.example.com", dns.TypeA}, {"www.example.com", dns.TypeAAAA}, {"mail.example.org", dns.TypeMX},
	{"api.example.net", dns.TypeA}, {"cdn.example.com", dns.TypeA}, {"docs.example.org", dns.TypeA},
	{"news.example.co.uk", dns.TypeA}, {"intranet.corp.example", dns.TypeA}, {"time.example.net", dns.TypeAAAA},
	{"a-very-long-but-perfectly-normal-host-name.example.org", dns.TypeA}, {"_ldap._tcp.corp.example", dns.TypeSRV},
	{"10.113.0.203.in-addr.arpa", dns.TypePTR},
}

type secEvent struct {
	t      int64 // ns
	client netip.Addr
	port   uint16
	q      *dns.Msg
	r      *dns.Msg
	rdelay int64
}

// secTraffic returns the transactions of a capture: ordinary clients over
// ten minutes, plus the three culprits when culprits is set.
func secTraffic(culprits bool) []secEvent {
	rng := rand.New(rand.NewPCG(13, 13))
	var ev []secEvent
	id := uint16(1)
	add := func(t int64, c netip.Addr, name string, qtype uint16, answer func(q, r *dns.Msg)) {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		q.Id = id
		id++
		r := new(dns.Msg)
		r.SetReply(q)
		r.RecursionAvailable = true
		answer(q, r)
		ev = append(ev, secEvent{t: t, client: c, port: uint16(20000 + rng.IntN(40000)), q: q, r: r,
			rdelay: int64(1+rng.IntN(30)) * int64(time.Millisecond)})
	}
	normal := func(q, r *dns.Msg) {
		qq := q.Question[0]
		hdr := dns.RR_Header{Name: qq.Name, Rrtype: qq.Qtype, Class: dns.ClassINET, Ttl: 300}
		switch qq.Qtype {
		case dns.TypeA:
			r.Answer = append(r.Answer, &dns.A{Hdr: hdr, A: []byte{203, 0, 113, byte(len(qq.Name))}})
		case dns.TypeAAAA:
			r.Answer = append(r.Answer, &dns.AAAA{Hdr: hdr, AAAA: netip.MustParseAddr("2001:db8::1").AsSlice()})
		case dns.TypeMX:
			r.Answer = append(r.Answer, &dns.MX{Hdr: hdr, Preference: 10, Mx: "mx." + qq.Name})
		case dns.TypeSRV:
			r.Answer = append(r.Answer, &dns.SRV{Hdr: hdr, Priority: 0, Weight: 5, Port: 389, Target: "dc1.corp.example."})
		case dns.TypePTR:
			r.Answer = append(r.Answer, &dns.PTR{Hdr: hdr, Ptr: "www.example.com."})
		}
	}
	nx := func(q, r *dns.Msg) {
		r.Rcode = dns.RcodeNameError
		r.Ns = append(r.Ns, &dns.SOA{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 300},
			Ns: "ns.example.", Mbox: "hostmaster.example.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 300})
	}
	base := int64(secStart) * 1e9
	for i := range secOrdinary {
		c := secOrdinaryClient(i)
		for j := range 30 {
			t := base + int64(rng.IntN(600))*int64(time.Second) + int64(rng.IntN(1000))*int64(time.Millisecond)
			n := secNames[(i+j*5)%len(secNames)]
			add(t, c, n.name, n.qtype, normal)
		}
		// Everyone mistypes a name now and then.
		add(base+int64(100+i*50)*int64(time.Second), c, fmt.Sprintf("wwww.example%d.com", i), dns.TypeA, nx)
	}
	if culprits {
		const b32 = "abcdefghijklmnopqrstuvwxyz234567"
		randLabel := func(n int, alphabet string) string {
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			return string(b)
		}
		// NXDOMAIN burst: 120 algorithmic names in one minute.
		for k := range 120 {
			t := base + 200*int64(time.Second) + int64(k)*500*int64(time.Millisecond)
			add(t, secNXClient, randLabel(12, "abcdefghijklmnopqrstuvwxyz")+".com", dns.TypeA, nx)
		}
		// A few ordinary lookups from the same culprits, as real hosts make.
		for k := range 5 {
			add(base+int64(10+k)*int64(time.Second), secNXClient, "www.example.com", dns.TypeA, normal)
			add(base+int64(20+k)*int64(time.Second), secTunnel, "api.example.net", dns.TypeA, normal)
			add(base+int64(30+k)*int64(time.Second), secSinkhole, "cdn.example.com", dns.TypeA, normal)
		}
		// Tunnel: 150 TXT queries, 40-character base32 labels, answered
		// with TXT data, over two minutes.
		for k := range 150 {
			t := base + 300*int64(time.Second) + int64(k)*800*int64(time.Millisecond)
			name := randLabel(40, b32) + "." + randLabel(20, b32) + ".t." + secTunnelDomain
			add(t, secTunnel, name, dns.TypeTXT, func(q, r *dns.Msg) {
				r.Answer = append(r.Answer, &dns.TXT{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeTXT,
					Class: dns.ClassINET, Ttl: 0}, Txt: []string{randLabel(120, b32)}})
			})
		}
		// Sinkhole: the malware's update name resolves to the sinkhole.
		for k := range 3 {
			add(base+int64(400+k*60)*int64(time.Second), secSinkhole, secSinkName, dns.TypeA, func(q, r *dns.Msg) {
				r.Answer = append(r.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Question[0].Name, Rrtype: dns.TypeA,
					Class: dns.ClassINET, Ttl: 60}, A: secSinkAddr.AsSlice()})
			})
		}
	}
	return ev
}

// writeSecurityPcap writes the transactions as Ethernet/IPv4/UDP packets,
// query then response, in time order.
func writeSecurityPcap(path string, ev []secEvent) error {
	type pkt struct {
		t        int64
		src, dst netip.Addr
		sp, dp   uint16
		payload  []byte
	}
	var pkts []pkt
	for _, e := range ev {
		qb, err := e.q.Pack()
		if err != nil {
			return err
		}
		rb, err := e.r.Pack()
		if err != nil {
			return err
		}
		pkts = append(pkts, pkt{e.t, e.client, secServer, e.port, 53, qb}, pkt{e.t + e.rdelay, secServer, e.client, 53, e.port, rb})
	}
	// Stable insertion by time keeps equal times in creation order.
	for i := 1; i < len(pkts); i++ {
		for j := i; j > 0 && pkts[j].t < pkts[j-1].t; j-- {
			pkts[j], pkts[j-1] = pkts[j-1], pkts[j]
		}
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	var gh [24]byte
	binary.LittleEndian.PutUint32(gh[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(gh[4:], 2)
	binary.LittleEndian.PutUint16(gh[6:], 4)
	binary.LittleEndian.PutUint32(gh[16:], 65535)
	binary.LittleEndian.PutUint32(gh[20:], 1) // LINKTYPE_ETHERNET
	w.Write(gh[:])
	for i, p := range pkts {
		frame := udpFrame(p.src, p.dst, p.sp, p.dp, uint16(i), p.payload)
		var rh [16]byte
		binary.LittleEndian.PutUint32(rh[0:], uint32(p.t/1e9))
		binary.LittleEndian.PutUint32(rh[4:], uint32(p.t%1e9/1000))
		binary.LittleEndian.PutUint32(rh[8:], uint32(len(frame)))
		binary.LittleEndian.PutUint32(rh[12:], uint32(len(frame)))
		w.Write(rh[:])
		w.Write(frame)
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func csum16(sum uint32, b []byte) uint32 {
	for i := 0; i+1 < len(b); i += 2 {
		sum += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		sum += uint32(b[len(b)-1]) << 8
	}
	return sum
}

func fold16(sum uint32) uint16 {
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	return ^uint16(sum)
}

// udpFrame builds Ethernet II + IPv4 (RFC 791) + UDP (RFC 768) with
// correct checksums.
func udpFrame(src, dst netip.Addr, sp, dp, ipID uint16, payload []byte) []byte {
	b := []byte{0x02, 0, 0, 0, 0, 0x53, 0x02, 0, 0, 0, 0, 0x01, 0x08, 0x00}
	ip := make([]byte, 20)
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(20+8+len(payload)))
	binary.BigEndian.PutUint16(ip[4:], ipID)
	ip[6] = 0x40 // DF
	ip[8] = 64
	ip[9] = 17
	s4, d4 := src.As4(), dst.As4()
	copy(ip[12:], s4[:])
	copy(ip[16:], d4[:])
	binary.BigEndian.PutUint16(ip[10:], fold16(csum16(0, ip)))
	udp := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint16(udp[0:], sp)
	binary.BigEndian.PutUint16(udp[2:], dp)
	binary.BigEndian.PutUint16(udp[4:], uint16(8+len(payload)))
	udp = append(udp, payload...)
	pseudo := csum16(0, s4[:])
	pseudo = csum16(pseudo, d4[:])
	pseudo += 17 + uint32(len(udp))
	c := fold16(csum16(pseudo, udp))
	if c == 0 {
		c = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], c)
	b = append(b, ip...)
	return append(b, udp...)
}

// TestWriteSecurityCaptures regenerates testdata/pcaps/security_*.pcap
// (SENSOR_REGEN_SECURITY=1); otherwise it checks that the committed files
// are what the generator makes, so the description above stays true.
func TestWriteSecurityCaptures(t *testing.T) {
	for _, c := range []struct {
		file     string
		culprits bool
	}{{"security_normal.pcap", false}, {"security_mixed.pcap", true}} {
		path := filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", c.file)
		tmp := filepath.Join(t.TempDir(), c.file)
		if err := writeSecurityPcap(tmp, secTraffic(c.culprits)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(tmp)
		if err != nil {
			t.Fatal(err)
		}
		if os.Getenv("SENSOR_REGEN_SECURITY") == "1" {
			if err := os.WriteFile(path, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(want) {
			t.Errorf("%s differs from what the generator makes (SENSOR_REGEN_SECURITY=1 to rewrite)", c.file)
		}
	}
}
