package e2e

import (
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"testing"
)

// TestTextOutput (issue #2) checks the text outputs of a file run against
// the binary output of the same run: `-y` prints one YAML document per
// message (each with "type: MESSAGE", as dnstap -y does), `-j` one JSON
// value per message, `-q` one line per message.
func TestTextOutput(t *testing.T) {
	for _, c := range []string{"lab_bind_udp.pcap", "dnscap_dns.pcap"} {
		t.Run(c, func(t *testing.T) {
			_, summary := convert(t, pcapPath(c))
			want := summaryCount(t, summary)
			cases := []struct {
				flag  string
				count func(string) (int, error)
			}{
				{"-y", func(s string) (int, error) {
					return len(regexp.MustCompile(`(?m)^type: MESSAGE$`).FindAllStringIndex(s, -1)), nil
				}},
				{"-j", func(s string) (int, error) {
					dec := json.NewDecoder(strings.NewReader(s))
					n := 0
					for {
						var v map[string]any
						err := dec.Decode(&v)
						if errors.Is(err, io.EOF) {
							return n, nil
						}
						if err != nil {
							return n, err
						}
						n++
					}
				}},
				{"-q", func(s string) (int, error) {
					n := 0
					for _, line := range strings.Split(s, "\n") {
						if strings.TrimSpace(line) != "" {
							n++
						}
					}
					return n, nil
				}},
			}
			for _, tc := range cases {
				t.Run(tc.flag, func(t *testing.T) {
					stdout, stderr, err := runCmd(t, sensorBin(t), "-r", pcapPath(c), tc.flag)
					if err != nil {
						t.Fatalf("sensor -r %s %s: %v\n%s", c, tc.flag, err, stderr)
					}
					got, err := tc.count(stdout)
					if err != nil {
						t.Fatalf("sensor %s output does not parse: %v\n%.2000s", tc.flag, err, stdout)
					}
					if got != want {
						t.Errorf("sensor %s prints %d messages, the binary run wrote %d", tc.flag, got, want)
					}
				})
			}
		})
	}
}
