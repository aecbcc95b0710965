// Package merge makes the sensor the place where a DNS server's own dnstap
// and the wire meet.
//
// A Receiver is a Frame Streams server (unix or TCP, the bidirectional
// handshake BIND, Unbound, Knot and PowerDNS speak) that takes the server's
// dnstap without ever slowing the server down: each connection copies its
// frames into one bounded queue and drops, counted, when it is full.
//
// A Merger is an emit.Output for the frames the sensor built from the wire
// and also takes the server's frames from a Receiver. It pairs the two
// within a bounded window and writes to downstream emit.Outputs: in merge
// mode every server frame byte for byte plus a sensor frame, marked in the
// dnstap extra field, for each wire message the server's stream lacks; in
// verify mode the server's frames alone. Both count what each side missed
// and measure the clock skew between them.
//
// The package owns matching and the receiver; it knows nothing of packets
// (the wire frames come already encoded) nor of flags and metrics, which
// cmd/sensor wires.
package merge
