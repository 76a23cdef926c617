package ftp_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	jftp "github.com/jlaffaye/ftp"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftptest"
	"github.com/wharfftp/wharf/internal/testenv"
	"github.com/wharfftp/wharf/internal/vfs"
)

// start runs a plain server with one full-permission user "alice" and
// returns it with alice's home.
func start(t *testing.T, opts ftptest.Options) (*ftptest.Server, string) {
	t.Helper()
	srv := ftptest.Start(t, opts)
	home := srv.Users.Add("alice", "secret", accounts.PresetFull)
	return srv, home
}

// login connects jlaffaye/ftp (passive EPSV by default) and logs in.
func login(t *testing.T, addr, user, pass string, opts ...jftp.DialOption) *jftp.ServerConn {
	t.Helper()
	opts = append([]jftp.DialOption{jftp.DialWithTimeout(10 * time.Second)}, opts...)
	c, err := jftp.Dial(addr, opts...)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Quit() })
	if err := c.Login(user, pass); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// raw is a hand-driven control connection for protocol-level checks.
type raw struct {
	t  testing.TB
	c  net.Conn
	tp *textproto.Conn
}

func newRaw(t testing.TB, c net.Conn) *raw { return &raw{t: t, c: c, tp: textproto.NewConn(c)} }

func dialRaw(t testing.TB, addr string) *raw {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := newRaw(t, c)
	t.Cleanup(func() { c.Close() })
	r.expect(220)
	return r
}

// send writes a command line and reads the reply.
func (r *raw) send(line string) (int, string) {
	r.t.Helper()
	if err := r.tp.PrintfLine("%s", line); err != nil {
		r.t.Fatalf("send %q: %v", line, err)
	}
	return r.read()
}

func (r *raw) read() (int, string) {
	r.t.Helper()
	code, msg, err := r.tp.ReadResponse(0)
	if err != nil && code == 0 {
		r.t.Fatalf("read reply: %v", err)
	}
	return code, msg
}

func (r *raw) expect(want int) string {
	r.t.Helper()
	code, msg := r.read()
	if code != want {
		r.t.Fatalf("reply %d %q, want %d", code, msg, want)
	}
	return msg
}

// must sends a command and checks the reply code.
func (r *raw) must(line string, want int) string {
	r.t.Helper()
	code, msg := r.send(line)
	if code != want {
		r.t.Fatalf("%s: reply %d %q, want %d", line, code, msg, want)
	}
	return msg
}

func (r *raw) login(user, pass string) {
	r.t.Helper()
	r.must("USER "+user, 331)
	r.must("PASS "+pass, 230)
}

// closed reports whether the server closed the connection.
func (r *raw) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [512]byte
	for {
		_, err := r.c.Read(b[:])
		if err != nil {
			return true
		}
	}
}

func randomBytes(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

func fileSum(t testing.TB, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return sum(b)
}

func writeFile(t testing.TB, p string, b []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// run executes an external client with a timeout and returns its combined
// output; a client that is not installed ends the test as testenv.Missing says.
func run(t *testing.T, name string, args ...string) (string, error) {
	t.Helper()
	path := testenv.Tool(t, name)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	err := cmd.Run()
	return out.String(), err
}

// python runs a python3 script (ftplib) and fails the test on error.
func python(t *testing.T, script string, args ...string) string {
	t.Helper()
	out, err := run(t, "python3", append([]string{"-c", script}, args...)...)
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, out)
	}
	return strings.TrimSpace(out)
}

func hostPort(t testing.TB, addr string) (string, string) {
	t.Helper()
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return h, p
}

type accountsUser = accounts.User
type vfsStorage = vfs.Storage

// panickyFS panics when asked about "boom", to prove a handler's panic
// takes down only its own session.
type panickyFS struct{ *vfs.Local }

func (p panickyFS) Stat(ctx context.Context, name string) (fs.FileInfo, error) {
	if name == "boom" {
		panic("boom: a bug in a backend")
	}
	return p.Local.Stat(ctx, name)
}

func openPanicky(home string) (vfs.Storage, error) {
	l, err := vfs.OpenLocal(home)
	if err != nil {
		return nil, err
	}
	return panickyFS{l}, nil
}

func accountsUserWith(name string, maxSessions int) accounts.User {
	return accounts.User{Name: name, Perms: accounts.PresetFull, MaxSessions: maxSessions}
}

func rateLimitedUser(name string, rate int64) accounts.User {
	return accounts.User{Name: name, Perms: accounts.PresetFull, RateDown: rate}
}
