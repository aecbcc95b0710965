package emit

import (
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/bounded"
)

// budgetPerPending is the memory of one pending query as the README's
// memory budget states it (bytes, amd64): its table entry, age link,
// free-list slot and two index elements (bounded.EntryBytes). A change
// that changes it fails here, so the README is updated with it.
const budgetPerPending = 148

func TestMemoryBudgetSizes(t *testing.T) {
	per := bounded.EntryBytes[pairKey, struct{}]()
	t.Logf("pending query %d bytes", per)
	if per != budgetPerPending {
		t.Errorf("per pending query %d bytes: the README's memory budget says %d", per, budgetPerPending)
	}
}
