// Package emit owns what happens to a whole DNS message once it has been
// rebuilt: deciding its dnstap type from the configured servers and their role,
// pairing queries with responses, encoding the dnstap protobuf, and writing
// Frame Streams to files, sockets or text to stdout.
//
// It knows nothing of packets: its input is a reassembly.Message.
//
// The path of a message: Pipeline.HandleMessage classifies it (classify.go),
// pairs it in a bounded open-addressing table driven by capture time
// (pair.go), appends the dnstap protobuf by hand into a reused buffer
// (encode.go, byte-equal to proto.Marshal of golang-dnstap's types) and
// hands the frame to a FrameWriter. For file input that is a FileWriter
// (fstrm.go) or TextWriter (text.go) called directly: blocking is right
// offline, where nothing may be dropped. For live capture each worker's
// Pipeline writes to its own Producer of a shared Queue (queue.go), which
// never blocks and counts what it drops; the Queue's one goroutine owns the
// FileWriter, TextWriter or SocketWriter (socket.go).
//
// SocketOutput (socket_output.go) is the Output for Frame Streams
// receivers: one or several unix or TCP endpoints (TLS from tls.go), failover
// or round-robin, redial with jittered capped backoff, every call bounded by
// one dial and one write timeout, and an on-disk spool of Frame Streams files
// (spool.go) for what no receiver takes. It accounts for every frame in its
// OutputStats; what the kernel still held when a receiver died is estimated
// from SIOCOUTQ (outq_linux.go), since Frame Streams has no acknowledgements.
//
// Nothing on the per-message path allocates; text formatting does, and is
// for people rather than line rate.
package emit
