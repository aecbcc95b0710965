package analyze

import (
	"bufio"
	"bytes"
	"io"
	"strconv"
	"sync/atomic"
	"time"
)

// ECSVersion is the Elastic Common Schema version the events follow
// (field definitions in testdata/ecs_fields.csv, from the ECS reference).
const ECSVersion = "8.12.0"

// ECSWriter writes one Elastic Common Schema JSON object per DNS message,
// one per line, for Filebeat, Vector, Logstash or Splunk to ship as they
// are. It appends JSON by hand into a reused buffer: no reflection, no
// allocation per message. Not safe for concurrent use.
type ECSWriter struct {
	w   *bufio.Writer
	msg Msg
	buf []byte
	// Events counts objects written; Skipped frames that carry no DNS
	// message (not dnstap, or no Message).
	Events, Skipped atomic.Uint64
}

// NewECSWriter returns a writer of ECS lines on w (buffered; Flush writes).
func NewECSWriter(w io.Writer) *ECSWriter {
	return &ECSWriter{w: bufio.NewWriterSize(w, 64<<10), buf: make([]byte, 0, 4096)}
}

// WriteFrame writes the event of one dnstap payload. A frame that is not a
// dnstap message is skipped (counted) with Decode's error; a message whose
// DNS does not parse is written with what could be read.
func (ew *ECSWriter) WriteFrame(frame []byte) error {
	err := ew.msg.Decode(frame)
	if err != nil && err != ErrBadDNS {
		ew.Skipped.Add(1)
		return err
	}
	ew.buf = AppendECS(ew.buf[:0], &ew.msg)
	ew.buf = append(ew.buf, '\n')
	if _, werr := ew.w.Write(ew.buf); werr != nil {
		return werr
	}
	ew.Events.Add(1)
	return nil
}

// Flush writes buffered events.
func (ew *ECSWriter) Flush() error { return ew.w.Flush() }

var ecsActions = [...]string{"", "auth_query", "auth_response", "resolver_query", "resolver_response",
	"client_query", "client_response", "forwarder_query", "forwarder_response", "stub_query",
	"stub_response", "tool_query", "tool_response", "update_query", "update_response"}

var opcodeNames = [16]string{"QUERY", "IQUERY", "STATUS", "3", "NOTIFY", "UPDATE", "DSO", "7", "8", "9", "10", "11", "12", "13", "14", "15"}

