// Package ftptest runs a real wharf FTP server in-process for tests: on a
// loopback port, with in-memory accounts whose homes live in t.TempDir(),
// optionally with explicit and implicit FTPS on a self-signed certificate.
//
// It must never be imported by non-test code, never mock the engine (tests
// talk to the real server over real sockets) and never leave anything
// running after the test: everything is torn down through t.Cleanup.
package ftptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/ftp"
	"github.com/wharfftp/wharf/internal/tlsconf"
)

// Options shape the server. The zero value is a plain server on 127.0.0.1.
type Options struct {
	// TLS enables AUTH TLS with a self-signed certificate (see
	// Server.ClientTLS for a client configuration that trusts it).
	TLS bool
	// ImplicitTLS also starts an implicit FTPS listener (Server.ImplicitAddr);
	// it implies TLS.
	ImplicitTLS bool
	// IPv6 listens on [::1] instead of 127.0.0.1; the test is skipped when
	// the machine has no IPv6 loopback.
	IPv6 bool
	// Configure may adjust the engine configuration before the server
	// starts (Auth and TLS are already set).
	Configure func(*ftp.Config)
	// Users are created before the server starts.
	Users []accounts.MemoryUser
	// AllowPanics lets the test pass although the server recovered a panic
	// (a test that provokes one on purpose). Otherwise any recovered panic
	// fails the test: it is a crash the client only sees as a dropped
	// connection.
	AllowPanics bool
}

// Server is a running test server.
type Server struct {
	Addr         string // host:port of the plain (explicit TLS) listener
	ImplicitAddr string // host:port of the implicit FTPS listener, if any
	Auth         *accounts.Memory
	Engine       *ftp.Server
	Users        *Users
	// TLSConfig is the server's TLS configuration, nil without TLS.
	TLSConfig *tls.Config
	// CertPool trusts the server's certificate.
	CertPool *x509.CertPool

	logs *syncBuffer
}

// fastArgon2 keeps test logins cheap: hashing cost is not what these
// tests exercise, and 50 concurrent logins at 19 MiB each would not fit CI.
var fastArgon2 = accounts.Argon2Params{Memory: 64, Time: 1, Threads: 1}

// Start runs a server for the duration of the test.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	network, host := "tcp4", "127.0.0.1"
	if opts.IPv6 {
		network, host = "tcp6", "[::1]"
	}
	ln, err := net.Listen(network, host+":0")
	if err != nil {
		if opts.IPv6 {
			t.Skipf("no IPv6 loopback: %v", err)
		}
		t.Fatalf("listen: %v", err)
	}
	auth := accounts.NewMemoryWith(fastArgon2, opts.Users...)
	s := &Server{Addr: ln.Addr().String(), Auth: auth, logs: &syncBuffer{}}
	s.Users = &Users{t: t, auth: auth}
	cfg := ftp.Config{
		Auth:           auth,
		Logger:         slog.New(slog.NewTextHandler(s.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		LoginFailDelay: time.Millisecond,
		DataTimeout:    10 * time.Second,
	}
	if opts.TLS || opts.ImplicitTLS {
		conf, err := tlsconf.SelfSigned(t.TempDir(), []string{"127.0.0.1", "::1", "localhost"})
		if err != nil {
			t.Fatalf("self-signed certificate: %v", err)
		}
		cfg.TLS = conf
		s.TLSConfig = conf
		s.CertPool = x509.NewCertPool()
		s.CertPool.AddCert(conf.Certificates[0].Leaf)
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	eng, err := ftp.NewServer(cfg)
	if err != nil {
		ln.Close()
		t.Fatalf("ftp.NewServer: %v", err)
	}
	s.Engine = eng
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); eng.Serve(ln) }()
	if opts.ImplicitTLS {
		iln, err := net.Listen(network, host+":0")
		if err != nil {
			t.Fatalf("listen implicit: %v", err)
		}
		s.ImplicitAddr = iln.Addr().String()
		wg.Add(1)
		go func() { defer wg.Done(); eng.ServeImplicitTLS(iln) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := eng.Shutdown(ctx); err != nil {
			t.Logf("ftptest: shutdown: %v", err)
		}
		wg.Wait()
		if n := eng.Panics(); n > 0 && !opts.AllowPanics {
			t.Errorf("ftptest: the server recovered %d panic(s) (see the log for the stack)", n)
		}
		if t.Failed() {
			t.Logf("ftptest: server log:\n%s", s.logs.String())
		}
	})
	return s
}

// Logs returns everything the server logged so far (debug level).
func (s *Server) Logs() string { return s.logs.String() }

// ClientTLS returns a client configuration that trusts the server's
// certificate and caches sessions, so data connections resume the control
// connection's TLS session as the server requires.
func (s *Server) ClientTLS() *tls.Config {
	return &tls.Config{
		RootCAs:            s.CertPool,
		ServerName:         "127.0.0.1",
		ClientSessionCache: tls.NewLRUClientSessionCache(16),
		NextProtos:         []string{"ftp"},
		MinVersion:         tls.VersionTLS12,
	}
}

// CertFile writes the server certificate as PEM into the test's temp dir
// (for curl --cacert and lftp) and returns its path.
func (s *Server) CertFile(t testing.TB) string {
	t.Helper()
	if s.TLSConfig == nil {
		t.Fatal("ftptest: CertFile without TLS")
	}
	p := filepath.Join(t.TempDir(), "cert.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: s.TLSConfig.Certificates[0].Certificate[0]}
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// Users adds accounts to a running server.
type Users struct {
	t    testing.TB
	auth *accounts.Memory
}

// Add creates a user with the given password and permissions and a fresh
// home in t.TempDir(), and returns the home.
func (u *Users) Add(name, password string, perms accounts.Perm) string {
	u.t.Helper()
	home := u.t.TempDir()
	u.Set(accounts.User{Name: name, Home: home, Perms: perms}, password)
	return home
}

// Set creates or replaces a user with full settings (quota, rates, ...).
// An empty Home gets a fresh temp dir.
func (u *Users) Set(user accounts.User, password string) accounts.User {
	u.t.Helper()
	if user.Home == "" {
		user.Home = u.t.TempDir()
	}
	u.auth.SetUser(user)
	if err := u.auth.SetPassword(user.Name, password); err != nil {
		u.t.Fatalf("set password of %s: %v", user.Name, err)
	}
	return user
}

// syncBuffer is a bytes.Buffer safe for the server's concurrent logging.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
