// Package emit owns what happens to a whole DNS message once it has been
// rebuilt: deciding its dnstap type from the configured servers and their role,
// pairing queries with responses, encoding the dnstap protobuf, and writing
// Frame Streams to files and sockets (and reading them back: FrameReader).
//
// It knows nothing of packets: its input is a reassembly.Message.
//
// The path of a message: Pipeline.HandleMessage classifies it (classify.go),
// pairs it in a bounded open-addressing table driven by capture time
// (pair.go), appends the dnstap protobuf by hand into a reused buffer
// (encode.go, byte-equal to proto.Marshal of golang-dnstap's types) and
// hands the frame to a FrameWriter. For file input that is a FileWriter
// (fstrm.go) or a tapfile.TextWriter called directly: blocking is right
// offline, where nothing may be dropped. For live capture each worker's
// Pipeline writes to its own Producer of a shared Queue (queue.go), which
// never blocks and counts what it drops; the Queue's one goroutine owns the
// FileWriter, TextWriter or SocketWriter (socket.go).
//
// Nothing on the per-message path allocates. Decoding dnstap for people
// (text output, `sensor read`, `sensor compare`) lives in package tapfile,
// so that this package needs neither golang-dnstap, protobuf reflection nor
// miekg/dns.
package emit
