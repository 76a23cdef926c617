package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/ftptest"
)

// wharfServer runs wharf's own server with one full-rights user and returns
// the address and the user's home.
func wharfServer(t *testing.T, o ftptest.Options) (*ftptest.Server, *Target, string) {
	t.Helper()
	srv := ftptest.Start(t, o)
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	host, port, _ := net.SplitHostPort(srv.Addr)
	return srv, &Target{Host: host, Port: port, User: "alice", Password: "secret", HasPassword: true}, home
}

func sha(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func TestWharfEveryCommandOfTheAPI(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	c := login(t, tg, Options{})
	ctx := context.Background()
	if !c.Has("HASH") || c.HashAlgo() != "SHA-256" {
		t.Fatalf("wharf offers HASH SHA-256; client chose %q from %v", c.HashAlgo(), c.Feat())
	}
	if err := c.Mkdir(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("wharf "), 50_000)
	if n, err := c.Stor(ctx, "docs/a.txt", 0, bytes.NewReader(payload)); err != nil || n != int64(len(payload)) {
		t.Fatalf("Stor: %d %v", n, err)
	}
	if size, err := c.Size(ctx, "docs/a.txt"); err != nil || size != int64(len(payload)) {
		t.Fatalf("Size: %d %v", size, err)
	}
	if mt, err := c.MDTM(ctx, "docs/a.txt"); err != nil || time.Since(mt) > time.Minute {
		t.Fatalf("MDTM: %v %v", mt, err)
	}
	algo, sum, err := c.Hash(ctx, "docs/a.txt")
	if err != nil || algo != "SHA-256" || sum != sha(payload) {
		t.Fatalf("Hash: %s %s %v, want SHA-256 %s", algo, sum, err, sha(payload))
	}
	entries, err := c.List(ctx, "docs")
	if err != nil || len(entries) != 1 || entries[0].Name != "a.txt" || entries[0].Size != int64(len(payload)) || entries[0].Type != TypeFile {
		t.Fatalf("List: %+v %v", entries, err)
	}
	var back bytes.Buffer
	if _, err := c.Retr(ctx, "docs/a.txt", 6, &back); err != nil || !bytes.Equal(back.Bytes(), payload[6:]) {
		t.Fatalf("Retr from offset 6: %d bytes, %v", back.Len(), err)
	}
	if _, err := c.Appe(ctx, "docs/a.txt", strings.NewReader("tail")); err != nil {
		t.Fatal(err)
	}
	if err := c.Rename(ctx, "docs/a.txt", "docs/b.txt"); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(home, "docs", "b.txt")); !bytes.Equal(got, append(payload, "tail"...)) {
		t.Fatal("server file is not payload+tail after APPE and rename")
	}
	if err := c.Rmdir(ctx, "docs"); err == nil {
		t.Fatal("Rmdir of a non-empty folder succeeded")
	}
	if err := c.Delete(ctx, "docs/b.txt"); err != nil {
		t.Fatal(err)
	}
	if err := c.Rmdir(ctx, "docs"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Size(ctx, "docs/b.txt"); KindOf(err) != KindNotFound {
		t.Fatalf("Size of a deleted file: %v (kind %v)", err, KindOf(err))
	}
	if err := c.MkdirAll(ctx, "x/y/z"); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveAll(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(home, "x")); !os.IsNotExist(err) {
		t.Fatalf("RemoveAll left %v", err)
	}
	if err := c.Quit(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestWharfErrorKinds(t *testing.T) {
	srv, tg, _ := wharfServer(t, ftptest.Options{})
	ctx := context.Background()
	if _, err := Connect(ctx, tg, Options{}, "alice", "nope"); KindOf(err) != KindLogin {
		t.Fatalf("bad password: %v", err)
	}
	srv.Users.Add("reader", "pw", accounts.PresetReadOnly)
	r := login(t, &Target{Host: tg.Host, Port: tg.Port, User: "reader", Password: "pw"}, Options{})
	if _, err := r.Stor(ctx, "new.txt", 0, strings.NewReader("x")); KindOf(err) != KindPermission {
		t.Fatalf("upload by a read-only user: %v (kind %v), want permission", err, KindOf(err))
	}
	var fe *Error
	if _, err := r.Size(ctx, "missing"); !errors.As(err, &fe) || fe.Code != 550 || fe.Kind() != KindNotFound {
		t.Fatalf("missing file: %v", err)
	}
	srv.Users.Set(accounts.User{Name: "small", Perms: accounts.PresetFull, QuotaBytes: 1000}, "pw")
	s := login(t, &Target{Host: tg.Host, Port: tg.Port, User: "small", Password: "pw"}, Options{})
	if _, err := s.Stor(ctx, "small", 0, bytes.NewReader(make([]byte, 300))); err != nil {
		t.Fatal(err)
	}
	q, err := s.SiteQuota(ctx)
	if err != nil || q.Used != 300 || q.Limit != 1000 || q.Left() != 700 {
		t.Fatalf("SITE QUOTA: %+v %v", q, err)
	}
	if _, err := s.Stor(ctx, "big", 0, bytes.NewReader(make([]byte, 5000))); KindOf(err) != KindQuota {
		t.Fatalf("upload over quota: %v (kind %v), want quota", err, KindOf(err))
	}
	if s.Err() != nil {
		t.Fatalf("a refused upload broke the session: %v", s.Err())
	}
}

func TestWharfActiveMode(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	os.WriteFile(filepath.Join(home, "f"), []byte("active data"), 0o644)
	c := login(t, tg, Options{Active: true})
	var b bytes.Buffer
	if _, err := c.Retr(context.Background(), "f", 0, &b); err != nil || b.String() != "active data" {
		t.Fatalf("%q %v", b.String(), err)
	}
	if _, err := c.Stor(context.Background(), "g", 0, strings.NewReader("up active")); err != nil {
		t.Fatal(err)
	}
}

// The server requires data connections to resume the control connection's
// TLS session; the client shares its session cache so they do.
func TestWharfExplicitTLSDataResumesControlSession(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{TLS: true, Configure: func(c *ftp.Config) { c.TLSRequired, c.TLSRequireReuse = true, true }})
	known := filepath.Join(t.TempDir(), "known_servers")
	c, err := Dial(context.Background(), tg, Options{KnownServers: known, TLS: TLSRequire, Ask: func(string) bool { return true }})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(context.Background(), "alice", "secret"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.TLS(), "PROT P") {
		t.Fatalf("TLS state %q", c.TLS())
	}
	want := bytes.Repeat([]byte{7}, 200_000)
	os.WriteFile(filepath.Join(home, "secret.bin"), want, 0o644)
	for range 3 { // several data connections, each must resume
		var b bytes.Buffer
		if _, err := c.Retr(context.Background(), "secret.bin", 0, &b); err != nil || !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("Retr over TLS: %d bytes, %v", b.Len(), err)
		}
	}
	if _, err := c.List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

func TestWharfImplicitTLS(t *testing.T) {
	srv, tg, _ := wharfServer(t, ftptest.Options{ImplicitTLS: true})
	host, port, _ := net.SplitHostPort(srv.ImplicitAddr)
	tg = &Target{Implicit: true, Host: host, Port: port}
	c, err := Connect(context.Background(), tg, Options{RootCAs: srv.CertPool}, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Quit(context.Background())
	if !strings.Contains(c.TLS(), "implicit") {
		t.Fatalf("TLS state %q", c.TLS())
	}
	if _, err := c.Stor(context.Background(), "x", 0, strings.NewReader("over implicit TLS")); err != nil {
		t.Fatal(err)
	}
}

func TestTLSRequiredFailsWhenNotOffered(t *testing.T) {
	_, tg, _ := wharfServer(t, ftptest.Options{})
	_, err := Dial(context.Background(), tg, Options{TLS: TLSRequire})
	if !errors.Is(err, ErrTLSRequired) {
		t.Fatalf("--tls against a server without TLS: %v", err)
	}
}

// forwarder is one host:port that leads to whichever server is current: two
// servers with different certificates seen at the same address.
type forwarder struct {
	ln     net.Listener
	mu     sync.Mutex
	target string
}

func newForwarder(t *testing.T) *forwarder {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &forwarder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			to := f.target
			f.mu.Unlock()
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", to)
				if err != nil {
					return
				}
				defer s.Close()
				go io.Copy(s, c)
				io.Copy(c, s)
			}()
		}
	}()
	return f
}

