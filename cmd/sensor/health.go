package main

import (
	"fmt"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// healthStale is how long a capture loop or an output writer may go
// without turning before /healthz fails. A capture loop turns at least
// every poll timeout (100 ms) and an output writer every flush interval
// (1 s); a socket output may block its writer for its write timeout (5 s)
// on a receiver that stopped reading, which is slow, not stuck.
const healthStale = 10 * time.Second

// health answers /healthz and /readyz for a live run from what the
// workers and output writers publish; it reads only atomics.
type health struct {
	workers []*liveWorker
	outs    *outputSet
}

// live returns why the process is not healthy, "" when it is: every
// capture loop and every output writer turned within healthStale.
func (h *health) live(now time.Time) string {
	for _, w := range h.workers {
		if d := now.Sub(time.Unix(0, w.gauges.beat.Load())); d > healthStale {
			return fmt.Sprintf("capture loop of %s worker %d stuck for %v", w.iface, w.worker, d.Round(time.Second))
		}
	}
	for i, q := range h.outs.queues {
		if d := now.Sub(q.Heartbeat()); d > healthStale {
			return fmt.Sprintf("writer of output %s stuck for %v", h.outs.specs[i].name(), d.Round(time.Second))
		}
	}
	return ""
}

// ready returns why the sensor is not ready, "" when it is: healthy, every
// worker has its capture socket open (the interface exists and is up), and
// no output is failing.
func (h *health) ready(now time.Time) string {
	if reason := h.live(now); reason != "" {
		return reason
	}
	for _, w := range h.workers {
		if !w.sup.Stats().Open {
			return fmt.Sprintf("interface %s worker %d: no capture socket (interface missing or down, waiting for it)", w.iface, w.worker)
		}
	}
	for i, o := range h.outs.outs {
		st := o.Stats()
		switch st.State() {
		case emit.StateDown:
			msg, _ := st.LastError()
			return fmt.Sprintf("output %s down: %s", h.outs.specs[i].name(), msg)
		case emit.StateClosed:
			return fmt.Sprintf("output %s closed", h.outs.specs[i].name())
		}
	}
	return ""
}
