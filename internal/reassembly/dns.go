package reassembly

import "encoding/binary"

// DNS wire limits (RFC 1035 §2.3.4, §4.1).
const (
	dnsHeaderLen      = 12    // RFC 1035 §4.1.1
	dnsMinQuestionLen = 5     // root name (1) + QTYPE (2) + QCLASS (2), §4.1.2
	dnsMinRRLen       = 11    // root name (1) + TYPE, CLASS (4) + TTL (4) + RDLENGTH (2), §4.1.3
	dnsMaxNameLen     = 255   // §2.3.4, wire octets including length octets and the root
	dnsMaxMessageLen  = 65535 // §4.2.2 two-octet length prefix; also the UDP limit
	// dnsMaxPointers bounds the compression pointers followed in one name.
	// Pointers must point strictly backwards (skipName), so a name can
	// never loop, but a hostile message can chain 32767 two-octet pointers
	// to one another. An encoder points at a suffix it already wrote, so
	// past the first pointer each one follows at least one label; a name
	// of at most 255 octets has at most 127 labels (2 octets each, plus the
	// root), so no legitimate name needs more than 128 hops.
	dnsMaxPointers = 128
)

// DNS header flag bits used by plausibleDNS (RFC 1035 §4.1.1, RFC 2535 §6.1).
const (
	dnsFlagZ = 0x0040 // reserved, "must be zero in all queries and responses"

	dnsOpcodeDSO = 6 // DNS Stateful Operations, RFC 8490: TLVs follow the header
)

// parseDNS fills h from msg: the 12-byte header and the first question, and
// walks the rest of the message to set h.Malformed. It returns false when
// msg is not DNS at all (shorter than a header, or a header no DNS speaker
// sends); such messages are counted and not emitted. It allocates nothing.
//
// The "not DNS" rule: msg is shorter than 12 octets, or its section counts
// could not fit in any DNS message: each question takes at least 5 octets and
// each resource record at least 11, and no message exceeds 65535 octets
// (RFC 1035 §4.2.2 length prefix; UDP cannot carry more either). Nobody
// writes such a header; a uniformly random one passes with probability about
// 6×10⁻⁶ (the four counts must fall in a simplex of volume
// 65523⁴/(4!·5·11³) out of 65536⁴), so non-DNS payloads on port 53 (VPNs,
// scanners' junk) are rejected. Counts that merely exceed this message's
// length (a query whose QDCOUNT is 1 but whose question was cut short) are
// sent by broken or hostile clients, and servers answer them with FORMERR:
// such messages are DNS, emitted as Malformed, so that the FORMERR is paired
// with its query (zeek's dns-invalid-names capture has two of them).
// Opcode, Z bit and QDCOUNT checks would drop real if unusual traffic
// (scanners send unassigned opcodes and dnstap should still record them), so
// they live only in plausibleDNS.
//
// h.Question aliases msg. Malformed marks: a bad name (label longer than 63,
// the reserved 0x40/0x80 label types, a name longer than 255 octets, a
// compression pointer that does not point strictly backwards, RFC 1035
// §4.1.4 "a prior occurrence"), a question or record running past the end,
// and bytes after the last record. DSO messages (opcode 6, RFC 8490 §5.4)
// carry TLVs after the header instead of sections: they are Malformed when a
// count is not zero or the TLVs do not end at the last octet.
func parseDNS(msg []byte, h *Header) bool {
	if len(msg) < dnsHeaderLen {
		return false
	}
	h.ID = binary.BigEndian.Uint16(msg[0:2])
	h.Flags = binary.BigEndian.Uint16(msg[2:4])
	h.QDCount = binary.BigEndian.Uint16(msg[4:6])
	h.ANCount = binary.BigEndian.Uint16(msg[6:8])
	h.NSCount = binary.BigEndian.Uint16(msg[8:10])
	h.ARCount = binary.BigEndian.Uint16(msg[10:12])
	h.Question = nil
	h.Malformed = false

	rrs := int(h.ANCount) + int(h.NSCount) + int(h.ARCount)
	need := int(h.QDCount)*dnsMinQuestionLen + rrs*dnsMinRRLen
	if need > dnsMaxMessageLen-dnsHeaderLen {
		return false
	}
	if need > len(msg)-dnsHeaderLen {
		// The counts promise more than msg holds: the walk below
		// would run off the end.
		h.Malformed = true
		if h.QDCount > 0 {
			if end := skipName(msg, dnsHeaderLen); end >= 0 && end+4 <= len(msg) {
				h.Question = msg[dnsHeaderLen : end+4 : end+4]
			}
		}
		return true
	}

	if h.Opcode() == dnsOpcodeDSO {
		h.Malformed = !dsoTLVs(msg, h)
		return true
	}
	off := dnsHeaderLen
	for i := 0; i < int(h.QDCount); i++ {
		end := skipName(msg, off)
		if end < 0 || end+4 > len(msg) {
			h.Malformed = true
			return true
		}
		if i == 0 {
			h.Question = msg[off : end+4 : end+4]
		}
		off = end + 4
	}
	for i := 0; i < rrs; i++ {
		end := skipName(msg, off)
		if end < 0 || end+10 > len(msg) {
			h.Malformed = true
			return true
		}
		rdlen := int(binary.BigEndian.Uint16(msg[end+8 : end+10]))
		off = end + 10 + rdlen
		if off > len(msg) {
			h.Malformed = true
			return true
		}
	}
	if off != len(msg) {
		h.Malformed = true
	}
	return true
}

