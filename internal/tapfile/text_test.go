package tapfile

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/testenv"
)

// wantQuiet is dnstap-read's default output for sampleFrames (TZ=UTC).
const wantQuiet = `14-Nov-2023 22:13:20.000 CQ 192.0.2.10:4000 -> 192.0.2.53:53 UDP 29b example.com/IN/A
14-Nov-2023 22:13:20.001 CR 192.0.2.10:4000 <- 192.0.2.53:53 UDP 45b example.com/IN/A
14-Nov-2023 22:13:20.002 RQ 192.0.2.53:5000 -> 198.51.100.1:53 UDP 29b ExAmple.org/IN/A
14-Nov-2023 22:13:20.003 RR 192.0.2.53:5000 <- 198.51.100.1:53 UDP 45b ExAmple.org/IN/A
14-Nov-2023 22:13:20.004 AQ 2001:db8::10:4000 -> 2001:db8::53:53 UDP 29b example.com/IN/A
14-Nov-2023 22:13:20.005 AR 2001:db8::10:4000 <- 2001:db8::53:53 UDP 45b example.com/IN/A
14-Nov-2023 22:13:20.006 UQ 192.0.2.10:4001 -> 192.0.2.53:53 TCP 29b example.com/IN/A
14-Nov-2023 22:13:20.007 UR 192.0.2.10:4001 <- 192.0.2.53:53 TCP 45b example.com/IN/A
`

func readText(t *testing.T, f TextFormat) string {
	t.Helper()
	frames := sampleFrames(t)
	var out bytes.Buffer
	n, err := ReadText(bytes.NewReader(writeFile(t, frames)), &out, f)
	if err != nil || n != len(frames) {
		t.Fatalf("ReadText: %d frames, %v", n, err)
	}
	return out.String()
}

func TestTextFormats(t *testing.T) {
	t.Run("quiet", func(t *testing.T) {
		if got := readText(t, TextQuiet); got != wantQuiet {
			t.Fatalf("got\n%s\nwant\n%s", got, wantQuiet)
		}
	})
	t.Run("print", func(t *testing.T) {
		got := readText(t, TextPrint)
		for _, want := range []string{strings.SplitN(wantQuiet, "\n", 2)[0] + "\n;; opcode: QUERY", ";; ANSWER SECTION:\nexample.com.\t300\tIN\tA\t192.0.2.1"} {
			if !strings.Contains(got, want) {
				t.Fatalf("-p output lacks %q:\n%s", want, got)
			}
		}
	})
	t.Run("yaml", func(t *testing.T) {
		got := readText(t, TextYAML)
		if n := strings.Count(got, "\n---\n"); n != 7 {
			t.Fatalf("%d document separators, want 7", n)
		}
		for _, want := range []string{
			"type: MESSAGE\nidentity: 'sensor'\nversion: 'test'\nmessage:\n  type: CLIENT_QUERY\n  query_time: !!timestamp 2023-11-14T22:13:20.000000123Z\n  message_size: 29b\n  socket_family: INET\n  socket_protocol: UDP\n  query_address: \"192.0.2.10\"\n  response_address: \"192.0.2.53\"\n  query_port: 4000\n  response_port: 53\n",
			"  type: CLIENT_RESPONSE\n  query_time: !!timestamp 2023-11-14T22:13:20.000000123Z\n  response_time: !!timestamp 2023-11-14T22:13:20.001000123Z\n",
			"    ANSWER_SECTION:\n      - 'example.com. 300 IN A 192.0.2.1'\n",
			"  socket_family: INET6\n",
			"    opcode: UPDATE\n", "    ZONE: 1\n", "    PREREQUISITE_SECTION:\n",
		} {
			if !strings.Contains(got, want) {
				t.Errorf("YAML lacks %q", want)
			}
		}
		if t.Failed() {
			t.Logf("YAML:\n%s", got)
		}
	})
	t.Run("json", func(t *testing.T) {
		lines := strings.Split(strings.TrimSuffix(readText(t, TextJSON), "\n"), "\n")
		if len(lines) != 8 {
			t.Fatalf("%d lines, want 8", len(lines))
		}
		var j jsonDnstap
		if err := json.Unmarshal([]byte(lines[1]), &j); err != nil {
			t.Fatal(err)
		}
		m := j.Message
		if j.Type != "MESSAGE" || j.Identity != "sensor" || m.Type != "CLIENT_RESPONSE" ||
			m.QueryTime != "2023-11-14T22:13:20.000000123Z" || m.ResponseTime != "2023-11-14T22:13:20.001000123Z" ||
			m.QueryAddress != "192.0.2.10" || m.ResponsePort != 53 || m.QueryPort != 4000 ||
			len(m.ResponseWire) != 45 || !strings.Contains(m.ResponseMessage, "ANSWER SECTION") {
			t.Fatalf("unexpected JSON: %s", lines[1])
		}
	})
}

// TestQuietMatchesDnstapRead holds the one-line format to dnstap-read's.
func TestQuietMatchesDnstapRead(t *testing.T) {
	tool := testenv.NeedTool(t, "dnstap-read", "bind9-dnsutils")
	path := tempFile(t, writeFile(t, sampleFrames(t)))
	cmd := exec.Command(tool, path)
	cmd.Env = append(os.Environ(), "TZ=UTC")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dnstap-read: %v\n%s", err, out)
	}
	if string(out) != wantQuiet {
		t.Fatalf("dnstap-read printed\n%s\nwant (ours)\n%s", out, wantQuiet)
	}
}

func TestTextWriterFromQueue(t *testing.T) {
	var out bytes.Buffer
	tw := NewTextWriter(&out, TextQuiet)
	q := emit.NewQueue(tw, emit.QueueConfig{})
	p := q.Producer()
	for _, f := range sampleFrames(t) {
		if err := p.WriteFrame(f); err != nil {
			t.Fatal(err)
		}
	}
	p.Flush()
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	if out.String() != wantQuiet {
		t.Fatalf("got\n%s", out.String())
	}
}

func TestTextWriterBadFrame(t *testing.T) {
	var out bytes.Buffer
	tw := NewTextWriter(&out, TextYAML)
	if err := tw.WriteFrame([]byte{0xff, 0xff}); err != ErrNotDnstap {
		t.Fatalf("err %v, want ErrNotDnstap", err)
	}
	_ = tw.Close()
	if !strings.HasPrefix(out.String(), "# undecodable frame") {
		t.Fatalf("output %q", out.String())
	}
}
