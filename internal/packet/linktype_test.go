package packet

import "testing"

func TestLinkTypeTable(t *testing.T) {
	tests := []struct {
		lt        LinkType
		supported bool
		name      string
	}{
		{LinkTypeNull, true, "NULL"},
		{LinkTypeEthernet, true, "ETHERNET"},
		{LinkTypeRaw, true, "RAW"},
		{LinkTypeLoop, true, "LOOP"},
		{LinkTypeLinuxSLL, true, "LINUX_SLL"},
		{LinkTypeIPv4, true, "IPV4"},
		{LinkTypeIPv6, true, "IPV6"},
		{LinkTypeLinuxSLL2, true, "LINUX_SLL2"},
		{LinkTypeFDDI, true, "FDDI"},
		{LinkTypeIEEE80211, true, "IEEE802_11"},
		{LinkTypeRadiotap, true, "IEEE802_11_RADIOTAP"},
		{LinkTypePPI, true, "PPI"},
		{LinkTypeNFLOG, true, "NFLOG"},
		{LinkTypePKTAP, true, "PKTAP"},
		{LinkTypePKTAPMac, true, "USER2 (macOS PKTAP)"},
		{9, false, "9"},     // PPP
		{147, false, "147"}, // USER0
		{65535, false, "65535"},
	}
	for _, tt := range tests {
		if got := tt.lt.Supported(); got != tt.supported {
			t.Errorf("LinkType(%d).Supported() = %v, want %v", tt.lt, got, tt.supported)
		}
		if got := tt.lt.String(); got != tt.name {
			t.Errorf("LinkType(%d).String() = %q, want %q", tt.lt, got, tt.name)
		}
	}
	if got := len(LinkTypes()); got != 15 {
		t.Errorf("LinkTypes() has %d entries, want 15", got)
	}
	seen := map[LinkType]bool{}
	for _, lt := range LinkTypes() {
		if seen[lt] {
			t.Errorf("link type %d listed twice", lt)
		}
		seen[lt] = true
	}
	const want = "ETHERNET 1, RAW 101, IPV4 228, IPV6 229, LINUX_SLL 113, LINUX_SLL2 276, NULL 0, LOOP 108, FDDI 10, IEEE802_11 105, IEEE802_11_RADIOTAP 127, PPI 192, NFLOG 239, PKTAP 258, USER2 (macOS PKTAP) 149"
	if got := SupportedList(); got != want {
		t.Errorf("SupportedList() = %q, want %q", got, want)
	}
}

// The table is read per file, not per packet, but Supported must stay cheap
// and allocation-free for callers that check frames.
func TestSupportedAllocs(t *testing.T) {
	if n := testing.AllocsPerRun(100, func() { _ = LinkType(276).Supported() }); n != 0 {
		t.Fatalf("Supported allocates %v, want 0", n)
	}
}
