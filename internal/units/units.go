// Package units reads and prints human sizes and rates ("10MiB", "1.5GB",
// "500K", "2M/s") for the admin tool and the client.
//
// It owns only the notation. It must never decide limits or round a size up:
// a parsed size is at most what the admin wrote.
package units

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// Binary multiples. A bare letter (K, M, G, T) means the binary multiple, as
// rsync, dd and most admins' habits do; "KB", "MB" ... are decimal (SI), and
// "KiB", "MiB" ... binary (IEC).
const (
	KiB int64 = 1 << (10 * (iota + 1))
	MiB
	GiB
	TiB
	PiB
	EiB
)

var errEmpty = errors.New("empty size")

// ParseSize reads a byte count: a non-negative number with an optional
// fraction and unit, case-insensitive, spaces allowed before the unit:
// "0", "4096", "500K", "10MiB", "1.5GB", "2 TiB". A fraction of a byte is
// dropped. Sizes past what int64 holds are an error.
func ParseSize(s string) (int64, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("parse size %q: %w", in, errEmpty)
	}
	if s[0] == '-' {
		return 0, fmt.Errorf("parse size %q: a size cannot be negative", in)
	}
	i := 0
	for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
		i++
	}
	num, unit := s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	mult, ok := multipliers(unit)
	if !ok {
		return 0, fmt.Errorf("parse size %q: unknown unit %q (want B, K/KiB, KB, M/MiB, MB, G/GiB, GB, T/TiB, TB)", in, s[i:])
	}
	whole, frac, hasDot := strings.Cut(num, ".")
	if whole == "" && frac == "" || strings.Contains(frac, ".") || hasDot && frac == "" {
		return 0, fmt.Errorf("parse size %q: not a number", in)
	}
	var w int64
	if whole != "" {
		var err error
		w, err = strconv.ParseInt(whole, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse size %q: too large", in)
		}
	}
	if w > math.MaxInt64/mult {
		return 0, fmt.Errorf("parse size %q: too large", in)
	}
	n := w * mult
	if frac != "" {
		// The fraction is computed in exact integers, so "1.5GB" is exactly
		// 1500000000 with no float rounding; a fraction of a byte is dropped.
		f, _ := new(big.Int).SetString(frac, 10)
		f.Mul(f, big.NewInt(mult))
		f.Quo(f, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil))
		if !f.IsInt64() || n > math.MaxInt64-f.Int64() {
			return 0, fmt.Errorf("parse size %q: too large", in)
		}
		n += f.Int64()
	}
	return n, nil
}

func multipliers(unit string) (int64, bool) {
	switch unit {
	case "", "b":
		return 1, true
	case "k", "kib", "ki":
		return KiB, true
	case "m", "mib", "mi":
		return MiB, true
	case "g", "gib", "gi":
		return GiB, true
	case "t", "tib", "ti":
		return TiB, true
	case "p", "pib", "pi":
		return PiB, true
	case "e", "eib", "ei":
		return EiB, true
	case "kb":
		return 1e3, true
	case "mb":
		return 1e6, true
	case "gb":
		return 1e9, true
	case "tb":
		return 1e12, true
	case "pb":
		return 1e15, true
	case "eb":
		return 1e18, true
	}
	return 0, false
}

// ParseRate reads a byte rate: a size followed by "/s" (or nothing):
// "10MiB/s", "500K", "1.5MB/s".
func ParseRate(s string) (int64, error) {
	t := strings.TrimSpace(s)
	t = strings.TrimSuffix(strings.TrimSuffix(t, "/s"), "/S")
	n, err := ParseSize(t)
	if err != nil {
		// ParseSize's message names the size part; say which rate it was in.
		_, why, _ := strings.Cut(err.Error(), ": ")
		return 0, fmt.Errorf("parse rate %q: %s (want a size per second, like 10MiB/s)", s, why)
	}
	return n, nil
}

// FormatSize prints n in binary units with at most one decimal, dropping a
// ".0": 0 → "0B", 1023 → "1023B", 1536 → "1.5KiB", 10485760 → "10MiB".
// ParseSize reads every result back to within the printed precision.
func FormatSize(n int64) string {
	if n < 0 {
		return "-" + FormatSize(-max(n, -math.MaxInt64))
	}
	if n < KiB {
		return strconv.FormatInt(n, 10) + "B"
	}
	units := [...]string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"}
	div := KiB
	u := 0
	for u < len(units)-1 && n/div >= 1024 {
		div *= 1024
		u++
	}
	// Tenths, rounded down so a size near a limit never prints above it;
	// unsigned so the remainder times ten cannot overflow.
	un, ud := uint64(n), uint64(div)
	tenths := int64(un/ud*10 + un%ud*10/ud)
	if tenths%10 == 0 {
		return strconv.FormatInt(tenths/10, 10) + units[u]
	}
	return strconv.FormatInt(tenths/10, 10) + "." + strconv.FormatInt(tenths%10, 10) + units[u]
}

// FormatRate prints a byte rate as FormatSize does, with "/s".
func FormatRate(n int64) string { return FormatSize(n) + "/s" }
