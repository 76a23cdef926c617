package ftp_test

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// greeting connects from local (nil: the default) and returns the first
// reply line.
func greeting(t *testing.T, addr string, local net.IP) (net.Conn, string) {
	t.Helper()
	d := net.Dialer{Timeout: 5 * time.Second}
	if local != nil {
		d.LocalAddr = &net.TCPAddr{IP: local}
	}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Skipf("dial from %v: %v", local, err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 256)
	n, _ := c.Read(b)
	return c, string(b[:n])
}

// Issue 9: a connection that never logs in kept its place for the whole
// 5-minute idle timeout. Before login it has a short deadline of its own.
func TestSilentConnectionIsClosedAtTheLoginTimeout(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.LoginTimeout = 300 * time.Millisecond
		c.IdleTimeout = time.Minute
	}})
	silent := dialRaw(t, srv.Addr)
	typing := dialRaw(t, srv.Addr)
	typing.must("USER alice", 331) // commands do not extend the login deadline
	in := dialRaw(t, srv.Addr)
	in.login("alice", "secret")
	start := time.Now()
	if code, msg := silent.read(); code != 421 || !strings.Contains(msg, "Login timeout") {
		t.Fatalf("silent connection got %d %q, want 421 login timeout", code, msg)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("closed after %v, want about the 300ms login timeout", d)
	}
	if code, _ := typing.read(); code != 421 {
		t.Fatalf("a connection that sent USER but no PASS got %d, want 421", code)
	}
	time.Sleep(400 * time.Millisecond)
	in.must("NOOP", 200) // a logged-in session keeps the idle timeout
}

// Connections not logged in have a cap per address of their own, and a
// login frees the place at once.
func TestPreLoginConnectionsPerAddressAreCapped(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.MaxPreLoginPerIP = 3 }})
	var first *raw
	for i := range 3 {
		r := dialRaw(t, srv.Addr)
		if i == 0 {
			first = r
		}
	}
	if _, g := greeting(t, srv.Addr, nil); !strings.HasPrefix(g, "421") {
		t.Fatalf("a fourth pre-login connection from one address got %q, want 421", g)
	}
	first.login("alice", "secret")
	if _, g := greeting(t, srv.Addr, nil); !strings.HasPrefix(g, "220") {
		t.Fatalf("after one of them logged in, a new connection got %q, want 220", g)
	}
}

// Issue 9: 2,000 silent connections filled --max-sessions and everyone
// else got 421. Silent connections hold at most three quarters of it, and
// the oldest of them makes room for a newcomer; logged-in users keep
// their room.
func TestSilentConnectionsCannotFillMaxSessions(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.MaxSessions = 8
		c.MaxPreLoginPerIP = -1
		c.LoginTimeout = time.Second // silent ones older than 100ms may be evicted
	}})
	in := dialRaw(t, srv.Addr)
	in.login("alice", "secret")
	var silent []net.Conn
	for range 7 {
		c, g := greeting(t, srv.Addr, nil)
		if !strings.HasPrefix(g, "220") {
			if len(silent) < 6 { // 8 - 8/4
				t.Fatalf("silent connection %d got %q", len(silent)+1, g)
			}
			break
		}
		silent = append(silent, c)
	}
	if len(silent) > 6 {
		t.Fatalf("%d silent connections admitted; at most 6 of 8 sessions may be waiting to log in", len(silent))
	}
	time.Sleep(200 * time.Millisecond)
	// A real client still gets in, and logs in.
	c, g := greeting(t, srv.Addr, nil)
	if !strings.HasPrefix(g, "220") {
		t.Fatalf("a client after the silent flood got %q, want 220", g)
	}
	r := newRaw(t, c)
	r.login("alice", "secret")
	// The oldest silent connection made the room.
	silent[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	b := make([]byte, 256)
	n, _ := silent[0].Read(b)
	if !strings.HasPrefix(string(b[:n]), "421") {
		t.Fatalf("the oldest silent connection read %q, want 421", b[:n])
	}
	in.must("NOOP", 200)
}

// A session waiting for its address's turn to check a password (behind
// another session's failure delay) is still bound by the login timeout.
func TestLoginQueueWaitEndsAtTheLoginTimeout(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.LoginTimeout = 500 * time.Millisecond
		c.LoginFailDelay = 5 * time.Second
		c.BanAfter = -1
	}})
	guesser := dialRaw(t, srv.Addr)
	queued := dialRaw(t, srv.Addr)
	guesser.must("USER alice", 331)
	queued.must("USER alice", 331)
	guesser.tp.PrintfLine("PASS wrong") // holds the address's turn for 5 s
	time.Sleep(100 * time.Millisecond)
	start := time.Now()
	if code, msg := queued.send("PASS secret"); code != 421 || !strings.Contains(msg, "Login timeout") {
		t.Fatalf("queued PASS: %d %q, want 421 login timeout", code, msg)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the queued session waited %v, past its login timeout", d)
	}
}
