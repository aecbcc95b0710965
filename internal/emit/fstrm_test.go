package emit

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	dnstap "github.com/dnstap/golang-dnstap"

	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// The exact control frames of a dnstap file (Frame Streams spec, fstrm
// control.h): escape 0, length, type, then for START the content-type field.
const (
	wantStart = "00000000" + "00000022" + "00000002" + "00000001" + "00000016" +
		"70726f746f6275663a646e737461702e446e73746170" // "protobuf:dnstap.Dnstap"
	wantStop = "00000000" + "00000004" + "00000003"
)

// sampleFrames returns encoded dnstap frames of every message type.
func sampleFrames(t testing.TB) [][]byte {
	t.Helper()
	out := &collect{}
	p := NewPipeline(Config{
		Servers: []ServerSpec{
			{Prefix: netipPrefix("192.0.2.53/32"), Role: RoleRecursive},
			{Prefix: netipPrefix("2001:db8::53/128"), Role: RoleAuthoritative},
		},
		Identity: []byte("sensor"), Version: []byte("test"),
	}, out)
	for i, s := range []msgSpec{
		{Src: "192.0.2.10:4000", Dst: "192.0.2.53:53", ID: 1},
		{Src: "192.0.2.53:53", Dst: "192.0.2.10:4000", ID: 1, Response: true},
		{Src: "192.0.2.53:5000", Dst: "198.51.100.1:53", ID: 2, QName: "ExAmple.org."},
		{Src: "198.51.100.1:53", Dst: "192.0.2.53:5000", ID: 2, QName: "ExAmple.org.", Response: true},
		{Src: "[2001:db8::10]:4000", Dst: "[2001:db8::53]:53", ID: 3},
		{Src: "[2001:db8::53]:53", Dst: "[2001:db8::10]:4000", ID: 3, Response: true},
		{Src: "192.0.2.10:4001", Dst: "192.0.2.53:53", ID: 4, Opcode: 5, Transport: 2},
		{Src: "192.0.2.53:53", Dst: "192.0.2.10:4001", ID: 4, Opcode: 5, Response: true, Transport: 2},
	} {
		s.TS = t0 + int64(i)*1e6 + 123
		p.HandleMessage(message(t, s))
	}
	return out.frames
}

