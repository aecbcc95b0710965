package reassembly

import "testing"

func TestTransportDecode(t *testing.T) { runDecodeCases(t, transportCases) }
