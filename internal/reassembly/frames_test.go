// Crafted frames for the decode tests, written by testdata/gen_frames.py
// (python3 testdata/gen_frames.py > frames_test.go). The comment above each frame
// is tcpdump -nn -t's reading of it.

package reassembly

import "github.com/dnstap-sensor/dnstap-sensor/internal/packet"

// testQuery is "A? example.com." with ID 0x1234 and RD set.
var testQuery = mustHexVar("123401000001000000000000076578616d706c6503636f6d0000010001")

// testResponse answers testQuery with 192.0.2.1.
var testResponse = mustHexVar("123481800001000100000000076578616d706c6503636f6d0000010001c00c000100010000012c0004c0000201")

var linkCases = []decodeCase{
	{
		name: "ethernet ipv4 udp query",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "ethernet ipv6 udp response",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0035 1140 2001 0db8 0000 0000 0000
			0000 0000 0053 2001 0db8 0000 0000 0000 0000 0000 0010 0035 9c40 0035 6493 1234
			8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100
			0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "ethernet ipv4 udp response",
		link: packet.LinkTypeEthernet,
		// IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0049 0001 0000 4011 8e30 c633 6435 c000
			020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "ethernet ipv6 udp query",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0025 1140 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234
			0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "802.1Q vlan 11",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 000b 0800 4500 0039 0001 0000 4011 8e40 c000
			020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		vlan:    11,
	},
	{
		name: "802.1Q priority bits ignored",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 a00b 86dd 6000 0000 0025 1140 2001 0db8 0000
			0000 0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025
			25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
		vlan:    11,
	},
	{
		name: "QinQ 88a8 outer 100 inner 200",
		link: packet.LinkTypeEthernet,
		// IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 88a8 0064 8100 00c8 0800 4500 0049 0001 0000 4011
			8e30 c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765
			7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
		vlan:    100,
	},
	{
		name: "QinQ 9100 outer 300",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 9100 012c 8100 00c8 86dd 6000 0000 0035 1140 2001
			0db8 0000 0000 0000 0000 0000 0053 2001 0db8 0000 0000 0000 0000 0000 0010 0035
			9c40 0035 6493 1234 8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
		vlan:    300,
	},
	{
		name: "triple tag",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 88a8 0001 8100 0002 8100 0003 0800 4500 0039 0001
			0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000
			0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		vlan:    1,
	},
	{
		name: "nine tags exceed the bound",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 0001 8100 0002 8100 0003 8100 0004 8100 0005
			8100 0006 8100 0007 8100 0008 8100 0009 0800 4500 0039 0001 0000 4011 8e40 c000
			020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeVLANDepth,
		vlan:    1,
	},
	{
		name: "kernel-reported vlan wins over tag",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 000b 0800 4500 0039 0001 0000 4011 8e40 c000
			020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		src:       "192.0.2.10:40000",
		dst:       "198.51.100.53:53",
		payload:   testQuery,
		frameVLAN: 7,
		vlan:      7,
	},
	{
		name: "vlan tag cut short",
		link: packet.LinkTypeEthernet,
		// [|vlan]
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 00
		`,
		counter: DecodeLinkBadHeader,
	},
	{
		name: "MPLS two labels ipv4",
		link: packet.LinkTypeEthernet,
		// MPLS (label 16, tc 0, ttl 64) (label 17, tc 0, [S], ttl 64) IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 8847 0001 0040 0001 1140 4500 0039 0001 0000 4011
			8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765
			7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "MPLS multicast ipv6",
		link: packet.LinkTypeEthernet,
		// MPLS (label 100, tc 0, [S], ttl 64) IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 8848 0006 4140 6000 0000 0035 1140 2001 0db8 0000
			0000 0000 0000 0000 0053 2001 0db8 0000 0000 0000 0000 0000 0010 0035 9c40 0035
			6493 1234 8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0
			0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "MPLS under vlan",
		link: packet.LinkTypeEthernet,
		// MPLS (label 16, tc 0, [S], ttl 64) IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 000c 8847 0001 0140 4500 0039 0001 0000 4011
			8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765
			7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		vlan:    12,
	},
	{
		name: "MPLS 17 labels exceed the bound",
		link: packet.LinkTypeEthernet,
		// MPLS (label 16, tc 0, ttl 64) (label 17, tc 0, ttl 64) (label 18, tc 0, ttl 64) (label 19, tc 0, ttl 64) (label 20, tc 0, ttl 64) (label 21, tc 0, ttl 64) (l...
		frame: `
			0011 2233 4455 0066 7788 99aa 8847 0001 0040 0001 1040 0001 2040 0001 3040 0001
			4040 0001 5040 0001 6040 0001 7040 0001 8040 0001 9040 0001 a040 0001 b040 0001
			c040 0001 d040 0001 e040 0001 f040 0002 0140 4500 0039 0001 0000 4011 8e40 c000
			020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeMPLSDepth,
	},
	{
		name: "MPLS pseudowire control word is not IP",
		link: packet.LinkTypeEthernet,
		// MPLS (label 16, tc 0, [S], ttl 64)
		frame: `
			0011 2233 4455 0066 7788 99aa 8847 0001 0140 0000 0000 0011 2233 4455 0066 7788
			99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeNotIP,
	},
	{
		name: "MPLS stack without bottom",
		link: packet.LinkTypeEthernet,
		// MPLS (label 16, tc 0, ttl 0) (invalid)
		frame: `
			0011 2233 4455 0066 7788 99aa 8847 0001 0000
		`,
		counter: DecodeLinkBadHeader,
	},
	{
		name: "ARP is not IP",
		link: packet.LinkTypeEthernet,
		// ARP, Unknown Hardware (0) (len 0), Unknown Protocol (0x0000) (len 0), length 28
		frame: `
			0011 2233 4455 0066 7788 99aa 0806 0000 0000 0000 0000 0000 0000 0000 0000 0000
			0000 0000 0000 0000 0000
		`,
		counter: DecodeNotIP,
	},
	{
		name: "802.3 length field is not IP",
		link: packet.LinkTypeEthernet,
		// 00:66:77:88:99:aa > 00:11:22:33:44:55 Null Information, send seq 0, rcv seq 0, Flags [Command], length 48
		frame: `
			0011 2233 4455 0066 7788 99aa 0030 0000 0000 0000 0000 0000 0000 0000 0000 0000
			0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
		`,
		counter: DecodeNotIP,
	},
	{
		name: "ethernet shorter than its header",
		link: packet.LinkTypeEthernet,
		// [|ether]
		frame: `
			0000 0000 0000 0000 0000
		`,
		counter: DecodeLinkBadHeader,
	},
	{
		name: "ethernet padding after ipv4",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 0100 0000 0000 00
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "ethernet trailer after ipv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0025 1140 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234
			0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01de adbe ef
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "linux sll ipv4",
		link: packet.LinkTypeLinuxSLL,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0000 0001 0006 0066 7788 99aa 0000 0800 4500 0039 0001 0000 4011 8e40 c000 020a
			c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65
			0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "linux sll vlan ipv6",
		link: packet.LinkTypeLinuxSLL,
		// ethertype IPv6, IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0000 0001 0006 0066 7788 99aa 0000 8100 0015 86dd 6000 0000 0025 1140 2001 0db8
			0000 0000 0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035
			0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100
			01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
		vlan:    21,
	},
	{
		name: "linux sll short",
		link: packet.LinkTypeLinuxSLL,
		// [|sll]
		frame: `
			0000 0000 0000 0000 0000 0000 0000 00
		`,
		counter: DecodeLinkBadHeader,
	},
	{
		name: "linux sll2 ipv6",
		link: packet.LinkTypeLinuxSLL2,
		// ifb0 In IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			86dd 0000 0000 0002 0001 0006 0066 7788 99aa 0000 6000 0000 0035 1140 2001 0db8
			0000 0000 0000 0000 0000 0053 2001 0db8 0000 0000 0000 0000 0000 0010 0035 9c40
			0035 6493 1234 8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100
			01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "linux sll2 ipv4",
		link: packet.LinkTypeLinuxSLL2,
		// ifb0 In IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0800 0000 0000 0002 0001 0006 0066 7788 99aa 0000 4500 0049 0001 0000 4011 8e30
			c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "linux sll2 short",
		link: packet.LinkTypeLinuxSLL2,
		// [|sll2]
		frame: `
			0000 0000 0000 0000 0000 0000 0000 0000 0000 00
		`,
		counter: DecodeLinkBadHeader,
	},
	{
		name: "null little-endian AF_INET",
		link: packet.LinkTypeNull,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0200 0000 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "null big-endian AF_INET",
		link: packet.LinkTypeNull,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0000 0002 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "null AF_INET6 24 (NetBSD, OpenBSD)",
		link: packet.LinkTypeNull,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			1800 0000 6000 0000 0025 1140 2001 0db8 0000 0000 0000 0000 0000 0010 2001 0db8
			0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234 0100 0001 0000 0000 0000
			0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "null AF_INET6 28 (FreeBSD)",
		link: packet.LinkTypeNull,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			1c00 0000 6000 0000 0025 1140 2001 0db8 0000 0000 0000 0000 0000 0010 2001 0db8
			0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234 0100 0001 0000 0000 0000
			0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "null AF_INET6 30 (Darwin) big-endian",
		link: packet.LinkTypeNull,
		// IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0000 001e 6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001 0db8
			0000 0000 0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000 0000
			0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002
			01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "null unknown family",
		link: packet.LinkTypeNull,
		// OSI NLPID 0x45 unknown, length: 57
		frame: `
			0700 0000 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeNotIP,
	},
	{
		name: "null holding EtherType ipv4 big-endian",
		link: packet.LinkTypeNull,
		// AF Unknown (2048), length 61:
		frame: `
			0000 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "null holding EtherType ipv6 little-endian",
		link: packet.LinkTypeNull,
		// AF Unknown (34525), length 97:
		frame: `
			dd86 0000 6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001 0db8
			0000 0000 0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000 0000
			0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002
			01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "null holding EtherType vlan",
		link: packet.LinkTypeNull,
		// AF Unknown (33024), length 65:
		frame: `
			0000 8100 0009 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035
			0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100
			01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		vlan:    9,
	},
	{
		name: "null holding EtherType arp",
		link: packet.LinkTypeNull,
		// AF Unknown (2054), length 32:
		frame: `
			0000 0806 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
		`,
		counter: DecodeNotIP,
	},
	{
		name: "null short",
		link: packet.LinkTypeNull,
		// [|null]
		frame: `
			0200
		`,
		counter: DecodeLinkBadHeader,
	},
	{
		name: "loop AF_INET",
		link: packet.LinkTypeLoop,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0000 0002 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "loop AF_INET6",
		link: packet.LinkTypeLoop,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0000 0018 6000 0000 0025 1140 2001 0db8 0000 0000 0000 0000 0000 0010 2001 0db8
			0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234 0100 0001 0000 0000 0000
			0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "loop little-endian is not network order",
		link: packet.LinkTypeLoop,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0200 0000 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeNotIP,
	},
	{
		name: "raw ipv4",
		link: packet.LinkTypeRaw,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100
			0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "raw ipv6",
		link: packet.LinkTypeRaw,
		// IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001 0db8 0000 0000
			0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "raw version 5",
		link: packet.LinkTypeRaw,
		// unknown ip 5
		frame: `
			5000 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100
			0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeNotIP,
	},
	{
		name: "raw empty",
		link: packet.LinkTypeRaw,
		// [Invalid header: caplen==0, len==0]
		frame: `
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "linktype ipv4",
		link: packet.LinkTypeIPv4,
		// IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			4500 0049 0001 0000 4011 8e30 c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180
			0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100
			0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "linktype ipv6",
		link: packet.LinkTypeIPv6,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			6000 0000 0025 1140 2001 0db8 0000 0000 0000 0000 0000 0010 2001 0db8 0000 0000
			0000 0000 0000 0053 9c40 0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "linktype ipv4 holding ipv6",
		link: packet.LinkTypeIPv4,
		// IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			6000 0000 0025 1140 2001 0db8 0000 0000 0000 0000 0000 0010 2001 0db8 0000 0000
			0000 0000 0000 0053 9c40 0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeIPBadHeader,
	},
}

var ipCases = []decodeCase{
	{
		name: "ipv4 IHL 4",
		link: packet.LinkTypeEthernet,
		// IP bad-hlen 16
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4400 0035 0001 0000 4011 b9ad c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "ipv4 options IHL 6",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4600 003d 0001 0000 4011 8b3b c000 020a c633
			6435 0101 0100 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "ipv4 total length below IHL",
		link: packet.LinkTypeEthernet,
		// IP bad-len 19
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0013 0001 0000 4011 8e66 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "ipv4 total length lies",
		link: packet.LinkTypeEthernet,
		// IP truncated-ip - 100 bytes missing! 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 009d 0001 0000 4011 8ddc c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeIPBadLength,
	},
	{
		name: "ipv4 cut by snaplen",
		link: packet.LinkTypeEthernet,
		// IP truncated-ip - 11 bytes missing! 192.0.2.10.40000 > 198.51.100.53.53: 4660+ [|domain]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
		`,
		counter: DecodeTruncated,
		wireLen: 71,
	},
	{
		name: "ipv4 header cut by snaplen",
		link: packet.LinkTypeEthernet,
		// IP [|ip]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a
		`,
		counter: DecodeTruncated,
		wireLen: 71,
	},
	{
		name: "ipv4 header too short in whole frame",
		link: packet.LinkTypeEthernet,
		// IP [|ip]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			64
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "ipv4 version 6 under 0800",
		link: packet.LinkTypeEthernet,
		// IP6, wrong link-layer encapsulation (invalid)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 6000 0000 0025 1140 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234
			0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "ipv4 icmp",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10 > 198.51.100.53: ICMP echo request, id 0, seq 0, length 8
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 001c 0001 0000 4001 8e6d c000 020a c633
			6435 0800 f7ff 0000 0000
		`,
		counter: DecodeNotUDPTCP,
	},
	{
		name: "ipv4 esp",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10 > 198.51.100.53: ESP(spi=0x00001000,seq=0x1), length 32
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0034 0001 0000 4032 8e24 c000 020a c633
			6435 0000 1000 0000 0001 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
			0000
		`,
		counter: DecodeESP,
	},
	{
		name: "ipv4 atomic with DF",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 4000 4011 4e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "ipv6 hop-by-hop, routing, destination options",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: HBH RT6 (len=2, type=0 [Deprecated], segleft=1, [0]2001:db8::1) DSTOPT 40000 > 53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0055 0040 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 2b00 0104 0000 0000 3c02
			0001 0000 0000 2001 0db8 0000 0000 0000 0000 0000 0001 1101 0000 0000 0000 0000
			0000 0000 0000 9c40 0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "ipv6 authentication header",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: AH(spi=0x00000100,seq=0x1,icv=0x000000000000000000000000): 40000 > 53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 003d 3340 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 1104 0000 0000 0100 0000
			0001 0000 0000 0000 0000 0000 0000 9c40 0035 0025 25b8 1234 0100 0001 0000 0000
			0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "ipv6 esp",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: DSTOPT ESP(spi=0x00001000,seq=0x1), length 32
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0028 3c40 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 3200 0000 0000 0000 0000
			1000 0000 0001 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
		`,
		counter: DecodeESP,
	},
	{
		name: "ipv6 no next header",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: no next header
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0008 3b40 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 0000 0000 0000 0000
		`,
		counter: DecodeNotUDPTCP,
	},
	{
		name: "ipv6 seventeen destination options (ext header loop)",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT DSTOPT 40000...
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 00ad 3c40 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 3c00 0000 0000 0000 3c00
			0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 3c00
			0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 3c00
			0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 3c00
			0000 0000 0000 3c00 0000 0000 0000 3c00 0000 0000 0000 1100 0000 0000 0000 9c40
			0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		counter: DecodeIPv6ExtLimit,
	},
	{
		name: "ipv6 ext header longer than packet",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: [|hbhopt]
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 002d 0040 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 11c8 0000 0000 0000 9c40
			0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "ipv6 payload length zero (jumbo)",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: [|udp]
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0000 1140 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234
			0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeIPv6Jumbo,
	},
	{
		name: "ipv6 payload length lies",
		link: packet.LinkTypeEthernet,
		// IP6 truncated-ip6 - 1 bytes missing!2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0026 1140 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234
			0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeIPBadLength,
	},
	{
		name: "ipv6 cut by snaplen",
		link: packet.LinkTypeEthernet,
		// IP6 truncated-ip6 - 21 bytes missing!2001:db8::10.40000 > 2001:db8::53.53: [|domain]
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0025 1140 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234
			0100 0001 0000
		`,
		counter: DecodeTruncated,
		wireLen: 91,
	},
	{
		name: "ipv6 atomic fragment",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: frag (0|37) 40000 > 53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 002d 2c40 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 1100 0000 0000 abcd 9c40
			0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "ipv6 fragment header cut",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: frag (0|18446744073709551612)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0004 2c40 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 1100 0000
		`,
		counter: DecodeIPBadHeader,
	},
	{
		name: "ipv6 icmpv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::10 > 2001:db8::53: ICMP6, echo request, id 1, seq 1, length 8
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0008 3a40 2001 0db8 0000 0000 0000
			0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 8000 0000 0001 0001
		`,
		counter: DecodeNotUDPTCP,
	},
}

