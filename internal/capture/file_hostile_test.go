package capture

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// TestFileSourceHostileRecords holds hand-made files whose damage a reader
// could mistake for something else: each must be named for what it is, with
// the file and the record number, and end the file (no silent shift of time,
// no frame claiming gigabytes on the wire).
func TestFileSourceHostileRecords(t *testing.T) {
	le := binary.LittleEndian
	pcapWith := func(nano bool, patch func(h []byte), recs ...rec) []byte {
		b := pcapFile(le, nano, 1, recs)
		patch(b)
		return b
	}
	const rec1 = 24 // the first record header starts after the file header

	// A 17 MiB record in a file whose header declares snaplen 2^31: the
	// limit it breaks is the reader's 16 MiB cap, not the snap length.
	huge := make([]byte, 17<<20)
	bigSnap := pcapWith(false, func(h []byte) { le.PutUint32(h[16:], 1<<31) }, rec{Data: huge, Wire: len(huge)})
	// The same file with a 1 MiB record reads: 2^31 allows it, and it is
	// within the cap.
	mib := make([]byte, 1<<20)
	bigSnapOK := pcapWith(false, func(h []byte) { le.PutUint32(h[16:], 1<<31) }, rec{Data: mib, Wire: len(mib)})

	micros := pcapWith(false, func(h []byte) { le.PutUint32(h[rec1+16+len(pktA)+4:], 0xffffffff) },
		rec{TS: 1e9, Data: pktA, Wire: 60}, rec{TS: 2e9, Data: pktA, Wire: 60})
	microsEdge := pcapWith(false, func(h []byte) { le.PutUint32(h[rec1+4:], 1_000_000) }, rec{Data: pktA, Wire: 60})
	microsMax := pcapWith(false, func(h []byte) { le.PutUint32(h[rec1+4:], 999_999) }, rec{TS: 5e9, Data: pktA, Wire: 60})
	nanos := pcapWith(true, func(h []byte) { le.PutUint32(h[rec1+4:], 1_000_000_000) }, rec{Data: pktA, Wire: 60})
	pcapWire := pcapWith(false, func(h []byte) { le.PutUint32(h[rec1+12:], 0x7fffffff) }, rec{Data: pktA, Wire: 60})

	epb := func(patch func(b []byte)) []byte {
		b := ngEPB(le, 0, 0, pktA, 60)
		patch(b)
		return cat(ngSHB(le), ngIDB(le, packet.LinkTypeEthernet, 0), ngEPB(le, 0, 0, pktA, 60), b)
	}
	ngCaplen := epb(func(b []byte) { le.PutUint32(b[8+12:], 0x7fffffff) })
	ngWire := epb(func(b []byte) { le.PutUint32(b[8+16:], 0x7fffffff) })
	spbWire := cat(ngSHB(le), ngIDB(le, packet.LinkTypeEthernet, 0), ngSPB(le, pktA, 0x7fffffff))

	tests := []struct {
		name  string
		data  []byte
		is    error
		want  string // the whole error
		nread int    // frames read before it
	}{
		{"13 bytes: cut file header", pcapFile(le, false, 1, nil)[:13], ErrTruncated,
			"capture: f: truncated file header", 0},
		{"pcapng cut in its section header", ngSHB(le)[:20], ErrTruncated,
			"capture: f: truncated file header", 0},
		{"17 MiB record, snaplen 2^31", bigSnap, ErrCorrupt,
			"capture: f: packet 1: corrupt record: pcap: record longer than 16 MiB, the most the reader accepts whatever the snap length", 0},
		{"1 MiB record, snaplen 2^31", bigSnapOK, nil, "", 1},
		{"microseconds 0xffffffff", micros, ErrCorrupt,
			"capture: f: packet 2: corrupt record: pcap: bad timestamp: microseconds field not below 1000000", 1},
		{"microseconds 10^6", microsEdge, ErrCorrupt,
			"capture: f: packet 1: corrupt record: pcap: bad timestamp: microseconds field not below 1000000", 0},
		{"microseconds 999999", microsMax, nil, "", 1},
		{"nanoseconds 10^9", nanos, ErrCorrupt,
			"capture: f: packet 1: corrupt record: pcap: bad timestamp: nanoseconds field not below 1000000000", 0},
		{"pcap original length 0x7fffffff", pcapWire, ErrCorrupt,
			"capture: f: packet 1: corrupt record: original length larger than 16 MiB", 0},
		{"pcapng EPB caplen 0x7fffffff", ngCaplen, ErrCorrupt,
			"capture: f: packet 2: corrupt record: pcapng: captured length larger than its packet block", 1},
		{"pcapng EPB original length 0x7fffffff", ngWire, ErrCorrupt,
			"capture: f: packet 2: corrupt record: original length larger than 16 MiB", 1},
		{"pcapng SPB original length 0x7fffffff", spbWire, ErrCorrupt,
			"capture: f: packet 1: corrupt record: original length larger than 16 MiB", 0},
	}
	dir := t.TempDir()
	wd, _ := os.Getwd()
	defer os.Chdir(wd)
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := os.WriteFile("f", tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := OpenFile("f")
			n := 0
			if err == nil {
				defer s.Close()
				var f packet.Frame
				for {
					if err = s.Next(&f); err != nil {
						break
					}
					n++
				}
				if err == io.EOF {
					err = nil
				}
			}
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tt.want || n != tt.nread {
				t.Fatalf("%d frames, error %q; want %d, %q", n, got, tt.nread, tt.want)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
	// The last good timestamp is read to the microsecond, not shifted.
	s, err := NewFileSource("t", bytes.NewReader(microsMax))
	if err != nil {
		t.Fatal(err)
	}
	var f packet.Frame
	if err := s.Next(&f); err != nil || f.Timestamp != 5e9+999_999_000 {
		t.Fatalf("timestamp %d (%v), want %d", f.Timestamp, err, int64(5e9+999_999_000))
	}
}

// TestFileSourceInterrupt checks that Interrupt ends a Next waiting on a
// pipe whose writer is idle, and that it is harmless on a regular file.
func TestFileSourceInterrupt(t *testing.T) {
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	hdr := pcapFile(binary.LittleEndian, false, 1, []rec{{TS: 1e9, Data: pktA, Wire: 60}})
	if _, err := pw.Write(hdr); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileSource("pipe", pr)
	if err != nil {
		t.Fatal(err)
	}
	var f packet.Frame
	if err := s.Next(&f); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Next(&f) }() // waits: the writer has nothing more to say
	s.Interrupt()
	if err := <-done; !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("Next after Interrupt: %v, want a deadline error", err)
	}

	path := filepath.Join(t.TempDir(), "x.pcap")
	if err := os.WriteFile(path, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	rs, err := OpenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	rs.Interrupt()
	if err := rs.Next(&f); err != nil {
		t.Fatalf("regular file after Interrupt: %v", err)
	}
	if err := rs.Next(&f); err != io.EOF {
		t.Fatalf("regular file end: %v, want io.EOF", err)
	}
}
