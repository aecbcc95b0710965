package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strings"
	"time"
)

// version is the sensor's version, written into every dnstap frame. Release
// builds set it with -ldflags "-X main.version=...".
var version = "0.1.0-dev"

// errUsage marks errors caused by the command line; they exit with status 2.
var errUsage = errors.New("usage")

type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }
func (e *usageError) Unwrap() error { return errUsage }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// stringList collects a repeatable flag (-i eth1 -i eth2).
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// options is the parsed command line of a capture run.
type options struct {
	readFile   string
	interfaces stringList
	writeFile  string
	textFormat string // "", "yaml", "json", "quiet"
	servers    string
	role       string
	forwarders string
	identity   string
	filter     string

	workers     int
	ringBlockKB int
	ringBlocks  int
	noPromisc   bool
	tunnels     bool
	statsEvery  time.Duration
	noProgress  bool
	duration    time.Duration
	metrics     string
	cpuProfile  string
	user        string

	maxFlows         int
	maxStreamBytes   int
	maxOutOfOrder    int
	maxTCPBuffers    int
	flowTimeout      time.Duration
	maxFragSets      int
	maxFragBytes     int
	fragTimeout      time.Duration
	maxPending       int
	pairTimeout      time.Duration
	queueBatches     int
	unixSocket       string
	tcpAddr          string
	serverPrefixes   []serverSpec
	forwarderPrefixe []netip.Prefix
}

