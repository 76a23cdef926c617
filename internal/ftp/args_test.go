package ftp_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wharfftp/wharf/internal/ftptest"
)

// Regressions from the hardening audit (issue 9): each of these arguments
// crashed the session or got the wrong reply. ftptest fails the test on any
// recovered panic, so a crash shows even where the reply looks right.
func TestArgumentShapesGetTheirReplyWithoutACrash(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "a.txt"), []byte("0123456789"))
	writeFile(t, filepath.Join(home, "f\u00a010"), []byte("nbsp"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	cases := []struct {
		line string
		code int
	}{
		{"ALLO   ", 501}, // panicked: strings.Fields of only spaces
		{"ALLO \u00a0", 501},
		{"ALLO 10", 202},
		{"ALLO 10 R 5", 202},
		{"ALLO 10 X 5", 501},
		{"ALLO -1", 501},
		{"ALLO +1", 501},
		{"ALLO 99999999999999999999", 501},
		{"ALLO 9223372036854775807", 202}, // no quota: nothing to refuse
		// A no-break space is part of the name, not a separator: this
		// panicked in the gate's permission check.
		{"XMD5 f\u00a010", 250},
		{"XMD5 a.txt\u00a01", 550},
		{"XCRC a.txt -5 -1", 501}, // was 451
		{"XMD5 a.txt -1", 501},    // was 451
		{"XMD5 a.txt 99999999999999999999", 501},
		{"XMD5 a.txt 2 1", 501},
		{"XSHA1 a.txt 0 5", 250},
		{"XSHA256 a.txt, 1, 2", 250},
		{"XCRC \"a.txt\" 1", 250},
		{"XMD5  ", 550},
		{"REST -1", 501},
		{"REST +1", 501},
		{"REST  1", 501},
		{"REST 99999999999999999999", 501},
		{"REST 0", 350},
		{"RANG 1", 501},
		{"RANG -1 5", 501},
		{"RANG 0 9223372036854775807", 501}, // HASH adds one to the end
		{"RANG 0 \u00a05", 501},
		{"RANG 0 9223372036854775806", 350},
		{"RANG 1 0", 350},
		{"MFMT 20200101000000", 501},
		{"MFMT 2020010100000\u00a0 a.txt", 501},
		{"MFMT 20201301000000 a.txt", 501},
		{"MFMT 20200101000000.-1 a.txt", 501},
		{"MFMT 20200101000000.1234567891 a.txt", 501},
		{"MFMT 20200101000000.5 a.txt", 213},
		// Outside int64 nanoseconds os.Chtimes set another time (9999
		// became 1901, year 1 left it unchanged) and 213 claimed success.
		{"MFMT 00010101000000 a.txt", 501},
		{"MFMT 16000101000000 a.txt", 501},
		{"MFMT 99991231235959 a.txt", 501},
		{"MFMT 22630101000000 a.txt", 501},
		{"MFMT 16780101000000 a.txt", 213},
		{"MFMT 22620101000000 a.txt", 213},
		{"MDTM a.txt", 213},
		{"MDTM \u00a0", 550},
		{"PORT 127,0,0,1,\u00a04,1", 501},
		{"PORT 127,0,0,1,4,256", 501},
		{"PORT 127,0,0,1,4,-1", 501},
		{"EPRT \u00a0", 501},
		{"EPRT |1|127.0.0.1|-1|", 501},
		{"EPRT |1|127.0.0.1|70000|", 501},
		{"EPRT |3|x|1|", 522},
		{"EPSV -1", 501},
		{"OPTS MLST", 200},
		{"OPTS \u00a0", 501},
		{"OPTS HASH \u00a0", 501},
		{"SITE \u00a0", 502},
		{"SITE QUOTA \u00a0", 200},
		{"MLST \u00a0", 550},
		{"TYPE \u00a0", 504},
		{"NOOP", 200},
	}
	for _, c := range cases {
		if code, msg := r.send(c.line); code != c.code {
			t.Errorf("%q: %d %q, want %d", c.line, code, msg, c.code)
		}
	}
	if n := srv.Engine.Panics(); n != 0 {
		t.Fatalf("%d panic(s) recovered", n)
	}
}

// Regression: a bare LF ended a command, so "SIZE name\nDELE victim" ran the
// DELE. The whole line is now one command whose argument holds a control
// byte: 501, and nothing is deleted. A bare CR is refused the same way.
func TestBareLFInAnArgumentRunsNoSecondCommand(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	victim := filepath.Join(home, "victim")
	writeFile(t, victim, []byte("keep me"))
	writeFile(t, filepath.Join(home, "name"), []byte("x"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	// Two lines: a third malformed one closes the session (maxBadLines).
	for _, line := range []string{"SIZE name\nDELE victim", "RNFR name\rRNTO victim"} {
		if _, err := r.c.Write([]byte(line + "\r\n")); err != nil {
			t.Fatal(err)
		}
		if code, msg := r.read(); code != 501 {
			t.Fatalf("%q: %d %q, want 501", line, code, msg)
		}
	}
	// Only the reply to NOOP may follow: no reply to a smuggled command.
	if msg := r.must("NOOP", 200); strings.Contains(msg, "elete") {
		t.Fatalf("NOOP answered %q", msg)
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "keep me" {
		t.Fatalf("victim after the attempts: %q %v", b, err)
	}
}