// dsoTLVs reports whether a DSO message (RFC 8490 §5.4) is well formed: all
// four counts zero, then TLVs (type, length, value) to the last octet.
func dsoTLVs(msg []byte, h *Header) bool {
	if h.QDCount|h.ANCount|h.NSCount|h.ARCount != 0 {
		return false
	}
	off := dnsHeaderLen
	for off < len(msg) {
		if off+4 > len(msg) {
			return false
		}
		off += 4 + int(binary.BigEndian.Uint16(msg[off+2:off+4]))
	}
	return off == len(msg)
}

// skipName checks the domain name starting at msg[off] and returns the offset
// just after it in msg (after the first compression pointer, if any), or -1
// when the name is malformed or runs past the end.
func skipName(msg []byte, off int) int {
	end := -1     // where the name ends in the message, set at the first pointer
	nameLen := 0  // wire octets of the uncompressed name so far
	lowest := off // where the current run of labels began: a pointer at or after it would loop back
	hops := 0
	for {
		if off >= len(msg) {
			return -1
		}
		c := int(msg[off])
		switch c & 0xc0 {
		case 0x00:
			if c == 0 {
				if nameLen+1 > dnsMaxNameLen {
					return -1
				}
				if end < 0 {
					end = off + 1
				}
				return end
			}
			nameLen += c + 1
			if nameLen > dnsMaxNameLen {
				return -1
			}
			off += c + 1
		case 0xc0:
			if off+1 >= len(msg) {
				return -1
			}
			ptr := (c&0x3f)<<8 | int(msg[off+1])
			if ptr >= lowest {
				return -1
			}
			hops++
			if hops > dnsMaxPointers {
				return -1
			}
			if end < 0 {
				end = off + 2
			}
			lowest = ptr
			off = ptr
		default: // 0x40 extended label type (RFC 6891 §5 deprecates it), 0x80 reserved
			return -1
		}
	}
}

// plausibleDNS reports whether msg looks like the start of a DNS message; the
// TCP reassembler uses it to resynchronise a stream picked up mid-way.
//
// It is stricter than parseDNS, because here a wrong "yes" makes the
// reassembler follow a bogus length prefix and lose the real messages behind
// it, while a wrong "no" only skips one message. On top of the parseDNS rule
// it requires: an assigned, non-obsolete opcode (0 QUERY, 2 STATUS,
// 4 NOTIFY, 5 UPDATE, 6 DSO; 1 IQUERY was retired by RFC 3425), the Z bit
// clear, an assigned header RCODE (0–11), QDCOUNT of at most one (every
// opcode in use defines at most one question or zone; RFC 9619 makes more
// than one a FORMERR), and that the whole message parses (not Malformed;
// so its counts fit its length, each question at least 5 octets, each record
// at least 11, and nothing trails the last record).
// msg must therefore be the whole candidate message, as many octets as the
// length prefix being tested claims. Every well-formed DNS message in
// testdata/pcaps passes (TestPlausibleDNSCaptures); none of 200,000 random
// payloads does (TestDNSRandomBytes). A real but malformed message met while
// resynchronising is skipped: the price of not following garbage.
func plausibleDNS(msg []byte) bool {
	if len(msg) < dnsHeaderLen {
		return false
	}
	// The header tests first: they reject most garbage without a walk.
	flags := binary.BigEndian.Uint16(msg[2:4])
	switch (flags >> 11) & 0x0f {
	case 0, 2, 4, 5, 6:
	default:
		return false
	}
	if flags&dnsFlagZ != 0 || flags&0x0f > 11 || binary.BigEndian.Uint16(msg[4:6]) > 1 {
		return false
	}
	var h Header
	return parseDNS(msg, &h) && !h.Malformed
}
