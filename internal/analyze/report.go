package analyze

import (
	"net/netip"
	"sort"
	"strconv"
	"time"
)

// ReportOptions set what a Report looks for.
type ReportOptions struct {
	Sinkholes Sinkholes
	Baseline  *Baseline // nil: no comparison with normal
	Tunnel    TunnelRule
	// TopN is the length of each list in the result (default 20).
	TopN int
}

// TunnelRule says when a query's subdomain (the labels left of the
// registered domain) looks like data carried in DNS, and how many such
// distinct subdomains under one registered domain make a client a suspect.
type TunnelRule struct {
	MinLabelLen int     // a label at least this long (default 24) ...
	MinEntropy  float64 // ... or a subdomain at least MinEntropyLen bytes long with at least this entropy per byte (default 3.5)
	MinEntLen   int     // (default 16)
	MinUnique   int     // distinct such subdomains (default 20)
}

func (r *TunnelRule) fill() {
	if r.MinLabelLen == 0 {
		r.MinLabelLen = 24
	}
	if r.MinEntropy == 0 {
		r.MinEntropy = 3.5
	}
	if r.MinEntLen == 0 {
		r.MinEntLen = 16
	}
	if r.MinUnique == 0 {
		r.MinUnique = 20
	}
}

// Like reports whether a subdomain looks like carried data.
func (r *TunnelRule) Like(sub []byte) bool {
	if len(sub) == 0 {
		return false
	}
	return LongestLabel(sub) >= r.MinLabelLen || (len(sub) >= r.MinEntLen && Entropy(sub) >= r.MinEntropy)
}

// Capacities of the report's tables: they bound its memory whatever the
// input (TestMemoryBound: 4.2 MiB of heap after a million distinct
// clients and names; the documented bound is 16 MiB).
const (
	reportTopCap     = 2000    // slots of each heavy-hitter table (clients, names, NXDOMAIN clients)
	reportSuspectCap = 1000    // client+domain pairs followed for tunnelling
	reportSinkCap    = 1000    // clients with sinkhole hits
	reportNewCap     = 1000    // registered domains new against the baseline
	reportServerCap  = 256     // servers with their own latency histogram; the rest share "other"
	reportQTypeCap   = 256     // distinct query types listed; the rest are "other"
	reportBuckets    = 240     // time buckets of the volume chart; their width doubles to fit
	cmWidth          = 1 << 15 // count-min width: error ≤ e/32768 of the total (0.008%)
	hllPrecision     = 14      // distinct counts within 0.8% (one standard error)
	bestN            = 20      // longest and most random names kept
)

type nxData struct {
	sample string
}

type tunnelKey struct {
	client netip.Addr
	domain uint64
}

type tunnelData struct {
	domain  string
	queries uint64
	txtLike uint64
	lenSum  uint64
	entSum  float64
	unique  *HLL
	first   int64
	last    int64
	sample  string
}

type sinkData struct {
	byName, byAnswer uint64
	first, last      int64
	names            []string
}

type newData struct {
	client netip.Addr
	first  int64
}

// Report aggregates dnstap messages into the figures of `sensor report`,
// in memory bounded by its capacities whatever the input. Add is not safe
// for concurrent use.
type Report struct {
	opt ReportOptions

	frames, queries, responses uint64
	bad                        [3]uint64 // not dnstap, no message, DNS does not parse
	first, last                int64

	volWidth     int64 // ns per bucket
	volQ         map[int64]uint64
	volR         map[int64]uint64
	volLo, volHi int64 // bucket range held, valid when volAny
	volAny       bool

	rcodes     [4096]uint64
	qtypes     map[uint16]uint64
	qtypeOther uint64
	transports [len(protoNames)][2]uint64 // by dnstap SocketProtocol (0: other) and family

	clients   *TopK[netip.Addr, struct{}]
	names     *TopK[uint64, string]
	nxClients *TopK[netip.Addr, nxData]
	respCM    *CountMin // client-facing responses per client
	nxCM      *CountMin
	sfCM      *CountMin
	queryCM   *CountMin

	distClients, distNames, distDomains *HLL

	servers     map[netip.Addr]*Hist
	otherServer Hist

	longest, random *Best

	tunnels *TopK[tunnelKey, *tunnelData]
	sinks   *TopK[netip.Addr, *sinkData]
	newDoms *TopK[uint64, string]
	newDom  map[uint64]*newData
	files   []string
}

