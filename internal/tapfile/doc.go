// Package tapfile reads dnstap for people and tests: it renders frames as
// text (TextWriter, ReadText: the -q, -p, -y and -j formats of dnstap-read
// and the Go dnstap tool) and compares two dnstap files message by message
// (Compare, behind `sensor compare` and the ground-truth tests).
//
// It decodes with golang-dnstap's generated types, protobuf reflection and
// miekg/dns, and it allocates freely. That is why it is not part of package
// emit, whose per-message path it must not weigh on: it uses emit only to
// read Frame Streams (emit.FrameReader) and to name message types.
package tapfile
