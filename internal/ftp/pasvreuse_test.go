package ftp_test

import (
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// TestPassiveListenerIsReusedAndStrayConnectionsAreDropped pins the
// passive listener kept between transfers: the next EPSV answers the same
// port, a connection that reached the port before that EPSV is closed
// unread rather than taken as the next data connection, and the kept
// listener is closed after passiveReuseIdle so idle sessions hold no port.
func TestPassiveListenerIsReusedAndStrayConnectionsAreDropped(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	host, _ := hostPort(t, r.c.RemoteAddr().String())
	store := func(name string, data string) string {
		t.Helper()
		port := epsvPort(t, r.must("EPSV", 229))
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r.must("STOR "+name, 150)
		io.WriteString(c, data)
		c.Close()
		r.expect(226)
		return port
	}
	p1 := store("a", "first")
	// A connection made while no PASV/EPSV is pending: it sits in the kept
	// listener's queue until the next EPSV drops it.
	stray, err := net.DialTimeout("tcp", net.JoinHostPort(host, p1), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer stray.Close()
	p2 := store("b", "second")
	if p2 != p1 {
		t.Errorf("second EPSV answered port %s, want the kept %s", p2, p1)
	}
	stray.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := stray.Read(make([]byte, 1)); err == nil || isTimeoutErr(err) {
		t.Errorf("stray connection still open (read: %v)", err)
	}
	for name, want := range map[string]string{"a": "first", "b": "second"} {
		got, err := os.ReadFile(filepath.Join(home, name))
		if err != nil || string(got) != want {
			t.Errorf("%s = %q, %v; want %q", name, got, err, want)
		}
	}
	// After the idle time the kept listener is gone.
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(host, p1), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("port %s still accepts connections 10 s after the last transfer", p1)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func isTimeoutErr(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Regression: the kept listener was closed while the session's lock was
// held, and closing it reports PassiveClose, which takes that lock: with
// Config.Events set every session hung for good 2 s after its last
// transfer (Shutdown too). The session must answer after the listener
// expires, and the close is reported.
func TestKeptPassiveListenerExpiresWithEventsOn(t *testing.T) {
	closed := make(chan struct{}, 4)
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Events = func(ev ftp.Event) {
			if ev.Kind == ftp.PassiveClose {
				closed <- struct{}{}
			}
		}
	}})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200)
	host, _ := hostPort(t, r.c.RemoteAddr().String())
	port := epsvPort(t, r.must("EPSV", 229))
	c, err := net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r.must("STOR a", 150)
	io.WriteString(c, "data")
	c.Close()
	r.expect(226)
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the kept listener's close was never reported")
	}
	r.must("NOOP", 200) // hung here before
}
