package xfer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/wharfftp/wharf/internal/accounts"
	"github.com/wharfftp/wharf/internal/tlsconf"
)

// tcpPair returns the two ends of a real loopback TCP connection.
func tcpPair(t testing.TB) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.ListenTCP("tcp", &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan *net.TCPConn, 1)
	go func() {
		c, err := ln.AcceptTCP()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	client, err = net.DialTCP("tcp", nil, ln.Addr().(*net.TCPAddr))
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// randomBytes returns n reproducible pseudo-random bytes.
func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// tempFile writes data to a new file in dir and returns it opened for reading.
func tempFile(t testing.TB, dir string, data []byte) *os.File {
	t.Helper()
	name := filepath.Join(dir, "src.bin")
	if err := os.WriteFile(name, data, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// createFile creates an empty upload target in dir.
func createFile(t testing.TB, dir, name string) *os.File {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, name), os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// quotaOf logs a real in-memory account with the given byte quota in and
// returns its shared Quota.
func quotaOf(t testing.TB, limit int64) accounts.Quota {
	t.Helper()
	m := accounts.NewMemory(accounts.MemoryUser{
		User:        accounts.User{Name: "alice", Home: t.TempDir(), Perms: accounts.PresetFull, QuotaBytes: limit},
		AnyPassword: true,
	})
	s, err := m.Login(context.Background(), "alice", "x", accounts.LoginInfo{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s.Quota()
}

// tlsConfigs returns a hardened server config and a client config trusting it.
func tlsConfigs(t testing.TB) (server, client *tls.Config) {
	t.Helper()
	server, err := tlsconf.SelfSigned(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(server.Certificates[0].Leaf)
	return server, &tls.Config{RootCAs: pool, ServerName: "localhost"}
}

// drain reads everything from r in the background.
func drain(r io.Reader) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(r)
		ch <- b
	}()
	return ch
}

// onlyReader and onlyWriter hide ReadFrom/WriteTo, forcing io.Copy through a
// user-space buffer: the deliberately slow peer of the benchmarks.
type onlyReader struct{ io.Reader }
type onlyWriter struct{ io.Writer }