// NewReport returns an empty Report.
func NewReport(opt ReportOptions) *Report {
	opt.Tunnel.fill()
	if opt.TopN == 0 {
		opt.TopN = 20
	}
	return &Report{
		opt:         opt,
		volWidth:    int64(time.Second),
		volQ:        make(map[int64]uint64),
		volR:        make(map[int64]uint64),
		qtypes:      make(map[uint16]uint64),
		clients:     NewTopK[netip.Addr, struct{}](reportTopCap),
		names:       NewTopK[uint64, string](reportTopCap),
		nxClients:   NewTopK[netip.Addr, nxData](reportTopCap),
		respCM:      NewCountMin(cmWidth),
		nxCM:        NewCountMin(cmWidth),
		sfCM:        NewCountMin(cmWidth),
		queryCM:     NewCountMin(cmWidth),
		distClients: NewHLL(hllPrecision),
		distNames:   NewHLL(hllPrecision),
		distDomains: NewHLL(hllPrecision),
		servers:     make(map[netip.Addr]*Hist),
		longest:     NewBest(bestN),
		random:      NewBest(bestN),
		tunnels:     NewTopK[tunnelKey, *tunnelData](reportSuspectCap),
		sinks:       NewTopK[netip.Addr, *sinkData](reportSinkCap),
		newDoms:     NewTopK[uint64, string](reportNewCap),
		newDom:      make(map[uint64]*newData),
	}
}

// AddFile records the name of an input file for the result.
func (r *Report) AddFile(name string) { r.files = append(r.files, name) }

// AddFrame decodes one dnstap payload into m (reused by the caller) and
// adds it. It returns Decode's error; a frame whose DNS does not parse is
// still counted in the volume figures.
func (r *Report) AddFrame(m *Msg, frame []byte) error {
	err := m.Decode(frame)
	r.frames++
	switch err {
	case nil:
	case ErrBadDNS:
		r.bad[2]++
	case ErrNoMessage:
		r.bad[1]++
		return err
	default:
		r.bad[0]++
		return err
	}
	r.Add(m)
	return err
}

var protoNames = [...]string{"other", "udp", "tcp", "dot", "doh", "dnscrypt-udp", "dnscrypt-tcp", "doq"}

