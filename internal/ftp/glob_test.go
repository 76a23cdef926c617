package ftp_test

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

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
