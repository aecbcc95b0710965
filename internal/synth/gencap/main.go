// Command gencap writes a synthetic DNS capture for benchmarks and tests.
//
//	go run ./internal/synth/gencap -kind udp -n 1000000 -o testdata/bench/udp.pcap
//
// It prints the summary (packets, DNS queries and responses, fragments, TCP
// connections) to stderr, and writes it as JSON beside the capture
// (<file>.json), where benchrun finds the message count.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/synth"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gencap:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		kind    = flag.String("kind", "udp", "traffic: udp, tcp, frag, synflood, fragflood, queryflood or collideflood (queries chosen to collide in the old pairing hash)")
		n       = flag.Int("n", 1_000_000, "packets to write")
		out     = flag.String("o", "", "output pcap file (required; - for stdout)")
		seed    = flag.Uint64("seed", 1, "PRNG seed")
		v6      = flag.Int("v6", 10, "percent of transactions on IPv6 (0 for none)")
		clients = flag.Int("clients", 0, "distinct clients (default 5000)")
		servers = flag.Int("servers", 0, "distinct servers (default 3)")
		rate    = flag.Int("rate", 0, "new transactions/connections/flood packets per second (default by kind)")
		nano    = flag.Bool("nano", false, "nanosecond pcap timestamps")
	)
	flag.Parse()
	if *out == "" || flag.NArg() != 0 {
		flag.Usage()
		return fmt.Errorf("-o is required and no arguments are taken")
	}
	k, err := synth.ParseKind(*kind)
	if err != nil {
		return err
	}
	opts := synth.Options{
		Kind: k, Packets: *n, Seed: *seed, IPv6Percent: *v6, NoIPv6: *v6 == 0,
		Clients: *clients, Servers: *servers, Rate: *rate, Nanosecond: *nano,
	}
	w := os.Stdout
	if *out != "-" {
		if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
			return err
		}
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	start := time.Now()
	sum, err := synth.Generate(w, opts)
	if err != nil {
		return err
	}
	if w != os.Stdout {
		if err := w.Close(); err != nil {
			return fmt.Errorf("close %s: %w", *out, err)
		}
	}
	el := time.Since(start)
	fmt.Fprintf(os.Stderr, "gencap: %s %s: %d packets (%d IPv6), %.1f MB, %d DNS messages (%d queries, %d responses, %d unanswered, %d NXDOMAIN, %d TC), %d TCP conns, %d fragments in %d sets, %d split TCP messages, %d shared segments, span %v, generated in %v\n",
		k, *out, sum.Packets, sum.IPv6, float64(sum.Bytes)/1e6, sum.Messages(), sum.Queries, sum.Responses,
		sum.Unanswered, sum.NXDomain, sum.Truncated, sum.TCPConns, sum.Fragments, sum.FragmentedMessages,
		sum.SplitMessages, sum.SharedSegments, sum.Last.Sub(sum.First).Round(time.Millisecond), el.Round(time.Millisecond))
	if *out == "-" {
		return nil
	}
	type sidecar struct {
		synth.Summary
		Kind     string
		Seed     uint64
		Messages int
	}
	b, err := json.MarshalIndent(sidecar{sum, k.String(), *seed, sum.Messages()}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(*out+".json", append(b, '\n'), 0o644)
}
