package reassembly

// Flows returns the TCP connections tracked now. Like HandleFrame, it
// belongs to the Assembler's goroutine: a worker copies it into a gauge
// now and then, and metrics read the copy.
func (a *Assembler) Flows() int { return a.tcp.flows.Len() }

// FragmentSets returns the IP datagrams being reassembled now; same
// goroutine rule as Flows.
func (a *Assembler) FragmentSets() int { return a.frag.sets.Len() }
