package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"time"

	"github.com/dnstap-sensor/dnstap-sensor/internal/analyze"
	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
	"github.com/dnstap-sensor/dnstap-sensor/internal/stat"
)

// analyticsOptions are the flags of live alerting and ECS events. Both are
// outputs of the run (kindAlerts, kindECS): they take the frames every
// other output takes, behind their own queue.
type analyticsOptions struct {
	alertsOut string // --alerts-out FILE|-
	rulesFile string // --alerts FILE
	baseline  string // --baseline FILE
	sinkholes string // --sinkhole LIST
	ecsOut    string // --ecs FILE|-
}

func addAnalyticsFlags(fs *flag.FlagSet, a *analyticsOptions) {
	fs.StringVar(&a.alertsOut, "alerts-out", "", "raise alerts with the built-in rules and append them as JSON lines to `file` (- is stdout)")
	fs.StringVar(&a.rulesFile, "alerts", "", "alert thresholds and windows from `file` (key value lines; see README)")
	fs.StringVar(&a.baseline, "baseline", "", "alert on names new against this `baseline.json` (sensor baseline build)")
	fs.StringVar(&a.sinkholes, "sinkhole", "", "alert on answers holding these `addresses` or questions for these names (comma-separated)")
	fs.StringVar(&a.ecsOut, "ecs", "", "append one Elastic Common Schema JSON object per DNS message to `file` (- is stdout)")
}

// analyticsOutputs checks the flags and returns the alert and ECS outputs
// asked for. The rules, sinkholes and baseline are read here, so a bad file
// fails before anything is opened.
func analyticsOutputs(a *analyticsOptions) ([]outputSpec, error) {
	var out []outputSpec
	if a.alertsOut == "" {
		if a.rulesFile != "" || a.baseline != "" || a.sinkholes != "" {
			return nil, usagef("--alerts, --baseline and --sinkhole set up alerting: give --alerts-out FILE|-")
		}
	} else {
		rules := analyze.DefaultRules()
		if a.rulesFile != "" {
			var err error
			if rules, err = analyze.ReadRules(a.rulesFile); err != nil {
				return nil, usagef("--alerts: %v", err)
			}
		}
		if a.sinkholes != "" {
			sh, err := analyze.ParseSinkholes(a.sinkholes)
			if err != nil {
				return nil, usagef("--sinkhole %q: %v", a.sinkholes, err)
			}
			rules.Sinkholes.Addrs = append(rules.Sinkholes.Addrs, sh.Addrs...)
			rules.Sinkholes.Names = append(rules.Sinkholes.Names, sh.Names...)
		}
		if a.baseline != "" {
			b, err := analyze.ReadBaseline(a.baseline)
			if err != nil {
				return nil, usagef("--baseline: %v", err)
			}
			rules.Baseline = b
		}
		out = append(out, outputSpec{kind: kindAlerts, target: a.alertsOut, rules: &rules})
	}
	if a.ecsOut != "" {
		out = append(out, outputSpec{kind: kindECS, target: a.ecsOut})
	}
	return out, nil
}

// analyticsName is the summary's and the metrics' name of an alert or ECS
// output.
func analyticsName(s *outputSpec) string {
	what := map[outputKind]string{kindAlerts: "alerts", kindECS: "ecs"}[s.kind]
	if s.target == "-" {
		return "stdout (" + what + ")"
	}
	return what + ":" + s.target
}

// stdoutFlag names the flag that sends an output to stdout, for the
// conflict message.
func stdoutFlag(s *outputSpec) string {
	switch s.kind {
	case kindAlerts:
		return "--alerts-out -"
	case kindECS:
		return "--ecs -"
	}
	if s.format == formatDnstap {
		return "-w -"
	}
	return "-" + [...]string{"w", "y", "j", "q"}[s.format] + " -"
}

// newAnalyticsOutput opens an alert or ECS output. Files are appended to:
// they are logs that a restart must not empty, and that a shipper
// (Filebeat, Vector) follows by offset.
func newAnalyticsOutput(s *outputSpec, stdout io.Writer, logf func(string, ...any)) (emit.Output, error) {
	var w io.Writer = stdout
	var lf *lineFile
	var closer io.Closer
	if s.target != "-" {
		var err error
		if lf, err = openLineFile(s.target, logf); err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		w, closer = lf, lf
	}
	if s.kind == kindECS {
		ew := analyze.NewECSWriter(w)
		return &ecsOutput{ECSOutput: analyze.NewECSOutput(ew, closer), w: ew, f: lf}, nil
	}
	aw := analyze.NewAlertWriter(w, closer)
	e := analyze.NewAlertEngine(*s.rules, aw.Sink())
	return &alertOutput{AlertOutput: analyze.NewAlertOutput(e, aw), w: aw, f: lf}, nil
}

// lineFile is an alert or ECS file opened for appending. After Reopen
// (SIGHUP, once logrotate moved the file) the next line goes to a new file
// at the path: the switch waits for the end of the line being written, so
// both files hold whole lines only, whatever the buffer sizes above.
// Write and Close belong to the one goroutine writing the output.
type lineFile struct {
	path      string
	f         atomic.Pointer[os.File]
	reopen    atomic.Bool
	lineStart bool // the last byte written ended a line
	regular   bool // only a regular file is reopened (not a FIFO or device)
	logf      func(string, ...any)
}

func openLineFile(path string, logf func(string, ...any)) (*lineFile, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	lf := &lineFile{path: path, lineStart: true, regular: fi.Mode().IsRegular(), logf: logf}
	lf.f.Store(f)
	return lf, nil
}

