// Command benchrun times a sensor binary on a capture and reports DNS
// messages per second (wall and per CPU-second), peak RSS and output size.
//
//	benchrun -sensor bin/sensor -pcap testdata/bench/udp.pcap -runs 3 -- -w /tmp/out.dnstap
//
// It runs `<sensor> -r <pcap> <args after -->`. The message count comes from
// -messages, or else from the summary gencap writes beside the capture
// (<pcap>.json), as is the packet count. The output size is that of the file after -w (or -out), or
// else the bytes the sensor wrote to stdout. Peak RSS is the child's
// ru_maxrss after Wait, so it covers the sensor alone, not benchrun.
// With -runs N it reports every run and the best (shortest wall time).
//
// Allocations are the sensor's to count: when its stderr has a line like
// "heap allocs 1234" (runtime/metrics /gc/heap/allocs:objects at exit),
// benchrun reports allocations per message too.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type result struct {
	Wall      time.Duration
	User, Sys time.Duration
	MaxRSS    int64 // bytes
	OutBytes  int64
	Allocs    int64 // heap allocations the sensor reported, -1 when it did not
}

func (r result) cpu() time.Duration { return r.User + r.Sys }

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "benchrun:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		sensor   = flag.String("sensor", "bin/sensor", "binary to run")
		pcap     = flag.String("pcap", "", "capture to read (required)")
		rflag    = flag.String("rflag", "-r", "flag that precedes the capture path; empty passes the path alone (e.g. for cat)")
		messages = flag.Int("messages", 0, "DNS messages in the capture (default: from <pcap>.json written by gencap)")
		packets  = flag.Int("packets", 0, "packets in the capture (default: from <pcap>.json written by gencap)")
		out      = flag.String("out", "", "output file to size (default: the argument after -w)")
		runs     = flag.Int("runs", 1, "runs; the best (shortest wall time) is reported")
		warm     = flag.Bool("warm", true, "read the capture once first so every run finds it in the page cache")
		asJSON   = flag.Bool("json", false, "print the best run as JSON on stdout")
		label    = flag.String("label", "", "name for the result line (default: capture file name)")
	)
	flag.Parse()
	if *pcap == "" || *runs < 1 {
		flag.Usage()
		return errors.New("-pcap is required and -runs must be at least 1")
	}
	extra := flag.Args()
	if *messages == 0 || *packets == 0 {
		sc, err := readSidecar(*pcap)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		if *messages == 0 {
			*messages = sc.Messages
		}
		if *packets == 0 {
			*packets = sc.Packets
		}
	}
	if *out == "" {
		*out = outputArg(extra)
	}
	if *label == "" {
		*label = *pcap
	}
	if *warm {
		if err := readAll(*pcap); err != nil {
			return err
		}
	}
	args := []string{*pcap}
	if *rflag != "" {
		args = []string{*rflag, *pcap}
	}
	args = append(args, extra...)

	var best result
	for i := 0; i < *runs; i++ {
		r, err := once(*sensor, args, *out)
		if err != nil {
			return fmt.Errorf("run %d: %w", i+1, err)
		}
		fmt.Fprintf(os.Stderr, "benchrun: run %d: %s\n", i+1, line(*label, r, *messages, *packets))
		if i == 0 || r.Wall < best.Wall {
			best = r
		}
	}
	fmt.Printf("%s\n", line(*label, best, *messages, *packets))
	if *asJSON {
		return json.NewEncoder(os.Stdout).Encode(map[string]any{
			"label": *label, "messages": *messages, "packets": *packets, "wall_s": best.Wall.Seconds(),
			"packets_per_s": rate(*packets, best.Wall),
			"user_s":        best.User.Seconds(), "sys_s": best.Sys.Seconds(),
			"msgs_per_s": rate(*messages, best.Wall), "msgs_per_cpu_s": rate(*messages, best.cpu()),
			"peak_rss_mb": float64(best.MaxRSS) / (1 << 20), "output_bytes": best.OutBytes,
			"heap_allocs": best.Allocs,
		})
	}
	return nil
}

