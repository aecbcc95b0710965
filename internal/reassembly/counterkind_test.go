package reassembly

import (
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// TestEveryCounterHasAKind fails when a counter is added to a name table
// without a kind: the summary would not know where to list it.
func TestEveryCounterHasAKind(t *testing.T) {
	var s Stats
	n := 0
	s.EachKind(func(name string, k stat.Kind, _ uint64) {
		n++
		if name == "" || k == stat.Unclassified {
			t.Errorf("counter %d %q has kind %v", n, name, k)
		}
	})
	if want := int(numDecodeCounters) + int(numFragCounters) + int(numTCPCounters) + int(numDedupCounters); n != want {
		t.Errorf("%d counters, want %d", n, want)
	}
}