// serverSpec is one --server entry: an address or CIDR, optionally with its
// own role and dnstap identity (192.0.2.53=authoritative@ns1).
type serverSpec struct {
	prefix   netip.Prefix
	role     string
	identity string
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sensor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.readFile, "r", "", "read packets from a pcap or pcapng `file` (gzip allowed; - is stdin)")
	fs.Var(&o.interfaces, "i", "capture live from `interface` (AF_PACKET); repeat for several")
	fs.StringVar(&o.writeFile, "w", "", "write dnstap Frame Streams to `file` (- is stdout)")
	fs.BoolFunc("y", "write YAML text instead of binary dnstap", func(string) error { o.textFormat = "yaml"; return nil })
	fs.BoolFunc("j", "write JSON text, one object per line, instead of binary dnstap", func(string) error { o.textFormat = "json"; return nil })
	fs.BoolFunc("q", "write one line of text per message instead of binary dnstap", func(string) error { o.textFormat = "quiet"; return nil })
	fs.StringVar(&o.unixSocket, "u", "", "send dnstap to a Frame Streams unix `socket` (bidirectional, reconnects)")
	fs.StringVar(&o.tcpAddr, "tcp", "", "send dnstap to a Frame Streams TCP `host:port` (bidirectional, reconnects)")
	fs.StringVar(&o.servers, "server", "", "monitored DNS servers: comma-separated `addresses` or CIDRs, each optionally =role and @identity (10.0.0.53=recursive@dc1)")
	fs.StringVar(&o.role, "role", "recursive", "role of the monitored servers: recursive, authoritative or forwarder")
	fs.StringVar(&o.forwarders, "forwarder", "", "upstream `addresses` or CIDRs the servers forward to (their queries become FORWARDER_QUERY)")
	fs.StringVar(&o.identity, "identity", "", "dnstap identity (default: host name)")
	fs.IntVar(&o.workers, "workers", 1, "live capture workers (AF_PACKET fanout; each owns its flows)")
	fs.IntVar(&o.ringBlockKB, "ring-block-kb", 1024, "TPACKET_V3 ring block size in KiB")
	fs.IntVar(&o.ringBlocks, "ring-blocks", 32, "TPACKET_V3 ring blocks per socket (at least 8)")
	fs.BoolVar(&o.noPromisc, "no-promisc", false, "do not put capture interfaces into promiscuous mode")
	fs.BoolVar(&o.tunnels, "tunnels", false, "also capture GRE, ERSPAN, VXLAN and GENEVE (default filter only)")
	fs.DurationVar(&o.statsEvery, "stats-interval", 0, "log counters to stderr at this `interval` during live capture (0: only at exit)")
	fs.BoolVar(&o.noProgress, "no-progress", false, "no progress line on stderr while reading a file")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics on `host:port` (/metrics) during live capture")
	fs.StringVar(&o.user, "user", "", "after opening sockets, listener and output, run as `user` (and its groups) with only CAP_NET_RAW and no_new_privs (live capture)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a Go CPU profile of the run to `file` (go tool pprof)")
	fs.DurationVar(&o.duration, "duration", 0, "stop live capture after this long (0: until SIGINT/SIGTERM)")
	d := defaultLimits()
	fs.IntVar(&o.maxFlows, "max-flows", d.maxFlows, "TCP connections tracked at once (oldest evicted beyond)")
	fs.IntVar(&o.maxStreamBytes, "max-stream-bytes", d.maxStreamBytes, "bytes buffered per TCP direction")
	fs.IntVar(&o.maxOutOfOrder, "max-ooo-bytes", d.maxOutOfOrder, "out-of-order bytes held per TCP direction")
	fs.IntVar(&o.maxTCPBuffers, "max-tcp-buffer-bytes", d.maxTCPBuffers, "stream buffers of all TCP connections together (least recently active evicted beyond)")
	fs.DurationVar(&o.flowTimeout, "flow-timeout", d.flowTimeout, "idle TCP connections are dropped after this (capture time)")
	fs.IntVar(&o.maxFragSets, "max-frag-sets", d.maxFragSets, "IP datagrams being reassembled at once")
	fs.IntVar(&o.maxFragBytes, "max-frag-bytes", d.maxFragBytes, "bytes held by IP reassembly in all")
	fs.DurationVar(&o.fragTimeout, "frag-timeout", d.fragTimeout, "incomplete IP datagrams are dropped after this (capture time)")
	fs.IntVar(&o.maxPending, "max-pending", d.maxPending, "queries waiting for their response (oldest counted unanswered beyond)")
	fs.DurationVar(&o.pairTimeout, "pair-timeout", d.pairTimeout, "a query unanswered for this long is counted unanswered")
	fs.IntVar(&o.queueBatches, "queue-batches", d.queueBatches, "live output queue length in 256 KiB batches (full: batches dropped and counted)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage:
  sensor -r FILE|- [-w OUT|-y|-j|-q] [options] [filter expression]
  sensor -i IFACE [-i IFACE...] [--workers N] [-w OUT|-y|-j|-q] [options] [filter expression]
  sensor read FILE [-y|-j|-q|-p]
  sensor compare A.dnstap B.dnstap
  sensor check-config FILE
  sensor version

options:
`)
		fs.PrintDefaults()
	}
	return fs
}

type limits struct {
	maxFlows, maxStreamBytes, maxOutOfOrder int
	maxTCPBuffers                           int
	flowTimeout                             time.Duration
	maxFragSets, maxFragBytes               int
	fragTimeout                             time.Duration
	maxPending                              int
	pairTimeout                             time.Duration
	queueBatches                            int
}

// parseOptions parses and validates a capture run's command line.
func parseOptions(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := newFlagSet(o, stderr)
	var configFile string
	fs.StringVar(&configFile, "config", "", "read options from `file`: one \"name value\" per line, # comments; the command line wins")
	if path, ok := findConfigArg(args); ok {
		if err := loadConfig(fs, path); err != nil {
			return nil, err
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return nil, usagef("flag %q after the filter expression: put flags first", a)
		}
	}
	o.filter = strings.TrimSpace(strings.Join(fs.Args(), " "))
	switch {
	case o.readFile == "" && len(o.interfaces) == 0:
		return nil, usagef("nothing to read: give -r FILE or -i INTERFACE")
	case o.readFile != "" && len(o.interfaces) > 0:
		return nil, usagef("-r and -i cannot be used together")
	case slices.Contains(o.interfaces, "any"):
		// libpcap's "any" is no interface: the sensor binds each socket to
		// one (its link type, promiscuous mode and fanout are per
		// interface), and would otherwise wait forever for a link of
		// that name to appear.
		return nil, usagef("-i any is not supported: give each interface with its own -i")
	case o.user != "" && o.readFile != "":
		return nil, usagef("--user applies to live capture (-i); a file run needs no privilege")
	}
	outputs := 0
	for _, set := range []bool{o.writeFile != "" && o.textFormat == "", o.unixSocket != "", o.tcpAddr != ""} {
		if set {
			outputs++
		}
	}
	if outputs > 1 {
		return nil, usagef("give one output: -w, -u or --tcp")
	}
	if o.textFormat != "" && (o.unixSocket != "" || o.tcpAddr != "") {
		return nil, usagef("-y, -j and -q write text to stdout or -w, not to a socket")
	}
	if o.writeFile == "" && o.textFormat == "" && o.unixSocket == "" && o.tcpAddr == "" {
		o.textFormat = "quiet"
	}
	if _, err := parseRoleName(o.role); err != nil {
		return nil, err
	}
	var err error
	if o.serverPrefixes, err = parseServers(o.servers); err != nil {
		return nil, err
	}
	if o.forwarderPrefixe, err = parsePrefixes("--forwarder", o.forwarders); err != nil {
		return nil, err
	}
	if o.workers < 1 || o.workers > 64 {
		return nil, usagef("--workers %d: want 1 to 64", o.workers)
	}
	for _, c := range []struct {
		name string
		v    int
	}{{"--max-flows", o.maxFlows}, {"--max-stream-bytes", o.maxStreamBytes}, {"--max-ooo-bytes", o.maxOutOfOrder},
		{"--max-tcp-buffer-bytes", o.maxTCPBuffers}, {"--max-frag-sets", o.maxFragSets}, {"--max-frag-bytes", o.maxFragBytes}, {"--max-pending", o.maxPending},
		{"--queue-batches", o.queueBatches}, {"--ring-block-kb", o.ringBlockKB}, {"--ring-blocks", o.ringBlocks}} {
		if c.v < 1 {
			return nil, usagef("%s %d: want a positive number", c.name, c.v)
		}
	}
	if o.ringBlocks < 8 {
		// Measured with tcpreplay into a mirror port: 2 blocks of 1 MiB
		// drop at 500k packets/s where tcpdump's 2 MiB ring drops nothing,
		// while 8 blocks of 256 KiB drop nothing. The kernel fills one
		// block while the reader holds another; the count matters, not the size.
		return nil, usagef("--ring-blocks %d: want at least 8 (fewer blocks drop packets at rates tcpdump survives)", o.ringBlocks)
	}
	if o.maxStreamBytes < 65537 {
		return nil, usagef("--max-stream-bytes %d: want at least 65537 (one maximal DNS message with its length prefix)", o.maxStreamBytes)
	}
	for _, c := range []struct {
		name string
		v    time.Duration
	}{{"--flow-timeout", o.flowTimeout}, {"--frag-timeout", o.fragTimeout}, {"--pair-timeout", o.pairTimeout}} {
		if c.v <= 0 {
			return nil, usagef("%s %v: want a positive duration", c.name, c.v)
		}
	}
	if o.identity == "" {
		o.identity, _ = os.Hostname()
	}
	return o, nil
}

func parseRoleName(s string) (string, error) {
	switch s {
	case "recursive", "authoritative", "forwarder":
		return s, nil
	}
	return "", usagef("--role %q: want recursive, authoritative or forwarder", s)
}

// parseServers parses "192.0.2.53,2001:db8::/64=authoritative@ns1": an
// identity after @ names that server's frames (dnstap identity).
func parseServers(s string) ([]serverSpec, error) {
	var out []serverSpec
	for _, item := range splitList(s) {
		spec, identity, hasIdentity := strings.Cut(item, "@")
		if hasIdentity && identity == "" {
			return nil, usagef("--server %q: empty identity after @", item)
		}
		addr, role, hasRole := strings.Cut(spec, "=")
		if hasRole {
			if _, err := parseRoleName(role); err != nil {
				return nil, usagef("--server %q: role %q: want recursive, authoritative or forwarder", item, role)
			}
		}
		p, err := parsePrefix(addr)
		if err != nil {
			return nil, usagef("--server %q: %v", item, err)
		}
		out = append(out, serverSpec{prefix: p, role: role, identity: identity})
	}
	return out, nil
}

func parsePrefixes(flagName, s string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, item := range splitList(s) {
		p, err := parsePrefix(item)
		if err != nil {
			return nil, usagef("%s %q: %v", flagName, item, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, errors.New("not an address or CIDR")
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, errors.New("not an address or CIDR")
	}
	return netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()), nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// findConfigArg finds --config before the flags are parsed, so that the
// file's values are set first and the command line overrides them.
func findConfigArg(args []string) (string, bool) {
	for i, a := range args {
		if a == "--" || (!strings.HasPrefix(a, "-") && i > 0 && !strings.HasPrefix(args[i-1], "-")) {
			break
		}
		name, val, hasVal := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if name != "config" || !strings.HasPrefix(a, "-") {
			continue
		}
		if hasVal {
			return val, true
		}
		if i+1 < len(args) {
			return args[i+1], true
		}
	}
	return "", false
}

// loadConfig sets flags from a file of "name value" (or "name = value")
// lines. Errors name the file and line.
func loadConfig(fs *flag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return usagef("--config: %v", err)
	}
	for n, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if i := strings.Index(line, "#"); i >= 0 {
			line = strings.TrimSpace(line[:i])
		}
		if line == "" {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(strings.TrimSpace(k), " ") {
			name, value = k, v
		}
		name = strings.TrimLeft(strings.TrimSpace(name), "-")
		value = strings.Trim(strings.TrimSpace(value), `"`)
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			return usagef("%s:%d: unknown option %q", path, n+1, name)
		}
		if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && bf.IsBoolFlag() && value == "" {
			value = "true"
		}
		if err := fs.Set(name, value); err != nil {
			return usagef("%s:%d: %s: %v", path, n+1, name, err)
		}
	}
	return nil
}
