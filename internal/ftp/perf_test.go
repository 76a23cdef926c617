package ftp_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"log/slog"
	"math/big"
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

// These benchmarks reproduce the shared harness's workloads (see
// BENCHMARKS.md) against the production account store: SQLite in a temp
// data directory, default argon2id cost, a warn-level text logger (the
// benchmark configuration: errors and warnings only, like the peers). They
// exist to be profiled (go test -bench X -cpuprofile) without the harness.

// dbServer runs a server on the SQLite account store with user "bench".
func dbServer(b *testing.B, configure func(*ftp.Config)) (addr, home string) {
	b.Helper()
	ctx := context.Background()
	db, err := accounts.Open(ctx, b.TempDir(), accounts.Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := db.AddUser(ctx, accounts.User{Name: "bench", Perms: accounts.PresetFull}, "benchpw"); err != nil {
		b.Fatal(err)
	}
	u, err := db.GetUser(ctx, "bench")
	if err != nil {
		b.Fatal(err)
	}
	cfg := ftp.Config{
		Auth:   db,
		Logger: slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	if configure != nil {
		configure(&cfg)
	}
	srv, err := ftp.NewServer(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go srv.Serve(ln)
	b.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
		db.Close()
	})
	return ln.Addr().String(), u.Home
}

func dbSession(b *testing.B, addr string) *raw {
	b.Helper()
	r := dialRaw(b, addr)
	r.c.SetDeadline(time.Time{})
	r.login("bench", "benchpw")
	r.must("TYPE I", 200)
	return r
}

// BenchmarkSmallFilesDB is the harness's small-files workload: one session,
// PASV + STOR of a 4 KiB file, per iteration.
func BenchmarkSmallFilesDB(b *testing.B) {
	addr, _ := dbServer(b, nil)
	r := dbSession(b, addr)
	r.must("MKD small", 257)
	buf := make([]byte, 4096)
	i := 0
	for b.Loop() {
		dc := dataConn(b, r)
		r.must(fmt.Sprintf("STOR small/f%06d.dat", i), 150)
		if _, err := dc.Write(buf); err != nil {
			b.Fatal(err)
		}
		dc.Close()
		r.expect(226)
		i++
	}
}

// BenchmarkList10kDB is the harness's list-10k workload: MLSD of a folder
// of 10,000 empty files.
func BenchmarkList10kDB(b *testing.B) {
	addr, home := dbServer(b, nil)
	dir := filepath.Join(home, "dir10k")
	if err := os.Mkdir(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	for i := range 10000 {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("file%05d.txt", i)))
		if err != nil {
			b.Fatal(err)
		}
		f.Close()
	}
	r := dbSession(b, addr)
	buf := make([]byte, 256<<10)
	for b.Loop() {
		dc := dataConn(b, r)
		r.must("MLSD dir10k", 150)
		lines := countLines(dc, buf)
		dc.Close()
		r.expect(226)
		if lines != 10000 {
			b.Fatalf("%d lines", lines)
		}
	}
}

// BenchmarkLoginWarmDB is the harness's logins workload after its first
// login: connect, 220, USER, PASS, QUIT, 221, 50 at a time, same password.
func BenchmarkLoginWarmDB(b *testing.B) {
	addr, _ := dbServer(b, func(c *ftp.Config) { c.MaxSessionsPerIP, c.MaxPreLoginPerIP = 0, -1 })
	dbSession(b, addr).c.Close() // pays the one argon2id verification
	const conc = 50
	jobs := make(chan struct{})
	var wg sync.WaitGroup
	for range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range jobs {
				c, err := net.Dial("tcp4", addr)
				if err != nil {
					b.Error(err)
					return
				}
				r := newRaw(b, c)
				r.expect(220)
				r.login("bench", "benchpw")
				r.must("QUIT", 221)
				c.Close()
			}
		}()
	}
	for b.Loop() {
		jobs <- struct{}{}
	}
	close(jobs)
	wg.Wait()
}

// BenchmarkLoginTLSDB is the harness's logins workload over FTPS: every
// login a full TLS handshake (AUTH TLS, PBSZ, PROT P, USER, PASS, QUIT), 50
// at a time, with the certificate's key type as the sub-benchmark: the
// server's signature is most of a full handshake's cost.
func BenchmarkLoginTLSDB(b *testing.B) {
	for _, kt := range []string{"rsa2048", "ecdsa-p256"} {
		b.Run(kt, func(b *testing.B) {
			certFile, keyFile := benchCert(b, kt)
			conf, err := tlsconf.ServerConfig(certFile, keyFile)
			if err != nil {
				b.Fatal(err)
			}
			addr, _ := dbServer(b, func(c *ftp.Config) {
				c.MaxSessionsPerIP, c.MaxPreLoginPerIP = 0, -1
				c.TLS = conf
				c.TLSRequired = true
			})
			// X25519 only, as the harness's loadgen offers (its go.mod line
			// predates the hybrid post-quantum group).
			client := &tls.Config{InsecureSkipVerify: true, ServerName: "127.0.0.1", CurvePreferences: []tls.CurveID{tls.X25519}}
			login := func() {
				c, err := net.Dial("tcp4", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				r := newRaw(b, c)
				r.expect(220)
				r.must("AUTH TLS", 234)
				tc := tls.Client(c, client)
				if err := tc.Handshake(); err != nil {
					b.Error(err)
					return
				}
				r = newRaw(b, tc)
				r.must("PBSZ 0", 200)
				r.must("PROT P", 200)
				r.login("bench", "benchpw")
				r.must("QUIT", 221)
			}
			login() // pays the one argon2id verification
			const conc = 50
			jobs := make(chan struct{})
			var wg sync.WaitGroup
			for range conc {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range jobs {
						login()
					}
				}()
			}
			for b.Loop() {
				jobs <- struct{}{}
			}
			close(jobs)
			wg.Wait()
		})
	}
}

// benchCert writes a self-signed certificate for 127.0.0.1 with a key of
// the given type and returns the PEM files.
func benchCert(b *testing.B, keyType string) (certFile, keyFile string) {
	b.Helper()
	var key crypto.Signer
	var err error
	switch keyType {
	case "rsa2048":
		key, err = rsa.GenerateKey(rand.Reader, 2048)
	case "ecdsa-p256":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	default:
		b.Fatalf("key type %q", keyType)
	}
	if err != nil {
		b.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		b.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		b.Fatal(err)
	}
	return certFile, keyFile
}
