package stat

// Kind says what a counter counts. The zero value is Unclassified, so a
// counter added to a table without a kind is caught by that table's test.
type Kind uint8

const (
	Unclassified Kind = iota // a table entry nobody classified: a test failure
	Activity                 // work done: frames seen, messages built, flows tracked
	Drop                     // traffic skipped, evicted or lost: not turned into frames, or frames not delivered
	Error                    // something failed or arrived malformed (it may still have been emitted)
)

var kindNames = [...]string{"unclassified", "activity", "drop", "error"}

// String returns the kind's name, as used in the metrics' HELP text.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "unknown"
}

// Problem reports whether the counter belongs with drops and errors in a
// summary rather than with activity.
func (k Kind) Problem() bool { return k == Drop || k == Error }
