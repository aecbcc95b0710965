package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/capture"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
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
	readFiles  stringList // every -r: files, directories, patterns
	interfaces stringList
	writeFile  string
	textFormat string // "", "yaml", "json", "quiet"
	textTarget string // "-": the text goes to stdout even with -w (-j -)

	// Outputs (see output.go): parsed once into outputs.
	unixSockets    stringList
	tcpAddrs       stringList
	balance        string
	tlsCA          string
	tlsCert        string
	tlsKey         string
	tlsServerName  string
	spoolDir       string
	spoolMax       sizeValue
	rotateSize     sizeValue
	rotateInterval time.Duration
	rotateKeep     keepValue
	outputs        []outputSpec
	analytics      analyticsOptions // --alerts-out, --ecs and their options

	serverDnstaps      stringList // --server-dnstap, parsed into serverDnstap (serverdnstap.go)
	serverDnstapMode   string
	serverDnstapWindow time.Duration
	serverDnstapGroup  string
	serverDnstap       serverDnstapSpec

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
	dedup       time.Duration
	statsEvery  time.Duration
	noProgress  bool
	duration    time.Duration
	metrics     string
	memoryLimit sizeValue
	cpuProfile  string
	user        string

	maxFlows       int
	maxStreamBytes int
	maxOutOfOrder  int
	maxTCPBuffers  int
	flowTimeout    time.Duration
	maxFragSets    int
	maxFragBytes   int
	fragTimeout    time.Duration
	maxPending     int
	pairTimeout    time.Duration
	queueBatches   int

	// Parsed once, by parseOptions, into the types emit takes.
	defaultRole       emit.Role         // --role
	serverSpecs       []emit.ServerSpec // --server, each with --role unless it names its own
	forwarderPrefixes []netip.Prefix    // --forwarder
}

