package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/dnstap-sensor/dnstap-sensor/internal/emit"
)

// A config problem is an error (the run would refuse to start or fail) or
// a warning (the run starts, but something is likely wrong, such as an
// interface that does not exist yet: the sensor waits for it).
type configProblem struct {
	line    int // 0: the file as a whole
	warning bool
	msg     string
}

// configEntry is one "name value" line of a config file.
type configEntry struct {
	line        int
	name, value string
}

// splitConfigLine reads one line as loadConfig does: "#" starts a comment,
// "name value" or "name = value", leading dashes and quotes around the
// value dropped. ok is false for a blank or comment line.
func splitConfigLine(line string) (name, value string, ok bool) {
	line = strings.TrimSpace(line)
	if i := strings.Index(line, "#"); i >= 0 {
		line = strings.TrimSpace(line[:i])
	}
	if line == "" {
		return "", "", false
	}
	name, value, _ = strings.Cut(line, " ")
	if k, v, ok := strings.Cut(line, "="); ok && !strings.Contains(strings.TrimSpace(k), " ") {
		name, value = k, v
	}
	name = strings.TrimLeft(strings.TrimSpace(name), "-")
	value = strings.Trim(strings.TrimSpace(value), `"`)
	return name, value, true
}

// runCheckConfig is `sensor check-config FILE`: everything a run with
// --config FILE would check before capturing, and a few things it would
// only find out later, each problem on its own line with its line number.
// It exits 1 when there is an error, 0 when there are only warnings.
func runCheckConfig(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 || strings.HasPrefix(args[0], "-") {
		fmt.Fprintln(stderr, "usage: sensor check-config FILE")
		return exitUsage
	}
	path := args[0]
	problems, err := checkConfig(path)
	if err != nil {
		fmt.Fprintf(stderr, "sensor: check-config: %v\n", err)
		return exitFailure
	}
	errs, warns := 0, 0
	for _, p := range problems {
		kind := "error"
		if p.warning {
			kind = "warning"
			warns++
		} else {
			errs++
		}
		if p.line > 0 {
			fmt.Fprintf(stdout, "%s:%d: %s: %s\n", path, p.line, kind, p.msg)
		} else {
			fmt.Fprintf(stdout, "%s: %s: %s\n", path, kind, p.msg)
		}
	}
	fmt.Fprintf(stdout, "%s: %d error(s), %d warning(s)\n", path, errs, warns)
	if errs > 0 {
		return exitFailure
	}
	return exitOK
}

