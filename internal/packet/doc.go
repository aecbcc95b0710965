// Package packet is the vocabulary shared by the packet sources and the
// decoder: a captured Frame and its LinkType, with the table of link types
// the sensor decodes.
//
// It imports only the standard library, so that the decoder
// (internal/reassembly) and the output side (internal/emit) build on every
// OS without pulling in the Linux capture code (AF_PACKET, netlink, x/sys)
// of internal/capture. It owns no behaviour: reading frames is capture's,
// decoding them is reassembly's.
package packet
