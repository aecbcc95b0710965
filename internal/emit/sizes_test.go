package emit

import (
	"testing"
	"unsafe"
)

// budgetPerPending is the memory of one pending query as the README's
// memory budget states it (bytes, amd64): its slot and two index entries
// (the index is at most half full, rounded up to a power of two). A change
// that changes it fails here, so the README is updated with it.
const budgetPerPending = 168

func TestMemoryBudgetSizes(t *testing.T) {
	per := unsafe.Sizeof(pairSlot{}) + 2*unsafe.Sizeof(int32(0))
	t.Logf("pending query %d bytes (pairSlot %d)", per, unsafe.Sizeof(pairSlot{}))
	if per != budgetPerPending {
		t.Errorf("per pending query %d bytes: the README's memory budget says %d", per, budgetPerPending)
	}
}
