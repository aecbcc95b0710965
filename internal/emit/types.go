package emit

import (
	"errors"
	"net/netip"
	"time"
)

// Role is what a monitored server does, which decides the dnstap type of the
// messages it receives and sends.
type Role uint8

// Roles a monitored server can have (--role).
const (
	RoleRecursive     Role = iota // answers clients, queries authorities: CQ/CR and RQ/RR
	RoleAuthoritative             // answers from its own zones: AQ/AR
	RoleForwarder                 // answers clients, sends everything to forwarders: CQ/CR and FQ/FR
)

var roleNames = [...]string{"recursive", "authoritative", "forwarder"}

// String returns the role's flag spelling.
func (r Role) String() string {
	if int(r) < len(roleNames) {
		return roleNames[r]
	}
	return "unknown"
}

// ErrBadRole is returned by ParseRole for a name it does not know.
var ErrBadRole = errors.New("emit: unknown role (want recursive, authoritative or forwarder)")

// ParseRole reads a --role value. "resolver" and "auth" are accepted as
// shorter spellings.
func ParseRole(s string) (Role, error) {
	switch s {
	case "recursive", "resolver":
		return RoleRecursive, nil
	case "authoritative", "auth":
		return RoleAuthoritative, nil
	case "forwarder":
		return RoleForwarder, nil
	}
	return 0, ErrBadRole
}

// MessageType is dnstap's Message.Type; the values are the protobuf enum
// numbers (dnstap.proto), so they are written to the wire as they are.
type MessageType uint8

// dnstap message types (dnstap.proto Message.Type).
const (
	AuthQuery         MessageType = 1
	AuthResponse      MessageType = 2
	ResolverQuery     MessageType = 3
	ResolverResponse  MessageType = 4
	ClientQuery       MessageType = 5
	ClientResponse    MessageType = 6
	ForwarderQuery    MessageType = 7
	ForwarderResponse MessageType = 8
	StubQuery         MessageType = 9
	StubResponse      MessageType = 10
	ToolQuery         MessageType = 11
	ToolResponse      MessageType = 12
	UpdateQuery       MessageType = 13
	UpdateResponse    MessageType = 14

	numMessageTypes = 15 // index 0 unused
)

var messageTypeNames = [numMessageTypes]string{"", "AUTH_QUERY", "AUTH_RESPONSE",
	"RESOLVER_QUERY", "RESOLVER_RESPONSE", "CLIENT_QUERY", "CLIENT_RESPONSE",
	"FORWARDER_QUERY", "FORWARDER_RESPONSE", "STUB_QUERY", "STUB_RESPONSE",
	"TOOL_QUERY", "TOOL_RESPONSE", "UPDATE_QUERY", "UPDATE_RESPONSE"}

// Abbreviations as dnstap-read prints them in its one-line format.
var messageTypeAbbrevs = [numMessageTypes]string{"??", "AQ", "AR", "RQ", "RR", "CQ", "CR",
	"FQ", "FR", "SQ", "SR", "TQ", "TR", "UQ", "UR"}

// String returns the dnstap.proto name, e.g. "CLIENT_QUERY".
func (t MessageType) String() string {
	if t > 0 && int(t) < numMessageTypes {
		return messageTypeNames[t]
	}
	return "UNKNOWN"
}

// Abbrev returns dnstap-read's two-letter form, e.g. "CQ".
func (t MessageType) Abbrev() string {
	if int(t) < numMessageTypes {
		return messageTypeAbbrevs[t]
	}
	return "??"
}

// IsQuery reports whether the type carries a query (odd enum values).
func (t MessageType) IsQuery() bool { return t&1 == 1 }

// ServerSpec is one --server value: the addresses of monitored servers,
// what they do and, optionally, the dnstap identity of their frames.
type ServerSpec struct {
	Prefix netip.Prefix
	Role   Role
	// Identity, when not empty, replaces Config.Identity in the frames of
	// this server's view, so that a collector fed by one sensor watching
	// several servers tells them apart as if each wrote its own dnstap.
	Identity string
}

// Config is the emit side's configuration. The zero value of each limit
// selects its default.
type Config struct {
	// Servers are the monitored servers. Empty means: the port-53 side of a
	// message is a recursive server.
	Servers []ServerSpec
	// Forwarders are upstreams whose traffic with a monitored server is
	// FORWARDER_QUERY/RESPONSE rather than RESOLVER_*.
	Forwarders []netip.Prefix
	// Identity and Version go into every frame (dnstap fields 1 and 2);
	// a ServerSpec's own Identity takes precedence for its frames.
	Identity []byte
	Version  []byte
	// PairTimeout is how long, in capture time, a query waits for its
	// response before it is counted unanswered.
	PairTimeout time.Duration
	// MaxPending bounds the queries waiting for a response; the oldest is
	// evicted (and counted unanswered) when it is full.
	MaxPending int
}

// Defaults for Config's zero values. A slow server still answers the query
// it was asked: zeek's gre-teb-outerfrag capture has three answers 11 s
// late, and BIND's resolver-query-timeout may be set up to 30 s. The pending
// table is bounded by MaxPending whatever the timeout, so 30 s costs no
// memory beyond it; it only delays the count of unanswered queries.
const (
	DefaultPairTimeout = 30 * time.Second
	DefaultMaxPending  = 65536
)

// MaxFrameLen is the largest data frame written. Readers (fstrm, golang-
// framestream) reject frames above their buffer sizes; 96 KiB holds a
// 65535-byte query and response plus addresses and identity.
const MaxFrameLen = 96 << 10

// FrameWriter receives encoded dnstap payloads (one Dnstap protobuf, without
// the Frame Streams length). b is only valid during the call: an
// implementation that keeps it must copy it.
type FrameWriter interface {
	WriteFrame(b []byte) error
}
