package reassembly

import "testing"

func TestTunnelDecode(t *testing.T) { runDecodeCases(t, tunnelCases) }
