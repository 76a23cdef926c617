package ftp_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

func TestJailHoldsAgainstDotDotAbsolutePathsAndSymlinks(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	if err := os.Symlink("/etc", filepath.Join(home, "etc")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(home, "pw")); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(home, "in", "ok.txt"), []byte("inside"))
	if err := os.Symlink("in/ok.txt", filepath.Join(home, "link-inside")); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200) // SIZE answers in TYPE I only
	for _, p := range []string{"/etc/passwd", "../../../../etc/passwd", "etc/passwd", "pw", "in/../../etc/passwd", "/../etc/passwd", "%2e%2e/etc/passwd", `..\..\etc\passwd`} {
		dataConn(t, r)
		if code, msg := r.send("RETR " + p); code != 550 {
			t.Errorf("RETR %s: %d %q, want 550", p, code, msg)
		}
		if code, _ := r.send("SIZE " + p); code != 550 {
			t.Errorf("SIZE %s: %d, want 550", p, code)
		}
	}
	r.must("CWD etc", 550)
	r.must("CWD ../../..", 250)
	if msg := r.must("PWD", 257); !strings.HasPrefix(msg, `"/"`) {
		t.Fatalf("CWD above the root left %q", msg)
	}
	r.must("MKD etc/evil", 550)
	dataConn(t, r)
	r.must("STOR etc/evil", 550)
	dataConn(t, r)
	r.must("STOR pw", 550)
	if msg := r.must("SIZE link-inside", 213); msg != "6" {
		t.Errorf("symlink inside the jail: SIZE %q", msg)
	}
	// The link to /etc is listed, never followed.
	dc := dataConn(t, r)
	r.must("LIST", 150)
	b, _ := io.ReadAll(dc)
	r.expect(226)
	if bytes.Contains(b, []byte("passwd")) || !bytes.Contains(b, []byte(" etc\r\n")) {
		t.Fatalf("listing:\n%s", b)
	}
	dataConn(t, r)
	r.must("LIST etc", 550)
	r.must("RNFR in/ok.txt", 350)
	r.must("RNTO ../../../tmp/escaped.txt", 550) // /tmp of the jail does not exist
	r.must("RNFR in/ok.txt", 350)
	r.must("RNTO ../../../escaped.txt", 250) // lands in the jail's root
	if _, err := os.Stat(filepath.Join(home, "escaped.txt")); err != nil {
		t.Fatalf("rename with .. did not stay in the jail: %v", err)
	}
}

func TestBounceProtectionRefusesForeignPORTAndEPRT(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("PORT 127,0,0,2,19,136", 500)  // another host
	r.must("PORT 127,0,0,1,0,25", 500)    // a privileged port of our own host (SMTP)
	r.must("EPRT |1|10.1.2.3|5000|", 500) // another host
	r.must("EPRT |1|127.0.0.1|5000|", 200)
	r.must("EPRT |3|x|1|", 522)
	r.must("EPRT garbage", 501)
	r.must("PORT 1,2,3", 501)
	r.must("PORT 300,0,0,1,1,1", 501)

	open := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.AllowForeignActive = true }})
	open.Users.Add("alice", "secret", 0xFFFF)
	r2 := dialRaw(t, open.Addr)
	r2.login("alice", "secret")
	r2.must("PORT 127,0,0,2,19,136", 200)
}

func TestPassiveConnectionFromAForeignAddressIsDropped(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "f"), []byte("secret data"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	port := epsvPort(t, r.must("EPSV", 229))
	// A thief from 127.0.0.2 races to the passive port.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}, Timeout: 5 * time.Second}
	thief, err := d.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Skipf("cannot bind 127.0.0.2: %v", err)
	}
	defer thief.Close()
	r.tp.PrintfLine("RETR f")
	r.expect(150)
	good, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(good)
	r.expect(226)
	if string(b) != "secret data" {
		t.Fatalf("client got %q", b)
	}
	thief.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _ := io.ReadAll(thief); len(n) != 0 {
		t.Fatalf("thief received %q", n)
	}
}

