package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/tapfile"
)

// outputKind is what an output writes to. Adding a kind is one case in
// parseOutputs and one in newOutput.
type outputKind uint8

const (
	kindFile   outputKind = iota // -w FILE (or stdout): dnstap or text
	kindSocket                   // -u and --tcp: Frame Streams receivers
)

// outputFormat is what a file output writes.
type outputFormat uint8

const (
	formatDnstap outputFormat = iota
	formatYAML
	formatJSON
	formatQuiet
)

var textFormats = map[string]outputFormat{"yaml": formatYAML, "json": formatJSON, "quiet": formatQuiet}

// endpoint is one receiver of a socket output.
type endpoint struct{ network, addr string }

// socketOptions are the options of the socket output.
type socketOptions struct {
	endpoints                         []endpoint
	balance                           string // "failover" or "round-robin"
	tlsCA, tlsCert, tlsKey, tlsServer string
	tls                               bool // any --tls-* flag: TLS on every --tcp receiver
	spoolDir                          string
	spoolMax                          int64
}

// outputSpec describes one output, parsed once from the command line.
type outputSpec struct {
	kind   outputKind
	target string // file path, "-" for stdout; for sockets the receivers, for the summary
	format outputFormat
	file   emit.FileConfig // rotation (dnstap files only)
	socket socketOptions
}

// name is how the summary, the metrics and the log lines call the output.
func (s *outputSpec) name() string {
	switch {
	case s.kind == kindSocket:
		return s.target
	case s.target == "-" && s.format == formatDnstap:
		return "stdout"
	case s.target == "-":
		return "stdout (" + [...]string{"dnstap", "yaml", "json", "quiet"}[s.format] + ")"
	}
	return s.target
}

// parseOutputs turns -w, -u, --tcp, -y/-j/-q and their options into the
// list of outputs, checking that every option belongs to one of them.
//
// -w FILE is a dnstap file, unless -y/-j/-q is given without "-": then the
// text goes to FILE (as it always did). -y/-j/-q alone or followed by "-"
// write text to stdout. Every -u and --tcp together are one socket output
// with several receivers. Nothing given: one line of text per message on
// stdout.
func parseOutputs(o *options) ([]outputSpec, error) {
	var out []outputSpec
	textToFile := o.textFormat != "" && o.textTarget == "" && o.writeFile != ""
	if o.writeFile != "" {
		s := outputSpec{kind: kindFile, target: o.writeFile}
		if textToFile {
			s.format = textFormats[o.textFormat]
		}
		out = append(out, s)
	}
	if o.textFormat != "" && !textToFile {
		out = append(out, outputSpec{kind: kindFile, target: "-", format: textFormats[o.textFormat]})
	}
	if len(o.unixSockets)+len(o.tcpAddrs) > 0 {
		s := outputSpec{kind: kindSocket, socket: socketOptions{
			balance: o.balance, tlsCA: o.tlsCA, tlsCert: o.tlsCert, tlsKey: o.tlsKey, tlsServer: o.tlsServerName,
			tls:      o.tlsCA != "" || o.tlsCert != "" || o.tlsKey != "" || o.tlsServerName != "",
			spoolDir: o.spoolDir, spoolMax: o.spoolMax.n,
		}}
		var names []string
		for _, u := range o.unixSockets {
			s.socket.endpoints = append(s.socket.endpoints, endpoint{"unix", u})
			names = append(names, "unix:"+u)
		}
		for _, a := range o.tcpAddrs {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, usagef("--tcp %q: want host:port", a)
			}
			s.socket.endpoints = append(s.socket.endpoints, endpoint{"tcp", a})
			scheme := "tcp:"
			if s.socket.tls {
				scheme = "tls:"
			}
			names = append(names, scheme+a)
		}
		s.target = strings.Join(names, ",")
		out = append(out, s)
	}
	if len(out) == 0 {
		out = append(out, outputSpec{kind: kindFile, target: "-", format: formatQuiet})
	}
	stdouts := 0
	var file *outputSpec
	for i := range out {
		if out[i].kind == kindFile && out[i].target == "-" {
			stdouts++
		}
		if out[i].kind == kindFile && out[i].target != "-" {
			file = &out[i]
		}
	}
	if stdouts > 1 {
		return nil, usagef("-w - and -y/-j/-q - both write to stdout: give one")
	}
	if err := fileOptions(o, file); err != nil {
		return nil, err
	}
	return out, socketChecks(o)
}

