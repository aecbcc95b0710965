// Command naive is the baseline issue #2 measures the sensor against: the
// obvious Go loop over a pcap file with gopacket.NewPacket, miekg/dns
// Unpack, golang-dnstap's protobuf types and golang-framestream. It handles
// unfragmented DNS over UDP on port 53 only, and labels messages
// CLIENT_QUERY/CLIENT_RESPONSE by the QR bit. It exists to be timed, not
// used:
//
//	benchrun -sensor bin/naive -pcap testdata/bench/udp.pcap -- -w /tmp/naive.dnstap
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"os"

	dnstap "github.com/dnstap/golang-dnstap"
	framestream "github.com/farsightsec/golang-framestream"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

func main() {
	in := flag.String("r", "", "pcap file")
	out := flag.String("w", "", "dnstap file")
	flag.Parse()
	n, err := run(*in, *out)
	if err != nil {
		fmt.Fprintln(os.Stderr, "naive:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "naive: %d frames written\n", n)
}

func run(in, out string) (int, error) {
	f, err := os.Open(in)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r, err := pcapgo.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return 0, err
	}
	o, err := os.Create(out)
	if err != nil {
		return 0, err
	}
	defer o.Close()
	bw := bufio.NewWriterSize(o, 1<<20)
	enc, err := framestream.NewEncoder(bw, &framestream.EncoderOptions{ContentType: []byte("protobuf:dnstap.Dnstap")})
	if err != nil {
		return 0, err
	}
	identity, version := []byte("naive"), []byte("0")
	n := 0
	for {
		data, ci, err := r.ReadPacketData()
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
		p := gopacket.NewPacket(data, r.LinkType(), gopacket.Default)
		udp, ok := p.Layer(layers.LayerTypeUDP).(*layers.UDP)
		if !ok || (udp.SrcPort != 53 && udp.DstPort != 53) {
			continue
		}
		m := new(dns.Msg)
		if err := m.Unpack(udp.Payload); err != nil {
			continue
		}
		var src, dst []byte
		fam := dnstap.SocketFamily_INET
		switch ip := p.NetworkLayer().(type) {
		case *layers.IPv4:
			src, dst = ip.SrcIP, ip.DstIP
		case *layers.IPv6:
			src, dst = ip.SrcIP, ip.DstIP
			fam = dnstap.SocketFamily_INET6
		default:
			continue
		}
		proto_ := dnstap.SocketProtocol_UDP
		sec, nsec := uint64(ci.Timestamp.Unix()), uint32(ci.Timestamp.Nanosecond())
		msg := &dnstap.Message{SocketFamily: &fam, SocketProtocol: &proto_}
		sport, dport := uint32(udp.SrcPort), uint32(udp.DstPort)
		if m.Response {
			t := dnstap.Message_CLIENT_RESPONSE
			msg.Type = &t
			msg.QueryAddress, msg.QueryPort = dst, &dport
			msg.ResponseAddress, msg.ResponsePort = src, &sport
			msg.ResponseTimeSec, msg.ResponseTimeNsec = &sec, &nsec
			msg.ResponseMessage = udp.Payload
		} else {
			t := dnstap.Message_CLIENT_QUERY
			msg.Type = &t
			msg.QueryAddress, msg.QueryPort = src, &sport
			msg.ResponseAddress, msg.ResponsePort = dst, &dport
			msg.QueryTimeSec, msg.QueryTimeNsec = &sec, &nsec
			msg.QueryMessage = udp.Payload
		}
		dt := dnstap.Dnstap_MESSAGE
		b, err := proto.Marshal(&dnstap.Dnstap{Identity: identity, Version: version, Type: &dt, Message: msg})
		if err != nil {
			return n, err
		}
		if _, err := enc.Write(b); err != nil {
			return n, err
		}
		n++
	}
	if err := enc.Close(); err != nil {
		return n, err
	}
	return n, bw.Flush()
}