// Add counts one decoded message.
func (r *Report) Add(m *Msg) {
	t := m.Time()
	if t != 0 {
		if r.first == 0 || t < r.first {
			r.first = t
		}
		r.last = max(r.last, t)
		r.addVolume(t, m.IsQuery())
	}
	p := 0
	if int(m.Protocol) < len(protoNames) {
		p = int(m.Protocol)
	}
	fam := 0
	if m.Family == 2 {
		fam = 1
	}
	r.transports[p][fam]++
	client := m.QueryAddr
	d := &m.DNS
	if m.IsQuery() {
		r.queries++
	} else {
		r.responses++
	}
	if !d.OK {
		return
	}
	if m.HasQueryTime && m.HasResponseTime && !m.IsQuery() && m.ResponseTime >= m.QueryTime {
		h := r.servers[m.ResponseAddr]
		if h == nil {
			if len(r.servers) < reportServerCap {
				h = new(Hist)
				r.servers[m.ResponseAddr] = h
			} else {
				h = &r.otherServer
			}
		}
		h.Add(m.ResponseTime - m.QueryTime)
	}
	if byName, byAnswer := r.opt.Sinkholes.Match(m); (byName && m.IsQuery()) || byAnswer {
		s, fresh := r.sinks.Add(client, 1)
		if fresh || s.Data == nil {
			s.Data = &sinkData{first: t}
		}
		sd := s.Data
		if byAnswer {
			sd.byAnswer++
		} else {
			sd.byName++
		}
		sd.last = max(sd.last, t)
		if len(sd.names) < 5 && !containsName(sd.names, d.Name) {
			sd.names = append(sd.names, string(d.Name))
		}
	}
	if !m.ClientFacing() {
		return
	}
	ch := hashAddr(client)
	if !m.IsQuery() {
		r.rcodes[d.Rcode&0xfff]++
		r.respCM.Add(ch, 1)
		switch d.Rcode {
		case RcodeNXDomain:
			r.nxCM.Add(ch, 1)
			s, fresh := r.nxClients.Add(client, 1)
			if fresh {
				s.Data.sample = string(d.Name)
			}
		case RcodeServFail:
			r.sfCM.Add(ch, 1)
		}
		return
	}
	// Queries: who asks what.
	r.clients.Add(client, 1)
	r.queryCM.Add(ch, 1)
	r.distClients.Add(ch)
	if d.QDCount == 0 {
		return
	}
	if c, ok := r.qtypes[d.QType]; ok || len(r.qtypes) < reportQTypeCap {
		r.qtypes[d.QType] = c + 1
	} else {
		r.qtypeOther++
	}
	nh := hashBytes(d.Name)
	r.distNames.Add(nh)
	if s, fresh := r.names.Add(nh, 1); fresh {
		s.Data = string(d.Name)
	}
	if r.longest.Wants(nh, float64(len(d.Name))) {
		r.longest.Add(BestItem{Key: nh, Score: float64(len(d.Name)), Name: string(d.Name), Client: client})
	}
	reg, hasReg := m.Registered()
	sub := Subdomain(d.Name, reg)
	rh := hashBytes(reg)
	r.distDomains.Add(rh)
	if len(sub) >= 8 {
		if e := Entropy(sub); r.random.Wants(nh, e) {
			r.random.Add(BestItem{Key: nh, Score: e, Name: string(d.Name), Client: client})
		}
	}
	if r.opt.Tunnel.Like(sub) {
		s, fresh := r.tunnels.Add(tunnelKey{client, rh}, 1)
		if fresh {
			if s.Data == nil {
				s.Data = &tunnelData{unique: NewHLL(8)}
			}
			u := s.Data.unique
			u.Reset()
			*s.Data = tunnelData{unique: u, domain: string(reg), first: t, sample: string(d.Name)}
		}
		td := s.Data
		td.queries++
		td.lenSum += uint64(len(sub))
		td.entSum += Entropy(sub)
		td.unique.Add(hashBytes(sub))
		td.last = max(td.last, t)
		if d.QType == TypeTXT || d.QType == TypeNULL || d.QType == TypeCNAME {
			td.txtLike++
		}
	}
	if b := r.opt.Baseline; b != nil && hasReg && !b.HasDomain(reg) {
		if s, fresh := r.newDoms.Add(rh, 1); fresh {
			s.Data = string(reg)
			r.newDom[rh] = &newData{client: client, first: t}
			if len(r.newDom) > 2*reportNewCap {
				r.pruneNew()
			}
		}
	}
}

// pruneNew keeps the first-seen details only of domains still held.
func (r *Report) pruneNew() {
	for k := range r.newDom {
		if r.newDoms.Get(k) == nil {
			delete(r.newDom, k)
		}
	}
}

func containsName(list []string, n []byte) bool {
	for _, s := range list {
		if s == string(n) {
			return true
		}
	}
	return false
}

// addVolume counts t in its bucket; when more than reportBuckets buckets
// would be needed, the width doubles and neighbours merge, so the chart
// always spans the whole input in a bounded number of buckets.
func (r *Report) addVolume(t int64, query bool) {
	b := floorDiv(t, r.volWidth)
	if query {
		r.volQ[b]++
	} else {
		r.volR[b]++
	}
	if !r.volAny {
		r.volLo, r.volHi, r.volAny = b, b, true
	}
	r.volLo, r.volHi = min(r.volLo, b), max(r.volHi, b)
	for r.volHi-r.volLo+1 > reportBuckets {
		r.volWidth *= 2
		r.volQ = rebucket(r.volQ)
		r.volR = rebucket(r.volR)
		r.volLo, r.volHi = floorDiv(r.volLo, 2), floorDiv(r.volHi, 2)
	}
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && a < 0 {
		q--
	}
	return q
}

func rebucket(m map[int64]uint64) map[int64]uint64 {
	out := make(map[int64]uint64, len(m)/2+1)
	for k, v := range m {
		out[floorDiv(k, 2)] += v
	}
	return out
}

