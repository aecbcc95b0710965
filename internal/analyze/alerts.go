package analyze

import (
	"net/netip"
	"strconv"
	"sync/atomic"
	"time"
)

// Alert is one finding of the AlertEngine. Its byte slices alias the frame
// being handled: a Sink that keeps an alert copies it (AppendJSON does).
type Alert struct {
	Time   int64 // frame time, ns since the epoch
	Rule   Rule
	Client netip.Addr
	// Evidence; which fields are set depends on the rule.
	Domain     []byte     // registered domain (tunnel, new_domain)
	Name       []byte     // the question name of the frame that raised it
	Answer     netip.Addr // the sinkhole address answered (sinkhole)
	Count      uint64     // NXDOMAIN answers, distinct subdomains or queries in the window
	Queries    uint64     // queries in the window (tunnel)
	TXTLike    uint64     // TXT, NULL and CNAME queries in the window (tunnel)
	Threshold  uint64
	Window     time.Duration
	Suppressed uint64 // alerts of this rule and client held back since its last alert
}

// AppendJSON appends the alert as one JSON object (no newline).
func (a *Alert) AppendJSON(b []byte) []byte {
	b = append(b, `{"time":"`...)
	b = time.Unix(0, a.Time).UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","rule":"`...)
	b = append(b, a.Rule.String()...)
	b = append(b, `","client":"`...)
	b = a.Client.AppendTo(b)
	b = append(b, `","evidence":{`...)
	first := true
	field := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, '"')
		b = append(b, k...)
		b = append(b, `":`...)
	}
	str := func(k string, v []byte) {
		field(k)
		b = appendJSONString(b, v)
	}
	num := func(k string, v uint64) {
		field(k)
		b = strconv.AppendUint(b, v, 10)
	}
	switch a.Rule {
	case RuleNXDomainBurst:
		num("nxdomain", a.Count)
		num("threshold", a.Threshold)
		num("window_s", uint64(a.Window/time.Second))
		str("last_name", a.Name)
	case RuleTunnel:
		str("domain", a.Domain)
		num("unique_subdomains", a.Count)
		num("queries", a.Queries)
		num("txt_null_cname", a.TXTLike)
		num("threshold", a.Threshold)
		num("window_s", uint64(a.Window/time.Second))
		str("sample", a.Name)
	case RuleSinkhole:
		str("name", a.Name)
		if a.Answer.IsValid() {
			field("answer")
			b = append(b, '"')
			b = a.Answer.AppendTo(b)
			b = append(b, '"')
		}
	case RuleRateSpike:
		num("queries", a.Count)
		num("threshold", a.Threshold)
		num("window_s", uint64(a.Window/time.Second))
	case RuleNewDomain:
		str("domain", a.Domain)
		str("name", a.Name)
	}
	num("suppressed_before", a.Suppressed)
	return append(b, "}}"...)
}

// AlertStats counts what the engine did; safe to read from any goroutine.
type AlertStats struct {
	Frames         atomic.Uint64
	DecodeErrors   atomic.Uint64 // frames that are not dnstap or whose DNS does not parse
	Alerts         [NumRules]atomic.Uint64
	Suppressed     [NumRules]atomic.Uint64 // held back by the per rule+client rate limit
	ClientsEvicted atomic.Uint64           // clients forgotten to make room while their state still counted
	PairsEvicted   atomic.Uint64           // client+domain pairs forgotten to make room while their state still counted
	ClientsExpired atomic.Uint64           // clients whose slot was reused after they were idle past every window
	PairsExpired   atomic.Uint64           // pairs whose slot was reused after they were idle past every window
}

// Sink receives alerts; a is valid only during the call.
type Sink func(a *Alert)

type clientState struct {
	addr       netip.Addr
	last       int64 // frame time of the latest message
	nxStart    int64
	nxCount    uint32
	rateStart  int64
	rateCount  uint32
	lastAlert  [NumRules]int64
	suppressed [NumRules]uint32
	used       bool
}

type pairState struct {
	key     tunnelKey
	last    int64
	start   int64
	queries uint32
	txtLike uint32
	fired   bool
	used    bool
	reg     [64]uint8 // HyperLogLog registers (p=6, ±13%) of the window's subdomains
}

// AlertEngine raises alerts from dnstap frames with the rules it was given.
// Its state is two fixed tables allocated up front (clients and client+
// domain pairs), so its memory does not grow with traffic; when a table is
// full, the least recently active of a few candidates is evicted, counted.
// HandleFrame is for one goroutine; Stats may be read from any.
type AlertEngine struct {
	rules Rules
	sink  Sink
	stats AlertStats
	msg   Msg
	alert Alert

	clientIdx map[netip.Addr]int32
	clients   []clientState
	clientHnd int
	pairIdx   map[tunnelKey]int32
	pairs     []pairState
	pairHnd   int
	hll       HLL
	// idle is the idle timeout (frame time): past the longest rule window
	// and the suppress interval an entry holds nothing that can still
	// raise or hold back an alert, so reusing its slot loses nothing.
	idle int64
}

