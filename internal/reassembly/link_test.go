package reassembly

import "testing"

func TestLinkDecode(t *testing.T) { runDecodeCases(t, linkCases) }
