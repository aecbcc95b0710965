//go:build cgo && !nopcap

package bpf

/*
#cgo LDFLAGS: -lpcap
#include <stdlib.h>
#include <pcap/pcap.h>
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"golang.org/x/net/bpf"
)

// compileMu serialises pcap_compile: before libpcap 1.8 its parser kept
// global state and was not thread-safe, and compiling is rare (once per
// expression and link type), so a lock costs nothing.
var compileMu sync.Mutex

// rejectsAll is libpcap's message for an expression that can match nothing.
const rejectsAll = "expression rejects all packets"

// HaveCompiler reports whether this build can compile filter expressions
// with libpcap.
const HaveCompiler = true

func compile(expr string, linkType uint16) ([]bpf.RawInstruction, error) {
	dlt := dlt(linkType)
	cexpr := C.CString(expr)
	defer C.free(unsafe.Pointer(cexpr))

	compileMu.Lock()
	defer compileMu.Unlock()

	// A dead handle compiles for a link type without a device: no kernel
	// extensions (vlan_avail, etc.), so the program reads tags from the
	// frame bytes, which is right for files and is what the kernel sees
	// for tags it did not strip.
	p := C.pcap_open_dead(C.int(dlt), Snaplen)
	if p == nil {
		return nil, fmt.Errorf("%w %q: libpcap does not know link type %d", ErrCompile, expr, linkType)
	}
	defer C.pcap_close(p)

	var prog C.struct_bpf_program
	if C.pcap_compile(p, &prog, cexpr, 1, C.PCAP_NETMASK_UNKNOWN) != 0 {
		msg := C.GoString(C.pcap_geterr(p))
		if msg == rejectsAll {
			// libpcap (1.10) reports a program that optimises to "ret #0"
			// as an error. For one link type of a mixed pcapng ("host
			// 192.0.2.53" on raw IPv6) that is a valid answer: no match.
			return []bpf.RawInstruction{{Op: clsRET | retK, K: 0}}, nil
		}
		return nil, fmt.Errorf("%w %q for link type %d: %s", ErrCompile, expr, linkType, msg)
	}
	defer C.pcap_freecode(&prog)

	ins := unsafe.Slice(prog.bf_insns, int(prog.bf_len))
	out := make([]bpf.RawInstruction, len(ins))
	for i := range ins {
		out[i] = bpf.RawInstruction{Op: uint16(ins[i].code), Jt: uint8(ins[i].jt), Jf: uint8(ins[i].jf), K: uint32(ins[i].k)}
	}
	return out, nil
}

// pcapVersion is libpcap's version string, recorded in the golden file.
func pcapVersion() string { return C.GoString(C.pcap_lib_version()) }
