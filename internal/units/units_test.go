package units

import (
	"math"
	"strings"
	"testing"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "4096": 4096, "12B": 12, "500K": 500 * 1024, "500k": 500 * 1024, "10MiB": 10 << 20,
		"10 MiB": 10 << 20, "1.5GB": 1_500_000_000, "1.5G": 3 << 29, "2TiB": 2 << 40, "1KB": 1000,
		"0.5K": 512, ".5K": 512, "1.0001K": 1024, "8EiB" /* overflows */ : -1, "7EiB": 7 << 60,
		"9223372036854775807": math.MaxInt64, "9223372036854775808": -1,
		"": -1, "MiB": -1, "1.": -1, "1..2K": -1, "-5": -1, "5X": -1, "1e3": -1, "1,5M": -1, "10 MiB/s": -1,
	} {
		got, err := ParseSize(in)
		if want < 0 {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want an error", in, got)
			}
			continue
		}
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}

func TestParseRate(t *testing.T) {
	for in, want := range map[string]int64{"10MiB/s": 10 << 20, "500K": 500 << 10, "1.5MB/s": 1_500_000} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseRate("fast/s"); err == nil {
		t.Error("ParseRate accepted nonsense")
	}
}

func TestFormatSize(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0B", 1023: "1023B", 1024: "1KiB", 1536: "1.5KiB", 1535: "1.4KiB", 10 << 20: "10MiB",
		1_500_000_000: "1.3GiB", 1<<40 - 1: "1023.9GiB", 1 << 40: "1TiB", math.MaxInt64: "7.9EiB", -2048: "-2KiB",
	} {
		if got := FormatSize(n); got != want {
			t.Errorf("FormatSize(%d) = %q, want %q", n, got, want)
		}
	}
	if FormatRate(2048) != "2KiB/s" {
		t.Errorf("FormatRate(2048) = %q", FormatRate(2048))
	}
}

func TestFormatThenParseStaysAtOrBelow(t *testing.T) {
	for _, n := range []int64{1, 999, 1024, 1500, 123456789, 5 << 30, 1<<50 + 12345} {
		back, err := ParseSize(FormatSize(n))
		if err != nil || back > n || float64(n-back) > float64(n)*0.1 {
			t.Errorf("FormatSize(%d) = %q reads back as %d, %v", n, FormatSize(n), back, err)
		}
	}
}

// Regression: a rate with an unknown unit printed "%!w(<nil>)" because the
// size error it wrapped had nothing to unwrap.
func TestParseRateErrorIsReadable(t *testing.T) {
	for _, in := range []string{"10MiB/h", "abc/s", "5MB/min", ""} {
		_, err := ParseRate(in)
		if err == nil {
			t.Fatalf("ParseRate(%q) accepted", in)
		}
		if msg := err.Error(); strings.Contains(msg, "%!") || !strings.Contains(msg, "rate") {
			t.Errorf("ParseRate(%q): unreadable error %q", in, msg)
		}
	}
}

// Regression: "-5" was refused as an unknown unit "-5".
func TestNegativeSizeSaysSo(t *testing.T) {
	for _, in := range []string{"-5", " -1MiB", "-0.5K"} {
		if _, err := ParseSize(in); err == nil || !strings.Contains(err.Error(), "negative") {
			t.Errorf("ParseSize(%q) = %v, want a negative-size error", in, err)
		}
	}
	if _, err := ParseRate("-1MiB/s"); err == nil || !strings.Contains(err.Error(), "negative") {
		t.Errorf("ParseRate(-1MiB/s) = %v", err)
	}
}
