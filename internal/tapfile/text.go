package tapfile

import (
	"bufio"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	dnstap "github.com/dnstap/golang-dnstap"
	"github.com/miekg/dns"
	"google.golang.org/protobuf/proto"
)

// TextFormat selects a text rendering of dnstap frames.
type TextFormat uint8

// Text formats, as the -q, -p, -y and -j flags (and dnstap-read) name them.
// Times are printed in UTC whatever the local zone, so output is
// reproducible.
const (
	TextQuiet TextFormat = iota // -q: one line per message, like dnstap-read's default
	TextPrint                   // -p: the line followed by the message in dig's text form, like dnstap-read -p
	TextYAML                    // -y: multi-document YAML, like dnstap-read -y
	TextJSON                    // -j: one JSON object per line, like the Go dnstap tool's -j
)

// ErrNotDnstap is returned for a frame that is not a Dnstap protobuf.
var ErrNotDnstap = errors.New("tapfile: frame is not a dnstap protobuf")

// TextWriter renders frames as text on w. It implements FrameWriter (for
// file input) and BatchWriter (behind a Queue). Text formatting allocates;
// it is for people, not for line rate.
type TextWriter struct {
	w      *bufio.Writer
	format TextFormat
	n      int
	err    error
	d      dnstap.Dnstap
}

// NewTextWriter returns a TextWriter on w (buffered; Close flushes, it does
// not close w).
func NewTextWriter(w io.Writer, format TextFormat) *TextWriter {
	return &TextWriter{w: bufio.NewWriterSize(w, 64<<10), format: format}
}

// WriteFrame renders one Dnstap protobuf payload. A frame that does not
// decode is rendered as a comment line and reported with ErrNotDnstap.
func (tw *TextWriter) WriteFrame(b []byte) error {
	if tw.err != nil {
		return tw.err
	}
	tw.d.Reset()
	if err := proto.Unmarshal(b, &tw.d); err != nil {
		fmt.Fprintf(tw.w, "# undecodable frame of %d bytes: %v\n", len(b), err)
		return ErrNotDnstap
	}
	var s string
	switch tw.format {
	case TextYAML:
		s = formatYAML(&tw.d, tw.n == 0)
	case TextJSON:
		s = formatJSON(&tw.d)
	case TextPrint:
		s = formatLine(&tw.d) + formatPrint(&tw.d)
	default:
		s = formatLine(&tw.d)
	}
	tw.n++
	if _, err := tw.w.WriteString(s); err != nil {
		tw.err = err
	}
	return tw.err
}

// WriteBatch renders a run of length-prefixed frames (from a Queue).
func (tw *TextWriter) WriteBatch(b []byte) error {
	var first error
	for len(b) >= 4 {
		n := int(binary.BigEndian.Uint32(b))
		if n > len(b)-4 {
			return emit.ErrBadControl
		}
		if err := tw.WriteFrame(b[4 : 4+n]); err != nil && first == nil {
			first = err
		}
		b = b[4+n:]
	}
	return first
}

// Flush writes buffered text.
func (tw *TextWriter) Flush() error {
	if tw.err != nil {
		return tw.err
	}
	tw.err = tw.w.Flush()
	return tw.err
}

// Close flushes; it does not close the underlying writer.
func (tw *TextWriter) Close() error { return tw.Flush() }

// ReadText reads a Frame Streams dnstap file from r and renders every frame
// on w (the `sensor read` subcommand). It returns the number of frames read.
// A file without STOP (a writer that died) is read to its end without error.
func ReadText(r io.Reader, w io.Writer, format TextFormat) (int, error) {
	fr := emit.NewFrameReader(r)
	tw := NewTextWriter(w, format)
	n := 0
	for {
		b, err := fr.ReadFrame()
		if err == io.EOF {
			break
		}
		if err != nil {
			_ = tw.Flush()
			return n, fmt.Errorf("tapfile: read frame %d: %w", n+1, err)
		}
		n++
		if err := tw.WriteFrame(b); err != nil && !errors.Is(err, ErrNotDnstap) {
			return n, err
		}
	}
	return n, tw.Close()
}

// --- helpers shared by the formats ---

