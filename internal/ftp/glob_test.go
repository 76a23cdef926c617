package ftp_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regression (NLST *.txt and LIST sp* answered 550: no globs at all, so
// classic ftp's mget found nothing): a trailing path component with * ? or
// [...] is matched over that one folder, never recursively.
func TestNlstAndListMatchATrailingGlob(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	for _, f := range []string{"a.txt", "b.txt", "c.log", "sp1", "sp2", "lit*", "sub/x.txt", "sub/y.log", "sub/deeper/z.txt"} {
		writeFile(t, filepath.Join(home, f), []byte("x"))
	}
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	host, _ := hostPort(t, srv.Addr)
	lines := func(cmd string) ([]string, int) {
		t.Helper()
		b, code := retrData(t, r, host, cmd)
		var out []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\r\n") {
			if l != "" {
				out = append(out, l)
			}
		}
		slices.Sort(out)
		return out, code
	}
	cases := []struct {
		cmd  string
		want []string
	}{
		{"NLST *.txt", []string{"a.txt", "b.txt"}},
		{"NLST ?.log", []string{"c.log"}},
		{"NLST [ab].txt", []string{"a.txt", "b.txt"}},
		{"NLST sub/*.txt", []string{"sub/x.txt"}}, // paths a client can RETR
		{"NLST /sub/*.log", []string{"/sub/y.log"}},
		{"NLST nothing*", nil},
		{"NLST lit*", []string{"lit*"}}, // a name that exists is no pattern
	}
	for _, c := range cases {
		got, code := lines(c.cmd)
		if code != 226 || !slices.Equal(got, c.want) {
			t.Errorf("%s = %q (%d), want %q", c.cmd, got, code, c.want)
		}
	}
	got, code := lines("LIST -la sp*")
	if code != 226 || len(got) != 2 || !strings.HasSuffix(got[0], " sp1") || !strings.HasSuffix(got[1], " sp2") {
		t.Errorf("LIST -la sp* = %q (%d)", got, code)
	}
	// Only the last component is a pattern, and MLSD takes none.
	for _, cmd := range []string{"NLST */x.txt", "MLSD *.txt", "NLST nodir/*.txt"} {
		if _, code := lines(cmd); code != 550 {
			t.Errorf("%s: reply %d, want 550", cmd, code)
		}
	}
}

// Issue 9: over 20,000 files a pattern of at most 255 bytes (stars and
// character classes) cost 17 times the CPU of the full listing. Over real
// sessions, the worst patterns within the caps now cost about what
// listing the folder costs, and patterns past them are refused with 501.
func TestHostileGlobCostsAboutAListing(t *testing.T) {
	if testing.Short() {
		t.Skip("creates 5,000 files")
	}
	srv, home := start(t, ftptest.Options{})
	for i := range 5000 {
		name := strings.Repeat("b", 180) + strconv.Itoa(i)
		if err := os.WriteFile(filepath.Join(home, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	host, _ := hostPort(t, srv.Addr)
	best := func(cmd string) time.Duration {
		d := time.Duration(1 << 62)
		for range 3 {
			start := time.Now()
			if _, code := retrData(t, r, host, cmd); code != 226 {
				t.Fatalf("%s: reply %d", cmd, code)
			}
			d = min(d, time.Since(start))
		}
		return d
	}
	full := best("NLST")
	class := "[" + strings.Repeat("a", 50) + "b]"
	hostile := "*" + class + "*" + class + "*" + class + "*" + class + "z"
	cost := best("NLST " + hostile)
	t.Logf("NLST of 5,000 names %v; with a %d-byte pattern of stars and classes %v (%.1fx)",
		full, len(hostile), cost, float64(cost)/float64(full))
	// Backtracking cost 50 times the listing; a one-pass matcher stays
	// within a few times even under the race detector.
	if cost > 10*full+50*time.Millisecond {
		t.Errorf("the pattern cost %v, the full listing %v: want about the same", cost, full)
	}
	for _, p := range []string{strings.Repeat("*b", 9) + "z", strings.Repeat("?", 64)} {
		if _, code := retrData(t, r, host, "NLST "+p); code != 501 {
			t.Errorf("NLST of a pattern past the caps (%.20s...): %d, want 501", p, code)
		}
	}
}