func TestBadInputIsRefusedAndTheServerStillServes(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	cases := []struct {
		name  string
		input string
		codes []int
	}{
		{"100KiB line", "USER " + strings.Repeat("A", 100<<10) + "\r\nNOOP\r\n", []int{500, 200}},
		{"NUL in argument", "USER a\x00b\r\nNOOP\r\n", []int{501, 200}},
		{"CR injected in file name", "USER alice\r\nPASS secret\r\nMKD a\rb\r\nMKD ok\r\n", []int{331, 230, 501, 257}},
		{"unknown command", "FROB\r\nNOOP\r\n", []int{500, 200}},
		{"telnet IAC", "\xff\xf4\xff\xf2NOOP\r\n", []int{200}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, srv.Addr)
			r.c.Write([]byte(tc.input))
			for _, want := range tc.codes {
				r.expect(want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(home, "a\rb")); err == nil {
		t.Fatal("a file name with CR was created")
	}
	t.Run("binary garbage closes", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		r.c.Write(append(randomBytes(t, 4096), "\n\x01\x02\x03\n\xfe\xfd\n\x80\x81\n"...))
		if !r.closed() {
			t.Fatal("session survived binary garbage")
		}
	})
	t.Run("repeated long lines close", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		long := strings.Repeat("B", 10000) + "\r\n"
		r.c.Write([]byte(long + long + long))
		if !r.closed() {
			t.Fatal("session survived three over-long lines")
		}
	})
	t.Run("HTTP request closes before login (ALPACA)", func(t *testing.T) {
		r := dialRaw(t, srv.Addr)
		r.c.Write([]byte("GET / HTTP/1.1\r\nHost: example.com\r\nUser-Agent: x\r\nAccept: */*\r\n\r\n"))
		if !r.closed() {
			t.Fatal("session survived an HTTP request")
		}
	})
	// A fresh client still gets full service.
	c := login(t, srv.Addr, "alice", "secret")
	if err := c.Stor("after.txt", strings.NewReader("still here")); err != nil {
		t.Fatal(err)
	}
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
}

func TestAPanicInAHandlerDoesNotKillTheServer(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{AllowPanics: true, Configure: func(c *ftp.Config) {
		c.OpenStorage = func(u accountsUser) (vfsStorage, error) { return openPanicky(u.Home) }
	}})
	srv.Users.Add("alice", "secret", 0xFFFF)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("TYPE I", 200) // SIZE answers in TYPE I only
	// The client is told, not dropped in silence.
	if code, msg := r.send("SIZE boom"); code != 421 || strings.Contains(msg, "boom") {
		t.Fatalf("SIZE boom: %d %q, want a 421 that does not leak the panic", code, msg)
	}
	if n := srv.Engine.Panics(); n != 1 {
		t.Fatalf("Panics() = %d after one recovered panic, want 1", n)
	}
	if !r.closed() {
		t.Fatal("session survived its handler's panic")
	}
	c := login(t, srv.Addr, "alice", "secret")
	if err := c.MakeDir("fine"); err != nil {
		t.Fatalf("server unusable after a panic: %v", err)
	}
	if !strings.Contains(srv.Logs(), "panic in session") {
		t.Fatal("panic not logged")
	}
	r2 := dialRaw(t, srv.Addr)
	r2.login("alice", "secret")
	if code, msg := r2.send("MKD x"); code != 257 || strings.Contains(msg, "boom") {
		t.Fatalf("%d %q", code, msg)
	}
}

func TestLoginFailuresDelayThenBanTheAddress(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.LoginFailDelay = 20 * time.Millisecond
		c.BanAfter = 4
		c.BanFor = time.Minute
	}})
	srv.Users.Add("alice", "secret", 0xFFFF)
	r := dialRaw(t, srv.Addr)
	start := time.Now()
	r.must("USER alice", 331)
	r.must("PASS wrong1", 530)
	r.must("USER alice", 331)
	r.must("PASS wrong2", 530)
	if d := time.Since(start); d < 60*time.Millisecond {
		t.Fatalf("two failures took %v: want a growing delay (20ms, 40ms)", d)
	}
	r.must("USER nobody", 331)
	r.must("PASS x", 530)
	if !r.closed() {
		t.Fatal("session not closed after 3 failures")
	}
	r = dialRaw(t, srv.Addr)
	r.must("USER alice", 331)
	r.must("PASS wrong4", 421) // the 4th failure bans
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 200)
	n, _ := c.Read(b)
	if !strings.HasPrefix(string(b[:n]), "421") {
		t.Fatalf("banned address got %q", b[:n])
	}
	if !strings.Contains(srv.Logs(), "address banned") {
		t.Fatal("ban not logged")
	}
	if strings.Contains(srv.Logs(), "wrong1") || strings.Contains(srv.Logs(), "secret") {
		t.Fatal("a password reached the log")
	}
}

