package main

import (
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// newSocketOutput builds the socket output of -u and --tcp: every receiver
// given, --balance, TLS for --tcp, and the spool.
func newSocketOutput(s *outputSpec, logf func(string, ...any)) (emit.Output, error) {
	o := &s.socket
	cfg := emit.SocketOutputConfig{SpoolDir: o.spoolDir, SpoolMax: o.spoolMax, Logf: logf}
	for _, e := range o.endpoints {
		cfg.Endpoints = append(cfg.Endpoints, emit.Endpoint{Network: e.network, Addr: e.addr})
	}
	if o.balance == "round-robin" {
		cfg.Balance = emit.BalanceRoundRobin
	}
	if o.tls {
		var err error
		if cfg.TLS, err = emit.LoadTLSConfig(o.tlsCA, o.tlsCert, o.tlsKey, o.tlsServer); err != nil {
			return nil, err
		}
	}
	return emit.NewSocketOutput(cfg)
}