// AppendECS appends the ECS object of one decoded message (no newline).
// The mapping is documented in the README ("ECS events").
func AppendECS(b []byte, m *Msg) []byte {
	d := &m.DNS
	b = append(b, `{"@timestamp":"`...)
	b = time.Unix(0, m.Time()).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","ecs":{"version":"`+ECSVersion+`"},"event":{"kind":"event","category":["network"],"type":["protocol"],"module":"dnstap","dataset":"dnstap.sensor"`...)
	if int(m.Type) < len(ecsActions) && m.Type != 0 {
		b = append(b, `,"action":"`...)
		b = append(b, ecsActions[m.Type]...)
		b = append(b, '"')
	}
	if !m.IsQuery() && m.HasQueryTime && m.HasResponseTime && m.ResponseTime >= m.QueryTime {
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, m.ResponseTime-m.QueryTime, 10)
	}
	b = append(b, '}')
	if len(m.Identity) > 0 {
		b = append(b, `,"observer":{"name":`...)
		b = appendJSONString(b, m.Identity)
		b = append(b, '}')
	}
	// network
	b = append(b, `,"network":{"protocol":"dns"`...)
	switch m.Protocol {
	case 1, 5:
		b = append(b, `,"transport":"udp"`...)
	case 2, 3, 4, 6:
		b = append(b, `,"transport":"tcp"`...)
	}
	switch m.Family {
	case 1:
		b = append(b, `,"type":"ipv4"`...)
	case 2:
		b = append(b, `,"type":"ipv6"`...)
	}
	b = append(b, '}')
	// client is always the initiator, server the responder; source and
	// destination follow the direction of this message.
	b = appendEndpoint(b, "client", m.QueryAddr.IsValid(), m, true)
	b = appendEndpoint(b, "server", m.ResponseAddr.IsValid(), m, false)
	b = appendEndpoint(b, "source", true, m, m.IsQuery())
	b = appendEndpoint(b, "destination", true, m, !m.IsQuery())
	// dns
	b = append(b, `,"dns":{"type":"`...)
	if m.IsQuery() {
		b = append(b, "query"...)
	} else {
		b = append(b, "answer"...)
	}
	b = append(b, '"')
	if len(m.Wire) < 12 {
		return append(b, "}}"...)
	}
	b = append(b, `,"id":"`...)
	b = strconv.AppendUint(b, uint64(d.ID), 10)
	b = append(b, `","op_code":"`...)
	b = append(b, opcodeNames[d.Opcode()]...)
	b = append(b, `","header_flags":[`...)
	n := 0
	flag := func(on bool, s string) {
		if !on {
			return
		}
		if n > 0 {
			b = append(b, ',')
		}
		n++
		b = append(b, '"')
		b = append(b, s...)
		b = append(b, '"')
	}
	flag(d.Flags&flagAA != 0, "AA")
	flag(d.Flags&flagTC != 0, "TC")
	flag(d.Flags&flagRD != 0, "RD")
	flag(d.Flags&flagRA != 0, "RA")
	flag(d.Flags&flagAD != 0, "AD")
	flag(d.Flags&flagCD != 0, "CD")
	flag(d.DO, "DO")
	b = append(b, ']')
	if !m.IsQuery() {
		b = append(b, `,"response_code":"`...)
		b = append(b, RcodeName(d.Rcode)...)
		b = append(b, '"')
	}
	if d.OK && d.QDCount > 0 {
		b = append(b, `,"question":{"name":`...)
		b = appendJSONString(b, d.Name)
		b = append(b, `,"type":"`...)
		b = appendTypeName(b, d.QType)
		b = append(b, `","class":"`...)
		b = appendClassName(b, d.QClass)
		b = append(b, '"')
		if reg, ok := m.Registered(); ok {
			b = append(b, `,"registered_domain":`...)
			b = appendJSONString(b, reg)
			if sub := Subdomain(d.Name, reg); len(sub) > 0 {
				b = append(b, `,"subdomain":`...)
				b = appendJSONString(b, sub)
			}
			if i := bytes.IndexByte(reg, '.'); i >= 0 {
				b = append(b, `,"top_level_domain":`...)
				b = appendJSONString(b, reg[i+1:])
			}
		}
		b = append(b, '}')
	}
	if len(d.Answers) > 0 {
		b = append(b, `,"answers":[`...)
		for i := range d.Answers {
			rr := &d.Answers[i]
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"name":`...)
			b = appendJSONString(b, rr.Name)
			b = append(b, `,"type":"`...)
			b = appendTypeName(b, rr.Type)
			b = append(b, `","class":"`...)
			b = appendClassName(b, rr.Class)
			b = append(b, `","ttl":`...)
			b = strconv.AppendUint(b, uint64(rr.TTL), 10)
			b = append(b, `,"data":`...)
			b = appendJSONString(b, rr.Data)
			b = append(b, '}')
		}
		b = append(b, ']')
		n := 0
		for i := range d.Answers {
			if a := d.Answers[i].Addr; a.IsValid() {
				if n == 0 {
					b = append(b, `,"resolved_ip":[`...)
				} else {
					b = append(b, ',')
				}
				n++
				b = append(b, '"')
				b = a.AppendTo(b)
				b = append(b, '"')
			}
		}
		if n > 0 {
			b = append(b, ']')
		}
	}
	return append(b, "}}"...)
}

func appendEndpoint(b []byte, name string, ok bool, m *Msg, initiator bool) []byte {
	a, port := m.ResponseAddr, m.ResponsePort
	if initiator {
		a, port = m.QueryAddr, m.QueryPort
	}
	if !ok || !a.IsValid() {
		return b
	}
	b = append(b, `,"`...)
	b = append(b, name...)
	b = append(b, `":{"ip":"`...)
	b = a.AppendTo(b)
	b = append(b, `","port":`...)
	b = strconv.AppendUint(b, uint64(port), 10)
	return append(b, '}')
}

func appendTypeName(b []byte, t uint16) []byte {
	if s, ok := typeNames[t]; ok {
		return append(b, s...)
	}
	b = append(b, "TYPE"...)
	return strconv.AppendUint(b, uint64(t), 10)
}

func appendClassName(b []byte, c uint16) []byte {
	switch c {
	case 1:
		return append(b, "IN"...)
	case 3:
		return append(b, "CH"...)
	case 4:
		return append(b, "HS"...)
	case 254:
		return append(b, "NONE"...)
	case 255:
		return append(b, "ANY"...)
	}
	b = append(b, "CLASS"...)
	return strconv.AppendUint(b, uint64(c), 10)
}