// fileOptions checks and sets the rotation options of the -w file.
func fileOptions(o *options, file *outputSpec) error {
	rotating := o.rotateSize.n > 0 || o.rotateInterval != 0 || o.rotateKeep.bytes > 0 || o.rotateKeep.files > 0
	if !rotating {
		if file != nil {
			file.file.Path = file.target
		}
		return nil
	}
	switch {
	case file == nil || file.format != formatDnstap:
		return usagef("--rotate-size, --rotate-interval and --rotate-keep rotate a dnstap file: give -w FILE (not -, not text)")
	case o.rotateInterval < 0:
		return usagef("--rotate-interval %v: want a positive duration", o.rotateInterval)
	case o.rotateSize.n == 0 && o.rotateInterval == 0:
		return usagef("--rotate-keep needs --rotate-size or --rotate-interval")
	case o.rotateSize.n > 0 && o.rotateSize.n < 64<<10:
		return usagef("--rotate-size %d: want at least 64KiB", o.rotateSize.n)
	}
	file.file = emit.FileConfig{Path: file.target, RotateSize: o.rotateSize.n, RotateInterval: o.rotateInterval,
		KeepBytes: o.rotateKeep.bytes, KeepFiles: o.rotateKeep.files}
	return nil
}

func socketChecks(o *options) error {
	sockets := len(o.unixSockets) + len(o.tcpAddrs)
	switch {
	case o.balance != "failover" && o.balance != "round-robin":
		return usagef("--balance %q: want failover or round-robin", o.balance)
	case (o.tlsCA != "" || o.tlsCert != "" || o.tlsKey != "" || o.tlsServerName != "") && len(o.tcpAddrs) == 0:
		return usagef("--tls-ca, --tls-cert, --tls-key and --tls-server-name need --tcp")
	case (o.tlsCert == "") != (o.tlsKey == ""):
		return usagef("--tls-cert and --tls-key go together")
	case (o.spoolDir != "" || o.spoolMax.n > 0) && sockets == 0:
		return usagef("--spool and --spool-max need -u or --tcp")
	case o.spoolMax.n > 0 && o.spoolDir == "":
		return usagef("--spool-max needs --spool DIR")
	}
	return nil
}