// evictProbe is how many slots an insert into a full table looks at for
// the least recently active one: enough that a busy entry is rarely the
// victim, few enough that an insert is O(1).
const evictProbe = 8

// NewAlertEngine returns an engine that hands its alerts to sink.
func NewAlertEngine(rules Rules, sink Sink) *AlertEngine {
	if rules.MaxClients < 1 {
		rules.MaxClients = 1
	}
	if rules.MaxPairs < 1 {
		rules.MaxPairs = 1
	}
	rules.Tunnel.fill()
	if rules.Sinkholes.Empty() {
		rules.Enabled[RuleSinkhole] = false
	}
	if rules.Baseline == nil {
		rules.Enabled[RuleNewDomain] = false
	}
	return &AlertEngine{
		rules: rules, sink: sink,
		clientIdx: make(map[netip.Addr]int32, rules.MaxClients),
		clients:   make([]clientState, rules.MaxClients),
		pairIdx:   make(map[tunnelKey]int32, rules.MaxPairs),
		pairs:     make([]pairState, rules.MaxPairs),
		hll:       HLL{p: 6},
		idle:      int64(max(rules.NXDomainWindow, rules.TunnelWindow, rules.RateWindow, rules.Suppress)),
	}
}

// Stats returns the engine's counters.
func (e *AlertEngine) Stats() *AlertStats { return &e.stats }

// Rules returns the rules in force (after NewAlertEngine turned off the
// rules that lack their sinkholes or baseline).
func (e *AlertEngine) Rules() Rules { return e.rules }

// HandleFrame decodes one dnstap payload and applies the rules to it. The
// error is Msg.Decode's (counted in DecodeErrors); nothing is kept of the
// frame after the call.
func (e *AlertEngine) HandleFrame(frame []byte) error {
	e.stats.Frames.Add(1)
	if err := e.msg.Decode(frame); err != nil {
		e.stats.DecodeErrors.Add(1)
		return err
	}
	e.Handle(&e.msg)
	return nil
}

// Handle applies the rules to a decoded message.
func (e *AlertEngine) Handle(m *Msg) {
	if !m.ClientFacing() || !m.DNS.OK {
		return
	}
	t := m.Time()
	d := &m.DNS
	var c *clientState
	if e.rules.Enabled[RuleSinkhole] {
		if byName, byAnswer := e.rules.Sinkholes.Match(m); (byName && m.IsQuery()) || byAnswer {
			c = e.client(m.QueryAddr, t)
			e.alert = Alert{Rule: RuleSinkhole, Name: d.Name}
			if byAnswer {
				for i := range d.Answers {
					for _, a := range e.rules.Sinkholes.Addrs {
						if d.Answers[i].Addr == a {
							e.alert.Answer = a
						}
					}
				}
			}
			e.fire(c, t)
		}
	}
	if !m.IsQuery() {
		if d.Rcode == RcodeNXDomain && e.rules.Enabled[RuleNXDomainBurst] {
			if c == nil {
				c = e.client(m.QueryAddr, t)
			}
			if t-c.nxStart >= int64(e.rules.NXDomainWindow) || t < c.nxStart {
				c.nxStart, c.nxCount = t, 0
			}
			c.nxCount++
			if int(c.nxCount) == e.rules.NXDomainCount {
				e.alert = Alert{Rule: RuleNXDomainBurst, Count: uint64(c.nxCount), Threshold: uint64(e.rules.NXDomainCount),
					Window: e.rules.NXDomainWindow, Name: d.Name}
				e.fire(c, t)
			}
		}
		return
	}
	if c == nil {
		c = e.client(m.QueryAddr, t)
	}
	if e.rules.Enabled[RuleRateSpike] {
		if t-c.rateStart >= int64(e.rules.RateWindow) || t < c.rateStart {
			c.rateStart, c.rateCount = t, 0
		}
		c.rateCount++
		if th := e.rateThreshold(c); uint64(c.rateCount) == th {
			e.alert = Alert{Rule: RuleRateSpike, Count: th, Threshold: th, Window: e.rules.RateWindow}
			e.fire(c, t)
		}
	}
	if d.QDCount == 0 || (!e.rules.Enabled[RuleTunnel] && !e.rules.Enabled[RuleNewDomain]) {
		return
	}
	reg, hasReg := m.Registered()
	if e.rules.Enabled[RuleNewDomain] && hasReg && !e.rules.Baseline.HasDomain(reg) {
		e.alert = Alert{Rule: RuleNewDomain, Domain: reg, Name: d.Name}
		e.fire(c, t)
	}
	if !e.rules.Enabled[RuleTunnel] {
		return
	}
	sub := Subdomain(d.Name, reg)
	if !e.rules.Tunnel.Like(sub) {
		return
	}
	p := e.pair(tunnelKey{m.QueryAddr, hashBytes(reg)}, t)
	if t-p.start >= int64(e.rules.TunnelWindow) || t < p.start {
		p.start, p.queries, p.txtLike, p.fired = t, 0, 0, false
		clear(p.reg[:])
	}
	p.queries++
	if d.QType == TypeTXT || d.QType == TypeNULL || d.QType == TypeCNAME {
		p.txtLike++
	}
	e.hll.reg = p.reg[:]
	e.hll.Add(hashBytes(sub))
	if p.fired || int(p.queries) < e.rules.TunnelUnique {
		return
	}
	if u := min(e.hll.Estimate(), uint64(p.queries)); u >= uint64(e.rules.TunnelUnique) {
		p.fired = true
		e.alert = Alert{Rule: RuleTunnel, Domain: reg, Name: d.Name, Count: u, Queries: uint64(p.queries),
			TXTLike: uint64(p.txtLike), Threshold: uint64(e.rules.TunnelUnique), Window: e.rules.TunnelWindow}
		e.fire(c, t)
	}
}

