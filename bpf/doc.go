// Package bpf owns the capture filters: the default DNS filter as a classic
// BPF program, and the compilation of user filter expressions in tcpdump
// syntax, for the kernel (AF_PACKET) and for file input alike, so that a pcap
// run and a live run with the same expression see the same packets.
//
// It hands back []golang.org/x/net/bpf.RawInstruction and knows nothing of
// the capture APIs that attach them.
package bpf