// newOutput builds one output: the one constructor for every kind. A file
// is created here, before capture starts, so a bad path fails at once.
func newOutput(s *outputSpec, stdout io.Writer, logf func(string, ...any)) (emit.Output, error) {
	switch s.kind {
	case kindSocket:
		return newSocketOutput(s, logf)
	case kindFile:
		if s.target == "-" {
			return streamOutput(stdout, s.format, nil), nil
		}
		if s.format == formatDnstap {
			if fi, err := os.Stat(s.target); err != nil || fi.Mode().IsRegular() {
				cfg := s.file
				cfg.Logf = logf
				o, err := emit.NewFileOutput(cfg)
				if err != nil {
					return nil, fmt.Errorf("output: %w", err)
				}
				return o, nil
			}
			// A device or a pipe (/dev/null, a FIFO): written in
			// sequence, never moved aside or rotated.
		}
		f, err := os.OpenFile(s.target, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		return streamOutput(f, s.format, f), nil
	}
	return nil, fmt.Errorf("output kind %d", s.kind)
}

// streamOutput writes dnstap or text to w in sequence; it closes c (when
// not nil) after the writer.
func streamOutput(w io.Writer, f outputFormat, c io.Closer) emit.Output {
	var bw emit.BatchWriter
	switch f {
	case formatDnstap:
		bw = emit.NewFileWriter(w)
	default:
		bw = tapfile.NewTextWriter(w, map[outputFormat]tapfile.TextFormat{formatYAML: tapfile.TextYAML, formatJSON: tapfile.TextJSON, formatQuiet: tapfile.TextQuiet}[f])
	}
	if c != nil {
		bw = closeAfter{bw, c}
	}
	return emit.Counted(bw)
}

type closeAfter struct {
	emit.BatchWriter
	c io.Closer
}

func (w closeAfter) Close() error {
	err := w.BatchWriter.Close()
	if cerr := w.c.Close(); err == nil {
		err = cerr
	}
	return err
}

// outputSet is every output of a run, each behind its own bounded Queue:
// file input and live capture drive them the same way and close them the
// same way. A slow or dead output fills only its own queue.
type outputSet struct {
	specs  []outputSpec
	outs   []emit.Output
	queues []*emit.Queue
	server *serverDnstap // --server-dnstap: the Merger is the one queue's output (serverdnstap.go)
}

// openOutputs builds every output; on an error it closes those it built.
func openOutputs(specs []outputSpec, stdout io.Writer, logf func(string, ...any)) (*outputSet, error) {
	s := &outputSet{specs: specs}
	for i := range specs {
		o, err := newOutput(&specs[i], stdout, logf)
		if err != nil {
			for _, o := range s.outs {
				o.Close()
			}
			return nil, err
		}
		s.outs = append(s.outs, o)
	}
	return s, nil
}

// start puts a Queue in front of each output. Block is for file input: the
// run waits for a slow output instead of dropping.
func (s *outputSet) start(cfg emit.QueueConfig) {
	if s.server != nil {
		s.startMerged(cfg)
		return
	}
	for _, o := range s.outs {
		s.queues = append(s.queues, emit.NewQueue(o, cfg))
	}
}

// writer returns a new FrameWriter for one capture goroutine: a Producer
// of every output's queue.
func (s *outputSet) writer() fanout {
	f := make(fanout, len(s.queues))
	for i, q := range s.queues {
		f[i] = q.Producer()
	}
	return f
}

// close drains every queue and closes its output; all producers must be
// flushed. It returns the errors, each naming its output.
func (s *outputSet) close() error {
	if s.server != nil {
		return s.closeMerged()
	}
	var errs []error
	for i, q := range s.queues {
		if err := q.Close(); err != nil {
			errs = append(errs, fmt.Errorf("output %s: %w", s.specs[i].name(), err))
		}
		// Nothing is queued any more: every frame must be accounted
		// for. A difference is a bug in the output, said out loud.
		st := s.outs[i].Stats()
		if done := st.Delivered() + st.Dropped() + st.Spooled(); done != st.Encoded() {
			errs = append(errs, fmt.Errorf("output %s: internal error: %d frames encoded, %d accounted for (delivered, dropped, spooled)",
				s.specs[i].name(), st.Encoded(), done))
		}
	}
	return errors.Join(errs...)
}

// reopen asks every output that writes files to start a new one (SIGHUP).
func (s *outputSet) reopen() {
	for _, o := range s.outs {
		if r, ok := o.(interface{ Reopen() }); ok {
			r.Reopen()
		}
	}
}

// reports returns what the summary and the metrics show of each output.
func (s *outputSet) reports() []outputReport {
	r := make([]outputReport, len(s.outs))
	for i, o := range s.outs {
		r[i] = outputReport{name: s.specs[i].name(), stats: o.Stats(), extra: newTotals()}
		if k, ok := o.(kindSet); ok {
			r[i].extra.addSet(k)
		}
	}
	if s.server != nil {
		r = append(r, s.server.mergerReport())
	}
	return r
}

// dropped returns an error naming every output that lost frames, with the
// count per reason, or nil.
func dropped(reports []outputReport) error {
	var errs []error
	for _, r := range reports {
		if r.stats.Dropped() > 0 {
			errs = append(errs, fmt.Errorf("output %s: %d frames dropped (%s)", r.name, r.stats.Dropped(), dropReasons(r.stats)))
		}
	}
	return errors.Join(errs...)
}

func dropReasons(st *emit.OutputStats) string {
	var parts []string
	for r := emit.DropReason(0); r < emit.NumDropReasons; r++ {
		if n := st.DroppedBy(r); n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", r, n))
		}
	}
	return strings.Join(parts, ", ")
}

// fanout hands every frame to one Producer per output.
type fanout []*emit.Producer

// WriteFrame copies b into each output's batch. Drops are counted by each
// output, so it returns nil.
func (f fanout) WriteFrame(b []byte) error {
	for _, p := range f {
		_ = p.WriteFrame(b)
	}
	return nil
}

// Flush hands over the partial batches.
func (f fanout) Flush() {
	for _, p := range f {
		p.Flush()
	}
}

// newLogger returns a log function safe from any goroutine: one line, UTC
// time first.
func newLogger(w io.Writer) func(format string, args ...any) {
	var mu sync.Mutex
	return func(format string, args ...any) {
		line := time.Now().UTC().Format("2006-01-02T15:04:05Z ") + fmt.Sprintf(format, args...) + "\n"
		mu.Lock()
		io.WriteString(w, line)
		mu.Unlock()
	}
}
