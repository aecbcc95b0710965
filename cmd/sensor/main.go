package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the run could not go on (unreadable file, output error)
	exitUsage   = 2 // bad command line
)

// run is main without the process: tests call it directly.
func run(args []string, stdout, stderr io.Writer) int {
	var err error
	if len(args) > 0 {
		switch args[0] {
		case "read":
			err = runRead(args[1:], stdout, stderr)
			return exitCode(err, stderr)
		case "compare":
			return runCompare(args[1:], stdout, stderr)
		case "report":
			return exitCode(runReport(args[1:], stdout, stderr), stderr)
		case "baseline":
			return exitCode(runBaseline(args[1:], stdout, stderr), stderr)
		case "check-config":
			return runCheckConfig(args[1:], stdout, stderr)
		case "version", "--version", "-version":
			fmt.Fprintf(stdout, "dnstap-sensor %s\n", version)
			return exitOK
		}
	}
	o, err := parseOptions(args, stderr)
	if err == nil {
		err = runCapture(o, stdout, stderr)
	}
	return exitCode(err, stderr)
}

// exitCode prints err as one line (never a stack trace) and picks the exit code.
func exitCode(err error, stderr io.Writer) int {
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "sensor: %v (sensor -h for help)\n", err)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "sensor: %v\n", err)
		return exitFailure
	}
}
