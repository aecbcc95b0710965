package merge

import (
	"bytes"
	"net/netip"
	"path/filepath"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"
	"google.golang.org/protobuf/proto"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// recordedFrames is every frame of the repository's recorded BIND and
// Unbound dnstap files.
func recordedFrames(t testing.TB) [][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(), "testdata", "pcaps", "*.dnstap"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded dnstap files (%v)", err)
	}
	var out [][]byte
	for _, f := range files {
		out = append(out, readFrames(t, f)...)
	}
	return out
}

// checkParse compares Parse with golang-dnstap's protobuf decoding of the
// same frame (the oracle) wherever the latter succeeds.
func checkParse(t *testing.T, f []byte) {
	var m Message
	err := m.Parse(f)
	var d dnstap.Dnstap
	if proto.Unmarshal(f, &d) != nil {
		return
	}
	dm := d.GetMessage()
	if d.GetType() != dnstap.Dnstap_MESSAGE || dm == nil {
		if err == nil {
			t.Fatalf("Parse accepted a frame without a MESSAGE")
		}
		return
	}
	wire := dm.GetQueryMessage()
	if dm.GetType()%2 == 0 {
		wire = dm.GetResponseMessage()
	}
	if len(wire) == 0 {
		if err != ErrNoWire {
			t.Fatalf("Parse: %v, want ErrNoWire", err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Parse: %v; golang-dnstap reads it", err)
	}
	ap := func(a []byte, p uint32) netip.AddrPort {
		ad, _ := netip.AddrFromSlice(a)
		return netip.AddrPortFrom(ad.Unmap(), uint16(p))
	}
	if int32(m.Type) != int32(dm.GetType()) || int32(m.Protocol) != int32(dm.GetSocketProtocol()) ||
		m.Query != ap(dm.GetQueryAddress(), dm.GetQueryPort()) || m.Response != ap(dm.GetResponseAddress(), dm.GetResponsePort()) ||
		!bytes.Equal(m.Wire, wire) || !bytes.Equal(m.Extra, d.GetExtra()) {
		t.Fatalf("Parse = %+v\ngolang-dnstap = %v", m, &d)
	}
	sec, ns := dm.GetQueryTimeSec(), dm.GetQueryTimeNsec()
	has := dm.QueryTimeSec != nil
	if m.IsResponse() && dm.ResponseTimeSec != nil {
		sec, ns, has = dm.GetResponseTimeSec(), dm.GetResponseTimeNsec(), true
	}
	if m.HasTime != has || (has && m.Time != int64(sec)*1e9+int64(ns)) {
		t.Fatalf("Parse time %v %d, golang-dnstap %v %d.%09d", m.HasTime, m.Time, has, sec, ns)
	}
}

// TestParseRecorded: every frame BIND and Unbound wrote, as golang-dnstap
// reads it.
func TestParseRecorded(t *testing.T) {
	frames := recordedFrames(t)
	for _, f := range frames {
		checkParse(t, f)
	}
	t.Logf("%d frames", len(frames))
}

func FuzzParse(f *testing.F) {
	for _, fr := range recordedFrames(f) {
		f.Add(fr)
	}
	f.Fuzz(checkParse)
}
