package ftp_test

import (
	"net"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// openEPSV sends EPSV and returns the port announced.
func openEPSV(t *testing.T, r *raw) string {
	t.Helper()
	return epsvPort(t, r.must("EPSV", 229))
}

// accepts reports whether something accepts TCP connections on port.
func accepts(host, port string) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Issue 9: a PASV nobody connects to stayed open past the data timeout
// (still accepting after 25 s with --data-timeout 20s).
func TestUnusedPassiveListenerClosesAtTheDataTimeout(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.DataTimeout = 300 * time.Millisecond }})
	host, _ := hostPort(t, srv.Addr)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	port := openEPSV(t, r)
	time.Sleep(800 * time.Millisecond)
	if accepts(host, port) {
		t.Fatalf("the passive port %s still accepts after the data timeout", port)
	}
	// The session learns it at its next transfer, and may ask again.
	r.must("LIST", 425)
	if b, code := retrData(t, r, host, "NLST"); code != 226 {
		t.Fatalf("a fresh EPSV after the expired one: %d %q", code, b)
	}
	// One per session: a second PASV closes the first.
	first := openEPSV(t, r)
	openEPSV(t, r)
	if accepts(host, first) {
		t.Fatalf("the session's first passive port %s still accepts after its second EPSV", first)
	}
}

// Issue 9: 60 sessions each sending PASV without connecting held 49 of a
// 50-port range, and other users got 425. An account holds at most
// MaxPassivePerUser passive listeners idle (unused past a 2 s grace) over
// all its sessions; fresh ones of parallel transfers do not count.
func TestPassiveListenersPerUserAreCapped(t *testing.T) {
	const limit = 3
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.MaxPassivePerUser = limit }})
	srv.Users.Add("bob", "pw", 0xFFFF)
	host, _ := hostPort(t, srv.Addr)
	var held []*raw
	for range limit {
		r := dialRaw(t, srv.Addr)
		r.login("alice", "secret")
		openEPSV(t, r)
		held = append(held, r)
	}
	greedy := dialRaw(t, srv.Addr)
	greedy.login("alice", "secret")
	openEPSV(t, greedy) // the others are fresh: a burst of parallel sessions
	time.Sleep(2100 * time.Millisecond)
	greedy.must("EPSV", 425)
	greedy.must("PASV", 425)
	// Another account is not held up.
	bob := dialRaw(t, srv.Addr)
	bob.login("bob", "pw")
	if _, code := retrData(t, bob, host, "NLST"); code != 226 {
		t.Fatalf("another user's listing: %d", code)
	}
	// A place comes back when a holder uses its listener or leaves.
	if _, code := retrData(t, held[0], host, "NLST"); code != 226 {
		t.Fatalf("a holder's transfer: %d", code)
	}
	openEPSV(t, greedy)
	held[1].must("QUIT", 221)
	held[1].closed()
	deadline := time.Now().Add(5 * time.Second)
	for {
		other := dialRaw(t, srv.Addr)
		other.login("alice", "secret")
		if code, _ := other.send("EPSV"); code == 229 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no passive place came back after a holder quit")
		}
		other.c.Close()
		time.Sleep(20 * time.Millisecond)
	}
}
