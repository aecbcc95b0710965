//go:build linux

package capture_test

import (
	"context"
	"log"
	"sync"

	"golang.org/x/net/bpf"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/packet"
)

// Example shows how cmd/sensor drives live capture: one Watcher per run
// for the log, and per interface one Supervisor per worker, all workers of
// an interface in one fanout group. The filter comes from package bpf
// (bpf.DNS(), compiled for capture.InterfaceLinkType(name)).
func Example() {
	ctx, cancel := context.WithCancel(context.Background()) // cancelled on SIGINT/SIGTERM
	defer cancel()
	ifaces := []string{"eth1", "eth2"}
	const workers = 2
	var filter []bpf.RawInstruction // bpf.DNS()

	w, err := capture.WatchLinks(ifaces...)
	if err != nil {
		log.Fatal(err)
	}
	defer w.Close()
	go func() {
		for ev := range w.Events() {
			log.Print(ev) // "eth1 (index 4) down", once per change
		}
	}()

	var wg sync.WaitGroup
	for i, name := range ifaces {
		for worker := range workers {
			sup, err := capture.NewSupervisor(capture.SupervisorConfig{
				Live: capture.LiveConfig{
					Interface:   name,
					FanoutGroup: capture.FanoutGroupFor(i),
					Filter:      filter,
					Promiscuous: true,
					Index:       i,
				},
				Worker: worker,
			})
			if err != nil {
				log.Fatal(err) // bad configuration or no permission: retrying cannot help
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer sup.Close() // Next and Close on the worker's goroutine
				var f packet.Frame
				for ctx.Err() == nil {
					switch err := sup.Next(&f); err {
					case nil:
						_ = f // hand f to this worker's reassembly; f.Data is valid until the next call
					case capture.ErrTimeout:
						// Idle, or no socket right now (a socket change always
						// passes through here): log changes, then check ctx.
						for len(sup.Events()) > 0 {
							log.Print(<-sup.Events()) // socket lost / reopened after a gap
						}
					default:
						log.Print(err)
						return
					}
				}
				st := sup.Stats() // for the summary: Kernel.Packets/Drops/QueueFreezes, Reopens, Gap
				_ = st
			}()
		}
	}
	wg.Wait()
}