// Reopen asks for a new file at the path from the next line on.
func (lf *lineFile) Reopen() {
	if lf.regular {
		lf.reopen.Store(true)
	}
}

func (lf *lineFile) Write(p []byte) (int, error) {
	n := 0
	if lf.reopen.Load() {
		if !lf.lineStart {
			i := bytes.IndexByte(p, '\n')
			if i < 0 {
				return lf.write(p)
			}
			m, err := lf.write(p[:i+1])
			if n += m; err != nil {
				return n, err
			}
			p = p[i+1:]
		}
		lf.reopen.Store(false)
		lf.switchFile()
	}
	m, err := lf.write(p)
	return n + m, err
}

func (lf *lineFile) write(p []byte) (int, error) {
	n, err := lf.f.Load().Write(p)
	if n > 0 {
		lf.lineStart = p[n-1] == '\n'
	}
	return n, err
}

// switchFile opens the path anew; when that fails the old file goes on
// (logged): lines are not lost to a missing directory.
func (lf *lineFile) switchFile() {
	f, err := os.OpenFile(lf.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		lf.logf("output %s: reopen: %v; writing on to the old file", lf.path, err)
		return
	}
	old := lf.f.Swap(f)
	old.Close()
}

// setWriteDeadline sets a deadline on a pipe or FIFO; a regular file
// ignores it.
func (lf *lineFile) setWriteDeadline(t time.Time) { _ = lf.f.Load().SetWriteDeadline(t) }

// Close closes the current file.
func (lf *lineFile) Close() error { return lf.f.Load().Close() }

// alertCloseWait bounds how long the end of a run waits for the alert sink
// to take the alerts still queued: a reader that went away or stopped
// reading must not keep the sensor from exiting.
const alertCloseWait = 5 * time.Second

// alertOutput is --alerts-out: the engine runs on the output's queue
// goroutine, the lines are written by the AlertWriter's own goroutine, and
// a sink that does not keep up loses alerts (counted), never frames.
type alertOutput struct {
	*analyze.AlertOutput
	w         *analyze.AlertWriter
	f         *lineFile // nil for stdout
	abandoned atomic.Uint64
}

// Reopen starts a new alert file at the next line (SIGHUP).
func (o *alertOutput) Reopen() {
	if o.f != nil {
		o.f.Reopen()
	}
}

// Close writes the queued alerts, waiting at most alertCloseWait for a
// stalled sink; alerts lost on the way fail the run, as lost frames do.
func (o *alertOutput) Close() error {
	done := make(chan error, 1)
	go func() { done <- o.AlertOutput.Close() }()
	if o.f != nil {
		// A pipe or FIFO is pollable: its blocked write then fails at
		// the deadline and the writer counts the rest as dropped. A
		// regular file or a plain stdout ignores it; the timer below
		// covers them.
		o.f.setWriteDeadline(time.Now().Add(alertCloseWait))
	}
	t := time.NewTimer(alertCloseWait + time.Second)
	defer t.Stop()
	var err error
	select {
	case err = <-done:
	case <-t.C:
		// The writer is stuck in a write that will not return: the
		// alerts it holds are lost with it.
		o.abandoned.Store(o.raised() - o.w.Written() - o.w.Dropped())
		return fmt.Errorf("alert sink blocked: %d alerts not written", o.abandoned.Load())
	}
	n := o.w.Dropped()
	switch {
	case n > 0 && err != nil:
		return fmt.Errorf("%d of %d alerts dropped: the sink did not keep up (last error: %w)", n, o.raised(), err)
	case n > 0:
		return fmt.Errorf("%d of %d alerts dropped: the sink did not keep up", n, o.raised())
	}
	return err
}

func (o *alertOutput) raised() uint64 {
	var n uint64
	st := o.Engine().Stats()
	for r := range analyze.NumRules {
		n += st.Alerts[r].Load()
	}
	return n
}

// EachKind lists the alert counters for the summary and the metrics:
// alerts raised per rule, held back by the rate limit, written, dropped,
// and the engine's evictions.
func (o *alertOutput) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	st := o.Engine().Stats()
	var suppressed uint64
	for r := range analyze.NumRules {
		fn("alerts_"+r.String(), stat.Activity, st.Alerts[r].Load())
		suppressed += st.Suppressed[r].Load()
	}
	fn("alerts_suppressed", stat.Activity, suppressed)
	fn("alerts_written", stat.Activity, o.w.Written())
	fn("alerts_dropped", stat.Drop, o.w.Dropped()+o.abandoned.Load())
	fn("alert_clients_evicted", stat.Drop, st.ClientsEvicted.Load())
	fn("alert_pairs_evicted", stat.Drop, st.PairsEvicted.Load())
	fn("alert_clients_expired", stat.Activity, st.ClientsExpired.Load())
	fn("alert_pairs_expired", stat.Activity, st.PairsExpired.Load())
	fn("alert_frames_undecoded", stat.Error, st.DecodeErrors.Load())
}

// ecsOutput is --ecs: one event per DNS message, written on the output's
// queue goroutine.
type ecsOutput struct {
	*analyze.ECSOutput
	w *analyze.ECSWriter
	f *lineFile // nil for stdout
}

// Reopen starts a new ECS file at the next event (SIGHUP).
func (o *ecsOutput) Reopen() {
	if o.f != nil {
		o.f.Reopen()
	}
}

// EachKind lists the events written and the frames skipped (no DNS
// message in them).
func (o *ecsOutput) EachKind(fn func(name string, k stat.Kind, v uint64)) {
	fn("ecs_events_written", stat.Activity, o.w.Events.Load())
	fn("ecs_frames_skipped", stat.Drop, o.w.Skipped.Load())
}
