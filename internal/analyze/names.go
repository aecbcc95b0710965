package analyze

import (
	"bytes"
	"math"
	"unsafe"

	"golang.org/x/net/publicsuffix"
)

// RegisteredDomain returns the registered domain of a lower-case name
// (the public suffix plus one label, from the Public Suffix List in
// golang.org/x/net/publicsuffix), as a subslice of name; the name itself
// when it has no label above a public suffix (a TLD, "", a single label).
func RegisteredDomain(name []byte) []byte {
	if len(name) == 0 {
		return name
	}
	// The string aliases name only for the call: EffectiveTLDPlusOne
	// returns a substring of its argument or an error, and nothing of it
	// is kept, so the per-message path does not copy the name.
	s := unsafe.String(unsafe.SliceData(name), len(name))
	d, err := publicsuffix.EffectiveTLDPlusOne(s)
	if err != nil {
		return name
	}
	return name[len(name)-len(d):]
}

// HasRegisteredDomain reports whether name is below a public suffix.
func HasRegisteredDomain(name []byte) bool {
	if len(name) == 0 {
		return false
	}
	s := unsafe.String(unsafe.SliceData(name), len(name))
	d, err := publicsuffix.EffectiveTLDPlusOne(s)
	return err == nil && len(d) > 0
}

// Subdomain is the part of name left of its registered domain, without the
// joining dot ("" when there is none).
func Subdomain(name, regDomain []byte) []byte {
	if len(regDomain) >= len(name) {
		return nil
	}
	return name[:len(name)-len(regDomain)-1]
}

// Entropy is the Shannon entropy of the bytes of s in bits per byte, dots
// left out: random base32 labels score about 4.5, words about 3.
func Entropy(s []byte) float64 {
	var counts [256]uint16
	n := 0
	for _, c := range s {
		if c != '.' {
			counts[c]++
			n++
		}
	}
	if n == 0 {
		return 0
	}
	var h float64
	fn := float64(n)
	for _, c := range counts {
		if c != 0 {
			p := float64(c) / fn
			h -= p * math.Log2(p)
		}
	}
	return h
}

// LongestLabel is the length of the longest label of a presentation-form
// name.
func LongestLabel(name []byte) int {
	best := 0
	for len(name) > 0 {
		i := bytes.IndexByte(name, '.')
		if i < 0 {
			return max(best, len(name))
		}
		best = max(best, i)
		name = name[i+1:]
	}
	return best
}

// HasSuffixName reports whether name is suffix or below it (label-wise).
func HasSuffixName(name []byte, suffix string) bool {
	if len(name) < len(suffix) || string(name[len(name)-len(suffix):]) != suffix {
		return false
	}
	return len(name) == len(suffix) || name[len(name)-len(suffix)-1] == '.'
}
