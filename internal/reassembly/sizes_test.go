package reassembly

import (
	"testing"
	"unsafe"

	"github.com/dnstap-sensor/dnstap-sensor/internal/bounded"
)

// Per-entry memory of the tables, as the README's memory budget states it
// (bytes, amd64). A change of a struct that changes the budget fails here,
// so the README is updated with it.
const (
	// A tracked TCP connection: its table entry (slot, age link,
	// free-list slot, two index elements: bounded.EntryBytes) and its
	// out-of-order ranges.
	budgetPerFlow = 540
	// An IP datagram being reassembled: its table entry (as above).
	budgetPerFragSet = 868
)

func TestMemoryBudgetSizes(t *testing.T) {
	perFlow := bounded.EntryBytes[flowWords, flowState]() + unsafe.Sizeof([2][maxTCPRanges]tcpRange{})
	perFrag := bounded.EntryBytes[fragWords, fragSet]()
	t.Logf("flow %d (table entry %d, ranges %d), frag set %d", perFlow,
		bounded.EntryBytes[flowWords, flowState](), unsafe.Sizeof([2][maxTCPRanges]tcpRange{}), perFrag)
	if perFlow != budgetPerFlow || perFrag != budgetPerFragSet {
		t.Errorf("per flow %d bytes, per fragment set %d: the README's memory budget says %d and %d", perFlow, perFrag, budgetPerFlow, budgetPerFragSet)
	}
}
