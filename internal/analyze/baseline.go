package analyze

import (
	"encoding/json"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
)

// BaselineVersion is the format version written into baseline files.
const BaselineVersion = 1

// Caps of a baseline: it stays a compact file whatever the input.
const (
	baselineMaxDomains = 200000 // registered domains kept; beyond, Truncated says so
	baselineMaxClients = 10000  // heaviest clients kept (Space-Saving)
)

// Baseline is a compact record of normal traffic: the registered domains
// asked for, and per client its query volume and answer rates.
type Baseline struct {
	Version          int              `json:"version"`
	Files            []string         `json:"files"`
	First            string           `json:"first"`
	Last             string           `json:"last"`
	Seconds          float64          `json:"seconds"`
	Domains          []string         `json:"registered_domains"`
	DomainsTruncated bool             `json:"registered_domains_truncated"`
	Clients          []BaselineClient `json:"clients"`
	ClientsTruncated bool             `json:"clients_truncated"`

	domains map[uint64]struct{}
	clients map[netip.Addr]*BaselineClient
}

// BaselineClient is one client's normal.
type BaselineClient struct {
	Client         string  `json:"client"`
	Queries        uint64  `json:"queries"`
	QueriesPerHour float64 `json:"queries_per_hour"`
	Responses      uint64  `json:"responses"`
	NXDomainRate   float64 `json:"nxdomain_rate"`
	ServFailRate   float64 `json:"servfail_rate"`
}

// HasDomain reports whether the registered domain was seen in the baseline.
func (b *Baseline) HasDomain(reg []byte) bool {
	_, ok := b.domains[hashBytes(reg)]
	return ok
}

// Client returns the client's record, or nil.
func (b *Baseline) Client(a netip.Addr) *BaselineClient { return b.clients[a] }

func (b *Baseline) index() error {
	b.domains = make(map[uint64]struct{}, len(b.Domains))
	for _, d := range b.Domains {
		b.domains[hashBytes([]byte(d))] = struct{}{}
	}
	b.clients = make(map[netip.Addr]*BaselineClient, len(b.Clients))
	for i := range b.Clients {
		a, err := netip.ParseAddr(b.Clients[i].Client)
		if err != nil {
			return fmt.Errorf("client %q: %w", b.Clients[i].Client, err)
		}
		b.clients[a.Unmap()] = &b.Clients[i]
	}
	return nil
}

// ReadBaseline reads a baseline file written by Baseline.Write.
func ReadBaseline(path string) (*Baseline, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("analyze: read baseline %s: %w", path, err)
	}
	b := new(Baseline)
	if err := json.Unmarshal(data, b); err != nil {
		return nil, fmt.Errorf("analyze: read baseline %s: %w", path, err)
	}
	if b.Version != BaselineVersion {
		return nil, fmt.Errorf("analyze: read baseline %s: version %d, want %d", path, b.Version, BaselineVersion)
	}
	if err := b.index(); err != nil {
		return nil, fmt.Errorf("analyze: read baseline %s: %w", path, err)
	}
	return b, nil
}

// Write writes the baseline as JSON.
func (b *Baseline) Write(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", " ")
	return e.Encode(b)
}

// baseCounts is the client table's payload: none, since responses and their
// rcodes are counted in the count-min sketches beside it.
type baseCounts struct{}

// BaselineBuilder accumulates a Baseline in bounded memory.
type BaselineBuilder struct {
	files       []string
	first, last int64
	domains     map[string]struct{}
	truncated   bool
	clients     *TopK[netip.Addr, baseCounts]
	respCM      *CountMin
	nxCM, sfCM  *CountMin
}

// NewBaselineBuilder returns an empty builder.
func NewBaselineBuilder() *BaselineBuilder {
	return &BaselineBuilder{domains: make(map[string]struct{}), clients: NewTopK[netip.Addr, baseCounts](baselineMaxClients),
		respCM: NewCountMin(cmWidth), nxCM: NewCountMin(cmWidth), sfCM: NewCountMin(cmWidth)}
}

// AddFile records an input file name.
func (bb *BaselineBuilder) AddFile(name string) { bb.files = append(bb.files, name) }

// Add counts one decoded client-facing message.
func (bb *BaselineBuilder) Add(m *Msg) {
	if !m.DNS.OK || !m.ClientFacing() {
		return
	}
	if t := m.Time(); t != 0 {
		if bb.first == 0 || t < bb.first {
			bb.first = t
		}
		bb.last = max(bb.last, t)
	}
	h := hashAddr(m.QueryAddr)
	if !m.IsQuery() {
		bb.respCM.Add(h, 1)
		switch m.DNS.Rcode {
		case RcodeNXDomain:
			bb.nxCM.Add(h, 1)
		case RcodeServFail:
			bb.sfCM.Add(h, 1)
		}
		return
	}
	bb.clients.Add(m.QueryAddr, 1)
	reg, ok := m.Registered()
	if m.DNS.QDCount == 0 || !ok {
		return
	}
	if _, ok := bb.domains[string(reg)]; !ok {
		if len(bb.domains) >= baselineMaxDomains {
			bb.truncated = true
			return
		}
		bb.domains[string(reg)] = struct{}{}
	}
}

// Baseline returns the record of what was added.
func (bb *BaselineBuilder) Baseline() *Baseline {
	b := &Baseline{Version: BaselineVersion, Files: bb.files, First: fmtTime(bb.first), Last: fmtTime(bb.last),
		DomainsTruncated: bb.truncated, ClientsTruncated: bb.clients.Evicted > 0, Domains: []string{}, Clients: []BaselineClient{}}
	if bb.first != 0 {
		b.Seconds = float64(bb.last-bb.first) / 1e9
	}
	for d := range bb.domains {
		b.Domains = append(b.Domains, d)
	}
	sort.Strings(b.Domains)
	// An hour at least: a short baseline must not make every later hour
	// look like a spike.
	hours := max(b.Seconds/3600, 1)
	for _, s := range bb.clients.Sorted(addrLess[baseCounts]) {
		h := hashAddr(s.Key)
		bc := BaselineClient{Client: s.Key.String(), Queries: s.Count, QueriesPerHour: round3(float64(s.Count) / hours)}
		bc.Responses = bb.respCM.Estimate(h)
		if bc.Responses > 0 {
			bc.NXDomainRate = round3(float64(min(bb.nxCM.Estimate(h), bc.Responses)) / float64(bc.Responses))
			bc.ServFailRate = round3(float64(min(bb.sfCM.Estimate(h), bc.Responses)) / float64(bc.Responses))
		}
		b.Clients = append(b.Clients, bc)
	}
	_ = b.index()
	return b
}
