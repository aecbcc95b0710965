package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/reassembly"
)

func defaultLimits() limits {
	r := reassembly.DefaultConfig()
	return limits{
		maxFlows: r.MaxFlows, maxStreamBytes: r.MaxStreamBytes, maxOutOfOrder: r.MaxOutOfOrderBytes,
		flowTimeout: r.FlowTimeout, maxFragSets: r.MaxFragmentSets, maxFragBytes: r.MaxFragmentBytes,
		fragTimeout: r.FragmentTimeout, maxPending: emit.DefaultMaxPending, pairTimeout: emit.DefaultPairTimeout,
		queueBatches: 256,
	}
}

func reassemblyConfig(o *options) reassembly.Config {
	return reassembly.Config{
		MaxFlows: o.maxFlows, MaxStreamBytes: o.maxStreamBytes, MaxOutOfOrderBytes: o.maxOutOfOrder,
		FlowTimeout: o.flowTimeout, MaxFragmentSets: o.maxFragSets, MaxFragmentBytes: o.maxFragBytes,
		FragmentTimeout: o.fragTimeout,
	}
}

func emitConfig(o *options) (emit.Config, error) {
	defRole, err := emit.ParseRole(o.role)
	if err != nil {
		return emit.Config{}, usagef("--role %q: %v", o.role, err)
	}
	cfg := emit.Config{
		Forwarders:  o.forwarderPrefixe,
		Identity:    []byte(o.identity),
		Version:     []byte("dnstap-sensor " + version),
		PairTimeout: o.pairTimeout,
		MaxPending:  o.maxPending,
	}
	for _, s := range o.serverPrefixes {
		r := defRole
		if s.role != "" {
			if r, err = emit.ParseRole(s.role); err != nil {
				return emit.Config{}, usagef("--server role %q: %v", s.role, err)
			}
		}
		cfg.Servers = append(cfg.Servers, emit.ServerSpec{Prefix: s.prefix, Role: r})
	}
	return cfg, nil
}

// stopOnSignal returns a flag that SIGINT or SIGTERM sets. The capture loop
// polls it, so the output is always flushed and closed by the goroutine that
// owns it, whatever the signal interrupts.
func stopOnSignal() (*atomic.Bool, func()) {
	var stop atomic.Bool
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		select {
		case <-ch:
			stop.Store(true)
		case <-done:
		}
	}()
	return &stop, func() { signal.Stop(ch); close(done) }
}

// runCapture runs one capture: a file or live interfaces into one output.
func runCapture(o *options, stdout, stderr io.Writer) error {
	ecfg, err := emitConfig(o)
	if err != nil {
		return err
	}
	rcfg := reassemblyConfig(o)
	if o.readFile != "" {
		return runFile(o, rcfg, ecfg, stdout, stderr)
	}
	return runLive(o, rcfg, ecfg, stdout, stderr)
}

// runFile reads one capture file. Offline the output may block the loop: a
// slow disk slows the run down but loses nothing.
func runFile(o *options, rcfg reassembly.Config, ecfg emit.Config, stdout, stderr io.Writer) error {
	src, err := capture.OpenFile(o.readFile)
	if err != nil {
		return err
	}
	defer src.Close()

	var match packetMatcher
	if o.filter != "" {
		if match, err = newMatcher(o.filter); err != nil {
			return usagef("filter %q: %v", o.filter, err)
		}
	}
	out, err := openOutput(o, stdout)
	if err != nil {
		return err
	}
	pipe := emit.NewPipeline(ecfg, out.frames)
	asm := reassembly.NewAssembler(rcfg, pipe)

	stop, release := stopOnSignal()
	defer release()
	prog := newProgress(stderr, o.noProgress, src)

	start := time.Now()
	var f capture.Frame
	var packets, bytes, filtered uint64
	var readErr error
	for !stop.Load() {
		if err := src.Next(&f); err != nil {
			if !errors.Is(err, io.EOF) {
				readErr = err
			}
			break
		}
		packets++
		bytes += uint64(len(f.Data))
		if match != nil && !match.Match(f.LinkType, f.Data, f.WireLen) {
			filtered++
			continue
		}
		asm.HandleFrame(&f)
		if packets&0xffff == 0 {
			prog.update(packets, pipe.Stats())
		}
	}
	prog.done()
	asm.Flush()
	pipe.Flush()
	closeErr := out.Close()

	s := &summary{
		source: o.readFile, elapsed: time.Since(start), packets: packets, bytes: bytes, filtered: filtered,
		decode: newTotals(), pipe: newTotals(), types: newTotals(), output: newTotals(), outputName: outputName(o),
	}
	s.decode.addSet(asm.Stats())
	s.pipe.addSet(pipe.Stats())
	pipe.Stats().EachType(func(t emit.MessageType, v uint64) { s.types.add(t.String(), v) })
	s.print(stderr)

	if readErr != nil {
		return fmt.Errorf("%w (the messages before it were written)", readErr)
	}
	if closeErr != nil {
		return fmt.Errorf("output %s: %w", outputName(o), closeErr)
	}
	return nil
}

func outputName(o *options) string {
	switch {
	case o.unixSocket != "":
		return "unix:" + o.unixSocket
	case o.tcpAddr != "":
		return "tcp:" + o.tcpAddr
	case o.writeFile == "" || o.writeFile == "-":
		return "stdout"
	}
	return o.writeFile
}
