package share

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/tlsconf"
)

// running is a Share serving in the background for one test.
type running struct {
	*Share
	mu     sync.Mutex
	events []Event
	stop   func() error
}

// startShare runs a share of dir on loopback with free ports.
func startShare(t *testing.T, o Options) *running {
	t.Helper()
	r := &running{}
	o.Listen = "127.0.0.1"
	o.FixedFTPPort, o.FixedHTTPPort = true, true
	o.Events = func(e Event) {
		r.mu.Lock()
		r.events = append(r.events, e)
		r.mu.Unlock()
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	r.Share = s
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	r.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(10 * time.Second):
				runErr = errors.New("Run did not return within 10s of cancel")
			}
		})
		return runErr
	}
	t.Cleanup(func() { r.stop() })
	return r
}

func (r *running) ftpAddr() string  { return "127.0.0.1:" + strconv.Itoa(r.FTPPort()) }
func (r *running) httpURL() string  { return "http://127.0.0.1:" + strconv.Itoa(r.HTTPPort()) }
func (r *running) httpsURL() string { return "https://127.0.0.1:" + strconv.Itoa(r.HTTPPort()) }

func (r *running) eventKinds() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int{}
	for _, e := range r.events {
		m[e.Proto+" "+e.Kind.String()]++
	}
	return m
}

func dialFTP(t *testing.T, addr, user, pass string, opts ...ftp.DialOption) *ftp.ServerConn {
	t.Helper()
	c, err := ftp.Dial(addr, append([]ftp.DialOption{ftp.DialWithTimeout(5 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("ftp login %s: %v", user, err)
	}
	return c
}

func retr(t *testing.T, c *ftp.ServerConn, name string) []byte {
	t.Helper()
	r, err := c.Retr(name)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("RETR %s: %v", name, err)
	}
	return b
}

func TestShareServesOneFolderOverFTPAndHTTPReadOnly(t *testing.T) {
	dir := t.TempDir()
	data := randomBytes(t, 200_000)
	writeFile(t, filepath.Join(dir, "sub", "file.bin"), data)
	if err := os.Symlink("/etc", filepath.Join(dir, "etc")); err != nil {
		t.Fatal(err)
	}
	s := startShare(t, Options{Dir: dir})

	c := dialFTP(t, s.ftpAddr(), "anonymous", "guest@example.com")
	entries, err := c.List("/sub")
	if err != nil || len(entries) != 1 || entries[0].Name != "file.bin" || entries[0].Size != uint64(len(data)) {
		t.Fatalf("LIST /sub = %v, %v", entries, err)
	}
	if got := retr(t, c, "/sub/file.bin"); !bytes.Equal(got, data) {
		t.Fatalf("RETR got %d bytes, not the file", len(got))
	}
	err = c.Stor("/new.txt", strings.NewReader("x"))
	if err == nil || !strings.HasPrefix(err.Error(), "550") {
		t.Errorf("STOR on a read-only share = %v, want 550", err)
	}
	if err := c.MakeDir("/d"); err == nil {
		t.Errorf("MKD on a read-only share succeeded")
	}
	if _, err := c.Retr("/etc/passwd"); err == nil {
		t.Errorf("RETR through a symlink out of the share succeeded")
	}
	if _, err := os.Stat(filepath.Join(dir, "new.txt")); !os.IsNotExist(err) {
		t.Errorf("read-only share stored a file")
	}

	resp, body := get(t, s.httpURL()+"/sub/file.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, data) {
		t.Fatalf("HTTP GET = %d, %d bytes", resp.StatusCode, len(body))
	}
	resp, _ = upload(t, s.httpURL()+"/", [2]string{"new.txt", "x"})
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("HTTP POST on a read-only share = %d, want 403", resp.StatusCode)
	}
	c.Quit()

	if err := s.stop(); err != nil {
		t.Fatalf("Run after cancel: %v", err)
	}
	tot := s.Totals()
	if tot.FilesSent != 2 || tot.BytesSent != int64(2*len(data)) || tot.FilesReceived != 0 || tot.Visitors != 1 {
		t.Errorf("totals = %+v, want 2 files of %d bytes sent to 1 visitor", tot, len(data))
	}
	kinds := s.eventKinds()
	if kinds["ftp login"] != 1 || kinds["ftp download"] != 1 || kinds["http download"] != 1 || kinds["http login"] != 1 {
		t.Errorf("events = %v", kinds)
	}
	// Both ports are released.
	for _, port := range []int{s.FTPPort(), s.HTTPPort()} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("port %d still held after Run: %v", port, err)
		} else {
			ln.Close()
		}
	}
}

func TestShareWriteUploadsThroughBothAndNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "old.txt"), []byte("original"))
	s := startShare(t, Options{Dir: dir, Write: true})

	c := dialFTP(t, s.ftpAddr(), "anonymous", "x")
	ftpData := randomBytes(t, 123_456)
	if err := c.Stor("/via-ftp.bin", bytes.NewReader(ftpData)); err != nil {
		t.Fatalf("STOR: %v", err)
	}
	if err := c.MakeDir("/made-by-ftp"); err != nil {
		t.Fatalf("MKD: %v", err)
	}
	if err := c.Stor("/old.txt", strings.NewReader("replaced")); err == nil {
		t.Errorf("STOR over an existing file succeeded without --overwrite")
	}
	if err := c.Delete("/old.txt"); err == nil {
		t.Errorf("DELE succeeded without --delete")
	}
	resp, body := get(t, s.httpURL()+"/via-ftp.bin")
	if resp.StatusCode != 200 || !bytes.Equal(body, ftpData) {
		t.Errorf("HTTP GET of the FTP upload = %d, %d bytes", resp.StatusCode, len(body))
	}

	resp, _ = upload(t, s.httpURL()+"/made-by-ftp/", [2]string{"via-http.txt", "hello from http"})
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("HTTP upload = %d", resp.StatusCode)
	}
	if got := retr(t, c, "/made-by-ftp/via-http.txt"); string(got) != "hello from http" {
		t.Errorf("FTP RETR of the HTTP upload = %q", got)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "old.txt")); string(b) != "original" {
		t.Errorf("old.txt = %q", b)
	}
	c.Quit()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if tot := s.Totals(); tot.FilesReceived != 2 || tot.BytesReceived != int64(len(ftpData))+15 {
		t.Errorf("totals = %+v", tot)
	}
}

func TestShareUserLoginOnBothProtocols(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.txt"), []byte("for alice"))
	s := startShare(t, Options{Dir: dir, User: "alice"})
	pass := s.Password()
	if len(pass) < 16 || s.User() != "alice" {
		t.Fatalf("generated password %q for %q", pass, s.User())
	}

	c, err := ftp.Dial(s.ftpAddr(), ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Login("anonymous", "x"); err == nil {
		t.Errorf("anonymous FTP login accepted on a --user share")
	}
	c.Quit()
	c = dialFTP(t, s.ftpAddr(), "alice", pass)
	if got := retr(t, c, "f.txt"); string(got) != "for alice" {
		t.Errorf("RETR = %q", got)
	}

	resp, _ := get(t, s.httpURL()+"/f.txt")
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("HTTP without credentials = %d, want 401", resp.StatusCode)
	}
	req, _ := http.NewRequest("GET", s.httpURL()+"/f.txt", nil)
	req.SetBasicAuth("alice", pass)
	if resp, body := do(t, req); resp.StatusCode != 200 || string(body) != "for alice" {
		t.Errorf("HTTP with credentials = %d %q", resp.StatusCode, body)
	}
}

