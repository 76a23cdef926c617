package units

import (
	"math"
	"strings"
	"testing"
)

// unitOf is the divisor FormatSize prints n in: the largest power of 1024
// not above n, at most EiB.
func unitOf(n int64) int64 {
	div := int64(1)
	for div < EiB && n/div >= 1024 {
		div *= 1024
	}
	return div
}

// checkRoundTrip asserts that FormatSize(n) reads back as at most n and
// at most a tenth of its unit (plus the byte fraction ParseSize drops)
// below it: one printed decimal, rounded down so a size near a limit never
// prints above it.
func checkRoundTrip(t *testing.T, n int64) {
	t.Helper()
	s := FormatSize(n)
	back, err := ParseSize(s)
	if err != nil {
		t.Fatalf("FormatSize(%d) = %q does not parse: %v", n, s, err)
	}
	if back > n || n-back > unitOf(n)/10+1 {
		t.Fatalf("FormatSize(%d) = %q reads back as %d", n, s, back)
	}
	if r, err := ParseRate(FormatRate(n)); err != nil || r != back {
		t.Fatalf("FormatRate(%d) = %q reads back as %d, %v", n, FormatRate(n), r, err)
	}
}

func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "4096", "500K", "10 MiB", "1.5GB", ".5K", "1.0001K", "7EiB", "8EiB",
		"9223372036854775807", "9223372036854775808", "1.", "1..2K", "-5", "1e3", " 2 tib ", "0.99999999999999999999999EiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseSize(s)
		if err != nil {
			if _, rerr := ParseRate(s); rerr == nil && !strings.HasSuffix(strings.TrimSpace(s), "/s") && !strings.HasSuffix(strings.TrimSpace(s), "/S") {
				t.Fatalf("%q: not a size but a rate", s)
			}
			return
		}
		if n < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, n)
		}
		for _, rate := range []string{s, s + "/s", s + "/S"} {
			if r, err := ParseRate(rate); err != nil || r != n {
				t.Fatalf("ParseRate(%q) = %d, %v; ParseSize said %d", rate, r, err, n)
			}
		}
		checkRoundTrip(t, n)
	})
}

func FuzzFormatSize(f *testing.F) {
	for _, n := range []int64{0, 1, 1023, 1024, 1536, 10 << 20, KiB*1024 - 1, EiB - 1, math.MaxInt64, -1, math.MinInt64} {
		f.Add(n)
	}
	f.Fuzz(func(t *testing.T, n int64) {
		if n < 0 {
			if s := FormatSize(n); !strings.HasPrefix(s, "-") {
				t.Fatalf("FormatSize(%d) = %q", n, s)
			}
			return
		}
		checkRoundTrip(t, n)
	})
}
