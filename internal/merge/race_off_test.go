//go:build !race

package merge

// raceEnabled: see race_on_test.go.
const raceEnabled = false