func (f *forwarder) point(addr string) { f.mu.Lock(); f.target = addr; f.mu.Unlock() }

func TestTrustOnFirstUseThenChangedCertificateRefused(t *testing.T) {
	srv1, _, _ := wharfServer(t, ftptest.Options{TLS: true})
	srv2, _, _ := wharfServer(t, ftptest.Options{TLS: true})
	fw := newForwarder(t)
	host, port, _ := net.SplitHostPort(fw.ln.Addr().String())
	tg := &Target{Host: host, Port: port}
	known := filepath.Join(t.TempDir(), "wharf", "known_servers")
	ctx := context.Background()

	fw.point(srv1.Addr)
	_, err := Dial(ctx, tg, Options{KnownServers: known})
	var ce *CertError
	if !errors.As(err, &ce) || ce.Pinned != "" || !strings.Contains(err.Error(), "--trust "+ce.Fingerprint) || !strings.HasPrefix(ce.Fingerprint, "SHA256:") {
		t.Fatalf("unknown certificate without a terminal: %v", err)
	}
	fp1 := ce.Fingerprint
	asked := ""
	c, err := Dial(ctx, tg, Options{KnownServers: known, Ask: func(q string) bool { asked = q; return true }})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if !strings.Contains(asked, fp1) {
		t.Fatalf("the question did not show the fingerprint: %q", asked)
	}
	pins, _ := os.ReadFile(known)
	if string(pins) != tg.HostPort()+" "+fp1+"\n" {
		t.Fatalf("known_servers = %q", pins)
	}
	c, err = Dial(ctx, tg, Options{KnownServers: known}) // pinned: no question
	if err != nil {
		t.Fatal(err)
	}
	c.Close()

	fw.point(srv2.Addr) // same host:port, another certificate
	_, err = Dial(ctx, tg, Options{KnownServers: known, Ask: func(string) bool { t.Error("asked about a changed certificate"); return true }})
	if !errors.As(err, &ce) || ce.Pinned != fp1 || ce.Fingerprint == fp1 || !strings.Contains(err.Error(), "CHANGED") {
		t.Fatalf("changed certificate: %v", err)
	}
	// An explicit --trust of the new fingerprint re-pins it.
	c, err = Dial(ctx, tg, Options{KnownServers: known, Trust: []string{ce.Fingerprint}})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if pin, _ := LookupPin(known, tg.HostPort()); pin != ce.Fingerprint {
		t.Fatalf("pin after --trust: %q", pin)
	}
}

