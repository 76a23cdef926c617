package ftp

import (
	"errors"
	"unicode/utf8"
)

// Limits on a LIST/NLST pattern. path.Match re-scans its character
// classes at every position of every name and re-validates the pattern on
// each failed call: over 20,000 files a 255-byte pattern of stars and
// classes cost 17 times the CPU of the full listing. A compiled glob
// matches in one pass over the name whatever the pattern, and these caps
// keep the compiled form small.
const (
	// maxGlobLen is the longest pattern taken (a name is at most 255
	// bytes on every common filesystem; a longer pattern is not a name).
	maxGlobLen = 255
	// maxGlobStars: classic ftp's mget sends one or two; vsftpd's glob
	// CVE needed dozens.
	maxGlobStars = 8
	// maxGlobTokens is what one machine word of match state holds: each
	// token (literal, ?, class, star) is one bit, plus the accepting one.
	maxGlobTokens = 63
)

var (
	errGlobSyntax  = errors.New("bad glob pattern")
	errGlobComplex = errors.New("glob pattern too complex")
)

type globKind uint8

const (
	globLit   globKind = iota // one rune
	globAny                   // ?: one rune
	globClass                 // [...]: one rune in (or, negated, not in) the ranges
	globStar                  // *: any run of runes
)

type globToken struct {
	kind   globKind
	r      rune      // globLit
	ranges [][2]rune // globClass, inclusive
	neg    bool      // globClass
}

// glob is a compiled pattern with path.Match's syntax (* ? [...] [^...]
// ranges and \ escapes; names never hold '/'). Matching simulates the
// pattern's automaton with one bit per token, so it costs one pass over
// the name, never backtracking.
type glob struct {
	tokens []globToken
	star   uint64      // bit k: token k is a star (state k may stay)
	ascii  [128]uint64 // bit k: token k (not a star) accepts that byte
	final  uint64      // the bit of the state past the last token
}

// compileGlob parses pattern, or returns errGlobSyntax (what path.Match
// calls ErrBadPattern) or errGlobComplex (past the caps above).
func compileGlob(pattern string) (*glob, error) {
	if len(pattern) > maxGlobLen {
		return nil, errGlobComplex
	}
	if !utf8.ValidString(pattern) {
		// Matching is by rune; a pattern that is no text matches no name
		// a client could mean.
		return nil, errGlobSyntax
	}
	g := &glob{}
	stars := 0
	for i := 0; i < len(pattern); {
		c := pattern[i]
		var t globToken
		switch c {
		case '*':
			i++
			if n := len(g.tokens); n > 0 && g.tokens[n-1].kind == globStar {
				continue // ** is *
			}
			if stars++; stars > maxGlobStars {
				return nil, errGlobComplex
			}
			t.kind = globStar
		case '?':
			i++
			t.kind = globAny
		case '[':
			var err error
			if t, i, err = parseClass(pattern, i+1); err != nil {
				return nil, err
			}
		case '\\':
			i++
			if i >= len(pattern) {
				return nil, errGlobSyntax
			}
			fallthrough
		default:
			r, n := utf8.DecodeRuneInString(pattern[i:])
			i += n
			t = globToken{kind: globLit, r: r}
		}
		if len(g.tokens) >= maxGlobTokens {
			return nil, errGlobComplex
		}
		g.tokens = append(g.tokens, t)
	}
	for k, t := range g.tokens {
		if t.kind == globStar {
			g.star |= 1 << k
			continue
		}
		for b := range rune(128) {
			if t.accepts(b) {
				g.ascii[b] |= 1 << k
			}
		}
	}
	g.final = 1 << len(g.tokens)
	return g, nil
}

// parseClass parses a class after its '['; it returns the token and the
// index past the ']'.
func parseClass(p string, i int) (globToken, int, error) {
	t := globToken{kind: globClass}
	if i < len(p) && p[i] == '^' {
		t.neg = true
		i++
	}
	for first := true; ; first = false {
		if i >= len(p) {
			return t, 0, errGlobSyntax
		}
		if p[i] == ']' && !first {
			return t, i + 1, nil
		}
		lo, n, err := classRune(p, i)
		if err != nil {
			return t, 0, err
		}
		i += n
		hi := lo
		if i < len(p) && p[i] == '-' {
			if hi, n, err = classRune(p, i+1); err != nil {
				return t, 0, err
			}
			i += 1 + n
		}
		if len(t.ranges) >= maxGlobLen {
			return t, 0, errGlobComplex
		}
		t.ranges = append(t.ranges, [2]rune{lo, hi})
	}
}

// classRune reads one (possibly escaped) rune of a class, refusing the
// characters path.Match refuses there.
func classRune(p string, i int) (rune, int, error) {
	if i >= len(p) || p[i] == '-' || p[i] == ']' {
		return 0, 0, errGlobSyntax
	}
	n := 0
	if p[i] == '\\' {
		i++
		n++
		if i >= len(p) {
			return 0, 0, errGlobSyntax
		}
	}
	r, w := utf8.DecodeRuneInString(p[i:])
	return r, n + w, nil
}

// accepts reports whether a non-star token consumes r.
// As in path.Match, only ? and * refuse '/'.
func (t *globToken) accepts(r rune) bool {
	switch t.kind {
	case globLit:
		return r == t.r
	case globAny:
		return r != '/'
	case globClass:
		in := false
		for _, rg := range t.ranges {
			if rg[0] <= r && r <= rg[1] {
				in = true
				break
			}
		}
		return in != t.neg
	}
	return false
}

// closure adds the states reached by skipping a star (an empty run). Runs
// of stars are one token, so one step is enough.
func (g *glob) closure(s uint64) uint64 { return s | (s&g.star)<<1 }

// match reports whether name matches the whole pattern.
func (g *glob) match(name string) bool {
	s := g.closure(1)
	for i := 0; i < len(name) && s != 0; {
		var acc uint64
		if c := name[i]; c < utf8.RuneSelf {
			acc = g.ascii[c]
			i++
		} else {
			r, n := utf8.DecodeRuneInString(name[i:])
			i += n
			for k := range g.tokens {
				if t := &g.tokens[k]; t.kind != globStar && t.accepts(r) {
					acc |= 1 << k
				}
			}
		}
		stay := s & g.star
		if name[i-1] == '/' {
			stay = 0 // a star never crosses '/'
		}
		s = g.closure((s&acc)<<1 | stay)
	}
	return s&g.final != 0
}