var transportCases = []decodeCase{
	{
		name: "udp length below 8",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: truncated-udplength 7
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0007 0000 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeUDPBadHeader,
	},
	{
		name: "udp length beyond ip payload",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0026 0000 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeUDPBadHeader,
	},
	{
		name: "udp header cut",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: truncated-udp 4
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0018 0001 0000 4011 8e61 c000 020a c633
			6435 9c40 0035
		`,
		counter: DecodeUDPBadHeader,
	},
	{
		name: "udp length shorter than ip payload",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 003b 0001 0000 4011 8e3e c000 020a c633
			6435 9c40 0035 0025 0000 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01ff ff
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "udp not dns port",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.5353: 4660+ A (QM)? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 14e9 0025 8065 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeNonDNSPort,
	},
	{
		name: "udp port 53 payload shorter than a header",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: domain [length 5 < 12] (invalid)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0021 0001 0000 4011 8e58 c000 020a c633
			6435 9c40 0035 000d 3319 6865 6c6c 6f
		`,
		counter: DecodeNotDNS,
	},
	{
		name: "udp port 53 random bytes",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 32897 NXDomain| [33925q] [|domain]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0044 0001 0000 4011 8e35 c000 020a c633
			6435 9c40 0035 0030 ef09 8081 8283 8485 8687 8889 8a8b 8c8d 8e8f 9091 9293 9495
			9697 9899 9a9b 9c9d 9e9f a0a1 a2a3 a4a5 a6a7
		`,
		counter: DecodeNotDNS,
	},
	{
		name: "udp port 53 cut question is malformed dns",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ [|domain]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 002a 0001 0000 4011 8e4f c000 020a c633
			6435 9c40 0035 0016 5c3f 1234 0100 0001 0000 0000 0000 0765
		`,
		src:       "192.0.2.10:40000",
		dst:       "198.51.100.53:53",
		payload:   testQuery[:14],
		malformed: true,
	},
	{
		name: "tcp segment to port 53",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: Flags [P.], seq 1000:1031, ack 0, win 65535, length 31 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0047 0001 0000 4006 8e3d c000 020a c633
			6435 9c40 0035 0000 03e8 0000 0000 5018 ffff 411e 0000 001d 1234 0100 0001 0000
			0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		tcp:     true,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		seq:     1000,
		flags:   0x18,
		payload: append([]byte{0, byte(len(testQuery))}, testQuery...),
	},
	{
		name: "tcp with options over vlan ipv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8::53.53 > 2001:db8::10.40000: Flags [S.], seq 7, ack 1001, win 65535, options [eol], length 0
		frame: `
			0011 2233 4455 0066 7788 99aa 8100 0005 86dd 6000 0000 0018 0640 2001 0db8 0000
			0000 0000 0000 0000 0053 2001 0db8 0000 0000 0000 0000 0000 0010 0035 9c40 0000
			0007 0000 03e9 6012 ffff 0000 0000 0000 0000
		`,
		tcp:     true,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		seq:     7,
		flags:   0x12,
		vlan:    5,
		payload: []byte{},
	},
	{
		name: "tcp data offset 4",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: tcp 35 [bad hdr length 16 - too short, < 20]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0047 0001 0000 4006 8e3d c000 020a c633
			6435 9c40 0035 0000 03e8 0000 0000 4018 ffff 411e 0000 001d 1234 0100 0001 0000
			0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeTCPBadHeader,
	},
	{
		name: "tcp data offset past segment",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: Flags [P.] [bad hdr length 60 - too long, > 20]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0028 0001 0000 4006 8e5c c000 020a c633
			6435 9c40 0035 0000 03e8 0000 0000 f018 ffff 411e 0000
		`,
		counter: DecodeTCPBadHeader,
	},
	{
		name: "tcp not dns port",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.80: Flags [S], seq 1, win 65535, length 0
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0028 0001 0000 4006 8e5c c000 020a c633
			6435 9c40 0050 0000 0001 0000 0000 5002 ffff 0000 0000
		`,
		counter: DecodeNonDNSPort,
	},
	{
		name: "tcp header cut",
		link: packet.LinkTypeEthernet,
		// IP 192.0.2.10.40000 > 198.51.100.53.53: [|tcp]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 001e 0001 0000 4006 8e66 c000 020a c633
			6435 9c40 0035 0000 03e8 0000
		`,
		counter: DecodeTCPBadHeader,
	},
}

var tunnelCases = []decodeCase{
	{
		name: "ipv4 in ipv4",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 004d 0001 0000 4004 02a8 cb00 7101 cb00
			7102 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234
			0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "ipv6 in ipv4",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0071 0001 0000 4029 025f cb00 7101 cb00
			7102 6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001 0db8 0000
			0000 0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000 0000 0765
			7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "ipv4 in ipv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8:ffff::1 > 2001:db8:ffff::2: IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0049 0440 2001 0db8 ffff 0000 0000
			0000 0000 0001 2001 0db8 ffff 0000 0000 0000 0000 0002 4500 0049 0001 0000 4011
			8e30 c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765
			7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "gre ipv4",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, length 61: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0051 0001 0000 402f 0279 cb00 7101 cb00
			7102 0000 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025
			9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "gre checksum key sequence ipv6",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, off 0x0, key=0x7, seq 9, length 93: IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0071 0001 0000 402f 0259 cb00 7101 cb00
			7102 b000 86dd 57e2 0000 0000 0007 0000 0009 6000 0000 0025 1140 2001 0db8 0000
			0000 0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025
			25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "gre over ipv6 with key",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8:ffff::1 > 2001:db8:ffff::2: GREv0, key=0x1234, length 81: IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0051 2f40 2001 0db8 ffff 0000 0000
			0000 0000 0001 2001 0db8 ffff 0000 0000 0000 0000 0002 2000 0800 0000 1234 4500
			0049 0001 0000 4011 8e30 c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001
			0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001
			2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "gre transparent ethernet bridging with vlan",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, length 79: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0063 0001 0000 402f 0267 cb00 7101 cb00
			7102 0000 6558 0011 2233 4455 0066 7788 99aa 8100 0021 0800 4500 0039 0001 0000
			4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000
			0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "pptp enhanced gre with sequence",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 1, length 71: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 005b 0001 0000 402f 026f cb00 7101 cb00
			7102 3001 880b 003b 0010 0000 0001 0021 4500 0039 0001 0000 4011 8e40 c000 020a
			c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65
			0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "pptp enhanced gre with sequence and ack",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 2, ack 7, length 91: IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006f 0001 0000 402f 025b cb00 7101 cb00
			7102 3081 880b 004b 0010 0000 0002 0000 0007 0021 4500 0049 0001 0000 4011 8e30
			c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "pptp enhanced gre ipv6",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 3, length 91: IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006f 0001 0000 402f 025b cb00 7101 cb00
			7102 3001 880b 004f 0010 0000 0003 0057 6000 0000 0025 1140 2001 0db8 0000 0000
			0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "pptp compressed address, control and protocol",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 4, length 70: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 005a 0001 0000 402f 0270 cb00 7101 cb00
			7102 3001 880b 003a 0010 0000 0004 2145 0000 3900 0100 0040 118e 40c0 0002 0ac6
			3364 359c 4000 3500 2595 1912 3401 0000 0100 0000 0000 0007 6578 616d 706c 6503
			636f 6d00 0001 0001
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "pptp padding after the ppp payload",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 5, length 77: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0061 0001 0000 402f 0269 cb00 7101 cb00
			7102 3001 880b 003b 0010 0000 0005 0021 4500 0039 0001 0000 4011 8e40 c000 020a
			c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65
			0363 6f6d 0000 0100 0100 0000 0000 00
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "pptp ack alone carries nothing",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, ack 9, no-payload, length 12
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0020 0001 0000 402f 02aa cb00 7101 cb00
			7102 2081 880b 0000 0010 0000 0009
		`,
		counter: DecodeNotIP,
	},
	{
		name: "pptp lcp is not ip",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 6, length 22: LCP, Vendor-Extension (0x00), id 0, length 10
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 002a 0001 0000 402f 02a0 cb00 7101 cb00
			7102 3001 880b 000a 0010 0000 0006 c021 0000 0000 0000 0000
		`,
		counter: DecodeNotIP,
	},
	{
		name: "pptp without key",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, no-payload, length 63
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0053 0001 0000 402f 0277 cb00 7101 cb00
			7102 0001 880b 0021 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035
			0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100
			01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "pptp protocol not ppp",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 0, no-payload, length 65
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0055 0001 0000 402f 0275 cb00 7101 cb00
			7102 2001 0800 0039 0000 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40
			0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "pptp payload length past packet",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 1, length 71: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 005b 0001 0000 402f 026f cb00 7101 cb00
			7102 3001 880b 003e 0010 0000 0001 0021 4500 0039 0001 0000 4011 8e40 c000 020a
			c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65
			0363 6f6d 0000 0100 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "pptp header cut",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv1, call 16, seq 1 [|gre]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0020 0001 0000 402f 02aa cb00 7101 cb00
			7102 3081 880b 0000 0010 0000 0001
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "gre version 0 carrying ppp",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, key=0x5, length 67: gre-proto-0x880b
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0057 0001 0000 402f 0273 cb00 7101 cb00
			7102 2000 880b 0000 0005 0021 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435
			9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d
			0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "gre-in-udp ipv4",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4754: UDP, length 61
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0059 0001 0000 4011 028f cb00 7101 cb00
			7102 c738 1292 0045 923e 0000 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "gre-in-udp over ipv6 with key",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8:ffff::1.51000 > 2001:db8:ffff::2.4754: UDP, length 101
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 006d 1140 2001 0db8 ffff 0000 0000
			0000 0000 0001 2001 0db8 ffff 0000 0000 0000 0000 0002 c738 1292 006d b1c4 2000
			86dd 0000 0003 6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001
			0db8 0000 0000 0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000
			0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0
			0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "gre-in-udp header cut",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4754: UDP, length 2
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 001e 0001 0000 4011 02ca cb00 7101 cb00
			7102 c738 1292 000a ae0a 0000
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "vxlan-gpe ipv4",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, flags [IP], vni 42: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 005d 0001 0000 4011 028b cb00 7101 cb00
			7102 c738 12b6 0049 6411 0c00 0001 0000 2a00 4500 0039 0001 0000 4011 8e40 c000
			020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "vxlan-gpe ipv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8:ffff::1.51000 > 2001:db8:ffff::2.4790: VXLAN-GPE, flags [IP], vni 42: IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 006d 1140 2001 0db8 ffff 0000 0000
			0000 0000 0001 2001 0db8 ffff 0000 0000 0000 0000 0002 c738 12b6 006d 227f 0c00
			0002 0000 2a00 6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001
			0db8 0000 0000 0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000
			0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0
			0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "vxlan-gpe ethernet",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, flags [IP], vni 42: IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 007b 0001 0000 4011 026d cb00 7101 cb00
			7102 c738 12b6 0067 e3b0 0c00 0003 0000 2a00 0011 2233 4455 0066 7788 99aa 0800
			4500 0049 0001 0000 4011 8e30 c633 6435 c000 020a 0035 9c40 0035 d3f4 1234 8180
			0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100
			0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "vxlan-gpe mpls",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, flags [IP], vni 42: ERROR: unknown-next-protocol (invalid)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0075 0001 0000 4011 0273 cb00 7101 cb00
			7102 c738 12b6 0061 04c3 0c00 0005 0000 2a00 0001 0140 6000 0000 0025 1140 2001
			0db8 0000 0000 0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40
			0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "vxlan-gpe without P is ethernet",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, flags [I], vni 42: IP0 (invalid)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006b 0001 0000 4011 027d cb00 7101 cb00
			7102 c738 12b6 0057 e7c2 0800 0001 0000 2a00 0011 2233 4455 0066 7788 99aa 0800
			4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100
			0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "vxlan-gpe nsh unsupported",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, flags [IP], vni 42: NSH, flags [none], service-path-id 0x000000, service-index 0x0 (less than two headers...
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0065 0001 0000 4011 0283 cb00 7101 cb00
			7102 c738 12b6 0051 63fe 0c00 0004 0000 2a00 0000 0000 0000 0000 4500 0039 0001
			0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000
			0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeTunnelUnsupported,
	},
	{
		name: "vxlan-gpe version 1",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, flags [IP], vni 42: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 005d 0001 0000 4011 028b cb00 7101 cb00
			7102 c738 12b6 0049 5411 1c00 0001 0000 2a00 4500 0039 0001 0000 4011 8e40 c000
			020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "vxlan-gpe header cut",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4790: VXLAN-GPE, (len 6 < 8) (invalid)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0022 0001 0000 4011 02c6 cb00 7101 cb00
			7102 c738 12b6 000e a1dd 0c00 0001 0000
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "gre routing present",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, off 0x0, (rtaf=0x4500) [|gre]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0055 0001 0000 402f 0275 cb00 7101 cb00
			7102 4000 0800 0000 0000 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40
			0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		counter: DecodeTunnelUnsupported,
	},
	{
		name: "gre version 3",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv3 ERROR: unknown-version
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0051 0001 0000 402f 0279 cb00 7101 cb00
			7102 0003 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025
			9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "gre unknown protocol",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, length 32: gre-proto-0x806
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0034 0001 0000 402f 0296 cb00 7101 cb00
			7102 0000 0806 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000 0000
			0000
		`,
		counter: DecodeTunnelUnsupported,
	},
	{
		name: "gre header cut",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, key=0x1 [|gre]
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 001c 0001 0000 402f 02ae cb00 7101 cb00
			7102 3000 0800 0000 0001
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "erspan type I",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, length 75: gre-proto-0x88be
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 005f 0001 0000 402f 026b cb00 7101 cb00
			7102 0000 88be 0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40
			c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "erspan type II",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 123: gre-proto-0x88be
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 008f 0001 0000 402f 023b cb00 7101 cb00
			7102 1000 88be 0000 0001 1000 0064 0000 0000 0011 2233 4455 0066 7788 99aa 86dd
			6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001 0db8 0000 0000
			0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "erspan type II bad version",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 123: gre-proto-0x88be
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 008f 0001 0000 402f 023b cb00 7101 cb00
			7102 1000 88be 0000 0001 2000 0064 0000 0000 0011 2233 4455 0066 7788 99aa 86dd
			6000 0000 0035 1140 2001 0db8 0000 0000 0000 0000 0000 0053 2001 0db8 0000 0000
			0000 0000 0000 0010 0035 9c40 0035 6493 1234 8180 0001 0001 0000 0000 0765 7861
			6d70 6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "erspan type II cut",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 14: gre-proto-0x88be
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0022 0001 0000 402f 02a8 cb00 7101 cb00
			7102 1000 88be 0000 0001 1000 0064 0000
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "erspan type III ethernet",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 91: gre-proto-0x22eb
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006f 0001 0000 402f 025b cb00 7101 cb00
			7102 1000 22eb 0000 0001 2000 0064 0102 0304 0000 0000 0011 2233 4455 0066 7788
			99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519
			1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "erspan type III with platform subheader",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 115: gre-proto-0x22eb
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0087 0001 0000 402f 0243 cb00 7101 cb00
			7102 1000 22eb 0000 0001 2000 0064 0102 0304 0000 0001 0000 0000 0000 0000 0011
			2233 4455 0066 7788 99aa 0800 4500 0049 0001 0000 4011 8e30 c633 6435 c000 020a
			0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d
			0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "erspan type III ip frame",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 97: gre-proto-0x22eb
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0075 0001 0000 402f 0255 cb00 7101 cb00
			7102 1000 22eb 0000 0001 2000 0064 0102 0304 0000 0800 6000 0000 0025 1140 2001
			0db8 0000 0000 0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40
			0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "erspan type III frame type 5",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 97: gre-proto-0x22eb
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0075 0001 0000 402f 0255 cb00 7101 cb00
			7102 1000 22eb 0000 0001 2000 0064 0102 0304 0000 1400 6000 0000 0025 1140 2001
			0db8 0000 0000 0000 0000 0000 0010 2001 0db8 0000 0000 0000 0000 0000 0053 9c40
			0035 0025 25b8 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000
			0100 01
		`,
		counter: DecodeTunnelUnsupported,
	},
	{
		name: "erspan type III subheader cut",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, seq 1, length 24: gre-proto-0x22eb
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 002c 0001 0000 402f 029e cb00 7101 cb00
			7102 1000 22eb 0000 0001 2000 0064 0102 0304 0000 0001 0000 0000
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "vxlan",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4789: VXLAN, flags [I] (0x08), vni 42 IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006b 0001 0000 4011 027d cb00 7101 cb00
			7102 c738 12b5 0057 e7c4 0800 0000 0000 2a00 0011 2233 4455 0066 7788 99aa 0800
			4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100
			0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "vxlan over ipv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8:ffff::1.51000 > 2001:db8:ffff::2.4789: VXLAN, flags [I] (0x08), vni 42 IP6 2001:db8::53.53 > 2001:db8::10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 007b 1140 2001 0db8 ffff 0000 0000
			0000 0000 0001 2001 0db8 ffff 0000 0000 0000 0000 0002 c738 12b5 007b 2756 0800
			0000 0000 2a00 0011 2233 4455 0066 7788 99aa 86dd 6000 0000 0035 1140 2001 0db8
			0000 0000 0000 0000 0000 0053 2001 0db8 0000 0000 0000 0000 0000 0010 0035 9c40
			0035 6493 1234 8180 0001 0001 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100
			01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
	},
	{
		name: "vxlan in vxlan",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4789: VXLAN, flags [I] (0x08), vni 42 IP 203.0.113.1.51001 > 203.0.113.2.4789: VXLAN, flags [I] (0x08), vni 42 IP 198.51.1...
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 00ad 0001 0000 4011 023b cb00 7101 cb00
			7102 c738 12b5 0099 7314 0800 0000 0000 2a00 0011 2233 4455 0066 7788 99aa 0800
			4500 007b 0001 0000 4011 026d cb00 7101 cb00 7102 c739 12b5 0067 e7b3 0800 0000
			0000 2a00 0011 2233 4455 0066 7788 99aa 0800 4500 0049 0001 0000 4011 8e30 c633
			6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "vxlan without I flag",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.4789: VXLAN, flags [invalid] (0x00), vni 42 IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006b 0001 0000 4011 027d cb00 7101 cb00
			7102 c738 12b5 0057 efc4 0000 0000 0000 2a00 0011 2233 4455 0066 7788 99aa 0800
			4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100
			0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "vxlan source port 53 is dns",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.53 > 203.0.113.2.4789: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0039 0001 0000 4011 02af cb00 7101 cb00
			7102 0035 12b5 0025 9313 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		src:     "203.0.113.1:53",
		dst:     "203.0.113.2:4789",
		payload: testQuery,
	},
	{
		name: "geneve ethernet with options",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.6081: Geneve, Flags [none], vni 0x2a, options [8 bytes]: IP 192.0.2.10.40000 > 198.51.100.53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0073 0001 0000 4011 0275 cb00 7101 cb00
			7102 c738 17c1 005f 024d 0200 6558 0000 2a00 0102 8001 0000 0000 0011 2233 4455
			0066 7788 99aa 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035
			0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100
			01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "geneve ipv4",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.6081: Geneve, Flags [none], vni 0x2a: IP 198.51.100.53.53 > 192.0.2.10.40000: 4660 1/0/0 A 192.0.2.1 (45)
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006d 0001 0000 4011 027b cb00 7101 cb00
			7102 c738 17c1 0059 62f7 0000 0800 0000 2a00 4500 0049 0001 0000 4011 8e30 c633
			6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		src:     "198.51.100.53:53",
		dst:     "192.0.2.10:40000",
		payload: testResponse,
	},
	{
		name: "geneve ipv6",
		link: packet.LinkTypeEthernet,
		// IP6 2001:db8:ffff::1.51000 > 2001:db8:ffff::2.6081: Geneve, Flags [none], vni 0x2a: IP6 2001:db8::10.40000 > 2001:db8::53.53: 4660+ A? example.com. (29)
		frame: `
			0011 2233 4455 0066 7788 99aa 86dd 6000 0000 005d 1140 2001 0db8 ffff 0000 0000
			0000 0000 0001 2001 0db8 ffff 0000 0000 0000 0000 0002 c738 17c1 005d a2b8 0000
			86dd 0000 2a00 6000 0000 0025 1140 2001 0db8 0000 0000 0000 0000 0000 0010 2001
			0db8 0000 0000 0000 0000 0000 0053 9c40 0035 0025 25b8 1234 0100 0001 0000 0000
			0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		src:     "[2001:db8::10]:40000",
		dst:     "[2001:db8::53]:53",
		payload: testQuery,
	},
	{
		name: "geneve version 1",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.6081: Geneve ERROR: unknown-version 1
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 006d 0001 0000 4011 027b cb00 7101 cb00
			7102 c738 17c1 0059 22f7 4000 0800 0000 2a00 4500 0049 0001 0000 4011 8e30 c633
			6435 c000 020a 0035 9c40 0035 d3f4 1234 8180 0001 0001 0000 0000 0765 7861 6d70
			6c65 0363 6f6d 0000 0100 01c0 0c00 0100 0100 0001 2c00 04c0 0002 01
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "geneve unknown protocol",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.6081: Geneve, Flags [none], vni 0x2a: ARP, Unknown Hardware (0) (len 0), Unknown Protocol (0x0000) (len 0), length 28
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0040 0001 0000 4011 02a8 cb00 7101 cb00
			7102 c738 17c1 002c 7691 0000 0806 0000 2a00 0000 0000 0000 0000 0000 0000 0000
			0000 0000 0000 0000 0000 0000 0000
		`,
		counter: DecodeTunnelUnsupported,
	},
	{
		name: "geneve options past payload",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1.51000 > 203.0.113.2.6081: Geneve, Flags [none], vni 0x2a truncated-geneve - 4 bytes missing
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0028 0001 0000 4011 02c0 cb00 7101 cb00
			7102 c738 17c1 0014 74c7 0200 0800 0000 2a00 0000 0000
		`,
		counter: DecodeTunnelBadHeader,
	},
	{
		name: "gre nested 8 deep",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, length 229: IP 203.0.113.1 > 203.0.113.2: GREv0, length 205: IP 203.0.113.1 > 203.0.113.2: GREv0, length 181: IP 203.0.1...
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 00f9 0001 0000 402f 01d1 cb00 7101 cb00
			7102 0000 0800 4500 00e1 0001 0000 402f 01e9 cb00 7101 cb00 7102 0000 0800 4500
			00c9 0001 0000 402f 0201 cb00 7101 cb00 7102 0000 0800 4500 00b1 0001 0000 402f
			0219 cb00 7101 cb00 7102 0000 0800 4500 0099 0001 0000 402f 0231 cb00 7101 cb00
			7102 0000 0800 4500 0081 0001 0000 402f 0249 cb00 7101 cb00 7102 0000 0800 4500
			0069 0001 0000 402f 0261 cb00 7101 cb00 7102 0000 0800 4500 0051 0001 0000 402f
			0279 cb00 7101 cb00 7102 0000 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
	},
	{
		name: "gre recursion bomb",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: GREv0, length 997: IP 203.0.113.1 > 203.0.113.2: GREv0, length 973: IP 203.0.113.1 > 203.0.113.2: GREv0, length 949: IP 203.0.1...
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 03f9 0001 0000 402f fed0 cb00 7101 cb00
			7102 0000 0800 4500 03e1 0001 0000 402f fee8 cb00 7101 cb00 7102 0000 0800 4500
			03c9 0001 0000 402f ff00 cb00 7101 cb00 7102 0000 0800 4500 03b1 0001 0000 402f
			ff18 cb00 7101 cb00 7102 0000 0800 4500 0399 0001 0000 402f ff30 cb00 7101 cb00
			7102 0000 0800 4500 0381 0001 0000 402f ff48 cb00 7101 cb00 7102 0000 0800 4500
			0369 0001 0000 402f ff60 cb00 7101 cb00 7102 0000 0800 4500 0351 0001 0000 402f
			ff78 cb00 7101 cb00 7102 0000 0800 4500 0339 0001 0000 402f ff90 cb00 7101 cb00
			7102 0000 0800 4500 0321 0001 0000 402f ffa8 cb00 7101 cb00 7102 0000 0800 4500
			0309 0001 0000 402f ffc0 cb00 7101 cb00 7102 0000 0800 4500 02f1 0001 0000 402f
			ffd8 cb00 7101 cb00 7102 0000 0800 4500 02d9 0001 0000 402f fff0 cb00 7101 cb00
			7102 0000 0800 4500 02c1 0001 0000 402f 0009 cb00 7101 cb00 7102 0000 0800 4500
			02a9 0001 0000 402f 0021 cb00 7101 cb00 7102 0000 0800 4500 0291 0001 0000 402f
			0039 cb00 7101 cb00 7102 0000 0800 4500 0279 0001 0000 402f 0051 cb00 7101 cb00
			7102 0000 0800 4500 0261 0001 0000 402f 0069 cb00 7101 cb00 7102 0000 0800 4500
			0249 0001 0000 402f 0081 cb00 7101 cb00 7102 0000 0800 4500 0231 0001 0000 402f
			0099 cb00 7101 cb00 7102 0000 0800 4500 0219 0001 0000 402f 00b1 cb00 7101 cb00
			7102 0000 0800 4500 0201 0001 0000 402f 00c9 cb00 7101 cb00 7102 0000 0800 4500
			01e9 0001 0000 402f 00e1 cb00 7101 cb00 7102 0000 0800 4500 01d1 0001 0000 402f
			00f9 cb00 7101 cb00 7102 0000 0800 4500 01b9 0001 0000 402f 0111 cb00 7101 cb00
			7102 0000 0800 4500 01a1 0001 0000 402f 0129 cb00 7101 cb00 7102 0000 0800 4500
			0189 0001 0000 402f 0141 cb00 7101 cb00 7102 0000 0800 4500 0171 0001 0000 402f
			0159 cb00 7101 cb00 7102 0000 0800 4500 0159 0001 0000 402f 0171 cb00 7101 cb00
			7102 0000 0800 4500 0141 0001 0000 402f 0189 cb00 7101 cb00 7102 0000 0800 4500
			0129 0001 0000 402f 01a1 cb00 7101 cb00 7102 0000 0800 4500 0111 0001 0000 402f
			01b9 cb00 7101 cb00 7102 0000 0800 4500 00f9 0001 0000 402f 01d1 cb00 7101 cb00
			7102 0000 0800 4500 00e1 0001 0000 402f 01e9 cb00 7101 cb00 7102 0000 0800 4500
			00c9 0001 0000 402f 0201 cb00 7101 cb00 7102 0000 0800 4500 00b1 0001 0000 402f
			0219 cb00 7101 cb00 7102 0000 0800 4500 0099 0001 0000 402f 0231 cb00 7101 cb00
			7102 0000 0800 4500 0081 0001 0000 402f 0249 cb00 7101 cb00 7102 0000 0800 4500
			0069 0001 0000 402f 0261 cb00 7101 cb00 7102 0000 0800 4500 0051 0001 0000 402f
			0279 cb00 7101 cb00 7102 0000 0800 4500 0039 0001 0000 4011 8e40 c000 020a c633
			6435 9c40 0035 0025 9519 1234 0100 0001 0000 0000 0000 0765 7861 6d70 6c65 0363
			6f6d 0000 0100 01
		`,
		counter: DecodeTunnelDepth,
	},
	{
		name: "ipip recursion bomb",
		link: packet.LinkTypeEthernet,
		// IP 203.0.113.1 > 203.0.113.2: IP 203.0.113.1 > 203.0.113.2: IP 203.0.113.1 > 203.0.113.2: IP 203.0.113.1 > 203.0.113.2: IP 203.0.113.1 > 203.0.113.2: IP 203....
		frame: `
			0011 2233 4455 0066 7788 99aa 0800 4500 0809 0001 0000 4004 faeb cb00 7101 cb00
			7102 4500 07f5 0001 0000 4004 faff cb00 7101 cb00 7102 4500 07e1 0001 0000 4004
			fb13 cb00 7101 cb00 7102 4500 07cd 0001 0000 4004 fb27 cb00 7101 cb00 7102 4500
			07b9 0001 0000 4004 fb3b cb00 7101 cb00 7102 4500 07a5 0001 0000 4004 fb4f cb00
			7101 cb00 7102 4500 0791 0001 0000 4004 fb63 cb00 7101 cb00 7102 4500 077d 0001
			0000 4004 fb77 cb00 7101 cb00 7102 4500 0769 0001 0000 4004 fb8b cb00 7101 cb00
			7102 4500 0755 0001 0000 4004 fb9f cb00 7101 cb00 7102 4500 0741 0001 0000 4004
			fbb3 cb00 7101 cb00 7102 4500 072d 0001 0000 4004 fbc7 cb00 7101 cb00 7102 4500
			0719 0001 0000 4004 fbdb cb00 7101 cb00 7102 4500 0705 0001 0000 4004 fbef cb00
			7101 cb00 7102 4500 06f1 0001 0000 4004 fc03 cb00 7101 cb00 7102 4500 06dd 0001
			0000 4004 fc17 cb00 7101 cb00 7102 4500 06c9 0001 0000 4004 fc2b cb00 7101 cb00
			7102 4500 06b5 0001 0000 4004 fc3f cb00 7101 cb00 7102 4500 06a1 0001 0000 4004
			fc53 cb00 7101 cb00 7102 4500 068d 0001 0000 4004 fc67 cb00 7101 cb00 7102 4500
			0679 0001 0000 4004 fc7b cb00 7101 cb00 7102 4500 0665 0001 0000 4004 fc8f cb00
			7101 cb00 7102 4500 0651 0001 0000 4004 fca3 cb00 7101 cb00 7102 4500 063d 0001
			0000 4004 fcb7 cb00 7101 cb00 7102 4500 0629 0001 0000 4004 fccb cb00 7101 cb00
			7102 4500 0615 0001 0000 4004 fcdf cb00 7101 cb00 7102 4500 0601 0001 0000 4004
			fcf3 cb00 7101 cb00 7102 4500 05ed 0001 0000 4004 fd07 cb00 7101 cb00 7102 4500
			05d9 0001 0000 4004 fd1b cb00 7101 cb00 7102 4500 05c5 0001 0000 4004 fd2f cb00
			7101 cb00 7102 4500 05b1 0001 0000 4004 fd43 cb00 7101 cb00 7102 4500 059d 0001
			0000 4004 fd57 cb00 7101 cb00 7102 4500 0589 0001 0000 4004 fd6b cb00 7101 cb00
			7102 4500 0575 0001 0000 4004 fd7f cb00 7101 cb00 7102 4500 0561 0001 0000 4004
			fd93 cb00 7101 cb00 7102 4500 054d 0001 0000 4004 fda7 cb00 7101 cb00 7102 4500
			0539 0001 0000 4004 fdbb cb00 7101 cb00 7102 4500 0525 0001 0000 4004 fdcf cb00
			7101 cb00 7102 4500 0511 0001 0000 4004 fde3 cb00 7101 cb00 7102 4500 04fd 0001
			0000 4004 fdf7 cb00 7101 cb00 7102 4500 04e9 0001 0000 4004 fe0b cb00 7101 cb00
			7102 4500 04d5 0001 0000 4004 fe1f cb00 7101 cb00 7102 4500 04c1 0001 0000 4004
			fe33 cb00 7101 cb00 7102 4500 04ad 0001 0000 4004 fe47 cb00 7101 cb00 7102 4500
			0499 0001 0000 4004 fe5b cb00 7101 cb00 7102 4500 0485 0001 0000 4004 fe6f cb00
			7101 cb00 7102 4500 0471 0001 0000 4004 fe83 cb00 7101 cb00 7102 4500 045d 0001
			0000 4004 fe97 cb00 7101 cb00 7102 4500 0449 0001 0000 4004 feab cb00 7101 cb00
			7102 4500 0435 0001 0000 4004 febf cb00 7101 cb00 7102 4500 0421 0001 0000 4004
			fed3 cb00 7101 cb00 7102 4500 040d 0001 0000 4004 fee7 cb00 7101 cb00 7102 4500
			03f9 0001 0000 4004 fefb cb00 7101 cb00 7102 4500 03e5 0001 0000 4004 ff0f cb00
			7101 cb00 7102 4500 03d1 0001 0000 4004 ff23 cb00 7101 cb00 7102 4500 03bd 0001
			0000 4004 ff37 cb00 7101 cb00 7102 4500 03a9 0001 0000 4004 ff4b cb00 7101 cb00
			7102 4500 0395 0001 0000 4004 ff5f cb00 7101 cb00 7102 4500 0381 0001 0000 4004
			ff73 cb00 7101 cb00 7102 4500 036d 0001 0000 4004 ff87 cb00 7101 cb00 7102 4500
			0359 0001 0000 4004 ff9b cb00 7101 cb00 7102 4500 0345 0001 0000 4004 ffaf cb00
			7101 cb00 7102 4500 0331 0001 0000 4004 ffc3 cb00 7101 cb00 7102 4500 031d 0001
			0000 4004 ffd7 cb00 7101 cb00 7102 4500 0309 0001 0000 4004 ffeb cb00 7101 cb00
			7102 4500 02f5 0001 0000 4004 0000 cb00 7101 cb00 7102 4500 02e1 0001 0000 4004
			0014 cb00 7101 cb00 7102 4500 02cd 0001 0000 4004 0028 cb00 7101 cb00 7102 4500
			02b9 0001 0000 4004 003c cb00 7101 cb00 7102 4500 02a5 0001 0000 4004 0050 cb00
			7101 cb00 7102 4500 0291 0001 0000 4004 0064 cb00 7101 cb00 7102 4500 027d 0001
			0000 4004 0078 cb00 7101 cb00 7102 4500 0269 0001 0000 4004 008c cb00 7101 cb00
			7102 4500 0255 0001 0000 4004 00a0 cb00 7101 cb00 7102 4500 0241 0001 0000 4004
			00b4 cb00 7101 cb00 7102 4500 022d 0001 0000 4004 00c8 cb00 7101 cb00 7102 4500
			0219 0001 0000 4004 00dc cb00 7101 cb00 7102 4500 0205 0001 0000 4004 00f0 cb00
			7101 cb00 7102 4500 01f1 0001 0000 4004 0104 cb00 7101 cb00 7102 4500 01dd 0001
			0000 4004 0118 cb00 7101 cb00 7102 4500 01c9 0001 0000 4004 012c cb00 7101 cb00
			7102 4500 01b5 0001 0000 4004 0140 cb00 7101 cb00 7102 4500 01a1 0001 0000 4004
			0154 cb00 7101 cb00 7102 4500 018d 0001 0000 4004 0168 cb00 7101 cb00 7102 4500
			0179 0001 0000 4004 017c cb00 7101 cb00 7102 4500 0165 0001 0000 4004 0190 cb00
			7101 cb00 7102 4500 0151 0001 0000 4004 01a4 cb00 7101 cb00 7102 4500 013d 0001
			0000 4004 01b8 cb00 7101 cb00 7102 4500 0129 0001 0000 4004 01cc cb00 7101 cb00
			7102 4500 0115 0001 0000 4004 01e0 cb00 7101 cb00 7102 4500 0101 0001 0000 4004
			01f4 cb00 7101 cb00 7102 4500 00ed 0001 0000 4004 0208 cb00 7101 cb00 7102 4500
			00d9 0001 0000 4004 021c cb00 7101 cb00 7102 4500 00c5 0001 0000 4004 0230 cb00
			7101 cb00 7102 4500 00b1 0001 0000 4004 0244 cb00 7101 cb00 7102 4500 009d 0001
			0000 4004 0258 cb00 7101 cb00 7102 4500 0089 0001 0000 4004 026c cb00 7101 cb00
			7102 4500 0075 0001 0000 4004 0280 cb00 7101 cb00 7102 4500 0061 0001 0000 4004
			0294 cb00 7101 cb00 7102 4500 004d 0001 0000 4004 02a8 cb00 7101 cb00 7102 4500
			0039 0001 0000 4011 8e40 c000 020a c633 6435 9c40 0035 0025 9519 1234 0100 0001
			0000 0000 0000 0765 7861 6d70 6c65 0363 6f6d 0000 0100 01
		`,
		counter: DecodeTunnelDepth,
	},
}

// fragCases are datagrams cut into fragments, one frame each.
var fragCases = []fragCase{
	{
		name: "ipv4 two fragments over vlan 11",
		frames: []string{
			// IP 192.0.2.10.40000 > 198.51.100.53.53: domain [length 8 < 12] (invalid)
			"0011223344550066778899aa8100000b0800450000244242200040112c14c000020ac63364359c400035002595191234010000010000",
			// IP 192.0.2.10 > 198.51.100.53: ip-proto-17
			"0011223344550066778899aa8100000b0800450000294242000240114c0dc000020ac633643500000000076578616d706c6503636f6d0000010001",
		},
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		vlan:    11,
	},
	{
		name: "ipv6 fragments then destination options",
		frames: []string{
			// IP6 2001:db8::53 > 2001:db8::10: frag (0|24) DSTOPT 53 > 40000: domain [length 8 < 12] (invalid)
			"0011223344550066778899aa86dd6000000000202c4020010db800000000000000000000005320010db80000000000000000000000103c000001deadbeef110000000000000000359c40003564931234818000010001",
			// IP6 2001:db8::53 > 2001:db8::10: frag (24|37)
			"0011223344550066778899aa86dd60000000002d2c4020010db800000000000000000000005320010db80000000000000000000000103c000018deadbeef00000000076578616d706c6503636f6d0000010001c00c000100010000012c0004c0000201",
		},
		src:     "[2001:db8::53]:53",
		dst:     "[2001:db8::10]:40000",
		payload: testResponse,
		vlan:    0,
	},
	{
		name: "ipv4 three fragments in reverse order",
		frames: []string{
			// IP 192.0.2.10 > 198.51.100.53: ip-proto-17
			"0011223344550066778899aa0800450000210077000340118ddfc000020ac63364356d706c6503636f6d0000010001",
			// IP 192.0.2.10 > 198.51.100.53: ip-proto-17
			"0011223344550066778899aa08004500001c0077200240116de5c000020ac63364350000000007657861",
			// IP 192.0.2.10.40000 > 198.51.100.53.53: domain [length 8 < 12] (invalid)
			"0011223344550066778899aa0800450000240077200040116ddfc000020ac63364359c400035002595191234010000010000",
		},
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		vlan:    0,
	},
	{
		name: "fragmented ipv4 inside fragmented gre",
		frames: []string{
			// IP 203.0.113.1 > 203.0.113.2: GREv0, length 24: IP truncated-ip - 16 bytes missing! 192.0.2.10 > 198.51.100.53: [|udp]
			"0011223344550066778899aa08004500002c05002000402fdd9ecb007101cb00710200000800450000240099200040116dbdc000020ac6336435",
			// IP 203.0.113.1 > 203.0.113.2: ip-proto-47
			"0011223344550066778899aa08004500002405000003402ffda3cb007101cb0071029c400035002595191234010000010000",
			// IP 203.0.113.1 > 203.0.113.2: GREv0, length 24: IP truncated-ip - 21 bytes missing! 192.0.2.10 > 198.51.100.53: ip-proto-17
			"0011223344550066778899aa08004500002c05012000402fdd9dcb007101cb00710200000800450000290099000240118db6c000020ac6336435",
			// IP 203.0.113.1 > 203.0.113.2: ip-proto-47
			"0011223344550066778899aa08004500002905010003402ffd9dcb007101cb00710200000000076578616d706c6503636f6d0000010001",
		},
		src:     "192.0.2.10:40000",
		dst:     "198.51.100.53:53",
		payload: testQuery,
		nested:  2,
		vlan:    0,
	},
}

// fragLone is the first fragment of a datagram whose rest never comes.
// IP 192.0.2.10.40000 > 198.51.100.53.53: domain [length 8 < 12] (invalid)
var fragLone = mustHexVar("0011223344550066778899aa0800450000240078200040116ddec000020ac63364359c400035002595191234010000010000")
