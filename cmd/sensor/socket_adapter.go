package main

import (
	"errors"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// newSocketOutput builds the socket output of -u and --tcp.
//
// This is a stand-in until emit.NewSocketOutput lands (TLS, several
// receivers with --balance, the spool); at the merge the body becomes:
//
//	cfg := emit.SocketOutputConfig{SpoolDir: o.spoolDir, SpoolMax: o.spoolMax, Logf: logf}
//	for _, e := range o.endpoints { cfg.Endpoints = append(cfg.Endpoints, emit.Endpoint{Network: e.network, Addr: e.addr}) }
//	if o.balance == "round-robin" { cfg.Balance = emit.BalanceRoundRobin }
//	if o.tls { cfg.TLS, err = emit.LoadTLSConfig(o.tlsCA, o.tlsCert, o.tlsKey, o.tlsServer) }
//	return emit.NewSocketOutput(cfg)
//
// Until then it wraps one SocketWriter and refuses what it cannot do.
func newSocketOutput(s *outputSpec, logf func(string, ...any)) (emit.Output, error) {
	o := &s.socket
	switch {
	case len(o.endpoints) > 1:
		return nil, usagef("several receivers (%s) need the socket output with --balance, not in this build yet", s.target)
	case o.tls:
		return nil, usagef("--tls-* flags need the TLS socket output, not in this build yet")
	case o.spoolDir != "":
		return nil, usagef("--spool needs the spooling socket output, not in this build yet")
	}
	e := o.endpoints[0]
	return &socketAdapter{sw: emit.NewSocketWriter(e.network, e.addr, emit.SocketConfig{}), name: s.target, logf: logf}, nil
}

// socketAdapter accounts for a SocketWriter's frames as an emit.Output:
// frames of a batch the writer could not send are dropped as disconnected.
type socketAdapter struct {
	sw       *emit.SocketWriter
	name     string
	logf     func(string, ...any)
	stats    emit.OutputStats
	down     bool
	lost     uint64
	connects uint64
}

func (a *socketAdapter) WriteBatch(b []byte) error {
	n := emit.CountFrames(b)
	err := a.sw.WriteBatch(b)
	var connects uint64
	a.sw.Each(func(name string, v uint64) {
		if name == "socket_connects" {
			connects = v
		}
	})
	if connects > a.connects {
		if a.connects > 0 {
			a.stats.AddReconnect()
		}
		a.connects = connects
	}
	if err != nil {
		a.stats.AddDropped(emit.DropDisconnected, n)
		a.stats.SetError(err, time.Now())
		a.lost += n
		if !a.down {
			a.down = true
			a.stats.SetState(emit.StateDown)
			a.logf("output %s: %v; frames are dropped (disconnected) until the receiver is back", a.name, err)
		}
		if errors.Is(err, emit.ErrNotConnected) {
			return nil
		}
		return err
	}
	a.stats.AddDelivered(n)
	a.stats.SetState(emit.StateUp)
	if a.down {
		a.down = false
		a.logf("output %s: receiver back (%d frames dropped while it was away)", a.name, a.lost)
		a.lost = 0
	}
	return nil
}

func (a *socketAdapter) Flush() error { return a.sw.Flush() }

func (a *socketAdapter) Close() error {
	err := a.sw.Close()
	a.stats.SetState(emit.StateClosed)
	if err != nil {
		a.stats.SetError(err, time.Now())
	}
	return err
}

func (a *socketAdapter) Stats() *emit.OutputStats { return &a.stats }
