// Command genman writes the dnstap-sensor(1) man page in roff from the
// sensor's own -h output, so that the page lists exactly the options the
// binary has: `genman -sensor bin/sensor -version V > dnstap-sensor.1`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"time"
)

func main() {
	sensor := flag.String("sensor", "bin/sensor", "the sensor `binary` whose -h output is documented")
	version := flag.String("version", "", "version for the page footer")
	flag.Parse()
	// -h prints the usage on stderr and exits 0.
	var help bytes.Buffer
	cmd := exec.Command(*sensor, "-h")
	cmd.Stderr = &help
	if err := cmd.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "genman: %s -h: %v\n", *sensor, err)
		os.Exit(1)
	}
	page, err := render(help.String(), *version, buildDate())
	if err != nil {
		fmt.Fprintf(os.Stderr, "genman: %v\n", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(page)
}

// buildDate is SOURCE_DATE_EPOCH when set (reproducible builds), else today.
func buildDate() string {
	t := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		var sec int64
		if _, err := fmt.Sscan(s, &sec); err == nil {
			t = time.Unix(sec, 0).UTC()
		}
	}
	return t.Format("2006-01-02")
}

// optionRE matches the first line of an option in Go's flag.PrintDefaults:
// "  -name", "  -name arg" or, for a boolean with a short usage,
// "  -j\tusage".
var optionRE = regexp.MustCompile(`^  -([a-z0-9-]+)(?: ([^\t]+))?(?:\t(.*))?$`)

func render(help, version, date string) (string, error) {
	usageLines, options, ok := strings.Cut(help, "\noptions:\n")
	if !ok {
		return "", fmt.Errorf("no \"options:\" in the -h output")
	}
	var b strings.Builder
	fmt.Fprintf(&b, ".TH DNSTAP-SENSOR 1 %q %q \"User Commands\"\n", date, "dnstap-sensor "+version)
	b.WriteString(".SH NAME\ndnstap-sensor \\- passive DNS sensor writing dnstap\n")
	b.WriteString(".SH SYNOPSIS\n")
	b.WriteString(".nf\n")
	for _, line := range strings.Split(usageLines, "\n") {
		switch trimmed := strings.TrimSpace(line); {
		case trimmed == "" || trimmed == "usage:":
		case strings.HasPrefix(trimmed, "sensor"):
			b.WriteString(escape("dnstap-"+trimmed) + "\n")
		default: // a continuation, indented under its command
			b.WriteString("    " + escape(trimmed) + "\n")
		}
	}
	b.WriteString(".fi\n")
	b.WriteString(`.SH DESCRIPTION
dnstap-sensor captures DNS traffic from a mirror (SPAN) port, a tap or a
capture file, rebuilds every DNS message over UDP and TCP (IP fragments, TCP
streams, VLAN, MPLS and tunnels included) and writes each one as a dnstap
frame: to a Frame Streams file, a unix or TCP Frame Streams receiver, or as
text.
.PP
.B check-config
reads a config file and prints every problem with its line number; it exits
1 when there is an error.
.B read
prints a dnstap file as text;
.B compare
compares two dnstap files message by message;
.B report
writes a security report (HTML or JSON) of dnstap files;
.B baseline build
records what is normal in dnstap files, for
.B report \-\-baseline
and live alerts;
.B version
prints the version.
.SH OPTIONS
Options may also be given in a file with
.BR \-\-config :
one "name value" per line, without dashes; the command line wins.
`)
	n := 0
	for _, line := range strings.Split(options, "\n") {
		if m := optionRE.FindStringSubmatch(line); m != nil {
			n++
			b.WriteString(".TP\n\\fB\\-" + escape(m[1]) + "\\fR")
			if m[2] != "" {
				b.WriteString(" \\fI" + escape(m[2]) + "\\fR")
			}
			b.WriteString("\n")
			if m[3] != "" {
				b.WriteString(escape(m[3]) + "\n")
			}
			continue
		}
		if u := strings.TrimSpace(line); u != "" {
			b.WriteString(escape(u) + "\n")
		}
	}
	if n == 0 {
		return "", fmt.Errorf("no options in the -h output")
	}
	b.WriteString(`.SH SIGNALS
SIGTERM and SIGINT stop the capture, flush and close the output.
SIGHUP reopens the output file (for log rotation).
.SH FILES
.TP
.I /etc/dnstap\-sensor/sensor.conf
the options of the service, every one documented.
.TP
.I /lib/systemd/system/dnstap\-sensor.service
the service: user dnstap\-sensor with CAP_NET_RAW only.
.TP
.I /var/log/dnstap\-sensor/
where the service writes its dnstap files.
.SH EXIT STATUS
0 on success, 1 when the run failed, 2 for a bad command line.
.SH SEE ALSO
.BR dnstap (1),
.BR fstrm_capture (1),
.BR tcpdump (8)
`)
	return b.String(), nil
}

// escape makes text safe for roff: backslashes, and a leading dot or quote
// that would start a request.
func escape(s string) string {
	s = strings.ReplaceAll(s, `\`, `\e`)
	s = strings.ReplaceAll(s, "-", `\-`)
	if strings.HasPrefix(s, ".") || strings.HasPrefix(s, "'") {
		s = `\&` + s
	}
	return s
}