// A tampered file is caught: the download's .part is corrupted after the
// bytes arrived and before the checksum is compared.
func TestChecksumMismatchOnDownloadIsCaught(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	os.WriteFile(filepath.Join(home, "f.bin"), bytes.Repeat([]byte("abc"), 100_000), 0o644)
	c := login(t, tg, Options{})
	dst := filepath.Join(t.TempDir(), "f.bin")
	res, err := Get(context.Background(), c, "f.bin", dst, TransferOptions{BeforeVerify: func(local, _ string) {
		f, _ := os.OpenFile(local, os.O_WRONLY, 0)
		f.WriteAt([]byte("X"), 1234)
		f.Close()
	}})
	if !errors.Is(err, ErrChecksum) || res[0].Verified != "SHA-256" {
		t.Fatalf("tampered download: %v (verified %q)", err, res[0].Verified)
	}
	if _, err := os.Stat(dst); !os.IsNotExist(err) {
		t.Fatal("a file that failed verification was renamed into place")
	}
}

// The server's copy changes between upload and verification.
func TestChecksumMismatchOnUploadIsCaught(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	src := filepath.Join(t.TempDir(), "u.bin")
	randomFile(t, src, 100_000)
	c := login(t, tg, Options{})
	_, err := Put(context.Background(), c, src, "", TransferOptions{BeforeVerify: func(_, remote string) {
		os.WriteFile(filepath.Join(home, remote), make([]byte, 100_000), 0o644)
	}})
	if !errors.Is(err, ErrChecksum) {
		t.Fatalf("tampered upload: %v", err)
	}
}

type countingObserver struct{ files, bytes int64 }

func (o *countingObserver) Plan(files int, bytes int64)        { o.files, o.bytes = int64(files), bytes }
func (o *countingObserver) Begin(string, int64, int64) Tracker { return nopTracker{} }

