package ftp_test

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

func TestListingTenThousandFilesIsFast(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	os.Mkdir(filepath.Join(home, "many"), 0o755)
	for i := range 10000 {
		os.WriteFile(filepath.Join(home, "many", fmt.Sprintf("f%05d", i)), nil, 0o644)
	}
	c := login(t, srv.Addr, "alice", "secret")
	start := time.Now()
	ents, err := c.List("/many") // MLSD
	if err != nil || len(ents) != 10000 {
		t.Fatalf("MLSD: %d entries, %v", len(ents), err)
	}
	mlsd := time.Since(start)
	start = time.Now()
	out := curl(t, "ftp://alice:secret@"+srv.Addr+"/many/") // LIST
	list := time.Since(start)
	if n := strings.Count(out, "\n"); n != 10000 {
		t.Fatalf("LIST returned %d lines", n)
	}
	t.Logf("10k entries: MLSD (jlaffaye, parsed) %v, LIST (curl, incl. process start) %v", mlsd, list)
	if mlsd > 5*time.Second || list > 5*time.Second {
		t.Fatalf("listing 10k files too slow: MLSD %v, LIST %v", mlsd, list)
	}
}

func TestSTATAndNOOPAnswerDuringATransfer(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	u := srv.Users.Set(accounts.User{Name: "s", Perms: accounts.PresetFull, RateDown: 256 << 10}, "pw")
	writeFile(t, filepath.Join(u.Home, "f"), make([]byte, 600<<10))
	r := dialRaw(t, srv.Addr)
	r.login("s", "pw")
	r.must("TYPE I", 200)
	dc := dataConn(t, r)
	r.must("RETR f", 150)
	go io.Copy(io.Discard, dc)
	time.Sleep(200 * time.Millisecond)
	msg := r.must("STAT", 211)
	if !strings.Contains(msg, "Sending /f") {
		t.Fatalf("STAT during transfer:\n%s", msg)
	}
	r.must("NOOP", 200)
	r.must("STAT /", 503) // a path listing would need the data channel's attention
	r.expect(226)
}

func TestEPSVALLRefusesOtherDataCommands(t *testing.T) {
	srv, _ := start(t, ftptest.Options{Configure: func(c *ftp.Config) { c.DataTimeout = 200 * time.Millisecond }})
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	r.must("EPSV ALL", 200)
	r.must("PASV", 503)
	r.must("PORT 127,0,0,1,200,1", 503)
	r.must("EPRT |1|127.0.0.1|5000|", 503)
	r.must("EPSV", 229)
	r.must("MLSD /", 150)
	r.expect(425) // nobody connected... after the data timeout
}

func TestPASVAnnouncesPublicHostAndUsesThePortRange(t *testing.T) {
	lo := 40000 + int(time.Now().UnixNano()%2000)
	srv := ftptest.Start(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.PublicHost = "10.9.8.7"
		c.PassivePorts = [2]int{lo, lo + 20}
	}})
	srv.Users.Add("alice", "secret", 0xFFFF)
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	msg := r.must("PASV", 227)
	i := strings.Index(msg, "(")
	parts := strings.Split(strings.Trim(msg[i:], "()."), ",")
	if strings.Join(parts[:4], ".") != "10.9.8.7" {
		t.Fatalf("PASV announced %q", msg)
	}
	p1, _ := strconv.Atoi(parts[4])
	p2, _ := strconv.Atoi(parts[5])
	if port := p1*256 + p2; port < lo || port > lo+20 {
		t.Fatalf("passive port %d outside %d-%d", port, lo, lo+20)
	}
	port := epsvPort(t, r.must("EPSV", 229))
	if n, _ := strconv.Atoi(port); n < lo || n > lo+20 {
		t.Fatalf("EPSV port %s outside the range", port)
	}
	c, err := net.Dial("tcp", "127.0.0.1:"+port)
	if err != nil {
		t.Fatal(err)
	}
	r.must("NLST", 150)
	io.ReadAll(c)
	r.expect(226)
}

