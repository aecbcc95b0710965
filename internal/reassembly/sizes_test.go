package reassembly

import (
	"testing"
	"unsafe"
)

// Per-entry memory of the tables, as the README's memory budget states it
// (bytes, amd64). A change of a struct that changes the budget fails here,
// so the README is updated with it.
const (
	// A tracked TCP connection: its slot, its LRU links, its
	// out-of-order ranges, its free-list entry and two index entries
	// (the index is at most half full, rounded up to a power of two).
	budgetPerFlow = 540
	// An IP datagram being reassembled: its set, its key and slot in the
	// index map (the map's own slack, about a seventh, comes on top)
	// and a free-list entry.
	budgetPerFragSet = 928
)

func TestMemoryBudgetSizes(t *testing.T) {
	perFlow := unsafe.Sizeof(tcpFlow{}) + unsafe.Sizeof(tcpLink{}) + unsafe.Sizeof([2][maxTCPRanges]tcpRange{}) +
		unsafe.Sizeof(int32(0)) + 2*unsafe.Sizeof(uint64(0))
	perFrag := unsafe.Sizeof(fragSet{}) + unsafe.Sizeof(fragKey{}) + unsafe.Sizeof(int32(0)) + unsafe.Sizeof(int32(0))
	t.Logf("flow %d (tcpFlow %d, tcpLink %d, ranges %d), frag set %d (fragSet %d, key %d)", perFlow,
		unsafe.Sizeof(tcpFlow{}), unsafe.Sizeof(tcpLink{}), unsafe.Sizeof([2][maxTCPRanges]tcpRange{}),
		perFrag, unsafe.Sizeof(fragSet{}), unsafe.Sizeof(fragKey{}))
	if perFlow != budgetPerFlow || perFrag != budgetPerFragSet {
		t.Errorf("per flow %d bytes, per fragment set %d: the README's memory budget says %d and %d", perFlow, perFrag, budgetPerFlow, budgetPerFragSet)
	}
}
