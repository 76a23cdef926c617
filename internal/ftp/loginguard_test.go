package ftp_test

import (
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// Issue 9: 19 connections opened first, then 3 wrong passwords each in
// parallel, got 54 guesses verified before the ban, and a pre-opened
// session logged in with the right password after it.
func TestBanReachesSessionsOpenedBeforeIt(t *testing.T) {
	const banAfter = 10
	var verified atomic.Int64
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.LoginFailDelay = time.Millisecond
		c.BanAfter = banAfter
		c.MaxPreLoginPerIP = -1 // 20 sessions of one address wait to log in
		c.BanFor = time.Minute
		c.Events = func(e ftp.Event) {
			if e.Kind == ftp.LoginFailed {
				verified.Add(1)
			}
		}
	}})
	srv.Users.Add("alice", "secret", 0xFFFF)
	// The one that tries the right password once the others are banned.
	late := dialRaw(t, srv.Addr)
	late.must("USER alice", 331)
	guessers := make([]*raw, 19)
	for i := range guessers {
		guessers[i] = dialRaw(t, srv.Addr)
	}
	var wg sync.WaitGroup
	for _, r := range guessers {
		wg.Go(func() {
			for range 3 {
				if err := r.tp.PrintfLine("USER alice"); err != nil {
					return
				}
				if code, _, err := r.tp.ReadResponse(0); err != nil || code != 331 {
					return
				}
				if err := r.tp.PrintfLine("PASS wrong"); err != nil {
					return
				}
				if code, _, err := r.tp.ReadResponse(0); err != nil || code != 530 {
					return
				}
			}
		})
	}
	wg.Wait()
	if n := verified.Load(); n > banAfter {
		t.Errorf("%d wrong passwords were verified; the ban after %d must stop every session of the address", n, banAfter)
	}
	if err := late.tp.PrintfLine("PASS secret"); err == nil {
		code, msg, err := late.tp.ReadResponse(0)
		if err == nil && code == 230 {
			t.Fatalf("a session opened before the ban logged in after it: %d %s", code, msg)
		}
	}
}

// The failure delay is the address's, not the session's: parallel guesses
// from one address wait for each other.
func TestFailureDelayIsPerAddressNotPerSession(t *testing.T) {
	const delay = 50 * time.Millisecond
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.LoginFailDelay = delay
		c.BanAfter = -1
	}})
	srv.Users.Add("alice", "secret", 0xFFFF)
	rs := make([]*raw, 4)
	for i := range rs {
		rs[i] = dialRaw(t, srv.Addr)
		rs[i].must("USER alice", 331)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for _, r := range rs {
		wg.Go(func() {
			r.tp.PrintfLine("PASS wrong")
			r.tp.ReadResponse(0)
		})
	}
	wg.Wait()
	// Serialized: 50+100+200+400 ms. Each session on its own: 50 ms.
	if d := time.Since(start); d < 700*time.Millisecond {
		t.Fatalf("4 parallel wrong passwords from one address took %v; want them serialized with a growing delay (>= 750ms)", d)
	}
	// Another address has its own delay.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c, err := d.Dial("tcp", srv.Addr)
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	other := newRaw(t, c)
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	other.expect(220)
	other.must("USER alice", 331)
	start = time.Now()
	other.must("PASS wrong", 530)
	if d := time.Since(start); d > 300*time.Millisecond {
		t.Fatalf("another address's first failure waited %v: the delay must be per address", d)
	}
}

// Issue 9: at the user's --max-sessions limit the right password got 421
// and a wrong one 530, confirming a guess without a login. Every refusal
// after the password check must look like a wrong password.
func TestSessionLimitIsNoPasswordOracle(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.BanAfter = -1 }})
	srv.Users.Set(accountsUserWith("solo", 1), "pw")
	holder := dialRaw(t, srv.Addr)
	holder.login("solo", "pw")

	answer := func(pass string) (int, string, bool) {
		r := dialRaw(t, srv.Addr)
		r.must("USER solo", 331)
		code, msg := r.send("PASS " + pass)
		// Whether the session stays open is part of the answer.
		code2, _ := r.send("NOOP")
		return code, msg, code2 == 200
	}
	rc, rm, ro := answer("pw")
	wc, wm, wo := answer("wrong")
	if rc != wc || rm != wm || ro != wo {
		t.Fatalf("right password at the session limit: %d %q (open %v); wrong password: %d %q (open %v): must be the same",
			rc, rm, ro, wc, wm, wo)
	}
	if rc == 230 {
		t.Fatal("a second session logged in past max-sessions 1")
	}
	if !strings.Contains(srv.Logs(), "too many sessions") {
		t.Fatal("the log does not say the session limit refused the login")
	}
}
