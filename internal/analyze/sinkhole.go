package analyze

import (
	"fmt"
	"net/netip"
	"strings"
)

// Sinkholes are the addresses and names declared sinkholes: an answer
// holding one of the addresses, or a query for one of the names (or a name
// below it), is a hit.
type Sinkholes struct {
	Addrs []netip.Addr
	Names []string // lower case, no final dot
}

// ParseSinkholes parses a comma-separated list of addresses and names
// ("192.0.2.66,sinkhole.example.net").
func ParseSinkholes(s string) (Sinkholes, error) {
	var sh Sinkholes
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if a, err := netip.ParseAddr(f); err == nil {
			sh.Addrs = append(sh.Addrs, a.Unmap())
			continue
		}
		n := strings.ToLower(strings.TrimSuffix(f, "."))
		if n == "" || strings.ContainsAny(n, " /:") {
			return Sinkholes{}, fmt.Errorf("analyze: sinkhole %q is neither an address nor a name", f)
		}
		sh.Names = append(sh.Names, n)
	}
	return sh, nil
}

// Empty reports whether no sinkhole is declared.
func (s *Sinkholes) Empty() bool { return len(s.Addrs) == 0 && len(s.Names) == 0 }

// Match returns how the message hits a sinkhole: by the question's name
// (queries and responses) and by an answer's address or target name
// (responses).
func (s *Sinkholes) Match(m *Msg) (byName, byAnswer bool) {
	if s.Empty() || !m.DNS.OK {
		return false, false
	}
	for _, n := range s.Names {
		if HasSuffixName(m.DNS.Name, n) {
			byName = true
			break
		}
	}
	if m.IsQuery() {
		return byName, false
	}
	for i := range m.DNS.Answers {
		rr := &m.DNS.Answers[i]
		if rr.Addr.IsValid() {
			for _, a := range s.Addrs {
				if rr.Addr == a {
					return byName, true
				}
			}
		}
		if rr.Type == TypeCNAME {
			for _, n := range s.Names {
				if HasSuffixName(rr.Data, n) {
					return byName, true
				}
			}
		}
	}
	return byName, false
}
