//go:build race

package merge

// raceEnabled: the race detector slows this process about tenfold, so the
// lab's full-speed runs are shortened to keep `make test` in its budget.
const raceEnabled = true