// checkConfig returns every problem of a config file, sorted by line.
func checkConfig(path string) ([]configProblem, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var problems []configProblem
	add := func(line int, warning bool, format string, args ...any) {
		problems = append(problems, configProblem{line, warning, fmt.Sprintf(format, args...)})
	}

	// Line by line: each option known and its value valid on its own.
	fs := newFlagSet(&options{}, io.Discard)
	var entries []configEntry
	lastSet := map[string]int{}
	for n, line := range strings.Split(string(data), "\n") {
		name, value, ok := splitConfigLine(line)
		if !ok {
			continue
		}
		f := fs.Lookup(name)
		if f == nil || name == "config" {
			add(n+1, false, "unknown option %q", name)
			continue
		}
		if isBool(f) && value == "" {
			value = "true"
		}
		if err := fs.Set(name, value); err != nil {
			add(n+1, false, "%s %q: %v", name, value, err)
			continue
		}
		if _, repeatable := f.Value.(*stringList); !repeatable {
			if prev, ok := lastSet[name]; ok {
				add(n+1, true, "%s is also set on line %d; this line wins", name, prev)
			}
		}
		lastSet[name] = n + 1
		entries = append(entries, configEntry{n + 1, name, value})
	}
	// The whole: what parseOptions checks across options (one output, -r
	// or -i, roles, servers, limits). It stops at its first problem, so
	// the options it names are taken out and it runs again, until it
	// passes or names none of the remaining options.
	remaining := entries
	for range len(entries) + 1 {
		var args []string
		for _, e := range remaining {
			args = append(args, "--"+e.name+"="+e.value)
		}
		_, err := parseOptions(args, io.Discard)
		if err == nil || errors.Is(err, flag.ErrHelp) {
			break
		}
		// The culprit is the option named that was set last: of two
		// outputs, the second is the one too many.
		culprit := ""
		for _, name := range optionsIn(err.Error()) {
			if lastSet[name] > lastSet[culprit] && slices.ContainsFunc(remaining, func(e configEntry) bool { return e.name == name }) {
				culprit = name
			}
		}
		add(lastSet[culprit], false, "%v", err)
		kept := remaining[:0:0]
		for _, e := range remaining {
			if e.name != culprit {
				kept = append(kept, e)
			}
		}
		if len(kept) == len(remaining) {
			break
		}
		remaining = kept
	}

	// What a run finds only later, or only as a warning.
	for _, e := range entries {
		switch {
		case e.name == "i":
			if _, err := net.InterfaceByName(e.value); err != nil {
				add(e.line, true, "interface %q does not exist here (the sensor waits for it)", e.value)
			}
		case e.name == "w" && e.value != "-":
			dir := filepath.Dir(e.value)
			if st, err := os.Stat(dir); err != nil || !st.IsDir() {
				add(e.line, false, "w: directory %s does not exist", dir)
			}
		case e.name == "r" && e.value != "-":
			// A file, a directory or a pattern.
			if m, err := filepath.Glob(e.value); err != nil || len(m) == 0 {
				add(e.line, false, "r: no file or directory matches %s", e.value)
			} else if f, err := os.Open(m[0]); err != nil {
				add(e.line, false, "r: %v", err)
			} else {
				f.Close()
			}
		case e.name == "user":
			if _, err := lookupCredentials(e.value); err != nil {
				add(e.line, false, "%v", err)
			} else if _, _, errno := syscall.AllThreadsSyscall(unix.SYS_GETPID, 0, 0, 0); errno == syscall.ENOTSUP {
				add(e.line, false, "--user: %v", errCgoCredentials)
			}
		case e.name == "metrics":
			if _, _, err := net.SplitHostPort(e.value); err != nil {
				add(e.line, false, "metrics: %v", err)
			}
		case isFileOption(e.name):
			if f, err := os.Open(e.value); err != nil {
				add(e.line, false, "%s: %v", e.name, err)
			} else {
				f.Close()
			}
		}
	}
	// Certificates and keys that can be read must also load, as the TLS
	// output loads them at start.
	tlsLines := map[string]int{}
	tlsValues := map[string]string{}
	for _, e := range entries {
		if strings.HasPrefix(e.name, "tls-") {
			tlsLines[e.name], tlsValues[e.name] = e.line, e.value
		}
	}
	unreadable := false
	for _, p := range problems {
		for _, l := range tlsLines {
			unreadable = unreadable || (p.line == l && !p.warning)
		}
	}
	if len(tlsLines) > 0 && !unreadable {
		if _, err := emit.LoadTLSConfig(tlsValues["tls-ca"], tlsValues["tls-cert"], tlsValues["tls-key"], tlsValues["tls-server-name"]); err != nil {
			line := tlsLines["tls-cert"]
			if strings.Contains(err.Error(), "CA file") || line == 0 {
				line = tlsLines["tls-ca"]
			}
			add(line, false, "%v", err)
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].line < problems[j].line })
	return problems, nil
}

// isFileOption says whether an option names a file that must be readable
// when the sensor starts: certificates, keys and CA bundles of TLS outputs,
// whatever their exact names.
func isFileOption(name string) bool {
	for _, suffix := range []string{"cert", "key", "ca", "cafile", "ca-file", "certificate"} {
		if name == suffix || strings.HasSuffix(name, "-"+suffix) {
			return true
		}
	}
	return false
}

func isBool(f *flag.Flag) bool {
	bf, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && bf.IsBoolFlag()
}

// optionRE finds the option names an error message mentions ("--role",
// "-r and -i").
var optionRE = regexp.MustCompile(`(?:^|[\s"(])--?([a-z][a-z0-9-]*)`)

func optionsIn(msg string) []string {
	var names []string
	for _, m := range optionRE.FindAllStringSubmatch(msg, -1) {
		names = append(names, m[1])
	}
	return names
}
