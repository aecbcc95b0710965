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
// hands the frame to a FrameWriter. Every destination is an Output
// (output.go): a BatchWriter that accounts for each frame it is handed in
// its OutputStats (delivered, spooled, dropped by reason). Each Output sits
// behind its own Queue (queue.go), whose Producers (one per capture worker)
// batch frames: for live capture they never block and count what a full
// queue drops; for file input (QueueConfig.Block) they wait, so nothing is
// lost offline. Outputs: FileOutput (fileout.go: rotation, reopen, disk
// full), Counted around a FileWriter (fstrm.go) or tapfile.TextWriter on
// stdout, and SocketOutput.
//
// SocketOutput (socket_output.go) is the Output for Frame Streams
// receivers: one or several unix or TCP endpoints (TLS from tls.go), failover
// or round-robin, redial with jittered capped backoff, every call bounded by
// one dial and one write timeout, and an on-disk spool of Frame Streams files
// (spool.go) for what no receiver takes. It accounts for every frame in its
// OutputStats; what the kernel still held when a receiver died is estimated
// from SIOCOUTQ (sys_linux.go), since Frame Streams has no acknowledgements.
//
// Nothing on the per-message path allocates. Decoding dnstap for people
// (text output, `sensor read`, `sensor compare`) lives in package tapfile,
// so that this package needs neither golang-dnstap, protobuf reflection nor
// miekg/dns.
package emit