func writeFile(t testing.TB, frames [][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	fw := NewFileWriter(&buf)
	for _, f := range frames {
		if err := fw.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestControlFrameBytes(t *testing.T) {
	if got := hex.EncodeToString(StartFrame); got != wantStart || len(StartFrame) != 42 {
		t.Fatalf("START = %s (%d bytes), want %s (42)", got, len(StartFrame), wantStart)
	}
	if got := hex.EncodeToString(StopFrame); got != wantStop || len(StopFrame) != 12 {
		t.Fatalf("STOP = %s, want %s", got, wantStop)
	}
	for _, tc := range []struct {
		name   string
		frames [][]byte
	}{
		{"empty", nil},
		{"one", [][]byte{{1, 2, 3}}},
		{"samples", sampleFrames(t)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := writeFile(t, tc.frames)
			if hex.EncodeToString(b[:42]) != wantStart || hex.EncodeToString(b[len(b)-12:]) != wantStop {
				t.Fatalf("file does not begin with START and end with STOP: %x", b)
			}
			body := b[42 : len(b)-12]
			for _, f := range tc.frames {
				if int(binary.BigEndian.Uint32(body)) != len(f) || !bytes.Equal(body[4:4+len(f)], f) {
					t.Fatalf("data frame mismatch")
				}
				body = body[4+len(f):]
			}
			if len(body) != 0 {
				t.Fatalf("%d stray bytes", len(body))
			}
		})
	}
}

func TestFileWriterRefuses(t *testing.T) {
	var buf bytes.Buffer
	fw := NewFileWriter(&buf)
	if err := fw.WriteFrame(nil); !errors.Is(err, ErrEmptyFrame) {
		t.Fatalf("empty frame: %v", err)
	}
	if err := fw.WriteFrame(make([]byte, MaxFrameLen+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("large frame: %v", err)
	}
	if err := fw.WriteFrame(make([]byte, MaxFrameLen)); err != nil {
		t.Fatalf("frame of MaxFrameLen: %v", err)
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := fw.WriteFrame([]byte{1}); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close: %v", err)
	}
}

type failWriter struct{ err error }

func (f failWriter) Write([]byte) (int, error) { return 0, f.err }

func TestFileWriterErrorSticks(t *testing.T) {
	boom := errors.New("disk full")
	fw := NewFileWriter(failWriter{boom})
	frame := make([]byte, 100<<10-8)
	var first error
	for i := 0; i < 3 && first == nil; i++ {
		first = fw.WriteFrame(frame[:MaxFrameLen])
	}
	if !errors.Is(first, boom) {
		t.Fatalf("write error %v, want %v", first, boom)
	}
	if err := fw.WriteFrame([]byte{1}); !errors.Is(err, boom) {
		t.Fatalf("later write %v, want the first error", err)
	}
	if err := fw.Close(); !errors.Is(err, boom) {
		t.Fatalf("Close = %v, want %v", err, boom)
	}
}

func TestFileWriterZeroAlloc(t *testing.T) {
	fw := NewFileWriter(io.Discard)
	frame := sampleFrames(t)[0]
	if n := testing.AllocsPerRun(1000, func() { _ = fw.WriteFrame(frame) }); n != 0 {
		t.Fatalf("WriteFrame allocates %v per frame", n)
	}
}

func TestFrameReader(t *testing.T) {
	frames := sampleFrames(t)
	good := writeFile(t, frames)
	for _, tc := range []struct {
		name    string
		in      []byte
		nframes int
		wantErr error
		stopped bool
	}{
		{"whole", good, len(frames), io.EOF, true},
		{"no-stop", good[:len(good)-12], len(frames), io.EOF, false},
		{"cut-in-frame", good[:len(good)-20], len(frames) - 1, io.ErrUnexpectedEOF, false},
		{"empty-input", nil, 0, io.ErrUnexpectedEOF, false},
		{"data-before-start", good[42:], 0, ErrNoStart, false},
		{"wrong-content-type", append(appendControl(nil, ctrlStart, "protobuf:other"), good[42:]...), 0, ErrContentType, false},
		{"start-without-content-type", append(appendControl(nil, ctrlStart, ""), good[42:]...), len(frames), io.EOF, true},
		{"control-too-long", []byte{0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 2}, 0, ErrBadControl, false},
		{"second-start", append(append([]byte(nil), good[:42]...), good...), 0, ErrBadControl, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fr := NewFrameReader(bytes.NewReader(tc.in))
			n := 0
			var err error
			for {
				var f []byte
				f, err = fr.ReadFrame()
				if err != nil {
					break
				}
				if !bytes.Equal(f, frames[n]) {
					t.Fatalf("frame %d differs", n)
				}
				n++
			}
			if n != tc.nframes || !errors.Is(err, tc.wantErr) || fr.Stopped() != tc.stopped {
				t.Fatalf("read %d frames, err %v, stopped %v; want %d, %v, %v", n, err, fr.Stopped(), tc.nframes, tc.wantErr, tc.stopped)
			}
		})
	}
}

// TestGolangDnstapReadsFile reads the file with golang-dnstap's own reader.
func TestGolangDnstapReadsFile(t *testing.T) {
	frames := sampleFrames(t)
	file := writeFile(t, frames)
	in, err := dnstap.NewFrameStreamInput(rw{bytes.NewReader(file)}, false)
	if err != nil {
		t.Fatal(err)
	}
	ch := make(chan []byte, len(frames)+1)
	go in.ReadInto(ch)
	in.Wait()
	close(ch)
	n := 0
	for f := range ch {
		if !bytes.Equal(f, frames[n]) {
			t.Fatalf("frame %d differs", n)
		}
		n++
	}
	if n != len(frames) {
		t.Fatalf("golang-dnstap read %d frames, want %d", n, len(frames))
	}
}

type rw struct{ io.Reader }

func (rw) Write(b []byte) (int, error) { return len(b), nil }

func tempFile(t *testing.T, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "out.dnstap")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFstrmDumpReadsFile(t *testing.T) {
	tool := testenv.NeedTool(t, "fstrm_dump", "fstrm-bin")
	frames := sampleFrames(t)
	path := tempFile(t, writeFile(t, frames))
	out, err := exec.Command(tool, path).CombinedOutput()
	if err != nil {
		t.Fatalf("fstrm_dump: %v\n%s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "FSTRM_CONTROL_START") || !strings.Contains(s, "FSTRM_CONTROL_STOP") || !strings.Contains(s, ContentType) {
		t.Fatalf("fstrm_dump output lacks START/STOP/content type:\n%s", s)
	}
	if got := strings.Count(s, "Data frame"); got != len(frames) {
		t.Fatalf("fstrm_dump saw %d data frames, want %d:\n%s", got, len(frames), s)
	}
}

func TestDnstapReadReadsFile(t *testing.T) {
	tool := testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	frames := sampleFrames(t)
	path := tempFile(t, writeFile(t, frames))
	out, err := exec.Command(tool, "-y", path).CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read -y: %v\n%s", err, out)
	}
	s := string(out)
	if got := strings.Count(s, "type: MESSAGE"); got != len(frames) {
		t.Fatalf("dnstap-read saw %d messages, want %d:\n%s", got, len(frames), s)
	}
	for _, want := range []string{"CLIENT_QUERY", "CLIENT_RESPONSE", "RESOLVER_QUERY", "RESOLVER_RESPONSE",
		"AUTH_QUERY", "AUTH_RESPONSE", "UPDATE_QUERY", "UPDATE_RESPONSE", `query_address: "192.0.2.10"`,
		`response_address: "2001:db8::53"`, "socket_protocol: TCP", "identity: sensor"} {
		if !strings.Contains(s, want) {
			t.Errorf("dnstap-read -y output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s", s)
	}
}

func FuzzFrameReader(f *testing.F) {
	good := writeFile(f, sampleFrames(f))
	f.Add(good)
	f.Add(good[:len(good)-12])
	f.Add(good[:50])
	f.Add(StartFrame)
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 4})
	f.Fuzz(func(t *testing.T, b []byte) {
		fr := NewFrameReader(bytes.NewReader(b))
		for i := 0; i < 1<<16; i++ {
			fb, err := fr.ReadFrame()
			if err != nil {
				return
			}
			if len(fb) == 0 || len(fb) > maxReadFrameLen {
				t.Fatalf("returned a frame of %d bytes", len(fb))
			}
		}
	})
}

// FuzzFrameRoundTrip splits the input into frames, writes them and reads
// them back: what comes out must be exactly what went in, and the file must
// begin with START and end with STOP.
func FuzzFrameRoundTrip(f *testing.F) {
	for _, fr := range sampleFrames(f) {
		f.Add(fr, uint16(0))
	}
	f.Add([]byte{1, 2, 3, 4, 5}, uint16(1))
	f.Add([]byte{}, uint16(3))
	f.Fuzz(func(t *testing.T, data []byte, split uint16) {
		var frames [][]byte
		step := int(split%97) + 1
		for len(data) > 0 {
			n := min(step, len(data))
			frames = append(frames, data[:n])
			data = data[n:]
		}
		var buf bytes.Buffer
		fw := NewFileWriter(&buf)
		for _, fb := range frames {
			if err := fw.WriteFrame(fb); err != nil {
				t.Fatal(err)
			}
		}
		if err := fw.Close(); err != nil {
			t.Fatal(err)
		}
		file := buf.Bytes()
		if !bytes.Equal(file[:42], StartFrame) || !bytes.Equal(file[len(file)-12:], StopFrame) {
			t.Fatal("file not framed by START/STOP")
		}
		fr := NewFrameReader(bytes.NewReader(file))
		for i, want := range frames {
			got, err := fr.ReadFrame()
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("frame %d: %x, %v; want %x", i, got, err, want)
			}
		}
		if _, err := fr.ReadFrame(); err != io.EOF || !fr.Stopped() {
			t.Fatalf("after the last frame: %v, stopped %v", err, fr.Stopped())
		}
	})
}
