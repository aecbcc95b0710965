package reassembly

import "testing"

func TestIPDecode(t *testing.T) { runDecodeCases(t, ipCases) }
