package e2e

import (
	"errors"
	"io"
	"os"
	"testing"

	"github.com/gopacket/gopacket/pcapgo"
)

// countFragments counts IPv4 fragments (MF set or a non-zero offset) and
// IPv6 packets with a Fragment header right after the fixed header in an
// Ethernet pcap, so a fragment test can prove its capture holds fragments.
func countFragments(t testing.TB, path string) (v4, v6 int) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, _, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			return v4, v6
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(data) < 14+40 {
			continue
		}
		ip := data[14:]
		switch uint16(data[12])<<8 | uint16(data[13]) {
		case 0x0800: // RFC 791: flags and fragment offset in bytes 6-7
			if (uint16(ip[6])<<8|uint16(ip[7]))&0x3fff != 0 {
				v4++
			}
		case 0x86dd: // RFC 8200 §4.5: next header 44 is the Fragment header
			if ip[6] == 44 {
				v6++
			}
		}
	}
}