func TestSessionLimitsAnswer421(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.MaxSessions = 3
		c.MaxSessionsPerIP = 2
	}})
	srv.Users.Add("alice", "secret", 0xFFFF)
	dialRaw(t, srv.Addr)
	dialRaw(t, srv.Addr)
	c, err := net.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 200)
	n, _ := c.Read(b)
	c.Close()
	if !strings.HasPrefix(string(b[:n]), "421") {
		t.Fatalf("third connection from one IP got %q", b[:n])
	}
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	c2, err := d.Dial("tcp", srv.Addr)
	if err != nil {
		t.Skipf("no 127.0.0.2: %v", err)
	}
	n, _ = c2.Read(b)
	if !strings.HasPrefix(string(b[:n]), "220") {
		t.Fatalf("other IP got %q", b[:n])
	}
	d3, err := d.Dial("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	n, _ = d3.Read(b)
	if !strings.HasPrefix(string(b[:n]), "421") {
		t.Fatalf("fourth connection overall got %q", b[:n])
	}
	c2.Close()
	d3.Close()
}

func TestPerUserSessionLimitFromAccounts(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	srv.Users.Set(accountsUserWith("solo", 1), "pw")
	r := dialRaw(t, srv.Addr)
	r.login("solo", "pw")
	r2 := dialRaw(t, srv.Addr)
	r2.must("USER solo", 331)
	// Answered like a wrong password: no oracle for a guessed one.
	r2.must("PASS pw", 530)
}

func TestIdleTimeoutClosesButNotDuringATransfer(t *testing.T) {
	// One second: the test's own commands, slowed by a loaded CI machine,
	// must not be mistaken for idleness (300 ms was, under a load of 23).
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.IdleTimeout = time.Second }})
	u := srv.Users.Set(rateLimitedUser("slow", 400<<10), "pw")
	r := dialRaw(t, srv.Addr)
	if code, _ := r.read(); code != 421 {
		t.Fatalf("idle session got %d, want 421", code)
	}
	// A download that takes ~5 s at 400 KiB/s, five idle timeouts long;
	// the file is put in place directly, so no upload runs first.
	data := randomBytes(t, 2<<20)
	if err := os.WriteFile(filepath.Join(u.Home, "f"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	c := login(t, srv.Addr, "slow", "pw")
	resp, err := c.Retr("f")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp)
	if err := resp.Close(); err != nil {
		t.Fatalf("transfer cut by the idle timer: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Fatal("download differs")
	}
}

func TestDataTimeoutEndsAStalledTransfer(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.DataTimeout = 300 * time.Millisecond }})
	srv.Users.Add("alice", "secret", 0xFFFF)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	dc := dataConn(t, r)
	r.must("STOR stalled", 150)
	dc.Write([]byte("some bytes"))
	// ...then nothing: the watchdog must end it.
	r.expect(426)
	r.must("NOOP", 200)
	// No data connection at all: 425 after the timeout.
	r.must("EPSV", 229)
	r.must("LIST", 150)
	r.expect(425)
}

func TestShutdownLetsTransfersFinishAndClosesIdleSessions(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	idle := dialRaw(t, srv.Addr)
	idle.login("alice", "secret")
	busy := dialRaw(t, srv.Addr)
	busy.login("alice", "secret")
	dc := dataConn(t, busy)
	busy.must("STOR during-shutdown", 150)
	dc.Write([]byte("first half "))
	done := make(chan error, 1)
	go func() { done <- srv.Engine.Shutdown(t.Context()) }()
	if code, _ := idle.read(); code != 421 {
		t.Fatalf("idle session got %d, want 421", code)
	}
	time.Sleep(100 * time.Millisecond)
	dc.Write([]byte("second half"))
	dc.Close()
	busy.expect(226)
	if err := <-done; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(home, "during-shutdown"))
	if string(b) != "first half second half" {
		t.Fatalf("upload across shutdown stored %q", b)
	}
	if _, err := net.Dial("tcp", srv.Addr); err == nil {
		t.Fatal("still accepting after Shutdown")
	}
}

func TestShutdownCutsTransfersWhenItsContextEnds(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	bigSparse(t, filepath.Join(home, "huge"), 8<<30)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	dc := dataConn(t, r)
	r.must("RETR huge", 150)
	dc.Read(make([]byte, 1000)) // started, then the client stops reading
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	if err := srv.Engine.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown: %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Shutdown took %v after its deadline", d)
	}
	if !r.closed() {
		t.Fatal("control connection left open")
	}
}
