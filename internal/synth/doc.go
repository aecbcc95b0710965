// Package synth writes synthetic DNS captures for benchmarks and for tests
// that need more traffic than the captures in testdata/pcaps hold.
//
// It owns the traffic model (clients, servers, names, query types, answers,
// latencies, TCP connections, IP fragments and floods) and the pcap file
// format it writes. It knows nothing about the sensor's own packages: the
// captures it writes are checked against gopacket, miekg/dns and tshark, so
// the sensor cannot pass its benchmarks or tests by agreeing with itself.
// The one exception is deliberate: collide.go is an attacker who read an old
// version of the sensor's source (its unseeded pairing hash) and chooses
// queries that collide in it, so that tests can show the seeded tables give
// that attacker nothing.
//
// Everything is derived from Options.Seed through one PRNG: the same Options
// always give the same bytes.
//
// Packets are built by hand into reused buffers and DNS messages by a small
// append-style encoder with name compression, because generation speed
// matters: a million UDP packets take under a second (measured 0.7 s,
// 520 ns a packet in BenchmarkGenerate), fragment-heavy ones a few seconds,
// most of it writing 700 MB.
//
// Subpackages: gencap writes a capture from the command line, benchrun
// times a sensor binary on one (wall, CPU, peak RSS, output size), and naive
// is the gopacket + miekg/dns + golang-dnstap baseline issue #2 compares
// the sensor with.
package synth
