package ftp_test

import (
	"io"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// shutdownDuringRetr downloads name while Shutdown starts, returns once the
// 226 is read and Shutdown is known to have begun (the listener is closed),
// and a channel with Shutdown's result.
func shutdownDuringRetr(t *testing.T, srv *ftptest.Server, r *raw, name string, want []byte) <-chan error {
	t.Helper()
	r.must("TYPE I", 200)
	dc := dataConn(t, r)
	r.must("RETR "+name, 150)
	done := make(chan error, 1)
	go func() { done <- srv.Engine.Shutdown(t.Context()) }()
	got, err := io.ReadAll(dc)
	if err != nil || string(got) != string(want) {
		t.Fatalf("download during shutdown: %d bytes, %v", len(got), err)
	}
	dc.Close()
	r.expect(226)
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", srv.Addr, time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("Shutdown never closed the listener")
		}
	}
	return done
}

// Regression (issue 10): a restart while wharf get downloaded let the
// transfer finish (226) and then answered the client's checksum with 421,
// so a complete download was left as NAME.part. During Shutdown a session
// that has just finished a transfer may still close it; anything else gets
// 421 and the session ends.
func TestShutdownLetsAFinishedTransferBeVerified(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	want := randomBytes(t, 300<<10)
	writeFile(t, filepath.Join(home, "f.bin"), want)
	idle := dialRaw(t, srv.Addr)
	idle.login("alice", "secret")
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	done := shutdownDuringRetr(t, srv, r, "f.bin", want)
	if code, _ := idle.read(); code != 421 {
		t.Fatalf("a session that moved nothing got %d during shutdown, want 421", code)
	}
	// A client on a slow link: without the grace the session would be
	// closed as idle by now.
	time.Sleep(200 * time.Millisecond)
	r.must("OPTS HASH SHA-256", 200)
	if msg := r.must("HASH f.bin", 213); !strings.Contains(msg, sum(want)) {
		t.Fatalf("HASH during shutdown: %q, want %s", msg, sum(want))
	}
	r.must("XSHA256 f.bin", 250)
	r.must("SIZE f.bin", 213)
	r.must("MDTM f.bin", 213)
	r.must("PWD", 421)
	if !r.closed() {
		t.Fatal("the session stayed open after its 421")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Shutdown did not return after the last session closed")
	}
}

// The grace is bounded: a client that finished a transfer and then says
// nothing is closed with 421 once it ends, and QUIT in it is answered.
func TestShutdownCloseGraceEnds(t *testing.T) {
	srv, home := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.CloseGrace = 300 * time.Millisecond }})
	want := randomBytes(t, 1000)
	writeFile(t, filepath.Join(home, "f.bin"), want)

	quiet := dialRaw(t, srv.Addr)
	quiet.login("alice", "secret")
	quitter := dialRaw(t, srv.Addr)
	quitter.login("alice", "secret")
	start := time.Now()
	done := shutdownDuringRetr(t, srv, quiet, "f.bin", want)
	if code, _ := quitter.read(); code != 421 {
		t.Fatalf("an idle session got %d, want 421", code)
	}
	if code, _ := quiet.read(); code != 421 {
		t.Fatalf("after the grace: %d, want 421", code)
	}
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("Shutdown took %v with a 300ms close grace", d)
	}
}

// QUIT is one of the closing commands: answered with 221, not 421.
func TestShutdownAnswersQuitAfterATransfer(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	want := randomBytes(t, 1000)
	writeFile(t, filepath.Join(home, "f.bin"), want)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	done := shutdownDuringRetr(t, srv, r, "f.bin", want)
	time.Sleep(100 * time.Millisecond)
	r.must("QUIT", 221)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
}