// rcodeNames are the RCODE mnemonics of the IANA DNS parameters registry.
var rcodeNames = map[uint16]string{0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP",
	5: "REFUSED", 6: "YXDOMAIN", 7: "YXRRSET", 8: "NXRRSET", 9: "NOTAUTH", 10: "NOTZONE", 16: "BADVERS",
	17: "BADKEY", 18: "BADTIME", 19: "BADMODE", 20: "BADNAME", 21: "BADALG", 22: "BADTRUNC", 23: "BADCOOKIE"}

// RcodeName returns the mnemonic of an RCODE, or RCODEn.
func RcodeName(rc uint16) string {
	if s, ok := rcodeNames[rc]; ok {
		return s
	}
	return "RCODE" + strconv.Itoa(int(rc))
}

var typeNames = map[uint16]string{1: "A", 2: "NS", 5: "CNAME", 6: "SOA", 10: "NULL", 12: "PTR", 13: "HINFO",
	15: "MX", 16: "TXT", 17: "RP", 18: "AFSDB", 24: "SIG", 25: "KEY", 28: "AAAA", 29: "LOC", 33: "SRV", 35: "NAPTR",
	36: "KX", 37: "CERT", 39: "DNAME", 41: "OPT", 42: "APL", 43: "DS", 44: "SSHFP", 45: "IPSECKEY", 46: "RRSIG",
	47: "NSEC", 48: "DNSKEY", 49: "DHCID", 50: "NSEC3", 51: "NSEC3PARAM", 52: "TLSA", 53: "SMIMEA", 55: "HIP",
	59: "CDS", 60: "CDNSKEY", 61: "OPENPGPKEY", 62: "CSYNC", 63: "ZONEMD", 64: "SVCB", 65: "HTTPS", 99: "SPF",
	108: "EUI48", 109: "EUI64", 249: "TKEY", 250: "TSIG", 251: "IXFR", 252: "AXFR", 255: "ANY", 256: "URI",
	257: "CAA"}

// TypeName returns the mnemonic of an RR type, or TYPEn (RFC 3597 §5).
func TypeName(t uint16) string {
	if s, ok := typeNames[t]; ok {
		return s
	}
	return "TYPE" + strconv.Itoa(int(t))
}

// ClassName returns the mnemonic of a class, or CLASSn.
func ClassName(c uint16) string {
	switch c {
	case 1:
		return "IN"
	case 3:
		return "CH"
	case 4:
		return "HS"
	case 254:
		return "NONE"
	case 255:
		return "ANY"
	}
	return "CLASS" + strconv.Itoa(int(c))
}

func fmtTime(ns int64) string {
	if ns == 0 {
		return ""
	}
	return time.Unix(0, ns).UTC().Format(time.RFC3339Nano)
}

