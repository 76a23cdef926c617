package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/testenv"
)

// pyftpd starts pyftpdlib (a real third-party server, python3-pyftpdlib)
// serving dir, and returns its address. Interop with servers other than
// wharf's own is part of the client's contract.
func pyftpd(t *testing.T, dir string, flags ...string) *Target {
	t.Helper()
	py := testenv.PythonWith(t, "pyftpdlib")
	script, _ := filepath.Abs("testdata/pyftpd.py")
	cmd := exec.Command(py, append([]string{script, "--dir", dir}, flags...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if testing.Verbose() == false {
		cmd.Stderr = nil
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "PORT ") {
		t.Fatalf("pyftpdlib did not start: %q %v", line, err)
	}
	return &Target{Host: "127.0.0.1", Port: strings.TrimSpace(strings.TrimPrefix(line, "PORT ")), User: "alice", Password: "secret", HasPassword: true}
}

func login(t *testing.T, tg *Target, opts Options) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Connect(ctx, tg, opts, tg.User, tg.Password)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Quit(context.Background()) })
	return c
}

func randomFile(t *testing.T, name string, size int) []byte {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	if err := os.WriteFile(name, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestPyftpdlibWrongPasswordIsLoginKind(t *testing.T) {
	tg := pyftpd(t, t.TempDir())
	_, err := Connect(context.Background(), tg, Options{}, "alice", "wrong")
	if KindOf(err) != KindLogin {
		t.Fatalf("wrong password: got %v (kind %v), want a login error", err, KindOf(err))
	}
}

func TestPyftpdlibRoundTripVerifiedBySize(t *testing.T) {
	srv, local := t.TempDir(), t.TempDir()
	tg := pyftpd(t, srv)
	c := login(t, tg, Options{})
	ctx := context.Background()
	want := randomFile(t, filepath.Join(local, "up.bin"), 300_000)
	res, err := Put(ctx, c, filepath.Join(local, "up.bin"), "", TransferOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Verified != "size" {
		t.Errorf("pyftpdlib offers no checksum: verified by %q, want size", res[0].Verified)
	}
	if got, _ := os.ReadFile(filepath.Join(srv, "up.bin")); !bytes.Equal(got, want) {
		t.Fatal("uploaded file differs")
	}
	dst := filepath.Join(local, "down.bin")
	if _, err := Get(ctx, c, "up.bin", dst, TransferOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dst); !bytes.Equal(got, want) {
		t.Fatal("downloaded file differs")
	}
	if _, err := os.Stat(dst + ".part"); !os.IsNotExist(err) {
		t.Errorf(".part left behind: %v", err)
	}
	if _, err := Get(ctx, c, "missing.bin", filepath.Join(local, "x"), TransferOptions{}); KindOf(err) != KindNotFound {
		t.Errorf("missing file: %v (kind %v), want not found", err, KindOf(err))
	}
}

func TestPyftpdlibActiveMode(t *testing.T) {
	srv := t.TempDir()
	tg := pyftpd(t, srv)
	os.WriteFile(filepath.Join(srv, "a.txt"), []byte("hello active\n"), 0o644)
	c := login(t, tg, Options{Active: true})
	var buf bytes.Buffer
	if _, err := c.Retr(context.Background(), "a.txt", 0, &buf); err != nil {
		t.Fatal(err)
	}
	if buf.String() != "hello active\n" {
		t.Fatalf("got %q", buf.String())
	}
}

// A server without EPSV that announces a private address it cannot be
// reached on (NAT): the client falls back to PASV and uses the control
// connection's host.
func TestPyftpdlibPASVFallbackAndNATAddress(t *testing.T) {
	srv := t.TempDir()
	os.WriteFile(filepath.Join(srv, "n.txt"), []byte("behind nat"), 0o644)
	tg := pyftpd(t, srv, "--no-epsv", "--masquerade", "10.255.255.1")
	var trace bytes.Buffer
	c := login(t, tg, Options{Trace: &trace, Timeout: 5 * time.Second})
	var buf bytes.Buffer
	if _, err := c.Retr(context.Background(), "n.txt", 0, &buf); err != nil {
		t.Fatalf("%v\n%s", err, trace.String())
	}
	if buf.String() != "behind nat" {
		t.Fatalf("got %q", buf.String())
	}
	if !strings.Contains(trace.String(), "> PASV") || !strings.Contains(trace.String(), "10,255,255,1") {
		t.Fatalf("expected EPSV refused then PASV with the masqueraded address:\n%s", trace.String())
	}
}

// Without MLSD the client parses LIST; a tree copies both ways and the
// second run skips what is identical.
func TestPyftpdlibRecursiveWithLISTParsing(t *testing.T) {
	srv, local := t.TempDir(), t.TempDir()
	tg := pyftpd(t, srv, "--no-mlsd")
	c := login(t, tg, Options{})
	ctx := context.Background()
	tree := filepath.Join(local, "tree")
	os.MkdirAll(filepath.Join(tree, "sub", "deeper"), 0o755)
	randomFile(t, filepath.Join(tree, "a.bin"), 1000)
	randomFile(t, filepath.Join(tree, "sub", "b.bin"), 70_000)
	randomFile(t, filepath.Join(tree, "sub", "deeper", "c d.txt"), 10)
	if _, err := Put(ctx, c, tree, "", TransferOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	backDir := filepath.Join(local, "back")
	os.Mkdir(backDir, 0o755)
	back := filepath.Join(backDir, "tree") // an existing folder receives the tree, as cp -r does
	if _, err := Get(ctx, c, "tree", backDir, TransferOptions{Recursive: true}); err != nil {
		t.Fatal(err)
	}
	for _, rel := range []string{"a.bin", "sub/b.bin", "sub/deeper/c d.txt"} {
		a, _ := os.ReadFile(filepath.Join(tree, rel))
		b, err := os.ReadFile(filepath.Join(back, rel))
		if err != nil || sha256.Sum256(a) != sha256.Sum256(b) {
			t.Errorf("%s differs after the round trip: %v", rel, err)
		}
	}
	res, err := Get(ctx, c, "tree", backDir, TransferOptions{Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Skipped == "" || r.Moved != 0 {
			t.Errorf("%s: second get -r moved %d bytes, want skipped as identical (%+v)", r.Name, r.Moved, r)
		}
	}
}

// Resume after a cancelled download: the .part stays, and -c moves only the
// missing bytes.
func TestPyftpdlibResumeDownloadMovesOnlyMissingBytes(t *testing.T) {
	srv, local := t.TempDir(), t.TempDir()
	tg := pyftpd(t, srv)
	want := randomFile(t, filepath.Join(srv, "big.bin"), 3<<20)
	c := login(t, tg, Options{})
	dst := filepath.Join(local, "big.bin")
	ctx, cancel := context.WithCancel(context.Background())
	obs := &cancelAfter{limit: 1 << 20, cancel: cancel}
	_, err := Get(ctx, c, "big.bin", dst, TransferOptions{Observer: obs})
	if err == nil {
		t.Fatal("cancelled download reported success")
	}
	fi, err := os.Stat(dst + ".part")
	if err != nil || fi.Size() == 0 || fi.Size() >= int64(len(want)) {
		t.Fatalf("want a partial .part, got %v %v", fi, err)
	}
	c2 := login(t, tg, Options{})
	res, err := Get(context.Background(), c2, "big.bin", dst, TransferOptions{Continue: true})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Moved != int64(len(want))-fi.Size() {
		t.Errorf("resume moved %d bytes, want %d", res[0].Moved, int64(len(want))-fi.Size())
	}
	got, _ := os.ReadFile(dst)
	if sha256.Sum256(got) != sha256.Sum256(want) {
		t.Fatal("resumed file differs")
	}
}

type cancelAfter struct {
	limit  int64
	cancel func()
	n      int64
}

func (c *cancelAfter) Begin(string, int64, int64) Tracker { return c }
func (c *cancelAfter) Add(n int64) {
	if c.n += n; c.n >= c.limit && c.n-n < c.limit { // once
		c.cancel()
	}
}
func (c *cancelAfter) End(Result, error) {}

// Explicit FTPS against pyftpdlib's TLS_FTPHandler (pyOpenSSL), which
// requires TLS on both connections: the certificate is trusted by its
// fingerprint, as a user would with --trust.
func TestPyftpdlibExplicitTLS(t *testing.T) {
	dir := t.TempDir()
	pemFile, fp := selfSignedPEM(t)
	os.WriteFile(filepath.Join(dir, "tls.txt"), []byte("over TLS"), 0o644)
	tg := pyftpd(t, dir, "--tls-cert", pemFile)
	c := login(t, tg, Options{TLS: TLSRequire, Trust: []string{fp}, KnownServers: filepath.Join(t.TempDir(), "ks")})
	if !strings.Contains(c.TLS(), "PROT P") {
		t.Fatalf("TLS state %q", c.TLS())
	}
	var b bytes.Buffer
	if _, err := c.Retr(context.Background(), "tls.txt", 0, &b); err != nil || b.String() != "over TLS" {
		t.Fatalf("%q %v", b.String(), err)
	}
	if _, err := c.Stor(context.Background(), "up.txt", 0, strings.NewReader("up over TLS")); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "up.txt")); string(got) != "up over TLS" {
		t.Fatalf("uploaded %q", got)
	}
}

func selfSignedPEM(t *testing.T) (file, fingerprint string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pyftpdlib test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	var out bytes.Buffer
	pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	pem.Encode(&out, &pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	file = filepath.Join(t.TempDir(), "cert.pem")
	os.WriteFile(file, out.Bytes(), 0o600)
	return file, Fingerprint(der)
}
