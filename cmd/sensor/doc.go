// Command sensor is a passive DNS sensor: it captures DNS traffic from a
// SPAN/mirror port (AF_PACKET) or reads pcap/pcapng files, rebuilds every DNS
// message exactly as it crossed the wire, and writes each one as a dnstap
// frame that every dnstap tool reads.
//
// This package owns flags, the configuration, signals, the wiring of
// capture → reassembly → emit, the outputs (parsed once, built by one
// constructor, output.go), the end-of-run summary and exit codes. It holds
// no protocol logic.
//
// Usage:
//
//	sensor -r capture.pcap -w out.dnstap [--server A,B] [--role R] [filter expression]
//	sensor -i eth1 [-i eth2] [--workers N] -w out.dnstap [filter expression]
//	sensor -i eth1 -w local.dnstap --rotate-size 256MiB -u /run/dnstap.sock -j -
//	sensor read out.dnstap [-y|-j|-q]
//	sensor compare server.dnstap sensor.dnstap
package main