func TestShareTLSServesFTPSAndHTTPSWithThePrintedFingerprint(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.txt"), []byte("over tls"))
	tlsDir := t.TempDir()
	s := startShare(t, Options{Dir: dir, TLS: true, TLSDir: tlsDir})
	fp := s.Fingerprint()
	if !strings.HasPrefix(fp, "SHA256:") {
		t.Fatalf("fingerprint %q", fp)
	}
	// Trust exactly the printed fingerprint, as a visitor pinning it would.
	pinned := &tls.Config{
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if got := tlsconf.FingerprintDER(cs.PeerCertificates[0].Raw); got != fp {
				return fmt.Errorf("fingerprint %s, printed %s", got, fp)
			}
			return nil
		},
	}

	c := dialFTP(t, s.ftpAddr(), "anonymous", "x", ftp.DialWithExplicitTLS(pinned))
	if got := retr(t, c, "f.txt"); string(got) != "over tls" {
		t.Errorf("FTPS RETR = %q", got)
	}
	plain, err := ftp.Dial(s.ftpAddr(), ftp.DialWithTimeout(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if err := plain.Login("anonymous", "x"); err == nil {
		t.Errorf("plain FTP login accepted on a --tls share")
	}
	plain.Quit()

	// A browser-like client (offering h2 and http/1.1 by ALPN) must get
	// through: the FTP-only ALPN of the FTPS config would refuse it.
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: pinned, ForceAttemptHTTP2: true}}
	resp, err := client.Get(s.httpsURL() + "/f.txt")
	if err != nil {
		t.Fatalf("HTTPS GET: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != "over tls" {
		t.Errorf("HTTPS GET = %d %q", resp.StatusCode, body)
	}
	if !strings.HasPrefix(s.Endpoints()[0].HTTP, "https://") {
		t.Errorf("endpoint %q is not https", s.Endpoints()[0].HTTP)
	}
	if _, err := os.Stat(filepath.Join(tlsDir, tlsconf.CertFileName)); err != nil {
		t.Errorf("certificate not kept in TLSDir: %v", err)
	}
}

func TestSharePortsMoveWhenTakenUnlessExplicit(t *testing.T) {
	dir := t.TempDir()
	base := testenv.FreePorts(t, 4)
	// The "default" ports base (FTP) and base+2 (HTTP) are taken.
	for _, p := range []int{base, base + 2} {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
	}
	s, err := New(Options{Dir: dir, Listen: "127.0.0.1", FTPPort: base, HTTPPort: base + 2})
	if err != nil {
		t.Fatalf("New with taken ports: %v", err)
	}
	if s.FTPPort() != base+1 || s.HTTPPort() != base+3 {
		t.Errorf("ports %d/%d, want %d/%d", s.FTPPort(), s.HTTPPort(), base+1, base+3)
	}
	if eps := s.Endpoints(); len(eps) != 1 || eps[0].FTP != fmt.Sprintf("ftp://127.0.0.1:%d/", base+1) ||
		eps[0].HTTP != fmt.Sprintf("http://127.0.0.1:%d/", base+3) {
		t.Errorf("endpoints = %+v", eps)
	}
	s.Close()

	_, err = New(Options{Dir: dir, Listen: "127.0.0.1", FTPPort: base, FixedFTPPort: true, HTTPPort: base + 1})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("explicit taken FTP port: %v, want EADDRINUSE", err)
	}
	_, err = New(Options{Dir: dir, Listen: "127.0.0.1", FTPPort: base + 1, HTTPPort: base + 2, FixedHTTPPort: true})
	if !errors.Is(err, syscall.EADDRINUSE) {
		t.Errorf("explicit taken HTTP port: %v, want EADDRINUSE", err)
	}
	// The failed New released the FTP port it had bound.
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(base+1))
	if err != nil {
		t.Errorf("failed New kept its FTP port: %v", err)
	} else {
		ln.Close()
	}
}

func TestHostsForListenAddress(t *testing.T) {
	machine := []netip.Addr{
		netip.MustParseAddr("127.0.0.1"),
		netip.MustParseAddr("::1"),
		netip.MustParseAddr("fe80::1"),
		netip.MustParseAddr("2001:db8::5"),
		netip.MustParseAddr("192.168.1.20"),
		netip.MustParseAddr("10.0.0.7"),
	}
	for _, tc := range []struct {
		listen  string
		machine []netip.Addr
		want    string
	}{
		{"", machine, "192.168.1.20 10.0.0.7 2001:db8::5"},
		{"0.0.0.0", machine, "192.168.1.20 10.0.0.7"},
		{"::", machine, "192.168.1.20 10.0.0.7 2001:db8::5"},
		{"10.0.0.7", machine, "10.0.0.7"},
		{"share.example", machine, "share.example"},
		{"", machine[:3], "127.0.0.1"},
		{"", nil, "127.0.0.1"},
	} {
		if got := strings.Join(hostsFor(tc.listen, tc.machine), " "); got != tc.want {
			t.Errorf("hostsFor(%q) = %q, want %q", tc.listen, got, tc.want)
		}
	}
}