// Result builds the report's result from what was added so far.
func (r *Report) Result() *Result {
	n := r.opt.TopN
	res := &Result{
		Files:      r.files,
		Frames:     r.frames,
		Queries:    r.queries,
		Responses:  r.responses,
		Undecoded:  Undecoded{NotDnstap: r.bad[0], NoMessage: r.bad[1], BadDNS: r.bad[2]},
		Estimates:  estimatesNote,
		TimeRange:  TimeRange{First: fmtTime(r.first), Last: fmtTime(r.last)},
		Distinct:   Distinct{Clients: r.distClients.Estimate(), Names: r.distNames.Estimate(), RegisteredDomains: r.distDomains.Estimate()},
		Sinkholes:  append(addrStrings(r.opt.Sinkholes.Addrs), r.opt.Sinkholes.Names...),
		Transports: []Count{},
		Rcodes:     []Count{},
		QTypes:     []Count{},
	}
	if r.first != 0 {
		res.TimeRange.Seconds = float64(r.last-r.first) / 1e9
	}
	// Volume.
	res.Volume.BucketSeconds = float64(r.volWidth) / 1e9
	if r.volAny {
		lo, hi := r.volLo, r.volHi
		res.Volume.Start = fmtTime(lo * r.volWidth)
		for b := lo; b <= hi; b++ {
			res.Volume.Queries = append(res.Volume.Queries, r.volQ[b])
			res.Volume.Responses = append(res.Volume.Responses, r.volR[b])
		}
	}
	for rc, c := range r.rcodes {
		if c > 0 {
			res.Rcodes = append(res.Rcodes, Count{Name: RcodeName(uint16(rc)), Count: c})
		}
	}
	for qt, c := range r.qtypes {
		res.QTypes = append(res.QTypes, Count{Name: TypeName(qt), Count: c})
	}
	if r.qtypeOther > 0 {
		res.QTypes = append(res.QTypes, Count{Name: "other", Count: r.qtypeOther})
	}
	for p, byFam := range r.transports {
		for fam, c := range byFam {
			if c > 0 {
				res.Transports = append(res.Transports, Count{Name: protoNames[p] + [2]string{"/ipv4", "/ipv6"}[fam], Count: c})
			}
		}
	}
	sortCounts(res.Rcodes)
	sortCounts(res.QTypes)
	sortCounts(res.Transports)

	res.TopClients = []TopClient{}
	for _, s := range head(r.clients.Sorted(addrLess[struct{}]), n) {
		res.TopClients = append(res.TopClients, TopClient{Client: s.Key.String(), Queries: s.Count, Error: s.Err})
	}
	res.TopNames = []TopName{}
	for _, s := range head(r.names.Sorted(func(a, b *TopSlot[uint64, string]) bool { return a.Data < b.Data }), n) {
		res.TopNames = append(res.TopNames, TopName{Name: s.Data, Queries: s.Count, Error: s.Err})
	}
	res.NXDomainClients = []NXClient{}
	for _, s := range head(r.nxClients.Sorted(addrLess[nxData]), n) {
		resp := r.respCM.Estimate(hashAddr(s.Key))
		nc := NXClient{Client: s.Key.String(), NXDomain: s.Count, Error: s.Err, Responses: resp, Sample: s.Data.sample}
		if resp > 0 {
			nc.Rate = round3(float64(min(s.Count, resp)) / float64(resp))
		}
		res.NXDomainClients = append(res.NXDomainClients, nc)
	}
	res.Latency = r.latency()
	res.LongestNames = bestList(r.longest, false)
	res.RandomNames = bestList(r.random, true)
	res.TunnelSuspects = r.tunnelSuspects(n)
	res.SinkholeHits = r.sinkholeHits(n)
	if r.opt.Baseline != nil {
		res.Baseline = r.baselineDiff(n)
	}
	return res
}

func head[T any](s []T, n int) []T {
	if len(s) > n {
		return s[:n]
	}
	return s
}

func addrLess[V any](a, b *TopSlot[netip.Addr, V]) bool { return a.Key.Less(b.Key) }

func addrStrings(as []netip.Addr) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}

func sortCounts(c []Count) {
	sort.Slice(c, func(i, j int) bool {
		if c[i].Count != c[j].Count {
			return c[i].Count > c[j].Count
		}
		return c[i].Name < c[j].Name
	})
}

func round3(f float64) float64 { return float64(int64(f*1000+0.5)) / 1000 }

func bestList(b *Best, entropy bool) []NameScore {
	out := []NameScore{}
	for _, it := range b.Items() {
		ns := NameScore{Name: it.Name, Client: it.Client.String()}
		if entropy {
			ns.Entropy = round3(it.Score)
		} else {
			ns.Length = int(it.Score)
		}
		out = append(out, ns)
	}
	return out
}

func (r *Report) latency() []Latency {
	out := []Latency{}
	add := func(name string, h *Hist) {
		out = append(out, Latency{Server: name, Answers: h.N(),
			P50ms: round3(h.Quantile(0.5) / 1e6), P90ms: round3(h.Quantile(0.9) / 1e6),
			P99ms: round3(h.Quantile(0.99) / 1e6), MaxMs: round3(float64(h.Max()) / 1e6)})
	}
	addrs := make([]netip.Addr, 0, len(r.servers))
	for a := range r.servers {
		addrs = append(addrs, a)
	}
	sort.Slice(addrs, func(i, j int) bool {
		if r.servers[addrs[i]].N() != r.servers[addrs[j]].N() {
			return r.servers[addrs[i]].N() > r.servers[addrs[j]].N()
		}
		return addrs[i].Less(addrs[j])
	})
	for _, a := range addrs {
		add(a.String(), r.servers[a])
	}
	if r.otherServer.N() > 0 {
		add("other", &r.otherServer)
	}
	return out
}

