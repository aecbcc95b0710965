package emit

import (
	"net/netip"
	"testing"
	"time"
)

// BenchmarkPairTable is one transaction's life in a half-full pending
// table: the query's key, its insert, the response's key and its take.
func BenchmarkPairTable(b *testing.B) {
	var pt pairTable
	pt.init(DefaultMaxPending, int64(time.Hour))
	var c counts
	q := []byte("\x03www\x07example\x03com\x00\x00\x01\x00\x01")
	cl, sv := netip.MustParseAddrPort(cli), netip.MustParseAddrPort(srv)
	for i := range DefaultMaxPending / 2 {
		var k pairKey
		pt.makeKey(&k, netip.AddrPortFrom(cl.Addr(), uint16(i)), sv, 1, 7, q)
		pt.insert(&k, 0, &c)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		var k pairKey
		pt.makeKey(&k, cl, sv, 1, uint16(i), q)
		pt.insert(&k, 0, &c)
		pt.makeKey(&k, cl, sv, 1, uint16(i), q)
		if _, ok := pt.take(&k); !ok {
			b.Fatal("not found")
		}
	}
}
