package reassembly

import "github.com/dnstap-sensor/dnstap-sensor/internal/stat"

// The kind of every counter, beside the name tables in assembler.go,
// defrag.go and tcp.go: the summary and the metrics are generated from it.
var decodeCounterKinds = [numDecodeCounters]stat.Kind{
	DecodeFrames:            stat.Activity,
	DecodeMessagesUDP:       stat.Activity,
	DecodeMessagesTCP:       stat.Activity,
	DecodeNotDNS:            stat.Drop,
	DecodeDNSMalformed:      stat.Error,
	DecodeUnknownLinkType:   stat.Drop,
	DecodeTruncated:         stat.Error,
	DecodeLinkBadHeader:     stat.Error,
	DecodeNotIP:             stat.Drop,
	DecodeVLANDepth:         stat.Drop,
	DecodeMPLSDepth:         stat.Drop,
	DecodeIPBadHeader:       stat.Error,
	DecodeIPBadLength:       stat.Error,
	DecodeIPv6Jumbo:         stat.Drop,
	DecodeIPv6ExtLimit:      stat.Drop,
	DecodeESP:               stat.Drop,
	DecodeNotUDPTCP:         stat.Drop,
	DecodeNonDNSPort:        stat.Drop,
	DecodeUDPBadHeader:      stat.Error,
	DecodeTCPBadHeader:      stat.Error,
	DecodeTunnelDepth:       stat.Drop,
	DecodeTunnelBadHeader:   stat.Error,
	DecodeTunnelUnsupported: stat.Drop,
	DecodeFragNested:        stat.Error, // reassembled anyway, but suspicious
	DecodeWiFiProtected:     stat.Drop,  // encrypted: nothing to decode
	DecodeWiFiUnsupported:   stat.Drop,
}

var fragCounterKinds = [numFragCounters]stat.Kind{
	FragIn:           stat.Activity,
	FragReassembled:  stat.Activity,
	FragAtomic:       stat.Activity,
	FragTimeout:      stat.Drop,
	FragEvictedSets:  stat.Drop,
	FragEvictedBytes: stat.Drop,
	FragOverlap:      stat.Drop,
	FragAfterDrop:    stat.Drop,
	FragDuplicate:    stat.Drop,
	FragTooBig:       stat.Drop,
	FragTiny:         stat.Drop,
	FragBadLength:    stat.Error,
	FragTooMany:      stat.Drop,
}

var tcpCounterKinds = [numTCPCounters]stat.Kind{
	TCPSegments:           stat.Activity,
	TCPMessages:           stat.Activity,
	TCPIgnored:            stat.Activity,
	TCPFlowsCreated:       stat.Activity,
	TCPFlowsClosed:        stat.Activity,
	TCPFlowsExpired:       stat.Drop,
	TCPFlowsEvicted:       stat.Drop,
	TCPFlowsEvictedMemory: stat.Drop,
	TCPGapsSkipped:        stat.Drop,
	TCPGapBytes:           stat.Drop,
	TCPResyncs:            stat.Drop,
	TCPBytesDiscarded:     stat.Drop,
	TCPOutOfOrderDropped:  stat.Drop,
	TCPRetransmissions:    stat.Activity,
	TCPConflicts:          stat.Error,
	TCPPartialMessages:    stat.Drop,
	TCPTooLong:            stat.Drop,
	TCPBadLength:          stat.Error,
}

// EachKind calls fn for every counter with its stable name and its kind, in
// the order of Each.
func (s *Stats) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	for i := range s.Decode {
		fn(decodeCounterNames[i], decodeCounterKinds[i], s.Decode[i].Load())
	}
	for i := range s.Frag {
		fn(fragCounterNames[i], fragCounterKinds[i], s.Frag[i].Load())
	}
	for i := range s.TCP {
		fn(tcpCounterNames[i], tcpCounterKinds[i], s.TCP[i].Load())
	}
	for i := range s.Dedup {
		fn(dedupCounterNames[i], dedupCounterKinds[i], s.Dedup[i].Load())
	}
}

var dedupCounterKinds = [numDedupCounters]stat.Kind{
	DedupRemoved: stat.Activity, // copies of the mirror removed: what --dedup is for
	DedupEvicted: stat.Drop,     // an identity forgotten early: a later copy would pass
}