func rate(n int, d time.Duration) float64 {
	if n == 0 || d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func line(label string, r result, n, pkts int) string {
	msgs := "msgs/s n/a (no -messages)"
	if n > 0 {
		msgs = fmt.Sprintf("%d msgs, %.0f msgs/s wall, %.0f msgs/CPU-s", n, rate(n, r.Wall), rate(n, r.cpu()))
	}
	if pkts > 0 {
		msgs += fmt.Sprintf(", %.0f pkts/s wall", rate(pkts, r.Wall))
	}
	if r.Allocs >= 0 && n > 0 {
		msgs += fmt.Sprintf(", %.3f allocs/msg", float64(r.Allocs)/float64(n))
	}
	return fmt.Sprintf("%s: %s; wall %.3fs user %.3fs sys %.3fs; peak RSS %.1f MB; output %.1f MB",
		label, msgs, r.Wall.Seconds(), r.User.Seconds(), r.Sys.Seconds(),
		float64(r.MaxRSS)/(1<<20), float64(r.OutBytes)/1e6)
}

// once runs the sensor and measures it. Its stdout is counted and
// discarded (the output size when the sensor writes to stdout); its stderr
// goes through, so its summary stays visible.
func once(bin string, args []string, out string) (result, error) {
	if out != "" {
		_ = os.Remove(out) // a leftover from an earlier run must not be measured
	}
	cmd := exec.Command(bin, args...)
	sw := &allocScanner{w: os.Stderr, allocs: -1}
	cmd.Stderr = sw
	var cw countWriter
	cmd.Stdout = &cw
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if err != nil {
		return result{}, fmt.Errorf("%s %s: %w", bin, strings.Join(args, " "), err)
	}
	ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if !ok {
		return result{}, errors.New("no rusage for the child")
	}
	r := result{
		Wall:   wall,
		User:   time.Duration(ru.Utime.Nano()),
		Sys:    time.Duration(ru.Stime.Nano()),
		MaxRSS: ru.Maxrss * 1024, // Linux reports kilobytes (getrusage(2))
	}
	r.OutBytes = cw.n
	sw.flush()
	r.Allocs = sw.allocs
	if out != "" {
		st, err := os.Stat(out)
		if err != nil {
			return r, fmt.Errorf("output: %w", err)
		}
		r.OutBytes = st.Size()
	}
	return r, nil
}

// allocScanner passes the sensor's stderr through and picks the last
// "heap allocs N" line out of it.
type allocScanner struct {
	w      io.Writer
	line   []byte
	allocs int64
}

var allocsRE = regexp.MustCompile(`(?i)heap[ _]allocs?\s*[:=]?\s*(\d+)`)

func (a *allocScanner) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			a.flush()
			continue
		}
		if len(a.line) < 4096 {
			a.line = append(a.line, c)
		}
	}
	return a.w.Write(p)
}

func (a *allocScanner) flush() {
	if m := allocsRE.FindSubmatch(a.line); m != nil {
		if v, err := strconv.ParseInt(string(m[1]), 10, 64); err == nil {
			a.allocs = v
		}
	}
	a.line = a.line[:0]
}

type countWriter struct{ n int64 }

func (c *countWriter) Write(p []byte) (int, error) {
	c.n += int64(len(p))
	return len(p), nil
}

// outputArg finds the file after -w (or --w, -w=, --w=) in the sensor's
// arguments.
func outputArg(args []string) string {
	for i, a := range args {
		switch {
		case (a == "-w" || a == "--w") && i+1 < len(args):
			if args[i+1] != "-" {
				return args[i+1]
			}
		case strings.HasPrefix(a, "-w="):
			return a[3:]
		case strings.HasPrefix(a, "--w="):
			return a[4:]
		}
	}
	return ""
}

type sidecar struct{ Messages, Packets int }

// readSidecar reads the counts gencap stored beside the capture.
func readSidecar(pcap string) (sidecar, error) {
	var s sidecar
	b, err := os.ReadFile(pcap + ".json")
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s.json: %w", pcap, err)
	}
	return s, nil
}

func readAll(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}
