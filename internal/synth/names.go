package synth

import "math/rand/v2"

// Vocabulary for generated names. Made-up words rather than real brands, so
// the captures point at nobody's domains.
var (
	words = [...]string{
		"blue", "river", "stone", "cloud", "north", "south", "green", "media", "shop", "data",
		"news", "game", "book", "travel", "photo", "music", "video", "health", "bank", "cart",
		"market", "smart", "fast", "open", "star", "sun", "moon", "tree", "lake", "hill",
		"city", "home", "tech", "soft", "net", "web", "mail", "link", "hub", "lab",
		"pixel", "code", "byte", "signal", "track", "metric", "stream", "cast", "play", "sport",
		"food", "wine", "coffee", "garden", "auto", "motor", "fly", "air", "sea", "ocean",
		"alpha", "beta", "delta", "gamma", "omega", "nova", "terra", "luna", "sol", "astro",
		"craft", "forge", "works", "studio", "design", "print", "paper", "ink", "note", "page",
		"secure", "trust", "safe", "guard", "shield", "vault", "key", "lock", "gate", "bridge",
		"swift", "rapid", "quick", "prime", "core", "edge", "peak", "summit", "base", "camp",
		"union", "global", "local", "metro", "urban", "rural", "farm", "field", "wood", "iron",
		"gold", "silver", "copper", "amber", "coral", "jade", "ruby", "pearl", "ivory", "onyx",
		"atlas", "orbit", "rocket", "comet", "planet", "galaxy", "quantum", "vector", "matrix", "logic",
		"school", "campus", "learn", "study", "kids", "family", "pet", "dog", "cat", "bird",
		"radio", "tv", "film", "show", "event", "ticket", "deal", "coupon", "price", "store",
	}
	subLabels = [...]string{
		"www", "www", "www", "api", "cdn", "static", "img", "images", "mail", "m",
		"app", "login", "auth", "accounts", "assets", "media", "video", "edge", "s3", "updates",
		"time", "ntp", "push", "ws", "chat", "status", "docs", "blog", "shop", "support",
		"metrics", "telemetry", "ads", "track", "analytics", "config", "graph", "gateway", "portal", "vpn",
	}
	regions = [...]string{"eu-west-1", "us-east-1", "us-west-2", "ap-south-1", "eu-central-1", "fra1", "ams3", "nyc2", "sin1", "lon1"}
	tlds    = [...]struct {
		name   string
		weight int
	}{
		{"com", 45}, {"net", 10}, {"org", 8}, {"de", 5}, {"co.uk", 4}, {"io", 3}, {"ru", 3},
		{"jp", 2}, {"fr", 2}, {"nl", 2}, {"com.br", 2}, {"info", 2}, {"cn", 2}, {"com.au", 2},
		{"it", 2}, {"pl", 1}, {"ca", 1}, {"dev", 1}, {"app", 1}, {"xyz", 1}, {"eu", 1},
		{"ch", 1}, {"se", 1}, {"es", 1}, {"in", 1},
	}
	tldTotal = func() int {
		n := 0
		for _, t := range tlds {
			n += t.weight
		}
		return n
	}()
)

// domain is one name of the pool, in wire form in namePool.arena.
type domain struct {
	off  uint32 // start in arena
	n    uint16 // wire length, root label included
	apex uint8  // offset of the registered domain (e.g. example.co.uk) within the name
	tld  uint8  // offset of the public suffix within the name
}

// namePool holds the popular names, drawn Zipf-like so a few names carry
// most queries, as at any resolver.
type namePool struct {
	arena     []byte
	doms      []domain
	zipf      *rand.Zipf
	providers []domain // CDN, mail and DNS hosting domains used as CNAME, MX, NS and PTR targets
}

func newNamePool(r *rand.Rand, n int) *namePool {
	p := &namePool{arena: make([]byte, 0, n*24), doms: make([]domain, n)}
	for i := range p.doms {
		p.doms[i] = p.add(r, r.IntN(100))
	}
	p.providers = make([]domain, 32)
	for i := range p.providers {
		p.providers[i] = p.add(r, 100) // bare registered domains
	}
	p.zipf = rand.NewZipf(r, 1.1, 4, uint64(n-1))
	return p
}

// add builds a name: sub labels for shape < 65, then a registered domain
// and a public suffix.
func (p *namePool) add(r *rand.Rand, shape int) domain {
	d := domain{off: uint32(len(p.arena))}
	switch {
	case shape < 40:
		p.label(subLabels[r.IntN(len(subLabels))])
	case shape < 55:
		p.label(subLabels[r.IntN(len(subLabels))])
		p.label(regions[r.IntN(len(regions))])
	case shape < 65:
		p.label(subLabels[r.IntN(len(subLabels))])
		p.label(words[r.IntN(len(words))])
	}
	d.apex = uint8(uint32(len(p.arena)) - d.off)
	// Second-level label.
	start := len(p.arena)
	p.arena = append(p.arena, 0)
	switch k := r.IntN(10); {
	case k < 3:
		p.arena = append(p.arena, words[r.IntN(len(words))]...)
	case k < 7:
		p.arena = append(p.arena, words[r.IntN(len(words))]...)
		p.arena = append(p.arena, words[r.IntN(len(words))]...)
	case k < 8:
		p.arena = append(p.arena, words[r.IntN(len(words))]...)
		p.arena = append(p.arena, '-')
		p.arena = append(p.arena, words[r.IntN(len(words))]...)
	case k < 9:
		p.arena = append(p.arena, words[r.IntN(len(words))]...)
		p.arena = appendUint(p.arena, uint64(r.IntN(1000)))
	default:
		for j := 2 + r.IntN(3); j > 0; j-- {
			p.arena = append(p.arena, byte('a'+r.IntN(26)))
		}
	}
	p.arena[start] = byte(len(p.arena) - start - 1)
	d.tld = uint8(uint32(len(p.arena)) - d.off)
	w := r.IntN(tldTotal)
	for _, t := range tlds {
		if w < t.weight {
			p.dotted(t.name)
			break
		}
		w -= t.weight
	}
	p.arena = append(p.arena, 0)
	d.n = uint16(uint32(len(p.arena)) - d.off)
	return d
}

func (p *namePool) label(s string) {
	p.arena = append(p.arena, byte(len(s)))
	p.arena = append(p.arena, s...)
}

// dotted appends the labels of a dotted name (no root).
func (p *namePool) dotted(s string) {
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			p.label(s[start:i])
			start = i + 1
		}
	}
}

func (p *namePool) wire(d domain) []byte { return p.arena[d.off : d.off+uint32(d.n)] }

// pick returns a popular name, Zipf-distributed.
func (p *namePool) pick() domain { return p.doms[p.zipf.Uint64()] }

func appendUint(b []byte, v uint64) []byte {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + v%10)
		v /= 10
		if v == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}
