package analyze

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
)

// Rule names an alert rule.
type Rule uint8

// The built-in rules.
const (
	RuleNXDomainBurst Rule = iota // a client gets many NXDOMAIN answers in a window
	RuleTunnel                    // a client asks many distinct data-like subdomains of one registered domain in a window
	RuleSinkhole                  // a client asks for a sinkhole name or gets a sinkhole address
	RuleRateSpike                 // a client's query rate in a window is far above normal
	RuleNewDomain                 // a client asks for a registered domain the baseline never saw
	NumRules
)

var ruleNames = [NumRules]string{"nxdomain_burst", "tunnel", "sinkhole", "rate_spike", "new_domain"}

// String returns the rule's name as used in alerts and the rules file.
func (r Rule) String() string {
	if r < NumRules {
		return ruleNames[r]
	}
	return "unknown"
}

// Rules are the alert engine's thresholds and windows. Every window is
// measured in frame time (the capture or server timestamps), never the
// wall clock, so replaying a file raises the alerts the live run did.
type Rules struct {
	Enabled [NumRules]bool

	NXDomainCount  int           // NXDOMAIN answers to one client ...
	NXDomainWindow time.Duration // ... within this window

	TunnelUnique int           // distinct data-like subdomains of one registered domain from one client ...
	TunnelWindow time.Duration // ... within this window
	Tunnel       TunnelRule    // what counts as data-like

	RateCount  int           // queries from one client ...
	RateWindow time.Duration // ... within this window; with a baseline the threshold is
	RateFactor float64       // max(RateCount, RateFactor × the client's baseline rate)

	Suppress time.Duration // after an alert, the same rule and client stay quiet this long (counted)

	MaxClients int // clients followed at once (oldest idle evicted first, counted)
	MaxPairs   int // client+domain pairs followed for the tunnel rule

	Sinkholes Sinkholes // the sinkhole rule needs at least one
	Baseline  *Baseline // the new_domain rule and baseline-relative rate_spike need one
}

// DefaultRules returns the built-in thresholds (see the README table).
func DefaultRules() Rules {
	r := Rules{
		NXDomainCount: 50, NXDomainWindow: time.Minute,
		TunnelUnique: 30, TunnelWindow: 5 * time.Minute,
		RateCount: 1000, RateWindow: 10 * time.Second, RateFactor: 10,
		Suppress:   5 * time.Minute,
		MaxClients: 65536, MaxPairs: 16384,
	}
	for i := range r.Enabled {
		r.Enabled[i] = true
	}
	r.Tunnel.fill()
	return r
}

// ParseRules reads a rules file over the defaults: one `key value` per
// line, # comments. Keys: <rule>.enabled on|off for each rule;
// nxdomain_burst.count, nxdomain_burst.window; tunnel.unique,
// tunnel.window, tunnel.label_len, tunnel.entropy, tunnel.entropy_len;
// rate_spike.count, rate_spike.window, rate_spike.factor; suppress;
// max_clients; max_pairs; sinkhole (a --sinkhole list). Durations are Go
// durations (90s, 5m).
func ParseRules(r io.Reader, name string) (Rules, error) {
	rules := DefaultRules()
	sc := bufio.NewScanner(r)
	line := 0
	for sc.Scan() {
		line++
		s := strings.TrimSpace(sc.Text())
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = strings.TrimSpace(s[:i])
		}
		if s == "" {
			continue
		}
		key, val, _ := strings.Cut(s, " ")
		val = strings.TrimSpace(val)
		if err := rules.set(key, val); err != nil {
			return Rules{}, fmt.Errorf("analyze: rules %s:%d: %s: %w", name, line, key, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Rules{}, fmt.Errorf("analyze: rules %s: %w", name, err)
	}
	return rules, nil
}

// ReadRules reads a rules file.
func ReadRules(path string) (Rules, error) {
	f, err := os.Open(path)
	if err != nil {
		return Rules{}, fmt.Errorf("analyze: rules: %w", err)
	}
	defer f.Close()
	return ParseRules(f, path)
}

func (r *Rules) set(key, val string) error {
	if rule, ok := strings.CutSuffix(key, ".enabled"); ok {
		for i, n := range ruleNames {
			if n == rule {
				switch val {
				case "on", "true", "yes":
					r.Enabled[i] = true
				case "off", "false", "no":
					r.Enabled[i] = false
				default:
					return fmt.Errorf("want on or off, got %q", val)
				}
				return nil
			}
		}
		return fmt.Errorf("no such rule")
	}
	posInt := func(p *int) error {
		n, err := strconv.Atoi(val)
		if err != nil || n < 1 {
			return fmt.Errorf("want a positive integer, got %q", val)
		}
		*p = n
		return nil
	}
	dur := func(p *time.Duration) error {
		d, err := time.ParseDuration(val)
		if err != nil || d <= 0 {
			return fmt.Errorf("want a positive duration, got %q", val)
		}
		*p = d
		return nil
	}
	posFloat := func(p *float64) error {
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || f <= 0 {
			return fmt.Errorf("want a positive number, got %q", val)
		}
		*p = f
		return nil
	}
	switch key {
	case "nxdomain_burst.count":
		return posInt(&r.NXDomainCount)
	case "nxdomain_burst.window":
		return dur(&r.NXDomainWindow)
	case "tunnel.unique":
		return posInt(&r.TunnelUnique)
	case "tunnel.window":
		return dur(&r.TunnelWindow)
	case "tunnel.label_len":
		return posInt(&r.Tunnel.MinLabelLen)
	case "tunnel.entropy":
		return posFloat(&r.Tunnel.MinEntropy)
	case "tunnel.entropy_len":
		return posInt(&r.Tunnel.MinEntLen)
	case "rate_spike.count":
		return posInt(&r.RateCount)
	case "rate_spike.window":
		return dur(&r.RateWindow)
	case "rate_spike.factor":
		return posFloat(&r.RateFactor)
	case "suppress":
		return dur(&r.Suppress)
	case "max_clients":
		return posInt(&r.MaxClients)
	case "max_pairs":
		return posInt(&r.MaxPairs)
	case "sinkhole":
		sh, err := ParseSinkholes(val)
		if err != nil {
			return err
		}
		r.Sinkholes.Addrs = append(r.Sinkholes.Addrs, sh.Addrs...)
		r.Sinkholes.Names = append(r.Sinkholes.Names, sh.Names...)
		return nil
	}
	return fmt.Errorf("unknown key")
}
