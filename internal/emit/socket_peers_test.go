package emit

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/lab"
)

// seqFrames returns n distinct frames: an 8-byte sequence number, then
// padding of a varying length (so batches cut at varied offsets).
func seqFrames(first, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		seq := first + i
		f := make([]byte, 8+100+seq%300)
		binary.BigEndian.PutUint64(f, uint64(seq))
		for j := 8; j < len(f); j++ {
			f[j] = byte(seq + j)
		}
		out[i] = f
	}
	return out
}

// seqOf returns the sequence numbers of frames made by seqFrames, failing
// on any frame it did not make.
func seqOf(t testing.TB, frames [][]byte) []int {
	t.Helper()
	out := make([]int, len(frames))
	for i, f := range frames {
		seq := int(binary.BigEndian.Uint64(f))
		if want := seqFrames(seq, 1)[0]; !bytes.Equal(f, want) {
			t.Fatalf("frame %d (seq %d) is corrupt", i, seq)
		}
		out[i] = seq
	}
	return out
}

// readFrames reads every data frame of a Frame Streams file.
func readFrames(t testing.TB, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fr := NewFrameReader(f)
	var out [][]byte
	for {
		b, err := fr.ReadFrame()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("%s: frame %d: %v", path, len(out), err)
		}
		out = append(out, append([]byte(nil), b...))
	}
}

// The peers (fstrm_capture, stunnel, the CA) are internal/lab's; these
// wrappers speak emit's Endpoint.

// fstrmCapture is a running fstrm_capture, the reference Frame Streams
// receiver (C, Debian fstrm-bin).
type fstrmCapture struct {
	*lab.FstrmCapture
	t testing.TB
}

func startCapture(t testing.TB, ep Endpoint, file string) *fstrmCapture {
	t.Helper()
	return &fstrmCapture{lab.StartFstrmCapture(t, ep.Network, ep.Addr, ContentType, file), t}
}

// stop ends fstrm_capture and returns the frames of its file.
func (c *fstrmCapture) stop() [][]byte {
	c.t.Helper()
	c.Stop()
	return readFrames(c.t, c.File)
}

func freePort(t testing.TB) int { return lab.FreePort(t) }

func newPKI(t testing.TB, dir, name string) *lab.PKI { return lab.NewPKI(t, dir, name) }

func startStunnel(t testing.TB, dir, certFile, keyFile, caFile, backend string) Endpoint {
	t.Helper()
	return Endpoint{"tcp", lab.StartStunnel(t, dir, certFile, keyFile, caFile, backend)}
}

// BenchmarkSocketOutput measures frames/s through a SocketOutput to a
// local fstrm_capture (writing to a temporary file) over a unix socket, TCP, and
// TLS 1.3 through stunnel in front of it, and, for comparison in the same
// run, through a FileOutput to a file. Frames average 258 bytes, in
// 256 KiB batches as a Queue hands them over.
func BenchmarkSocketOutput(b *testing.B) {
	frames := seqFrames(0, 1000)
	var batch []byte
	per := 0
	for len(batch) < DefaultBatchSize-1000 {
		f := frames[per%len(frames)]
		batch = binary.BigEndian.AppendUint32(batch, uint32(len(f)))
		batch = append(batch, f...)
		per++
	}
	for _, kind := range []string{"file", "unix", "tcp", "tls"} {
		b.Run(kind, func(b *testing.B) {
			dir := b.TempDir()
			// fstrm_capture replaces its output path rather than writing
			// into it: given /dev/null it would leave a regular file in
			// place of the device. Its file goes to the test's directory.
			sink := filepath.Join(dir, "rx.fstrm")
			var ep Endpoint
			var tcfg *tls.Config
			switch kind {
			case "unix":
				ep = Endpoint{"unix", filepath.Join(dir, "rx.sock")}
				startCapture(b, ep, sink)
			case "tcp":
				ep = Endpoint{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))}
				startCapture(b, ep, sink)
			case "tls":
				backend := Endpoint{"tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(b)))}
				startCapture(b, backend, sink)
				ca := newPKI(b, dir, "ca")
				cert, key := ca.Issue(b, "receiver", "receiver.test")
				ep = startStunnel(b, dir, cert, key, "", backend.Addr)
				var err error
				if tcfg, err = LoadTLSConfig(ca.CAFile, "", "", "receiver.test"); err != nil {
					b.Fatal(err)
				}
			}
			var s Output
			var err error
			if kind == "file" {
				s, err = NewFileOutput(FileConfig{Path: filepath.Join(dir, "out.dnstap"), Logf: b.Logf})
			} else {
				s, err = NewSocketOutput(SocketOutputConfig{Endpoints: []Endpoint{ep}, TLS: tcfg, Logf: b.Logf})
			}
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(batch)))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := s.WriteBatch(batch); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*per)/b.Elapsed().Seconds(), "frames/s")
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			if st := s.Stats(); st.Dropped() != 0 {
				b.Fatalf("%d frames dropped", st.Dropped())
			}
		})
	}
}