func TestMLSDOfAFileAndLISTOptionsAndNLSTOfAFile(t *testing.T) {
	srv, home := start(t, ftptest.Options{})
	writeFile(t, filepath.Join(home, "-dashed"), []byte("x"))
	writeFile(t, filepath.Join(home, "f"), []byte("x"))
	r := dialRaw(t, srv.Addr)
	r.login("alice", "secret")
	dataConn(t, r)
	r.must("MLSD f", 550)
	for arg, want := range map[string]string{"-la": " f\r\n", "-a -l /": " -dashed\r\n", "-dashed": " -dashed\r\n", "f": " f\r\n"} {
		dc := dataConn(t, r)
		r.must("LIST "+arg, 150)
		b, _ := io.ReadAll(dc)
		r.expect(226)
		if !strings.Contains(string(b), want) {
			t.Errorf("LIST %s:\n%s", arg, b)
		}
	}
	dc := dataConn(t, r)
	r.must("NLST f", 150)
	b, _ := io.ReadAll(dc)
	r.expect(226)
	if string(b) != "f\r\n" {
		t.Errorf("NLST f = %q", b)
	}
}

func TestUploadAndDownloadRatesAreLimitedPerUser(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{})
	srv.Users.Set(accounts.User{Name: "r", Perms: accounts.PresetFull, RateUp: 512 << 10, RateDown: 512 << 10}, "pw")
	c := login(t, srv.Addr, "r", "pw")
	data := randomBytes(t, 512<<10)
	start := time.Now()
	if err := c.Stor("f", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	up := time.Since(start)
	start = time.Now()
	resp, err := c.Retr("f")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp)
	resp.Close()
	down := time.Since(start)
	if sum(got) != sum(data) {
		t.Fatal("download differs")
	}
	// 512 KiB at 512 KiB/s with a burst of 64 KiB: close to a second each.
	if up < 700*time.Millisecond || down < 700*time.Millisecond {
		t.Fatalf("rates not applied: up %v, down %v", up, down)
	}
}

func TestIdleSessionsCostOneGoroutineAndLittleMemory(t *testing.T) {
	srv, _ := start(t, ftptest.Options{})
	const n = 100
	var conns []*raw
	for range 5 { // warm up pools and the fixture
		r := dialRaw(t, srv.Addr)
		r.login("alice", "secret")
		conns = append(conns, r)
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	for range n {
		r := dialRaw(t, srv.Addr)
		r.login("alice", "secret")
		r.must("PWD", 257)
		conns = append(conns, r)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	g := runtime.NumGoroutine() - g0
	perSession := (int64(after.HeapAlloc) - int64(before.HeapAlloc)) / n
	t.Logf("%d idle logged-in sessions: %d goroutines, %d bytes of heap each", n, g, perSession)
	if g > n+2 {
		t.Fatalf("%d goroutines for %d idle sessions", g, n)
	}
	if perSession > 32<<10 {
		t.Fatalf("an idle session holds %d bytes of heap", perSession)
	}
}

func TestPublicHostMayBeANameAndMustBeIPv4(t *testing.T) {
	auth := accounts.NewMemory()
	if _, err := ftp.NewServer(ftp.Config{Auth: auth, PublicHost: "localhost"}); err != nil {
		t.Fatalf("PublicHost localhost: %v", err)
	}
	if _, err := ftp.NewServer(ftp.Config{Auth: auth, PublicHost: "::1"}); err == nil {
		t.Fatal("an IPv6 PublicHost was accepted for PASV")
	}
	if _, err := ftp.NewServer(ftp.Config{Auth: auth, PassivePorts: [2]int{5000, 4000}}); err == nil {
		t.Fatal("an inverted port range was accepted")
	}
	if _, err := ftp.NewServer(ftp.Config{}); err == nil {
		t.Fatal("a server without Auth was accepted")
	}
}

func TestServeReturnsErrServerClosedAfterShutdown(t *testing.T) {
	s, err := ftp.NewServer(ftp.Config{Auth: accounts.NewMemory()})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b := make([]byte, 100)
	c.Read(b) // 220: the session is up
	if err := s.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != ftp.ErrServerClosed {
		t.Fatalf("Serve returned %v", err)
	}
	if err := s.Serve(ln); err != ftp.ErrServerClosed {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}

func TestJlaffayeOverIPv6WithTLS(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{IPv6: true, TLS: true, Configure: func(c *ftp.Config) {
		c.TLSRequired, c.TLSRequireReuse = true, true
	}})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	conf := srv.ClientTLS()
	conf.ServerName = "::1"
	c := login(t, srv.Addr, "alice", "secret", jftp.DialWithExplicitTLS(conf))
	data := randomBytes(t, 200000)
	if err := c.Stor("v6tls.bin", bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if fileSum(t, filepath.Join(home, "v6tls.bin")) != sum(data) {
		t.Fatal("IPv6 TLS upload differs")
	}
	if _, err := c.List("/"); err != nil {
		t.Fatal(err)
	}
}