func protoTime(sec *uint64, nsec *uint32) (time.Time, bool) {
	if sec == nil {
		return time.Time{}, false
	}
	var ns uint32
	if nsec != nil {
		ns = *nsec
	}
	return time.Unix(int64(*sec), int64(ns)).UTC(), true
}

func ipString(b []byte) string {
	if a, ok := netip.AddrFromSlice(b); ok {
		return a.String()
	}
	if len(b) == 0 {
		return "-"
	}
	return fmt.Sprintf("%x", b)
}

func typeName(t uint16) string {
	if s, ok := dns.TypeToString[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

func className(c uint16) string {
	if s, ok := dns.ClassToString[c]; ok {
		return s
	}
	return "CLASS" + strconv.Itoa(int(c))
}

// question reads the first question without unpacking the rest, so that
// the one-line format works on messages miekg/dns rejects.
func question(msg []byte) (name, class, typ string, ok bool) {
	if len(msg) < 12 || binary.BigEndian.Uint16(msg[4:]) == 0 {
		return "", "", "", false
	}
	n, off, err := dns.UnpackDomainName(msg, 12)
	if err != nil || off+4 > len(msg) {
		return "", "", "", false
	}
	if n != "." {
		n = strings.TrimSuffix(n, ".")
	}
	return n, className(binary.BigEndian.Uint16(msg[off+2:])), typeName(binary.BigEndian.Uint16(msg[off:])), true
}

func isQuery(m *dnstap.Message) bool { return emit.MessageType(m.GetType()).IsQuery() }

func wireMessage(m *dnstap.Message) []byte {
	if isQuery(m) {
		return m.QueryMessage
	}
	return m.ResponseMessage
}

// formatLine renders dnstap-read's default line:
// "14-Nov-2023 22:13:20.000 CQ 192.0.2.10:4000 -> 192.0.2.53:53 UDP 29b example.com/IN/A".
func formatLine(d *dnstap.Dnstap) string {
	m := d.Message
	if m == nil {
		return "# " + d.GetType().String() + " frame without message\n"
	}
	var sb strings.Builder
	var t time.Time
	var ok bool
	if isQuery(m) {
		t, ok = protoTime(m.QueryTimeSec, m.QueryTimeNsec)
	} else {
		t, ok = protoTime(m.ResponseTimeSec, m.ResponseTimeNsec)
	}
	if ok {
		sb.WriteString(t.Format("02-Jan-2006 15:04:05.000"))
	} else {
		sb.WriteString("-")
	}
	sb.WriteByte(' ')
	sb.WriteString(emit.MessageType(m.GetType()).Abbrev())
	sb.WriteByte(' ')
	sb.WriteString(ipString(m.QueryAddress))
	sb.WriteByte(':')
	sb.WriteString(strconv.FormatUint(uint64(m.GetQueryPort()), 10))
	if isQuery(m) {
		sb.WriteString(" -> ")
	} else {
		sb.WriteString(" <- ")
	}
	sb.WriteString(ipString(m.ResponseAddress))
	sb.WriteByte(':')
	sb.WriteString(strconv.FormatUint(uint64(m.GetResponsePort()), 10))
	sb.WriteByte(' ')
	sb.WriteString(m.GetSocketProtocol().String())
	msg := wireMessage(m)
	sb.WriteByte(' ')
	sb.WriteString(strconv.Itoa(len(msg)))
	sb.WriteString("b ")
	if n, c, ty, ok := question(msg); ok {
		sb.WriteString(n + "/" + c + "/" + ty)
	} else {
		sb.WriteString("-")
	}
	sb.WriteByte('\n')
	return sb.String()
}

// digText is the message in dig's text form, or a note when it does not
// unpack (the frame still carries the exact bytes).
func digText(msg []byte) (*dns.Msg, string) {
	if len(msg) == 0 {
		return nil, ""
	}
	var dm dns.Msg
	if err := dm.Unpack(msg); err != nil {
		return nil, fmt.Sprintf(";; unparseable message (%v): %x\n", err, msg)
	}
	return &dm, dm.String()
}

func formatPrint(d *dnstap.Dnstap) string {
	if d.Message == nil {
		return ""
	}
	_, s := digText(wireMessage(d.Message))
	return s + "\n"
}

func yamlQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

func rrLine(rr dns.RR) string { return strings.Join(strings.Fields(rr.String()), " ") }

func writeYAMLData(sb *strings.Builder, key string, dm *dns.Msg) {
	sb.WriteString("  " + key + ":\n")
	op, ok := dns.OpcodeToString[dm.Opcode]
	if !ok {
		op = strconv.Itoa(dm.Opcode)
	}
	rc, ok := dns.RcodeToString[dm.Rcode]
	if !ok {
		rc = strconv.Itoa(dm.Rcode)
	}
	var flags []string
	for _, f := range []struct {
		on   bool
		name string
	}{{dm.Response, "qr"}, {dm.Authoritative, "aa"}, {dm.Truncated, "tc"}, {dm.RecursionDesired, "rd"},
		{dm.RecursionAvailable, "ra"}, {dm.AuthenticatedData, "ad"}, {dm.CheckingDisabled, "cd"}} {
		if f.on {
			flags = append(flags, f.name)
		}
	}
	fmt.Fprintf(sb, "    opcode: %s\n    status: %s\n    id: %d\n    flags: %s\n", op, rc, dm.Id, strings.Join(flags, " "))
	names := [4]string{"QUESTION", "ANSWER", "AUTHORITY", "ADDITIONAL"}
	sections := [4]string{"QUESTION_SECTION", "ANSWER_SECTION", "AUTHORITY_SECTION", "ADDITIONAL_SECTION"}
	if dm.Opcode == dns.OpcodeUpdate {
		names = [4]string{"ZONE", "PREREQ", "UPDATE", "ADDITIONAL"}
		sections = [4]string{"ZONE_SECTION", "PREREQUISITE_SECTION", "UPDATE_SECTION", "ADDITIONAL_SECTION"}
	}
	counts := [4]int{len(dm.Question), len(dm.Answer), len(dm.Ns), len(dm.Extra)}
	for i, n := range names {
		fmt.Fprintf(sb, "    %s: %d\n", n, counts[i])
	}
	if len(dm.Question) > 0 {
		sb.WriteString("    " + sections[0] + ":\n")
		for _, q := range dm.Question {
			sb.WriteString("      - " + yamlQuote(q.Name+" "+className(q.Qclass)+" "+typeName(q.Qtype)) + "\n")
		}
	}
	for i, rrs := range [3][]dns.RR{dm.Answer, dm.Ns, dm.Extra} {
		if len(rrs) == 0 {
			continue
		}
		sb.WriteString("    " + sections[i+1] + ":\n")
		for _, rr := range rrs {
			if _, ok := rr.(*dns.OPT); ok {
				continue // EDNS is in dig's text below
			}
			sb.WriteString("      - " + yamlQuote(rrLine(rr)) + "\n")
		}
	}
}

// formatYAML renders the layout of dnstap-read -y: the envelope, the
// message fields, a parsed *_message_data map and the dig-style text. Each
// document after the first is preceded by "---".
func formatYAML(d *dnstap.Dnstap, first bool) string {
	var sb strings.Builder
	if !first {
		sb.WriteString("---\n")
	}
	sb.WriteString("type: " + d.GetType().String() + "\n")
	if len(d.Identity) > 0 {
		sb.WriteString("identity: " + yamlQuote(string(d.Identity)) + "\n")
	}
	if len(d.Version) > 0 {
		sb.WriteString("version: " + yamlQuote(string(d.Version)) + "\n")
	}
	m := d.Message
	if m == nil {
		return sb.String()
	}
	sb.WriteString("message:\n  type: " + m.GetType().String() + "\n")
	if t, ok := protoTime(m.QueryTimeSec, m.QueryTimeNsec); ok {
		sb.WriteString("  query_time: !!timestamp " + t.Format(time.RFC3339Nano) + "\n")
	}
	if t, ok := protoTime(m.ResponseTimeSec, m.ResponseTimeNsec); ok {
		sb.WriteString("  response_time: !!timestamp " + t.Format(time.RFC3339Nano) + "\n")
	}
	msg := wireMessage(m)
	sb.WriteString("  message_size: " + strconv.Itoa(len(msg)) + "b\n")
	if m.SocketFamily != nil {
		sb.WriteString("  socket_family: " + m.GetSocketFamily().String() + "\n")
	}
	if m.SocketProtocol != nil {
		sb.WriteString("  socket_protocol: " + m.GetSocketProtocol().String() + "\n")
	}
	if m.QueryAddress != nil {
		sb.WriteString("  query_address: \"" + ipString(m.QueryAddress) + "\"\n")
	}
	if m.ResponseAddress != nil {
		sb.WriteString("  response_address: \"" + ipString(m.ResponseAddress) + "\"\n")
	}
	if m.QueryPort != nil {
		sb.WriteString("  query_port: " + strconv.FormatUint(uint64(*m.QueryPort), 10) + "\n")
	}
	if m.ResponsePort != nil {
		sb.WriteString("  response_port: " + strconv.FormatUint(uint64(*m.ResponsePort), 10) + "\n")
	}
	for _, part := range []struct {
		key string
		msg []byte
	}{{"query_message", m.QueryMessage}, {"response_message", m.ResponseMessage}} {
		if part.msg == nil {
			continue
		}
		dm, text := digText(part.msg)
		if dm != nil {
			writeYAMLData(&sb, part.key+"_data", dm)
		}
		sb.WriteString("  " + part.key + ": |\n")
		for _, line := range strings.Split(strings.TrimRight(text, "\n"), "\n") {
			sb.WriteString("    " + line + "\n")
		}
	}
	return sb.String()
}

type jsonMessage struct {
	Type            string `json:"type"`
	QueryTime       string `json:"query_time,omitempty"`
	ResponseTime    string `json:"response_time,omitempty"`
	SocketFamily    string `json:"socket_family,omitempty"`
	SocketProtocol  string `json:"socket_protocol,omitempty"`
	QueryAddress    string `json:"query_address,omitempty"`
	ResponseAddress string `json:"response_address,omitempty"`
	QueryPort       uint32 `json:"query_port"`
	ResponsePort    uint32 `json:"response_port"`
	QueryMessage    string `json:"query_message,omitempty"`
	ResponseMessage string `json:"response_message,omitempty"`
	QueryWire       []byte `json:"query_message_wire,omitempty"`
	ResponseWire    []byte `json:"response_message_wire,omitempty"`
}

type jsonDnstap struct {
	Type     string       `json:"type"`
	Identity string       `json:"identity,omitempty"`
	Version  string       `json:"version,omitempty"`
	Message  *jsonMessage `json:"message,omitempty"`
}

// formatJSON renders one object per line with the field names of the Go
// dnstap tool's -j, plus the wire bytes (base64) so that nothing is lost.
func formatJSON(d *dnstap.Dnstap) string {
	j := jsonDnstap{Type: d.GetType().String(), Identity: string(d.Identity), Version: string(d.Version)}
	if m := d.Message; m != nil {
		jm := &jsonMessage{
			Type:         m.GetType().String(),
			QueryPort:    m.GetQueryPort(),
			ResponsePort: m.GetResponsePort(),
			QueryWire:    m.QueryMessage,
			ResponseWire: m.ResponseMessage,
		}
		if t, ok := protoTime(m.QueryTimeSec, m.QueryTimeNsec); ok {
			jm.QueryTime = t.Format(time.RFC3339Nano)
		}
		if t, ok := protoTime(m.ResponseTimeSec, m.ResponseTimeNsec); ok {
			jm.ResponseTime = t.Format(time.RFC3339Nano)
		}
		if m.SocketFamily != nil {
			jm.SocketFamily = m.GetSocketFamily().String()
		}
		if m.SocketProtocol != nil {
			jm.SocketProtocol = m.GetSocketProtocol().String()
		}
		if m.QueryAddress != nil {
			jm.QueryAddress = ipString(m.QueryAddress)
		}
		if m.ResponseAddress != nil {
			jm.ResponseAddress = ipString(m.ResponseAddress)
		}
		_, jm.QueryMessage = digText(m.QueryMessage)
		_, jm.ResponseMessage = digText(m.ResponseMessage)
		j.Message = jm
	}
	b, err := json.Marshal(&j)
	if err != nil {
		return "{}\n"
	}
	return string(b) + "\n"
}
