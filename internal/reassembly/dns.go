package reassembly

// STUB: the DNS header parser is being written; signatures are agreed.

// parseDNS fills h from msg: the 12-byte header and the first question, and
// walks the rest of the message to set h.Malformed. It returns false when
// msg is not DNS at all (shorter than a header, or a header no DNS speaker
// sends); such messages are counted and not emitted. It allocates nothing.
func parseDNS(msg []byte, h *Header) bool {
	return len(msg) >= 12
}

// plausibleDNS reports whether msg looks like the start of a DNS message; the
// TCP reassembler uses it to resynchronise a stream picked up mid-way.
func plausibleDNS(msg []byte) bool {
	var h Header
	return parseDNS(msg, &h)
}