func (r *Report) tunnelSuspects(n int) []TunnelSuspect {
	out := []TunnelSuspect{}
	for _, s := range r.tunnels.Sorted(nil) {
		td := s.Data
		u := td.unique.Estimate()
		u = min(u, td.queries)
		if int(u) < r.opt.Tunnel.MinUnique {
			continue
		}
		share := float64(td.txtLike) / float64(td.queries)
		out = append(out, TunnelSuspect{Client: s.Key.client.String(), Domain: td.domain, Queries: td.queries,
			UniqueSubdomains: u, AvgSubdomainLen: round3(float64(td.lenSum) / float64(td.queries)),
			AvgEntropy: round3(td.entSum / float64(td.queries)), TXTNullCNAMEShare: round3(share),
			Score: round3(float64(u) * (1 + share)), First: fmtTime(td.first), Last: fmtTime(td.last), Sample: td.sample})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	return head(out, n)
}

func (r *Report) sinkholeHits(n int) []SinkholeHit {
	out := []SinkholeHit{}
	for _, s := range head(r.sinks.Sorted(addrLess[*sinkData]), n) {
		sd := s.Data
		out = append(out, SinkholeHit{Client: s.Key.String(), Hits: s.Count, ByAnswer: sd.byAnswer, ByName: sd.byName,
			Names: sd.names, First: fmtTime(sd.first), Last: fmtTime(sd.last)})
	}
	return out
}

func (r *Report) baselineDiff(n int) *BaselineDiff {
	b := r.opt.Baseline
	bd := &BaselineDiff{NewDomains: []NewDomain{}, NewClients: []TopClient{}, OutOfLine: []OutOfLine{}}
	for _, s := range head(r.newDoms.Sorted(func(a, b *TopSlot[uint64, string]) bool { return a.Data < b.Data }), n) {
		nd := NewDomain{Domain: s.Data, Queries: s.Count}
		if d := r.newDom[s.Key]; d != nil {
			nd.FirstClient, nd.First = d.client.String(), fmtTime(d.first)
		}
		bd.NewDomains = append(bd.NewDomains, nd)
	}
	hours := float64(r.last-r.first) / float64(time.Hour)
	for _, s := range r.clients.Sorted(addrLess[struct{}]) {
		bc := b.Client(s.Key)
		if bc == nil {
			if len(bd.NewClients) < n {
				bd.NewClients = append(bd.NewClients, TopClient{Client: s.Key.String(), Queries: s.Count, Error: s.Err})
			}
			continue
		}
		h := hashAddr(s.Key)
		resp := r.respCM.Estimate(h)
		o := OutOfLine{Client: s.Key.String(), Queries: s.Count, BaselineQueriesPerHour: bc.QueriesPerHour,
			BaselineNXDomainRate: bc.NXDomainRate}
		if hours > 0 {
			o.QueriesPerHour = round3(float64(s.Count) / hours)
		}
		if resp > 0 {
			o.NXDomainRate = round3(float64(min(r.nxCM.Estimate(h), resp)) / float64(resp))
		}
		switch {
		case hours > 0 && s.Count >= outOfLineMinQueries && o.QueriesPerHour > outOfLineFactor*max(bc.QueriesPerHour, 1):
			o.Reason = "volume"
		case resp >= outOfLineMinQueries && o.NXDomainRate > bc.NXDomainRate+outOfLineNXDelta:
			o.Reason = "nxdomain_rate"
		default:
			continue
		}
		if len(bd.OutOfLine) < n {
			bd.OutOfLine = append(bd.OutOfLine, o)
		}
	}
	return bd
}

// A client is out of line with its baseline when it asks more than
// outOfLineFactor times its usual hourly volume, or its NXDOMAIN rate is
// outOfLineNXDelta above its usual one, over at least outOfLineMinQueries
// messages (fewer say nothing).
const (
	outOfLineFactor     = 3
	outOfLineNXDelta    = 0.2
	outOfLineMinQueries = 50
)