func (e *AlertEngine) rateThreshold(c *clientState) uint64 {
	th := uint64(e.rules.RateCount)
	if b := e.rules.Baseline; b != nil {
		if bc := b.Client(c.addr); bc != nil {
			perWindow := bc.QueriesPerHour * e.rules.RateWindow.Hours()
			th = max(th, uint64(e.rules.RateFactor*perWindow+0.5))
		}
	}
	return th
}

// fire hands e.alert to the sink unless the rule and client alerted less
// than Suppress ago.
func (e *AlertEngine) fire(c *clientState, t int64) {
	r := e.alert.Rule
	if c.lastAlert[r] != 0 && t-c.lastAlert[r] < int64(e.rules.Suppress) && t >= c.lastAlert[r] {
		c.suppressed[r]++
		e.stats.Suppressed[r].Add(1)
		return
	}
	c.lastAlert[r] = t
	e.alert.Time, e.alert.Client, e.alert.Suppressed = t, c.addr, uint64(c.suppressed[r])
	c.suppressed[r] = 0
	e.stats.Alerts[r].Add(1)
	if e.sink != nil {
		e.sink(&e.alert)
	}
}

// client returns a's state, taking a slot (the least recently active of
// evictProbe candidates when the table is full) for a new client. A slot
// idle past e.idle is counted expired (its state no longer mattered), any
// other evicted.
func (e *AlertEngine) client(a netip.Addr, t int64) *clientState {
	if i, ok := e.clientIdx[a]; ok {
		c := &e.clients[i]
		c.last = max(c.last, t)
		return c
	}
	var i int
	if len(e.clientIdx) < len(e.clients) {
		for e.clients[e.clientHnd].used {
			e.clientHnd = (e.clientHnd + 1) % len(e.clients)
		}
		i = e.clientHnd
	} else {
		i = e.clientHnd
		for k := 1; k < evictProbe; k++ {
			j := (e.clientHnd + k) % len(e.clients)
			if e.clients[j].last < e.clients[i].last {
				i = j
			}
		}
		delete(e.clientIdx, e.clients[i].addr)
		if t-e.clients[i].last > e.idle {
			e.stats.ClientsExpired.Add(1)
		} else {
			e.stats.ClientsEvicted.Add(1)
		}
	}
	e.clientHnd = (i + 1) % len(e.clients)
	e.clients[i] = clientState{addr: a, last: t, used: true}
	e.clientIdx[a] = int32(i)
	return &e.clients[i]
}

func (e *AlertEngine) pair(k tunnelKey, t int64) *pairState {
	if i, ok := e.pairIdx[k]; ok {
		p := &e.pairs[i]
		p.last = max(p.last, t)
		return p
	}
	var i int
	if len(e.pairIdx) < len(e.pairs) {
		for e.pairs[e.pairHnd].used {
			e.pairHnd = (e.pairHnd + 1) % len(e.pairs)
		}
		i = e.pairHnd
	} else {
		i = e.pairHnd
		for j := 1; j < evictProbe; j++ {
			x := (e.pairHnd + j) % len(e.pairs)
			if e.pairs[x].last < e.pairs[i].last {
				i = x
			}
		}
		delete(e.pairIdx, e.pairs[i].key)
		if t-e.pairs[i].last > e.idle {
			e.stats.PairsExpired.Add(1)
		} else {
			e.stats.PairsEvicted.Add(1)
		}
	}
	e.pairHnd = (i + 1) % len(e.pairs)
	e.pairs[i] = pairState{key: k, last: t, start: t, used: true}
	e.pairIdx[k] = int32(i)
	return &e.pairs[i]
}

// appendJSONString appends s as a JSON string (RFC 8259 §7): quotes,
// backslashes and control bytes escaped, other bytes as they are (names
// are ASCII in presentation form).
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c >= 0x7f:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}
