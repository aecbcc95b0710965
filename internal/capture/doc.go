// Package capture owns the packet sources of the sensor: pcap and pcapng
// files (plain, gzipped or on stdin) and live AF_PACKET rings, the kernel
// BPF filter attached to them, the kernel's drop statistics and the watching
// of interfaces through netlink.
//
// It hands on raw link-layer frames (packet.Frame: bytes, capture time, link
// type) and knows nothing of IP, TCP or DNS: decoding starts in package
// reassembly. Which link types are decoded is packet's table, not capture's.
//
// The file readers build on any OS. Live capture (live.go, live_supervisor.go,
// fanout.go, netlink.go) is AF_PACKET and netlink, so Linux only: elsewhere
// the package has no live API at all, and a program that uses it does not
// build, rather than failing at run time.
package capture