func TestSharePrintedEndpointsCoverEveryAddressAndWork(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "f.txt"), []byte("hi"))
	// Loopback only, so that two test runs cannot collide and nothing is
	// exposed; what a share on every address prints is built from the
	// same hostsFor (TestHostsForListenAddress) and endpointsFor, below.
	s, err := New(Options{Dir: dir, Listen: "127.0.0.1", FixedFTPPort: true, FixedHTTPPort: true, User: "bob", Password: "pw"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() { cancel(); <-done }()

	machine := []netip.Addr{netip.MustParseAddr("192.168.1.20"), netip.MustParseAddr("2001:db8::5")}
	for i, ep := range s.endpointsFor(hostsFor("", machine)) {
		hp := []string{"192.168.1.20", "[2001:db8::5]"}[i]
		if ep.Host != hp || ep.FTP != fmt.Sprintf("ftp://bob@%s:%d/", hp, s.FTPPort()) || ep.HTTP != fmt.Sprintf("http://%s:%d/", hp, s.HTTPPort()) {
			t.Errorf("endpoint %d on every address = %+v", i, ep)
		}
	}

	eps := s.Endpoints()
	want := hostsFor("127.0.0.1", interfaceAddrs())
	if len(eps) != len(want) || len(eps) != 1 {
		t.Fatalf("%d endpoints for %d addresses", len(eps), len(want))
	}
	for i, h := range want {
		hp := h
		if strings.Contains(h, ":") {
			hp = "[" + h + "]"
		}
		if eps[i].FTP != fmt.Sprintf("ftp://bob@%s:%d/", hp, s.FTPPort()) || eps[i].HTTP != fmt.Sprintf("http://%s:%d/", hp, s.HTTPPort()) {
			t.Errorf("endpoint %d = %+v for %s", i, eps[i], h)
		}
		// Each printed address reaches the share on both protocols.
		req, _ := http.NewRequest("GET", eps[i].HTTP+"f.txt", nil)
		req.SetBasicAuth("bob", "pw")
		if resp, body := do(t, req); resp.StatusCode != 200 || string(body) != "hi" {
			t.Errorf("GET %s = %d %q", eps[i].HTTP, resp.StatusCode, body)
		}
		c := dialFTP(t, net.JoinHostPort(h, strconv.Itoa(s.FTPPort())), "bob", "pw")
		if got := retr(t, c, "f.txt"); string(got) != "hi" {
			t.Errorf("RETR via %s = %q", h, got)
		}
		c.Quit()
	}
}

func TestNewRefusesBadOptions(t *testing.T) {
	file := filepath.Join(t.TempDir(), "f")
	writeFile(t, file, nil)
	for _, o := range []Options{
		{Dir: filepath.Join(t.TempDir(), "missing")},
		{Dir: file},
		{Dir: t.TempDir(), User: "anonymous"},
		{Dir: t.TempDir(), User: "ftp"},
		{Dir: t.TempDir(), User: "a b"},
	} {
		o.Listen, o.FixedFTPPort, o.FixedHTTPPort = "127.0.0.1", true, true
		if s, err := New(o); err == nil {
			s.Close()
			t.Errorf("New(%+v) succeeded", o)
		}
	}
}

func TestGeneratedPasswordsAreReadableAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p := GeneratePassword()
		if len(p) != 19 || strings.Count(p, "-") != 3 || strings.ContainsAny(p, "01ilo") {
			t.Fatalf("password %q", p)
		}
		if seen[p] {
			t.Fatalf("password %q repeated", p)
		}
		seen[p] = true
	}
}

func TestStopDuringAnUploadLeavesNoPartialFile(t *testing.T) {
	dir := t.TempDir()
	s := startShare(t, Options{Dir: dir, Write: true})
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(s.HTTPPort()))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "PUT /slow.bin HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n")
	c.Write(make([]byte, 100_000))
	// Wait until the upload's temporary file exists: the handler is busy.
	deadline := time.Now().Add(5 * time.Second)
	for {
		entries, _ := os.ReadDir(dir)
		if len(entries) == 1 && strings.HasPrefix(entries[0].Name(), tempPrefix) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("upload never started: %v", entries)
		}
		time.Sleep(10 * time.Millisecond)
	}
	start := time.Now()
	if err := s.stop(); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > shutdownGrace+2*time.Second {
		t.Errorf("stop took %v with an upload running", d)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("left behind after stop: %v", entries)
	}
	if tot := s.Totals(); tot.FilesReceived != 0 {
		t.Errorf("cut upload counted as received: %+v", tot)
	}
}