func TestWharfParallelTreeRoundTripAndSkip(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{})
	src := filepath.Join(t.TempDir(), "tree")
	for i, name := range []string{"a", "b/c", "b/d/e", "f", "g", "h/i"} {
		os.MkdirAll(filepath.Dir(filepath.Join(src, name)), 0o755)
		randomFile(t, filepath.Join(src, name), 10_000*(i+1))
	}
	c := login(t, tg, Options{})
	ctx := context.Background()
	dial := func(ctx context.Context) (*Conn, error) { return Connect(ctx, tg, Options{}, "alice", "secret") }
	obs := &countingObserver{}
	res, err := Put(ctx, c, src, "", TransferOptions{Recursive: true, Parallel: 3, Dial: dial, Observer: obs})
	if err != nil {
		t.Fatal(err)
	}
	if obs.files != 6 || len(res) != 6 {
		t.Fatalf("planned %d files, got %d results", obs.files, len(res))
	}
	for _, r := range res {
		if r.Verified != "SHA-256" {
			t.Errorf("%s verified by %q", r.Name, r.Verified)
		}
	}
	dst := t.TempDir()
	if _, err := Get(ctx, c, "tree", dst, TransferOptions{Recursive: true, Parallel: 3, Dial: dial}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b/c", "b/d/e", "f", "g", "h/i"} {
		a, _ := os.ReadFile(filepath.Join(home, "tree", name))
		b, _ := os.ReadFile(filepath.Join(dst, "tree", name))
		if sha(a) != sha(b) || len(a) == 0 {
			t.Errorf("%s differs after the round trip", name)
		}
	}
	res, err = Put(ctx, c, src, "", TransferOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Skipped == "" || r.Moved != 0 {
			t.Errorf("%s re-uploaded (%d bytes) though identical", r.Name, r.Moved)
		}
	}
}

