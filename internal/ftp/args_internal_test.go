package ftp

import (
	"strconv"
	"strings"
	"testing"
)

// The argument parsers on their own, much faster than through a session
// (fuzz_test.go drives them over real sockets): each must return, never
// panic, and what it accepts must be what the text said.

func FuzzSplitRangeArgs(f *testing.F) {
	for _, s := range []string{"f", "my file.txt 10 20", "f, 10, 20", `"a b" 1 2`, "f\u00a010", "a.txt -5 -1", "a 99999999999999999999", "  ", " 1 2", "1 2 3 4"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		file, start, end, err := splitRangeArgs(arg)
		if err != nil {
			return
		}
		if start < 0 || end < -1 {
			t.Fatalf("%q: range %d %d", arg, start, end)
		}
		if !strings.Contains(arg, file) {
			t.Fatalf("%q: file %q is not from the argument", arg, file)
		}
		if end >= 0 && !strings.Contains(arg, strconv.FormatInt(end, 10)) || start > 0 && !strings.Contains(arg, strconv.FormatInt(start, 10)) {
			t.Fatalf("%q: range %d %d is not from the argument", arg, start, end)
		}
	})
}

func FuzzParseALLO(f *testing.F) {
	for _, s := range []string{"100", "   ", "\u00a0", "100 R 10", "-1", "+1", "99999999999999999999", "1 R"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		n, ok := parseALLO(arg)
		if !ok {
			return
		}
		first, _, _ := strings.Cut(strings.TrimLeft(arg, " "), " ")
		if n < 0 || strings.TrimLeft(first, "0") != strings.TrimLeft(strconv.FormatInt(n, 10), "0") {
			t.Fatalf("%q: %d", arg, n)
		}
	})
}

func FuzzParseTimeVal(f *testing.F) {
	for _, s := range []string{"20200101000000", "20200101000000.123", "20201301000000", "2020010100000", "20200101000000.1234567891", "20200101000000.-1", "99991231235959.999999999", "2020010100000\u00a0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tm, err := parseTimeVal(s)
		if err != nil {
			return
		}
		whole, _, _ := strings.Cut(s, ".")
		if got := tm.UTC().Format(mdtmLayout); got != whole {
			t.Fatalf("%q read as %v (%s)", s, tm, got)
		}
	})
}
