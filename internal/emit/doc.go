// Package emit owns what happens to a whole DNS message once it has been
// rebuilt: deciding its dnstap type from the configured servers and their role,
// pairing queries with responses, encoding the dnstap protobuf, and writing
// Frame Streams to files, sockets or text to stdout.
//
// It knows nothing of packets: its input is a reassembly.Message.
package emit