// An upload cut half-way resumes with -c, moving only the missing bytes.
func TestWharfResumeUploadMovesOnlyMissingBytes(t *testing.T) {
	var mu sync.Mutex
	var moved []int64
	_, tg, home := wharfServer(t, ftptest.Options{Configure: func(c *ftp.Config) {
		c.Events = func(e ftp.Event) {
			if e.Kind == ftp.TransferDone && e.Upload {
				mu.Lock()
				moved = append(moved, e.Bytes)
				mu.Unlock()
			}
		}
	}})
	src := filepath.Join(t.TempDir(), "big.bin")
	want := randomFile(t, src, 4<<20)
	c := login(t, tg, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	// The pause before the cut lets the server drain what is already in its
	// socket buffer, as a slow link would have: then the cut leaves a
	// known-good part on the server.
	cut := &cancelAfter{limit: 1 << 20, cancel: func() { time.Sleep(300 * time.Millisecond); cancel() }}
	if _, err := Put(ctx, c, src, "", TransferOptions{Observer: cut}); err == nil {
		t.Fatal("cancelled upload reported success")
	}
	var partial int64
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if fi, err := os.Stat(filepath.Join(home, "big.bin")); err == nil && fi.Size() > 0 {
			partial = fi.Size()
			mu.Lock()
			n := len(moved)
			mu.Unlock()
			if n > 0 {
				break
			}
		}
	}
	if partial == 0 || partial >= int64(len(want)) {
		ents, _ := os.ReadDir(home)
		t.Fatalf("server holds %d bytes after the cut, want a part (home: %v, events %v)", partial, ents, moved)
	}
	c2 := login(t, tg, Options{})
	res, err := Put(context.Background(), c2, src, "", TransferOptions{Continue: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Moved != int64(len(want))-partial || res[0].Verified != "SHA-256" {
		t.Errorf("resume moved %d bytes (want %d), verified %q", res[0].Moved, int64(len(want))-partial, res[0].Verified)
	}
	got, _ := os.ReadFile(filepath.Join(home, "big.bin"))
	if sha(got) != sha(want) {
		t.Fatal("resumed upload differs")
	}
}

func TestWharfActiveModeOverTLSResumesSession(t *testing.T) {
	_, tg, home := wharfServer(t, ftptest.Options{TLS: true, Configure: func(c *ftp.Config) { c.TLSRequired, c.TLSRequireReuse = true, true }})
	os.WriteFile(filepath.Join(home, "f"), []byte("active and private"), 0o644)
	c := login(t, tg, Options{Active: true, Trust: []string{}, Ask: func(string) bool { return true }, KnownServers: filepath.Join(t.TempDir(), "ks")})
	var b bytes.Buffer
	if _, err := c.Retr(context.Background(), "f", 0, &b); err != nil || b.String() != "active and private" {
		t.Fatalf("%q %v", b.String(), err)
	}
}

func TestWharfOverIPv6(t *testing.T) {
	srv := ftptest.Start(t, ftptest.Options{IPv6: true})
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	os.WriteFile(filepath.Join(home, "six"), []byte("v6"), 0o644)
	tg, err := ParseURL("ftp://alice:secret@" + srv.Addr + "/six")
	if err != nil {
		t.Fatal(err)
	}
	for _, active := range []bool{false, true} {
		c := login(t, tg, Options{Active: active})
		var b bytes.Buffer
		if _, err := c.Retr(context.Background(), tg.Path, 0, &b); err != nil || b.String() != "v6" {
			t.Fatalf("active=%v: %q %v", active, b.String(), err)
		}
	}
}

// Regression (QA round 2, #1): a pinned host restarted without TLS was
// logged into in clear. The downgrade must be refused before USER and PASS
// cross the network, and only an explicit TLSOff (--no-tls) goes on.
func TestPinnedHostWithoutTLSIsRefusedBeforeLogin(t *testing.T) {
	tlsSrv, _, _ := wharfServer(t, ftptest.Options{TLS: true})
	plain, _, _ := wharfServer(t, ftptest.Options{})
	fw := newForwarder(t)
	host, port, _ := net.SplitHostPort(fw.ln.Addr().String())
	tg := &Target{Host: host, Port: port, User: "alice", Password: "secret", HasPassword: true}
	known := filepath.Join(t.TempDir(), "known_servers")
	ctx := context.Background()

	fw.point(tlsSrv.Addr)
	c, err := Connect(ctx, tg, Options{KnownServers: known, Ask: func(string) bool { return true }}, "alice", "secret")
	if err != nil {
		t.Fatal(err)
	}
	fp := c.Fingerprint()
	c.Quit(ctx)

	fw.point(plain.Addr) // same host:port, no AUTH TLS in FEAT
	var trace bytes.Buffer
	_, err = Connect(ctx, tg, Options{KnownServers: known, Trace: &trace}, "alice", "secret")
	var de *DowngradeError
	if !errors.As(err, &de) || de.Pinned != fp || !strings.Contains(err.Error(), "--no-tls") || !strings.Contains(err.Error(), fp) {
		t.Fatalf("pinned host without TLS: %v", err)
	}
	if strings.Contains(trace.String(), "> USER") || strings.Contains(trace.String(), "> PASS") {
		t.Fatalf("credentials sent before the refusal:\n%s", trace.String())
	}
	// A host without a pin is not affected, and --no-tls is the override.
	if c, err := Connect(ctx, tg, Options{KnownServers: filepath.Join(t.TempDir(), "none")}, "alice", "secret"); err != nil {
		t.Fatalf("unpinned plain host: %v", err)
	} else {
		c.Quit(ctx)
	}
	if c, err := Connect(ctx, tg, Options{KnownServers: known, TLS: TLSOff}, "alice", "secret"); err != nil {
		t.Fatalf("--no-tls to the pinned host: %v", err)
	} else {
		c.Quit(ctx)
	}
}

// refusingAuthProxy stands between client and server as an attacker
// would, turning the server's "234" to AUTH TLS into a refusal, so the
// client is asked to go on in clear with a server that does offer TLS.
func refusingAuthProxy(t *testing.T, server string) *Target {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s, err := net.Dial("tcp", server)
				if err != nil {
					return
				}
				defer s.Close()
				go func() { io.Copy(s, c); s.Close() }() // the client left: so does the server's side
				r := bufio.NewReader(s)
				for {
					line, err := r.ReadString('\n')
					if strings.HasPrefix(line, "234") {
						line = "534 TLS not available.\r\n"
					}
					if _, werr := io.WriteString(c, line); werr != nil || err != nil {
						return
					}
				}
			}()
		}
	}()
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	return &Target{Host: host, Port: port}
}

// Regression (QA round 2, #1), the other half: AUTH TLS offered but
// refused is a downgrade too, for a pinned host.
func TestPinnedHostRefusingAUTHTLSIsRefusedBeforeLogin(t *testing.T) {
	srv, _, _ := wharfServer(t, ftptest.Options{TLS: true})
	tg := refusingAuthProxy(t, srv.Addr)
	known := filepath.Join(t.TempDir(), "known_servers")
	if err := Pin(known, tg.HostPort(), "SHA256:pinnedbefore"); err != nil {
		t.Fatal(err)
	}
	var trace bytes.Buffer
	_, err := Connect(context.Background(), tg, Options{KnownServers: known, Trace: &trace}, "alice", "secret")
	var de *DowngradeError
	if !errors.As(err, &de) || !strings.Contains(de.Why, "AUTH TLS was refused (534") || !strings.Contains(err.Error(), "SHA256:pinnedbefore") {
		t.Fatalf("AUTH TLS refused by a pinned host: %v\n%s", err, trace.String())
	}
	if strings.Contains(trace.String(), "> USER") {
		t.Fatalf("USER sent after the refusal:\n%s", trace.String())
	}
}
