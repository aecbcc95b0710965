package analyze

import (
	"encoding/json"
	"io"
)

// estimatesNote is written into every result: which figures are exact and
// which come from sketches.
const estimatesNote = "exact: frames, queries, responses, time range, volume, rcodes, query types, transports, " +
	"latency counts and maxima, sinkhole hit counts of listed clients, longest and most random names. " +
	"estimated: distinct counts (HyperLogLog, ±0.8%); top clients, top names, NXDOMAIN clients, tunnel " +
	"suspects and new domains are heavy-hitter tables (Space-Saving): count is an upper bound, count-error " +
	"a lower bound, and every key heavier than total/2000 is listed; responses per client and rates come " +
	"from count-min sketches (never under, over by at most 0.008% of all responses); unique subdomains " +
	"per tunnel suspect are HyperLogLog estimates (±6.5%); latency percentiles are bucket upper edges " +
	"(within 12.5%)."

// Result is the report: the JSON of `sensor report --format json` and the
// data of the HTML page. Lists are most significant first.
type Result struct {
	Files           []string        `json:"files"`
	Estimates       string          `json:"estimates"`
	TimeRange       TimeRange       `json:"time_range"`
	Frames          uint64          `json:"frames"`
	Queries         uint64          `json:"queries"`
	Responses       uint64          `json:"responses"`
	Undecoded       Undecoded       `json:"undecoded"`
	Distinct        Distinct        `json:"distinct"`
	Volume          Volume          `json:"volume"`
	Rcodes          []Count         `json:"rcodes"`
	QTypes          []Count         `json:"query_types"`
	Transports      []Count         `json:"transports"`
	TopClients      []TopClient     `json:"top_clients"`
	TopNames        []TopName       `json:"top_names"`
	NXDomainClients []NXClient      `json:"nxdomain_clients"`
	Latency         []Latency       `json:"latency"`
	LongestNames    []NameScore     `json:"longest_names"`
	RandomNames     []NameScore     `json:"random_names"`
	TunnelSuspects  []TunnelSuspect `json:"tunnel_suspects"`
	Sinkholes       []string        `json:"sinkholes"`
	SinkholeHits    []SinkholeHit   `json:"sinkhole_hits"`
	Baseline        *BaselineDiff   `json:"baseline,omitempty"`
}

// TimeRange is the first and last frame time (RFC 3339, UTC).
type TimeRange struct {
	First   string  `json:"first"`
	Last    string  `json:"last"`
	Seconds float64 `json:"seconds"`
}

// Undecoded counts frames left out of the figures, by reason.
type Undecoded struct {
	NotDnstap uint64 `json:"not_dnstap"`
	NoMessage uint64 `json:"no_message"`
	BadDNS    uint64 `json:"bad_dns"`
}

// Distinct holds HyperLogLog estimates of distinct query keys.
type Distinct struct {
	Clients           uint64 `json:"clients"`
	Names             uint64 `json:"names"`
	RegisteredDomains uint64 `json:"registered_domains"`
}

// Volume is frames per time bucket from Start.
type Volume struct {
	Start         string   `json:"start"`
	BucketSeconds float64  `json:"bucket_seconds"`
	Queries       []uint64 `json:"queries"`
	Responses     []uint64 `json:"responses"`
}

// Count is one labelled count.
type Count struct {
	Name  string `json:"name"`
	Count uint64 `json:"count"`
}

// TopClient is a client and its queries (upper bound; Error is how much of
// it may be another client's).
type TopClient struct {
	Client  string `json:"client"`
	Queries uint64 `json:"queries"`
	Error   uint64 `json:"error"`
}

// TopName is a question name and its queries.
type TopName struct {
	Name    string `json:"name"`
	Queries uint64 `json:"queries"`
	Error   uint64 `json:"error"`
}

// NXClient is a client by NXDOMAIN answers received.
type NXClient struct {
	Client    string  `json:"client"`
	NXDomain  uint64  `json:"nxdomain"`
	Error     uint64  `json:"error"`
	Responses uint64  `json:"responses"`
	Rate      float64 `json:"rate"`
	Sample    string  `json:"sample_name"`
}

// Latency is the answer time of one server, from responses that carry
// their query's time.
type Latency struct {
	Server  string  `json:"server"`
	Answers uint64  `json:"answers"`
	P50ms   float64 `json:"p50_ms"`
	P90ms   float64 `json:"p90_ms"`
	P99ms   float64 `json:"p99_ms"`
	MaxMs   float64 `json:"max_ms"`
}

// NameScore is a name with its length or entropy and a client that asked.
type NameScore struct {
	Name    string  `json:"name"`
	Length  int     `json:"length,omitempty"`
	Entropy float64 `json:"entropy,omitempty"`
	Client  string  `json:"client"`
}

// TunnelSuspect is a client and registered domain with many distinct
// data-like subdomains.
type TunnelSuspect struct {
	Client            string  `json:"client"`
	Domain            string  `json:"domain"`
	Queries           uint64  `json:"queries"`
	UniqueSubdomains  uint64  `json:"unique_subdomains"`
	AvgSubdomainLen   float64 `json:"avg_subdomain_len"`
	AvgEntropy        float64 `json:"avg_entropy"`
	TXTNullCNAMEShare float64 `json:"txt_null_cname_share"`
	Score             float64 `json:"score"`
	First             string  `json:"first"`
	Last              string  `json:"last"`
	Sample            string  `json:"sample"`
}

// SinkholeHit is a client that asked for a sinkhole name or got a sinkhole
// address (frames counted).
type SinkholeHit struct {
	Client   string   `json:"client"`
	Hits     uint64   `json:"hits"`
	ByAnswer uint64   `json:"by_answer"`
	ByName   uint64   `json:"by_name"`
	Names    []string `json:"names"`
	First    string   `json:"first"`
	Last     string   `json:"last"`
}

// BaselineDiff is what is new or out of line against the baseline.
type BaselineDiff struct {
	NewDomains []NewDomain `json:"new_domains"`
	NewClients []TopClient `json:"new_clients"`
	OutOfLine  []OutOfLine `json:"out_of_line"`
}

// NewDomain is a registered domain absent from the baseline.
type NewDomain struct {
	Domain      string `json:"domain"`
	Queries     uint64 `json:"queries"`
	FirstClient string `json:"first_client"`
	First       string `json:"first"`
}

// OutOfLine is a known client whose volume or NXDOMAIN rate is well above
// its baseline.
type OutOfLine struct {
	Client                 string  `json:"client"`
	Reason                 string  `json:"reason"`
	Queries                uint64  `json:"queries"`
	QueriesPerHour         float64 `json:"queries_per_hour"`
	BaselineQueriesPerHour float64 `json:"baseline_queries_per_hour"`
	NXDomainRate           float64 `json:"nxdomain_rate"`
	BaselineNXDomainRate   float64 `json:"baseline_nxdomain_rate"`
}

// WriteJSON writes the result as indented JSON.
func (res *Result) WriteJSON(w io.Writer) error {
	e := json.NewEncoder(w)
	e.SetIndent("", "  ")
	return e.Encode(res)
}