func newFlagSet(o *options, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("sensor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Var(&o.readFiles, "r", "read packets from pcap or pcapng `files` (gzip allowed; - is stdin): repeat, or give directories or patterns; merged in time order")
	fs.Var(&o.interfaces, "i", "capture live from `interface` (AF_PACKET); repeat for several")
	fs.StringVar(&o.writeFile, "w", "", "write dnstap Frame Streams to `file` (- is stdout)")
	text := func(format string) func(string) error {
		return func(v string) error {
			o.textFormat = format
			if v == "-" {
				o.textTarget = "-"
			}
			return nil
		}
	}
	fs.BoolFunc("y", "write YAML text (to -w, or to stdout; -y - : to stdout beside -w)", text("yaml"))
	fs.BoolFunc("j", "write JSON text, one object per line (to -w, or to stdout; -j - : to stdout beside -w)", text("json"))
	fs.BoolFunc("q", "write one line of text per message (to -w, or to stdout; -q - : to stdout beside -w)", text("quiet"))
	fs.Var(&o.unixSockets, "u", "send dnstap to a Frame Streams unix `socket` (bidirectional, reconnects); repeat for several receivers")
	fs.Var(&o.tcpAddrs, "tcp", "send dnstap to a Frame Streams TCP `host:port` (bidirectional, reconnects); repeat for several receivers")
	fs.StringVar(&o.balance, "balance", "failover", "with several receivers: `failover` (the first that works) or round-robin")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "TLS for --tcp: verify the receiver with the CA certificates in `file` (default: system roots when another --tls flag is set)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS for --tcp: client certificate `file` (PEM) for mutual TLS")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS for --tcp: client key `file` (PEM)")
	fs.StringVar(&o.tlsServerName, "tls-server-name", "", "TLS for --tcp: `name` the receiver's certificate must carry (default: the host of --tcp)")
	addAnalyticsFlags(fs, &o.analytics)
	fs.StringVar(&o.spoolDir, "spool", "", "keep frames no receiver takes in Frame Streams files in `dir`, sent when a receiver is back")
	fs.Var(&o.spoolMax, "spool-max", "bound of the spool in bytes (`size`: 4GiB, 512MiB); oldest dropped beyond (default 1GiB)")
	fs.Var(&o.rotateSize, "rotate-size", "start a new -w file before one grows past `size` (256MiB; K, M, G, T are binary multiples)")
	fs.DurationVar(&o.rotateInterval, "rotate-interval", 0, "start a new -w file at every multiple of this `interval` (UTC; 1h: on the hour)")
	fs.Var(&o.rotateKeep, "rotate-keep", "delete the oldest finished -w files beyond this total `size` (20GiB) or file count (a bare number: 50)")
	fs.Var(&o.serverDnstaps, "server-dnstap", "merge the monitored server's own dnstap, taken on `unix:PATH` or tcp:HOST:PORT (with -i) or read from file:PATH (with -r), with the wire; repeat for several")
	fs.StringVar(&o.serverDnstapMode, "server-dnstap-mode", "", "with --server-dnstap: `merge` (the server's frames plus the wire's it lacks; the default) or verify (the server's frames; only count)")
	fs.DurationVar(&o.serverDnstapWindow, "server-dnstap-window", 0, "with --server-dnstap: how long a message waits for its partner from the other side (`duration`, message time; default 10s); the output lags by it")
	fs.StringVar(&o.serverDnstapGroup, "server-dnstap-group", "", "with --server-dnstap unix: the socket's `group` (e.g. bind), so that a server running as its own user may connect")
	fs.StringVar(&o.servers, "server", "", "monitored DNS servers: comma-separated `addresses` or CIDRs, each optionally =role and @identity (10.0.0.53=recursive@dc1)")
	fs.StringVar(&o.role, "role", "recursive", "role of the monitored servers: recursive, authoritative or forwarder")
	fs.StringVar(&o.forwarders, "forwarder", "", "upstream `addresses` or CIDRs the servers forward to (their queries become FORWARDER_QUERY)")
	fs.StringVar(&o.identity, "identity", "", "dnstap identity (default: host name)")
	fs.IntVar(&o.workers, "workers", 1, "workers, each owning its flows: live capture (sockets in one AF_PACKET fanout group across every -i) or file input (frames steered by a hash of their IP addresses)")
	fs.IntVar(&o.ringBlockKB, "ring-block-kb", 1024, "TPACKET_V3 ring block size in KiB")
	fs.IntVar(&o.ringBlocks, "ring-blocks", 32, "TPACKET_V3 ring blocks per socket (at least 8)")
	fs.BoolVar(&o.noPromisc, "no-promisc", false, "do not put capture interfaces into promiscuous mode")
	fs.BoolVar(&o.tunnels, "tunnels", false, "also capture DNS in GRE (PPTP too), ERSPAN, VXLAN, VXLAN-GPE, GENEVE, GTP-U, GRE-in-UDP and PPPoE sessions (default filter only)")
	fs.DurationVar(&o.dedup, "dedup", 0, "drop copies of a packet seen within this `window` (capture time; SPAN duplicates; 0: off)")
	fs.DurationVar(&o.statsEvery, "stats-interval", 0, "log counters to stderr at this `interval` during live capture (0: only at exit)")
	fs.BoolVar(&o.noProgress, "no-progress", false, "no progress line on stderr while reading a file")
	fs.StringVar(&o.metrics, "metrics", "", "serve Prometheus metrics (/metrics) and health checks (/healthz, /readyz) on `host:port` during live capture")
	fs.Var(&o.memoryLimit, "memory-limit", "soft limit of the Go heap (`size`: 48MiB; GOMEMLIMIT): the collector works harder near it (default none)")
	fs.StringVar(&o.user, "user", "", "after opening sockets, listener and outputs, run as `user` (and its groups) with only CAP_NET_RAW and no_new_privs (live capture)")
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
	fs.IntVar(&o.queueBatches, "queue-batches", d.queueBatches, "each output's queue length in 256 KiB batches (live capture: a full queue drops batches, counted; file input waits)")
	fs.Usage = func() {
		fmt.Fprint(stderr, `usage:
  sensor -r FILE|- [OUTPUTS] [options] [filter expression]
  sensor -i IFACE [-i IFACE...] [--workers N] [OUTPUTS] [options] [filter expression]
    OUTPUTS, any together: -w FILE [--rotate-size S --rotate-interval D --rotate-keep S|N],
    -u SOCKET..., --tcp HOST:PORT... [--balance ... --tls-* ... --spool DIR], -y|-j|-q [-],
    --alerts-out FILE|- [--alerts RULES --sinkhole LIST --baseline FILE], --ecs FILE|-
    a server's own dnstap merged with the wire into the outputs:
    --server-dnstap unix:PATH|tcp:HOST:PORT (-i) | file:PATH (-r) [--server-dnstap-mode merge|verify]
  sensor read FILE [-y|-j|-q|-p]
  sensor compare A.dnstap B.dnstap
  sensor report FILE.dnstap... [-o report.html|--format json] [--sinkhole LIST] [--baseline FILE]
  sensor baseline build FILE.dnstap... [-o baseline.json]
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
	fromConfig := len(o.readFiles)
	if err := fs.Parse(textTargets(readTargets(args))); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usagef("%v", err)
	}
	if len(o.readFiles) > fromConfig && fromConfig > 0 {
		o.readFiles = o.readFiles[fromConfig:] // the command line wins over the config file
	}
	for _, a := range fs.Args() {
		if strings.HasPrefix(a, "-") && len(a) > 1 {
			return nil, usagef("flag %q after the filter expression: put flags first", a)
		}
	}
	o.filter = strings.TrimSpace(strings.Join(fs.Args(), " "))
	switch {
	case len(o.readFiles) == 0 && len(o.interfaces) == 0:
		return nil, usagef("nothing to read: give -r FILE or -i INTERFACE")
	case len(o.readFiles) > 0 && len(o.interfaces) > 0:
		return nil, usagef("-r and -i cannot be used together")
	case slices.Contains(o.interfaces, "any"):
		// libpcap's "any" is no interface: the sensor binds each socket to
		// one (its link type, promiscuous mode and fanout are per
		// interface), and would otherwise wait forever for a link of
		// that name to appear.
		return nil, usagef("-i any is not supported: give each interface with its own -i")
	case o.user != "" && len(o.readFiles) > 0:
		return nil, usagef("--user applies to live capture (-i); a file run needs no privilege")
	}
	var err error
	if o.outputs, err = parseOutputs(o); err != nil {
		return nil, err
	}
	if err = parseServerDnstap(o); err != nil {
		return nil, err
	}
	if o.defaultRole, err = emit.ParseRole(o.role); err != nil {
		return nil, usagef("--role %q: %v", o.role, err)
	}
	if o.serverSpecs, err = parseServers(o.servers, o.defaultRole); err != nil {
		return nil, err
	}
	if o.forwarderPrefixes, err = parsePrefixes("--forwarder", o.forwarders); err != nil {
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

// parseServers parses "192.0.2.53,2001:db8::/64=authoritative@ns1": each entry
// has the role it names, or def, and the dnstap identity after @, if any.
func parseServers(s string, def emit.Role) ([]emit.ServerSpec, error) {
	var out []emit.ServerSpec
	for _, item := range splitList(s) {
		spec, identity, hasIdentity := strings.Cut(item, "@")
		if hasIdentity && identity == "" {
			return nil, usagef("--server %q: empty identity after @", item)
		}
		addr, name, hasRole := strings.Cut(spec, "=")
		role := def
		if hasRole {
			var err error
			if role, err = emit.ParseRole(name); err != nil {
				return nil, usagef("--server %q: role %q: %v", item, name, err)
			}
		}
		p, err := parsePrefix(addr)
		if err != nil {
			return nil, usagef("--server %q: %v", item, err)
		}
		out = append(out, emit.ServerSpec{Prefix: p, Role: role, Identity: identity})
	}
	return out, nil
}

// emitConfig is the pipeline configuration of a capture run; the roles and
// prefixes in it were checked by parseOptions.
func emitConfig(o *options) (emit.Config, error) {
	return emit.Config{
		Servers:     o.serverSpecs,
		Forwarders:  o.forwarderPrefixes,
		Identity:    []byte(o.identity),
		Version:     []byte("dnstap-sensor " + version),
		PairTimeout: o.pairTimeout,
		MaxPending:  o.maxPending,
	}, nil
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

// textTargets turns "-j -" into "-j=-": the flag package cannot give a
// boolean flag an optional value, and "-" would otherwise be taken for the
// filter expression.
func textTargets(args []string) []string {
	return textTargetsOf(args)
}

// readTargets lets a shell-expanded pattern stand after one -r:
// `-r span-*.pcap.gz -w week.dnstap` reaches us as -r with several files.
// Each argument after an -r value that is a capture file (by content) or a
// directory becomes an -r of its own; the first that is neither ends the
// run of them, so a filter expression after the flags is left alone.
func readTargets(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		out = append(out, a)
		if (a != "-r" && a != "--r") || i+1 >= len(args) {
			continue
		}
		i++
		out = append(out, args[i])
		for i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") && capture.IsCaptureOrDir(args[i+1]) {
			i++
			out = append(out, "-r", args[i])
		}
	}
	return out
}

func textTargetsOf(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch strings.TrimLeft(a, "-") {
		case "y", "j", "q":
			if strings.HasPrefix(a, "-") && i+1 < len(args) && args[i+1] == "-" {
				out = append(out, a+"=-")
				i++
				continue
			}
		}
		out = append(out, a)
	}
	return out
}

// sizeValue is a byte count given with an optional binary unit: 4096,
// 512K, 256MiB, 20GiB, 1T (K, M, G, T and KiB … TiB are all powers of 1024).
type sizeValue struct{ n int64 }

func (v *sizeValue) String() string { return strconv.FormatInt(v.n, 10) }
func (v *sizeValue) Set(s string) error {
	n, _, err := parseSize(s)
	if err != nil {
		return err
	}
	v.n = n
	return nil
}

// keepValue is --rotate-keep: a size with a unit bounds bytes, a bare
// number bounds the count of files.
type keepValue struct {
	bytes int64
	files int
}

func (v *keepValue) String() string {
	if v.files > 0 {
		return strconv.Itoa(v.files)
	}
	return strconv.FormatInt(v.bytes, 10)
}
func (v *keepValue) Set(s string) error {
	n, unit, err := parseSize(s)
	if err != nil {
		return err
	}
	v.bytes, v.files = 0, 0
	if unit {
		v.bytes = n
	} else {
		v.files = int(n)
	}
	return nil
}

// parseSize parses a positive byte count and reports whether it had a unit.
func parseSize(s string) (int64, bool, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') {
		i--
	}
	num, unit := t[:i], strings.ToLower(strings.TrimSpace(t[i:]))
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 {
		return 0, false, fmt.Errorf("%q: want a positive size such as 4096, 256MiB or 20GiB", s)
	}
	shift := map[string]uint{"": 0, "b": 0, "k": 10, "kib": 10, "kb": 10, "m": 20, "mib": 20, "mb": 20,
		"g": 30, "gib": 30, "gb": 30, "t": 40, "tib": 40, "tb": 40}
	sh, ok := shift[unit]
	if !ok {
		return 0, false, fmt.Errorf("%q: unknown unit %q (want K, M, G or T, binary)", s, t[i:])
	}
	if n > (1<<62)>>sh {
		return 0, false, fmt.Errorf("%q: too large", s)
	}
	return n << sh, unit != "", nil
}
