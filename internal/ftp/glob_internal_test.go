package ftp

import (
	"errors"
	"path"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// The compiled glob must agree with path.Match (the syntax clients expect)
// on every pattern within the caps.
func FuzzGlobAgreesWithPathMatch(f *testing.F) {
	for _, s := range [][2]string{
		{"*.txt", "a.txt"}, {"?.log", "c.log"}, {"[ab].txt", "b.txt"}, {"[^a-c]x", "dx"},
		{"a*b*c", "aXbYc"}, {`\*`, "*"}, {"[]a]", "a"}, {"[a-]", "a"}, {"*", ""}, {"**x", "x"},
		{"[\\]]", "]"}, {"é?", "éü"}, {"[à-ü]", "é"}, {"*[b-y]z", "abz"}, {"a/b", "a/b"}, {"*", "a/b"},
		{"?", "/"}, {"[^x]", "/"}, {"[", ""}, {"a\\", "a"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, pattern, name string) {
		g, err := compileGlob(pattern)
		want, werr := path.Match(pattern, name)
		if errors.Is(err, errGlobComplex) {
			return
		}
		if (err != nil) != (werr != nil) {
			// path.Match reports a bad pattern only when it reaches the
			// bad part; a glob is checked whole. Ours may refuse more,
			// never accept what path.Match calls bad.
			if err == nil {
				t.Fatalf("compileGlob(%q) accepted what path.Match refuses (%v)", pattern, werr)
			}
			if _, perr := path.Match(pattern, ""); perr == nil && !strings.ContainsAny(pattern, "[\\") && utf8.ValidString(pattern) {
				t.Fatalf("compileGlob(%q) = %v, path.Match accepts it", pattern, err)
			}
			return
		}
		if err != nil {
			return
		}
		if got := g.match(name); got != want {
			t.Fatalf("glob %q on %q = %v, path.Match says %v", pattern, name, got, want)
		}
	})
}

func TestGlobRefusesPatternsPastTheCaps(t *testing.T) {
	for _, p := range []string{
		strings.Repeat("a", maxGlobLen+1),
		strings.Repeat("*a", maxGlobStars+1),
		strings.Repeat("?", maxGlobTokens+1),
	} {
		if _, err := compileGlob(p); !errors.Is(err, errGlobComplex) {
			t.Errorf("compileGlob(%.20q... %d bytes) = %v, want errGlobComplex", p, len(p), err)
		}
	}
	if _, err := compileGlob(strings.Repeat("*", 100) + "x"); err != nil {
		t.Errorf("a run of stars is one star: %v", err)
	}
}

// The pathological patterns cost about what a plain one does: one pass
// over the name, never a search. Compared in the same run, so the bound is
// a ratio, not a speed on this machine.
func TestGlobCostDoesNotGrowWithPatternComplexity(t *testing.T) {
	names := make([]string, 2000)
	for i := range names {
		names[i] = strings.Repeat("b", 200) + string(rune('a'+i%26))
	}
	cost := func(pattern string) time.Duration {
		g, err := compileGlob(pattern)
		if err != nil {
			t.Fatalf("%q: %v", pattern, err)
		}
		best := time.Duration(1 << 62)
		for range 5 {
			start := time.Now()
			for _, n := range names {
				g.match(n)
			}
			best = min(best, time.Since(start))
		}
		return best
	}
	plain := cost("*z")
	class := "[" + strings.Repeat("a", 50) + "b]"
	for _, p := range []string{
		"*" + class + "*" + class + "*" + class + "*" + class + "z",
		strings.Repeat("*b", maxGlobStars) + "z",
		"*" + strings.Repeat("?", 50) + "z",
	} {
		if c := cost(p); c > 20*plain+time.Millisecond {
			t.Errorf("pattern %.30q... cost %v over 2000 names, the plain *z %v: more than 20 times", p, c, plain)
		}
	}
}

func BenchmarkGlob(b *testing.B) {
	name := strings.Repeat("b", 200) + "a"
	class := "[" + strings.Repeat("a", 50) + "b]"
	hostile := "*" + class + "*" + class + "*" + class + "*" + class + "z"
	for _, c := range []struct{ name, pattern string }{{"plain", "*z"}, {"hostile", hostile}} {
		b.Run("wharf/"+c.name, func(b *testing.B) {
			g, _ := compileGlob(c.pattern)
			for b.Loop() {
				g.match(name)
			}
		})
		b.Run("path.Match/"+c.name, func(b *testing.B) {
			for b.Loop() {
				path.Match(c.pattern, name)
			}
		})
	}
}
